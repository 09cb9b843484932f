"""Samples of a 16-bit source (ABF) are stored as float32 and read as float64 (issue 16, memory governor).

An ABF file holds int16 ADC counts times a scale factor, so float32 (relative rounding 6e-8)
keeps everything the source had (a quantum of 1/65536 of the range) in half the memory.  The
analyses read samples through float64 accessors, so their results are those of a float64 copy
of the same samples, and within 1e-6 of the unrounded values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import signal_core as sc
from signal_core.analysis.batch import result_row
from signal_core.analysis.pipeline import ChargeResult, analyze_recording, filtered_current
from signal_core.filters.specs import parse_chain
from signal_core.io.abf import read_abf
from signal_core.io.limits import ENV_MAX_RECORDING_MB, RecordingTooLargeError
from signal_core.params import AnalysisParams
from signal_core.recording import Recording, reinterpret_units

pyabf_writer = pytest.importorskip("pyabf.abfWriter")
pyabf = pytest.importorskip("pyabf")

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "abf" / "14o16001_vc_pair_step.abf"
F32_EPS = float(np.finfo(np.float32).eps)  # 1.19e-7: twice the largest relative rounding of float32


def numbers(outcomes: list) -> dict[tuple[int, str], float]:
    """Every finite number of the CLI's rows, by (sweep, key)."""
    out = {}
    for o in outcomes:
        for key, value in result_row("f", o).items():
            if isinstance(value, float) and math.isfinite(value):
                out[(o.sweep, key)] = value
    return out


def as_float64(rec: Recording) -> Recording:
    return dataclasses.replace(rec, data=rec.data.astype(np.float64), _t_cache={})


# ------------------------------------------------------------------ storage
def test_an_abf_recording_is_float32_and_takes_half_the_bytes_of_float64(tmp_path):
    sweeps = np.random.default_rng(16).normal(0.0, 40.0, (3, 2000))
    path = tmp_path / "cell.abf"
    pyabf_writer.writeABF1(sweeps, str(path), 20_000.0, units="pA")
    rec = read_abf(path)
    assert rec.data.dtype == np.float32 and rec.bytes_per_sample == 4
    assert rec.data.nbytes * 2 == as_float64(rec).data.nbytes == 3 * 1 * 2000 * 8
    # the values are pyABF's own (float32), kept exactly; readers get them as float64
    abf = pyabf.ABF(str(path))
    for s in range(3):
        abf.setSweep(s)
        got = rec.current(s)
        assert got.dtype == np.float64 and not got.flags.writeable
        assert np.array_equal(got, abf.sweepY.astype(np.float64))
    # the source's own resolution is far coarser than float32's: nothing was lost
    quantum = np.min(np.diff(np.unique(rec.data)))
    assert np.max(np.abs(rec.data)) * F32_EPS < quantum / 100


def test_float32_given_stays_float32_anything_else_becomes_float64():
    base = dict(fs_hz=1000.0, channel_names=("Im",), channel_units=("pA",), current_channel=0)
    assert Recording(np.zeros((1, 1, 4), dtype=np.float32), **base).data.dtype == np.float32
    for dtype in (np.int16, np.int64, np.float16, np.float64):
        assert Recording(np.zeros((1, 1, 4), dtype=dtype), **base).data.dtype == np.float64
    given = np.arange(8, dtype=np.float32).reshape(1, 1, 8)
    rec = Recording(given, **base)
    assert rec.data is not given and not rec.data.flags.writeable  # a writeable array is copied once
    frozen = rec.data
    assert dataclasses.replace(rec, name="x").data is frozen  # a read-only one is kept as is


def test_samples_f64_is_a_view_of_float64_and_a_float64_copy_of_float32():
    data = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    base = dict(fs_hz=1000.0, channel_names=("a", "b", "c"), channel_units=("pA", "mV", "mV"))
    r64 = Recording(data, **base)
    r32 = Recording(data.astype(np.float32), **base)
    for rec in (r64, r32):
        block = rec.samples_f64([1, 0], 2, 3)
        assert block.dtype == np.float64 and not block.flags.writeable
        assert np.array_equal(block, [data[1, 2, :3], data[0, 2, :3]])
    assert np.shares_memory(r64.samples_f64(1, 0), r64.data)  # no copy of float64 storage
    assert not np.shares_memory(r32.samples_f64(1, 0), r32.data)
    assert np.array_equal(r32.channel(1, 1), data[1, 1])


def test_unit_override_keeps_float32_and_rounds_once():
    values = np.random.default_rng(3).normal(0.0, 1.0, (2, 1, 100)).astype(np.float32)  # "A" holding pA
    rec = Recording(values, fs_hz=1000.0, channel_names=("Im",), channel_units=("pA",), current_channel=0,
                    file_units=("pA",))
    nano = reinterpret_units(rec, current_unit="nA")
    assert nano.data.dtype == np.float32
    exact = values.astype(np.float64) * 1e3  # pA read as nA: x 1000, then stored in pA
    assert np.array_equal(nano.data, exact.astype(np.float32))  # one rounding, from the float64 product
    assert np.allclose(nano.samples_f64(), exact, rtol=F32_EPS / 2, atol=0)


def test_copy_round_trip_keeps_float32():
    # deepcopy goes through the same __reduce_ex__ protocol as the pickling st.cache_data does (the security
    # test keeps pickle itself out of the test harness)
    import copy

    rec = Recording(np.ones((1, 1, 4), dtype=np.float32), fs_hz=1000.0, channel_names=("Im",),
                    channel_units=("pA",), current_channel=0)
    back = copy.deepcopy(rec)
    assert back.data.dtype == np.float32 and np.array_equal(back.data, rec.data)
    assert back.current(0).dtype == np.float64


# ------------------------------------------------------------------ analyses compute in float64
def test_analysis_of_float32_samples_is_that_of_a_float64_copy_and_within_1e6_of_the_unrounded():
    demo = sc.demo_recording().recording  # float64, with noise: float32 rounds nearly every sample
    f32 = dataclasses.replace(demo, data=demo.data.astype(np.float32), _t_cache={})
    assert f32.data.dtype == np.float32 and not np.array_equal(f32.data, demo.data)
    exact, rounded, copy64 = (numbers(analyze_recording(r)) for r in (demo, f32, as_float64(f32)))
    assert rounded == copy64  # every consumer read the samples as float64: bit for bit the same
    assert filtered_current(f32, AnalysisParams()).dtype == np.float64  # what the pages plot and export
    params = AnalysisParams(filters=parse_chain(["butter:2000", "savgol:11"]))  # the filters get float64 too
    assert numbers(analyze_recording(f32, params)) == numbers(analyze_recording(as_float64(f32), params))
    assert {"q_on_pC", "q_off_pC", "c_lin_nF", "tau_ms", "r_s_MOhm"} <= {k for _, k in exact}
    assert exact.keys() == rounded.keys()
    for key, value in exact.items():
        assert rounded[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key


def test_real_abf_analysis_is_that_of_a_float64_copy():
    if not REAL.exists():
        pytest.skip(f"the real ABF files are not here: {REAL}")
    rec = read_abf(REAL)
    assert rec.data.dtype == np.float32
    got = analyze_recording(rec)
    assert any(isinstance(o, ChargeResult) for o in got)  # README: one sweep of this file is analysable
    assert numbers(got) == numbers(analyze_recording(as_float64(rec)))


def test_average_and_exports_read_float64():
    from signal_core.analysis.average import average_sweeps
    from signal_core.export.csv import raw_csv
    from signal_core.io.atf_writer import write_atf

    rng = np.random.default_rng(5)
    values = rng.normal(0.0, 100.0, (4, 1, 1000)).astype(np.float32)
    rec = Recording(values, fs_hz=10_000.0, channel_names=("Im",), channel_units=("pA",), current_channel=0)
    avg = average_sweeps(rec, [1, 2, 3, 4])
    truth = np.mean(values.astype(np.float64), axis=0)  # float64 sums (float32 sums would differ by ~1e-6)
    assert avg.data.dtype == np.float64 and np.array_equal(avg.data[0], truth)
    assert raw_csv(rec) == raw_csv(as_float64(rec))
    assert write_atf(rec) == write_atf(as_float64(rec))


# ------------------------------------------------------------------ memory budgets
def header_values(path: Path) -> int:
    """sweeps x (channels + a command) x samples, from pyABF's header (the reader's own estimate)."""
    abf = pyabf.ABF(str(path), loadData=False)
    return abf.sweepCount * (abf.channelCount + 1) * abf.sweepPointCount


def test_the_recording_budget_counts_4_bytes_per_abf_sample(tmp_path, monkeypatch):
    path = tmp_path / "cell.abf"
    pyabf_writer.writeABF1(np.zeros((4, 5000)), str(path), 20_000.0, units="pA")
    values = header_values(path)
    # a budget below the float64 size but above the float32 size: read (it would have been refused)
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, f"{values * 6 / 2**20:.6f}")
    rec = read_abf(path)
    assert rec.data.nbytes <= values * 6
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, f"{values * 3.9 / 2**20:.6f}")  # below 4 bytes a value
    with pytest.raises(RecordingTooLargeError, match="from the ABF header"):
        read_abf(path)


_PEAK = """
import json, sys
import numpy as np, pyabf
from signal_core.io.read import read_recording
data = open(sys.argv[1], "rb").read()
def kb(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))
before = kb("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark
rec = read_recording(data, name="big.abf")
print(json.dumps({"peak": (kb("VmHWM") - before) * 1024, "samples": rec.data.nbytes}))
"""


def test_an_abf_reservation_is_half_the_float64_one_and_covers_the_measured_parse(tmp_path):
    """The app reserves ABF_VALUES_PER_BYTE float32 values a byte; a real parse stays under it."""
    from app import memory

    if not (os.path.exists("/proc/self/clear_refs") and os.access("/proc/self/clear_refs", os.W_OK)):
        pytest.skip("no /proc/self/clear_refs to reset the peak RSS")
    path = tmp_path / "big.abf"
    pyabf_writer.writeABF1(np.random.default_rng(1).normal(0.0, 50.0, (8, 250_000)), str(path), 50_000.0)
    data = path.read_bytes()
    need = memory.parse_need_bytes(data, "big.abf")
    as_float64 = len(data) * memory.ABF_VALUES_PER_BYTE * 8 * memory.PARSE_FACTOR
    assert need - memory.PARSE_FIXED_BYTES == pytest.approx(as_float64 / 2, abs=1)
    env = dict(os.environ, MALLOC_ARENA_MAX="2", MALLOC_MMAP_THRESHOLD_="131072")  # the Procfile's
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=120, check=True)
    measured = json.loads(out.stdout)
    assert measured["samples"] == 8 * 250_000 * 4  # 2 M float32 samples, 8 MB
    # the parse holds the result and a block, not pyABF's whole float32 copy beside it
    assert measured["samples"] <= measured["peak"] < 1.5 * measured["samples"] <= need
