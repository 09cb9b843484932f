"""Hostile and broken input, core side (issue 7): the corpus end to end, the size limits, regressions.

Every file of ``tests/corpus.py`` goes bytes -> read_recording -> analyze_recording -> CLI and is
either analysed correctly (the numbers of the in-memory recording it was written from) or refused
with its specific message; the CLI exits 2 and names the file.  Then the upload limit and the
memory budget (``signal_core.io.limits``), and one regression test per bug the fuzzing found.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import corpus
import numpy as np
import pytest
from corpus import assert_sane

from signal_core.analysis.pipeline import ChargeResult, SweepFailure, analyze_recording, analyze_sweep
from signal_core.cli import main
from signal_core.errors import RecordingFormatError
from signal_core.filters.specs import FilterSpec
from signal_core.io import atf as atf_module
from signal_core.io.limits import (
    DEFAULT_MAX_RECORDING_MB,
    ENV_MAX_RECORDING_MB,
    MAX_UPLOAD_BYTES,
    RecordingTooLargeError,
    estimate_rows,
    max_recording_bytes,
)
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams, ParamsError
from signal_core.protocol.steps import Protocol, ProtocolError, Step
from signal_core.protocol.timing import ProtocolTiming, protocol_from_timing
from signal_core.synthetic import simulate

ROOT = Path(__file__).resolve().parents[1]
CASES = corpus.all_cases()
IDS = [re.sub(r"[^A-Za-z0-9_.-]+", "_", c.name)[:60] for c in CASES]

# results of the in-memory recordings the corpus files were written from
_REFERENCE: dict[int, list] = {}


def reference_outcomes(rec) -> list:
    if id(rec) not in _REFERENCE:
        _REFERENCE[id(rec)] = analyze_recording(rec)
    return _REFERENCE[id(rec)]


def check_read(case: corpus.Case):
    """Read the case's bytes as an upload; return the recording, or None when refused as expected."""
    expect = case.expect
    if isinstance(expect, corpus.Refused):
        with pytest.raises(expect.error) as info:
            read_recording(case.data, name=case.name, fs_hz=case.fs_hz)
        assert re.search(expect.pattern, str(info.value)), str(info.value)
        assert isinstance(info.value, RecordingFormatError)
        return None
    rec = read_recording(case.data, name=case.name, fs_hz=case.fs_hz)
    assert rec.data.shape == expect.shape
    assert rec.fs_hz == expect.fs_hz
    assert rec.channel_units == expect.units
    assert np.isfinite(rec.data).all()
    assert rec.name == case.name
    if expect.check is not None:
        assert expect.check(rec)
    return rec


# ------------------------------------------------------------------------- the corpus
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_corpus_is_analysed_correctly_or_refused_with_its_message(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rec = check_read(case)
        if rec is None:
            return
        expect = case.expect
        outcomes = analyze_recording(rec)
    assert len(outcomes) == rec.n_sweeps
    ref = reference_outcomes(expect.reference) if expect.reference is not None else None
    for k, out in enumerate(outcomes):
        if k in expect.failures:
            assert isinstance(out, SweepFailure), (k, out)
            assert re.search(expect.failures[k], out.error), out.error
            continue
        assert isinstance(out, ChargeResult), getattr(out, "error", out)
        assert_sane(out)
        if ref is not None:
            want = ref[k]
            assert isinstance(want, ChargeResult)
            for key, value in want.scalars().items():
                got = out.scalars()[key]
                if value is None or not math.isfinite(value):
                    assert got is None or not math.isfinite(got), key
                else:
                    assert got == pytest.approx(value, rel=expect.rel, abs=1e-9), key
            assert [f.code for f in out.flags] == [f.code for f in want.flags]
        if expect.result_check is not None:
            expect.result_check(out)


def cli_rows(args: list[str], capsys) -> tuple[int, list[dict], str]:
    code = main(["analyze", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_corpus_through_the_cli(case, tmp_path, capsys):
    path = tmp_path / case.name
    path.write_bytes(case.data)
    extra = [f"--fs-hz={case.fs_hz}"] if case.fs_hz is not None else []
    code, rows, _ = cli_rows([str(path), *extra], capsys)
    expect = case.expect
    if isinstance(expect, corpus.Refused):
        assert code == 2
        assert len(rows) == 1 and rows[0]["file"] == str(path) and rows[0]["q_on_pC"] is None
        error = rows[0]["error"]
        assert error.startswith(f"{case.name}: "), error  # names the file
        assert re.search(expect.pattern, error[len(case.name) + 2:]), error
        return
    assert code == (2 if expect.failures else 0)
    assert [r["sweep"] for r in rows] == list(range(1, expect.shape[0] + 1))
    for r in rows:
        assert r["file"] == str(path)
        if r["sweep"] - 1 in expect.failures:
            assert re.search(expect.failures[r["sweep"] - 1], r["error"]), r["error"]
            assert r["q_on_pC"] is None
        else:
            assert r["error"] is None and math.isfinite(r["q_on_pC"]) and math.isfinite(r["c_m_nF"])


def test_corpus_covers_what_issue_7_lists():
    names = " ".join(c.name for c in CASES)
    for word in ("comma", "no_signals", "zero_header", "latin1", "cp1252", "bom", "time_in_ms", "equals",
                 "no_time_column", "trailing", "per_sweep", "space_1_0", "16_khz", "decimal_commas",
                 "truncated_mid_header", "truncated_mid_row", "promises_more_records", "promises_more_columns",
                 "non_numeric", "nan", "inf", "empty", "binary_junk", "zero_bytes.abf", "columns_5000",
                 "backwards", "repeats", "one_sample", "flat_voltage", "test_pulse_first", "three_levels",
                 "<script>"):
        assert word in names, word
    refused = [c for c in CASES if isinstance(c.expect, corpus.Refused) and c.expect.error.__name__ == "AtfFormatError"]
    assert all(c.expect.pattern.startswith("^line ") for c in refused)  # every ATF refusal names its line


@pytest.mark.slow
def test_cli_subprocess_exits_2_names_every_bad_file_and_analyses_the_rest(tmp_path):
    chosen = {c.name: c for c in CASES}
    files = []
    for name in ("empty.atf", "zero_bytes.abf", "truncated_mid_row.atf", "binary_junk.atf", "nan_cell.atf",
                 next(n for n in chosen if n.startswith("<img")), "clampfit_3_sweeps_crlf.atf"):
        path = tmp_path / name
        path.write_bytes(chosen[name].data)
        files.append(path)
    proc = subprocess.run([sys.executable, "-m", "signal_core", "analyze", *map(str, files), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(Path(r["file"]).name, []).append(r)
    assert list(by_file) == [f.name for f in files]
    for f in files[:5]:
        (row,) = by_file[f.name]
        assert row["error"].startswith(f"{f.name}: ")
        expect = chosen[f.name].expect
        assert re.search(expect.pattern, row["error"][len(f.name) + 2:]), row["error"]
    assert [r["error"] for r in by_file[files[5].name]] == [None]
    assert [r["error"] for r in by_file["clampfit_3_sweeps_crlf.atf"]] == [None, None, None]

    table = subprocess.run([sys.executable, "-m", "signal_core", "analyze", *map(str, files[:3])],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert table.returncode == 2 and "Traceback" not in table.stderr
    for f in files[:3]:
        assert f"ERROR {f.name}: {f.name}: " in table.stdout


def test_a_file_read_from_a_path_equals_the_upload(tmp_path):
    for case in CASES:
        if isinstance(case.expect, corpus.Reads) and case.name.endswith(".atf") and "<" not in case.name:
            path = tmp_path / case.name
            path.write_bytes(case.data)
            a = read_recording(path, fs_hz=case.fs_hz)
            b = read_recording(case.data, name=case.name, fs_hz=case.fs_hz)
            assert np.array_equal(a.data, b.data) and a.sha256 == b.sha256 and a.fs_hz == b.fs_hz


# ------------------------------------------------------------------------- limits
def test_upload_limit_is_50_mb_and_checked_before_anything_else():
    assert MAX_UPLOAD_BYTES == 50 * 2**20
    big = bytearray(MAX_UPLOAD_BYTES + 1)  # zeros: not even a valid file; the size is refused first
    for source in (bytes(big), big, memoryview(big)):
        with pytest.raises(RecordingTooLargeError,
                           match=r"^big\.atf is 50 MB \(52,428,801 bytes\), "
                                 r"more than the upload limit of 50 MB \(52,428,800 bytes\)"):
            read_recording(source, name="big.atf")
    with pytest.raises(RecordingTooLargeError, match="upload limit of 50 MB"):
        read_recording(bytes(big), name="big.abf")
    assert issubclass(RecordingTooLargeError, ValueError) and issubclass(RecordingTooLargeError, RecordingFormatError)
    # exactly at the limit the size is fine (and the format decides)
    with pytest.raises(RecordingFormatError, match="^line 1: not an ATF file"):
        read_recording(bytes(MAX_UPLOAD_BYTES), name="zeros.atf")


def test_budget_comes_from_the_environment(monkeypatch):
    # issue 16: 400 MB per recording could not hold on a 512 MB dyno; it is now 0.3 of the process budget
    from signal_core.io.limits import ENV_MEMORY_MB, process_budget_bytes

    monkeypatch.delenv(ENV_MAX_RECORDING_MB, raising=False)
    monkeypatch.delenv(ENV_MEMORY_MB, raising=False)
    assert process_budget_bytes() == 480 * 2**20
    assert max_recording_bytes() == int(DEFAULT_MAX_RECORDING_MB * 2**20) == int(0.3 * 480 * 2**20)  # 144 MB
    monkeypatch.setenv(ENV_MEMORY_MB, "1024")  # a bigger dyno: a bigger share
    assert max_recording_bytes() == int(0.3 * 1024 * 2**20)
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "12.5")  # set directly: wins
    assert max_recording_bytes() == int(12.5 * 2**20)
    for bad in ("", "abc", "-3", "0", "nan", "inf"):
        monkeypatch.setenv(ENV_MAX_RECORDING_MB, bad)
        monkeypatch.setenv(ENV_MEMORY_MB, bad)
        assert max_recording_bytes() == int(0.3 * 480 * 2**20), bad
        assert process_budget_bytes() == 480 * 2**20, bad


def test_the_dense_50_mb_atf_fits_the_recording_budget_of_a_512_mb_dyno(monkeypatch):
    # the densest text a 50 MB upload can hold (one or two digits a value) must still be readable,
    # and the budget must leave room for its parse (about 2.3x its samples) under the 480 MB process budget
    from signal_core.io.limits import ENV_MEMORY_MB, estimate_rows

    monkeypatch.delenv(ENV_MAX_RECORDING_MB, raising=False)
    monkeypatch.delenv(ENV_MEMORY_MB, raising=False)
    row = "0.00005\t" + "\t".join(["-7", "12"] * 20) + "\n"  # a time and 40 short values: 3.4 bytes a value
    n_rows = MAX_UPLOAD_BYTES // len(row)
    values = estimate_rows(row.encode() * 1000, row.encode() * 1000, n_rows * len(row)) * 41
    assert values * 8 <= max_recording_bytes()  # read, not refused
    assert 2.3 * max_recording_bytes() + 150 * 2**20 <= 480 * 2**20 * 1.01


def test_atf_larger_than_the_budget_is_refused_before_parsing(monkeypatch):
    data = corpus.valid_small()  # 850 rows x 3 columns = 20 KB of float64
    assert read_recording(data, name="ok.atf").n_samples == 850
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "0.01")  # 10 KB

    def no_parsing(*args, **kwargs):
        raise AssertionError("the data were parsed")

    monkeypatch.setattr(atf_module, "_read_body", no_parsing)
    with pytest.raises(RecordingTooLargeError) as info:
        read_recording(data, name="ok.atf")
    message = str(info.value)
    assert "about 0.0195 MB of memory once read (about 850 rows x 3 columns" in message
    assert "budget of 0.01 MB per recording (set by SIGNAL_ANALYZER_MAX_RECORDING_MB, or 0.3 x " in message
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "0.03")
    with pytest.raises(AssertionError, match="parsed"):  # under the budget: parsing starts
        read_recording(data, name="ok.atf")


def test_budget_uses_the_columns_of_line_2_and_the_row_length(monkeypatch):
    # a synthetic header: 5,000 columns, 40 rows of short numbers (1.6 MB of float64 from 400 KB of text)
    m, n = 5_000, 40
    rows = "\n".join("\t".join(["0"] * m) for _ in range(n))
    titles = "\t".join(f'"Trace #{k} (pA)"' for k in range(1, m + 1))
    data = f"ATF\t1.0\n0\t{m}\n{titles}\n{rows}\n".encode()
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "1")
    with pytest.raises(RecordingTooLargeError, match=r"about 1\.53 MB .*about 40 rows x 5,000 columns"):
        read_recording(data, name="wide.atf", fs_hz=1000.0)
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "2")
    assert read_recording(data, name="wide.atf", fs_hz=1000.0).data.shape == (m, 1, n)


def test_estimate_rows_from_both_ends():
    row = b"0.000123\t-1234.56\t-80.0\n"
    body = row * 100_000
    assert estimate_rows(body[:65536], body[-65536:], len(body)) == 100_000
    # short rows at the start, long rows at the end: the mean of both ends
    mixed = b"0\t1\t2\n" * 50_000 + row * 50_000
    estimate = estimate_rows(mixed[:65536], mixed[-65536:], len(mixed))
    assert 50_000 < estimate < 200_000
    assert estimate_rows(b"x" * 100, b"", 10_000) == 100  # no complete row in the head: a lower bound


def test_big_atf_on_disk_is_refused_before_it_is_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "long.atf"
    path.write_bytes(corpus.valid_small())
    monkeypatch.setattr(atf_module, "_PRECHECK_PATH_BYTES", 1000)
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "0.01")

    def no_whole_read(self):
        raise AssertionError("the whole file was read")

    monkeypatch.setattr(Path, "read_bytes", no_whole_read)
    with pytest.raises(RecordingTooLargeError, match=r"about 8[45]\d rows x 3 columns"):
        read_recording(path)


def test_abf_larger_than_the_budget_is_refused_from_its_header(tmp_path, monkeypatch):
    writer = pytest.importorskip("pyabf.abfWriter")
    path = tmp_path / "cell.abf"
    writer.writeABF1(np.zeros((3, 1000)), str(path), 10_000.0, units="pA")
    assert read_recording(path).data.shape == (3, 1, 1000)
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "0.02")  # 21 KB < 3 x (1 + 1) x 1000 x 4 bytes (float32)
    with pytest.raises(RecordingTooLargeError, match=r"3 sweeps x 1 channels x 1,000 samples, from the ABF header"):
        read_recording(path.read_bytes(), name="cell.abf")


def test_cli_reports_a_recording_over_the_budget_by_name(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cell_0001.atf"
    path.write_bytes(corpus.valid_small())
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "0.01")
    code, rows, _ = cli_rows([str(path)], capsys)
    assert code == 2
    assert rows[0]["error"].startswith("cell_0001.atf: the recording would need about")


# ------------------------------------------------------------------------- regressions (bugs found)
REC = corpus.base1()


def test_control_level_equal_to_the_holding_level_is_refused_clearly():
    with pytest.raises(ProtocolError, match=r"^control step 1 has zero amplitude \(level -80 mV equals its base\)"):
        analyze_sweep(REC, 0, AnalysisParams(v_control_mV=-80.0))  # detected V0 is -80 mV
    with pytest.raises(ParamsError, match=r"the control level equals the holding level \(-60 mV\): that step has "
                                          "zero amplitude"):
        AnalysisParams(v_hold_mV=-60.0, v_control_mV=-60.0)
    (out,) = analyze_recording(REC, AnalysisParams(v_control_mV=-80.0))
    assert isinstance(out, SweepFailure) and "zero amplitude" in out.error
    # a step of 2e-305 mV is no step either: the per-mV response overflowed
    with pytest.raises(ParamsError, match="the control level equals the holding level"):
        AnalysisParams(v_control_mV=0.0, v_hold_mV=2.26e-305)
    tiny = Step(0.006, 0.021, 0.036, 0.0, 2.26e-305)
    with pytest.raises(ProtocolError, match=r"control step 1 has zero amplitude \(level 0 mV equals its base to within "
                                            r"0\.01 mV\)"):
        Protocol(2.26e-305, (tiny,), Step(0.066, 0.081, 0.084, -20.0, 2.26e-305), 0.085)
    with pytest.raises(ParamsError, match="the test level equals the holding level"):
        AnalysisParams(v_hold_mV=-80.0, v_test_mV=-80.001)


def test_test_level_equal_to_the_holding_level_is_refused_not_integrated():
    # it used to give a "charge": the raw test response, with nothing subtracted
    with pytest.raises(ProtocolError, match=r"^the test pulse has zero amplitude \(level -80 mV equals its base\)"):
        analyze_sweep(REC, 0, AnalysisParams(v_test_mV=-80.0))
    with pytest.raises(ParamsError, match="the test level equals the holding level"):
        AnalysisParams(v_hold_mV=-70.0, v_test_mV=-70.0)


@pytest.mark.parametrize("name", ["baseline_ms", "guard_ms", "steady_ms", "decimate_ms", "fit_start_ms",
                                  "edge_threshold_mV", "v_hold_mV", "v_control_mV", "v_test_mV", "area_um2",
                                  "temperature_C", "tail_fraction"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "5", None])
def test_non_finite_or_non_numeric_parameters_are_refused_by_name(name, value):
    # infinities used to escape as OverflowError from int(round(inf * fs)), NaN levels as nonsense
    if value is None and name in ("v_hold_mV", "v_control_mV", "v_test_mV", "area_um2"):
        return  # None means "not set" for these
    with pytest.raises(ParamsError, match=re.escape(name.replace("area_um2", "membrane area"))):
        AnalysisParams(**{name: value})


@pytest.mark.parametrize("field_", ["integrate_on_ms", "integrate_off_ms", "tail_on_ms", "tail_off_ms"])
def test_windows_must_be_finite(field_):
    with pytest.raises(ParamsError, match=rf"{field_} end must be a finite number"):
        AnalysisParams(**{field_: (0.0, math.inf)})
    with pytest.raises(ParamsError, match=rf"{field_} start must be a number"):
        AnalysisParams(**{field_: ("a", 2.0)})
    with pytest.raises(ParamsError, match=rf"{field_} must be two numbers"):
        AnalysisParams(**{field_: (1.0,)})


def test_temperature_below_absolute_zero_and_odd_recipe_fields_are_refused():
    with pytest.raises(ParamsError, match="above absolute zero"):
        AnalysisParams(temperature_C=-300.0)
    with pytest.raises(ParamsError, match="manual_tail_on point must be a finite number"):
        AnalysisParams(tail_mode="manual", manual_tail_on=((0, math.nan), (1, 2)), manual_tail_off=((0, 1), (1, 2)))
    with pytest.raises(ParamsError, match="timing must be protocol timings"):
        AnalysisParams(timing=[1, 2])
    with pytest.raises(ParamsError, match="protocol must be a protocol table"):
        AnalysisParams(protocol="by hand")
    with pytest.raises(ParamsError, match="baseline_ms must be a number"):
        AnalysisParams.from_json('{"baseline_ms": "five"}')


def test_protocol_timings_are_validated():
    with pytest.raises(ProtocolError, match=r"the number of control steps must be a whole number, got 2\.5"):
        ProtocolTiming(n_control=2.5)  # used to escape as TypeError from range()
    with pytest.raises(ProtocolError, match="protocol timing control_ms must be a finite number, got nan"):
        ProtocolTiming(control_ms=math.nan)
    with pytest.raises(ProtocolError, match="protocol timing v_test_mV must be a number, got 'high'"):
        ProtocolTiming.from_dict({"v_test_mV": "high"})
    with pytest.raises(ProtocolError, match="protocol timings must be a JSON object"):
        ProtocolTiming.from_dict([1])
    start = time.perf_counter()
    with pytest.raises(ProtocolError, match="the number of control steps must be 1 to 1000"):
        protocol_from_timing(ProtocolTiming(n_control=10**8, control_ms=1e-9, control_off_ms=1e-9, test_ms=1), 0.1)
    with pytest.raises(ProtocolError, match=r"the 900 control steps would end at 180017\.2 ms, after the end"):
        protocol_from_timing(ProtocolTiming(n_control=900), 1.1)
    assert time.perf_counter() - start < 1.0  # used to build 10^8 steps first (minutes)


def test_manual_protocol_steps_must_be_finite():
    with pytest.raises(ProtocolError, match="a step's times and levels must be finite numbers"):
        Step(0.01, 0.02, 0.03, math.nan, -80.0)
    table = {"v_hold_mV": -80.0, "duration_ms": 85.0,
             "controls": [{"on_start_ms": 6, "on_end_ms": 21, "off_end_ms": 36, "level_mV": -100, "base_mV": -80}],
             "test": {"on_start_ms": 36, "on_end_ms": 51, "off_end_ms": math.inf, "level_mV": -20, "base_mV": -80}}
    with pytest.raises(ProtocolError, match="finite numbers"):
        Protocol.from_dict(table)
    with pytest.raises(ProtocolError, match="finite numbers"):
        AnalysisParams(protocol={**table, "v_hold_mV": math.nan, "test": {**table["test"], "off_end_ms": 60}})


def test_a_filter_that_does_not_fit_one_file_fails_its_sweeps_not_the_batch(tmp_path, capsys):
    # a Butterworth cutoff above one file's Nyquist frequency used to escape analyze_recording as
    # FilterError, so the CLI crashed with a traceback instead of reporting the file and going on
    slow = simulate(corpus.CELL, corpus.TIMING, fs_hz=5_000.0, duration_ms=85.0, noise_pA=1.0).recording
    assert [type(o) for o in analyze_recording(slow, AnalysisParams(filters=(FilterSpec("butter", cutoff_hz=3000),)))] \
        == [SweepFailure]
    out = analyze_recording(slow, AnalysisParams(filters=(FilterSpec("savgol", window=1001),)))
    assert ("the filter chain does not fit this recording: Savitzky-Golay window (1001 samples) is longer"
            in out[0].error)
    cols, titles = corpus.clampfit_columns(slow)
    (tmp_path / "slow.atf").write_bytes(corpus.atf(cols, titles, ()))
    (tmp_path / "fast.atf").write_bytes(corpus.single())
    code, rows, err = cli_rows([str(tmp_path / "slow.atf"), str(tmp_path / "fast.atf"), "--filter", "butter:3000"],
                               capsys)
    assert code == 2
    assert "Butterworth cutoff 3000 Hz must be below the Nyquist frequency 2500 Hz" in rows[0]["error"]
    assert rows[1]["error"] is None and rows[1]["q_on_pC"] is not None


def test_a_sampling_rate_that_is_not_a_number_names_the_line():
    data = corpus.atf([np.ones(3), np.ones(3)], ["Trace #1 (pA)", "Trace #1 (mV)"], ())
    for bad in (0.0, -1.0, math.nan, math.inf, "fast"):
        with pytest.raises(RecordingFormatError, match=r"^line 3: the file has no time column .* is not a positive"):
            read_recording(data, name="x.atf", fs_hz=bad)


def test_control_steps_in_opposite_directions_are_refused():
    # +20 and -20 mV controls averaged to a 0 mV "step": ZeroDivisionError; +20 and -19 mV: silently wrong C_lin
    table = {"v_hold_mV": -80.0, "duration_ms": 85.0,
             "controls": [{"on_start_ms": 6, "on_end_ms": 21, "off_end_ms": 36, "level_mV": -100, "base_mV": -80},
                          {"on_start_ms": 36, "on_end_ms": 51, "off_end_ms": 66, "level_mV": -61, "base_mV": -80}],
             "test": {"on_start_ms": 66, "on_end_ms": 81, "off_end_ms": 84, "level_mV": -20, "base_mV": -80}}
    with pytest.raises(ProtocolError, match=r"the control steps go in opposite directions from their base "
                                            r"\(-20, \+19 mV\)"):
        AnalysisParams(protocol=table)
    table["controls"][1]["level_mV"] = -90.0  # same direction, other size: fine
    assert isinstance(analyze_sweep(REC, 0, AnalysisParams(protocol=table)), ChargeResult)


def test_hand_drawn_tail_lines_must_be_sane():
    both = {"tail_mode": "manual", "manual_tail_off": ((0.0, 0.0), (10.0, 0.0))}
    with pytest.raises(ParamsError, match=r"manual_tail_on: the two points must be at least 0\.001 ms apart"):
        AnalysisParams(manual_tail_on=((0.0, 0.0), (1e-303, 1.0)), **both)  # a slope of 1e303 pA/ms overflowed
    with pytest.raises(ParamsError, match=r"manual_tail_on: the currents must lie within \+/-1e\+09 pA"):
        AnalysisParams(manual_tail_on=((0.0, 1e300), (1.0, 0.0)), **both)
    from signal_core.analysis.responses import tail_step
    from signal_core.flags import AnalysisError

    with pytest.raises(AnalysisError, match="tail line .* is too steep"):
        tail_step(np.zeros(50), 1e4, "manual", None, 0.2, ((0.0, -1e308), (1e-300, 1e308)), "ON")


def test_levels_and_areas_out_of_any_physical_range_are_refused():
    with pytest.raises(ParamsError, match=r"v_test_mV must lie within \+/-10000 mV, got 1e\+300"):
        AnalysisParams(v_test_mV=1e300)
    with pytest.raises(ProtocolError, match=r"must lie within \+/-10000 mV"):
        Step(0.0, 0.01, 0.02, 2e4, -80.0)
    with pytest.raises(ParamsError, match=r"the membrane area must be 0\.001 to 1e\+12 um\^2"):
        AnalysisParams(area_um2=1e-320)  # the specific capacitance came out infinite


def test_a_notch_wider_than_the_nyquist_band_is_refused():
    # Q 0.125 at 1105 Hz (10 kHz): scipy's iirnotch puts its poles outside the unit circle, the output blew up
    with pytest.raises(Exception, match=r"notch bandwidth 8840 Hz \(frequency / Q\) must be below the Nyquist "
                                        r"frequency 5000 Hz: raise Q above 0\.221"):
        FilterSpec("notch", freq_hz=1105.0, q=0.125).validate(10_000.0)
    (out,) = analyze_recording(REC, AnalysisParams(filters=(FilterSpec("notch", freq_hz=1105.0, q=0.125),)))
    assert isinstance(out, SweepFailure) and "notch bandwidth" in out.error
    assert isinstance(analyze_recording(REC, AnalysisParams(filters=(FilterSpec("notch", freq_hz=1105.0, q=0.5),)))[0],
                      ChargeResult)
    # 1e-8 Hz: scipy's filtfilt failed with a LinAlgError (singular matrix)
    (out,) = analyze_recording(REC, AnalysisParams(filters=(FilterSpec("notch", freq_hz=1e-8, q=1e-8),)))
    assert "notch frequency 1e-08 Hz is below one cycle per trace (11.7647 Hz for 850 samples)" in out.error


def test_an_absurdly_low_cutoff_is_refused_not_padded_to_exhaustion():
    # 1e-150 Hz: a zero-phase padding of 1e150 samples ("Maximum allowed dimension exceeded")
    from signal_core.filters.chain import butter_lowpass
    from signal_core.filters.kind_rules import FilterError

    with pytest.raises(FilterError, match=r"far too low for a 850-sample trace"):
        butter_lowpass(REC.current(0), REC.fs_hz, 5.7e-150, 1)
    for cutoff in (5.7e-150, 2.2e-309):  # a subnormal cutoff overflowed the settling time with a warning
        (out,) = analyze_recording(REC, AnalysisParams(filters=(FilterSpec("butter", cutoff_hz=cutoff, order=1),)))
        assert "far too low" in out.error
    # the orange curve's own anti-alias low-pass at 0.4 fs / factor stays allowed, even for 5 points a sweep
    res = analyze_sweep(REC, 0, AnalysisParams(decimate_ms=17.0))
    assert res.i_orange_pA.size == 5


def test_absurd_sample_values_fail_their_sweep_with_a_reason():
    data = corpus.base3().data.copy()
    data[1, 0] *= 1e200  # a current of 1e203 pA: sums and squares overflowed
    data[2, 1] *= 1e9  # a "voltage" of 1e11 mV
    rec = type(REC)(data, REC.fs_hz, ("Im", "Vm"), ("pA", "mV"), 0, 1)
    out = analyze_recording(rec)
    assert isinstance(out[0], ChargeResult)
    assert re.match(r"the current reaches [\d.]+e\+20[45] pA, beyond \+/-1e\+12 pA: not a membrane current",
                    out[1].error)
    assert re.match(r"the voltage channel reaches [\d.]+e\+1[01] mV, beyond \+/-1e\+06 mV", out[2].error)
    with pytest.raises(Exception, match="the current reaches"):
        analyze_sweep(rec, 1)
    tiny = data.copy()
    tiny[:, 0] = REC.data[0, 0] * 1e-300  # a transient of 1e-297 pA: C_m underflowed, Q_on/C_m became nan
    (first, *_) = analyze_recording(type(REC)(tiny, REC.fs_hz, ("Im", "Vm"), ("pA", "mV"), 0, 1))
    assert re.match(r"C_m comes out at .* nF, below 1 fF: the capacitive transient .* is too small", first.error)


def test_an_exponential_far_from_t_0_is_a_fit_error_not_an_overflow():
    # t0 / tau = 1000: math.exp overflowed (OverflowError) instead of reporting an amplitude out of range
    from signal_core.fitting import FitError, fit_exponential

    t = 1000.0 + np.arange(60) * 0.1
    with pytest.raises(FitError, match=r"the amplitude at t = 0 is out of range; measure times from the edge"):
        fit_exponential(t, 5.0 * np.exp(-(t - 1000.0)) + 1.0)
    assert fit_exponential(t - 1000.0, 5.0 * np.exp(-(t - 1000.0)) + 1.0).params["tau"] == pytest.approx(1.0)


# ------------------------------------------------------------------------- issue 16: bounded work per byte
def _peak_bytes(fn) -> tuple[int, object]:
    """Peak bytes traced by tracemalloc while ``fn()`` runs, and its exception (None when it returned)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        error = None
    except ValueError as exc:  # every user error is one; the caller asserts its type and message
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


@pytest.mark.parametrize("n_tags", [100_000_000, 2**31 - 1])
def test_abf_tag_count_is_refused_before_pyabf_allocates(n_tags, tmp_path, monkeypatch, capsys):
    # a 8 KB ABF 1 whose tag count said 10^8 made pyABF build 3 lists of 10^8 entries: +2.3 GB of RSS
    pytest.importorskip("pyabf")
    from signal_core.io import abf as abf_module
    from signal_core.io.abf import AbfFormatError

    data = corpus.abf1_with_tags(n_tags)
    assert len(data) == 8192 and read_recording(corpus.abf1_with_tags(0), name="ok.abf").n_sweeps == 3

    def no_pyabf(path):
        raise AssertionError("pyABF was called")

    monkeypatch.setattr(abf_module, "_open", no_pyabf)
    peak, error = _peak_bytes(lambda: read_recording(data, name="tags.abf"))
    assert isinstance(error, AbfFormatError), error
    assert f"{n_tags:,} tag entries of 64 bytes" in str(error) and "the file has 8,192 bytes" in str(error)
    assert peak < 1 * 2**20, peak  # a few KB: nothing proportional to the count
    path = tmp_path / "tags.abf"
    path.write_bytes(data)
    peak, error = _peak_bytes(lambda: cli_rows([str(path)], capsys))
    assert error is None and peak < 2 * 2**20, (error, peak)


def test_abf_guard_accepts_every_real_file_and_checks_abf2_sections():
    from signal_core.io.abf import AbfFormatError
    from signal_core.io.abf_guard import ABF2_SECTIONS, check_abf_header

    files = sorted((ROOT.parent / "shared" / "data" / "abf").glob("*.abf"))
    if not files:
        pytest.skip("../shared/data/abf is absent")
    for path in files:
        check_abf_header(path.read_bytes())  # none is refused
    abf2 = next(p.read_bytes() for p in files if p.read_bytes()[:4] == b"ABF2")
    for name, offset in ABF2_SECTIONS.items():
        bad = bytearray(abf2)
        bad[offset + 8: offset + 16] = (2**40).to_bytes(8, "little")
        with pytest.raises(AbfFormatError, match=rf"1,099,511,627,776 {name} section entries of "):
            check_abf_header(bytes(bad))
    bad = bytearray(abf2)
    bad[12:16] = (2**32 - 1).to_bytes(4, "little")  # lActualEpisodes: pyABF builds list(range(sweeps))
    with pytest.raises(AbfFormatError, match=r"4,294,967,295 sweeps, but the data section holds"):
        check_abf_header(bytes(bad))


def _huge_header_files() -> dict[str, tuple[bytes, str]]:
    body = corpus.SMALL_BODY
    records = "\n".join(f'"K{k}=v"' for k in range(3_000_000))  # 38 MB of header records
    return {
        "records_3M.atf": ((f"ATF\t1.0\n3000000\t3\n{records}\n{body}").encode(),
                           r"^line 2: the header says 3,000,000 header records, more than the limit of 1,000"),
        "records_3M_line_2_says_8.atf": ((f"ATF\t1.0\n8\t3\n{records}\n{body}").encode(),
                                         r"^line 11: expected the column titles but found another header record"),
        "comment_40MB.atf": (('ATF\t1.0\n1\t3\n"Comment=' + "x" * 40_000_000 + f'"\n{body}').encode(),
                             r"^line 3: header record 1 is 40,000,010 bytes long, more than the limit of 262,144"),
    }


@pytest.mark.slow
@pytest.mark.slow
def test_huge_header_records_are_refused_by_a_cap_without_copying_them(tmp_path, monkeypatch, capsys):
    # 3 M records took +1.1 GB of RSS; one 40 MB Comment 59 s and +386 MB
    def no_parsing(*args, **kwargs):
        raise AssertionError("the data were parsed")

    monkeypatch.setattr(atf_module, "_read_body", no_parsing)
    for name, (data, pattern) in _huge_header_files().items():
        peak, error = _peak_bytes(lambda data=data, name=name: read_recording(data, name=name))
        assert isinstance(error, RecordingFormatError) and re.search(pattern, str(error)), (name, error)
        assert peak < 2**20, (name, peak)  # the record is measured in place, never copied or decoded
        path = tmp_path / name
        path.write_bytes(data)
        code, rows, _ = cli_rows([str(path)], capsys)
        assert code == 2 and re.search(pattern, rows[0]["error"][len(name) + 2:]), rows
        path.unlink()


def test_header_caps_leave_clampfit_sized_headers_alone():
    from signal_core.io.atf_header import MAX_COLUMNS, MAX_HEADER_RECORDS, MAX_RECORD_BYTES

    rec = corpus.base1()
    cols, titles = corpus.clampfit_columns(rec)
    records = [f'"Key{k}=value {k}"' for k in range(MAX_HEADER_RECORDS - 1)] + ['"Comment=' + "c" * 200_000 + '"']
    data = corpus.atf(cols, titles, tuple(records))
    assert len(records[-1]) < MAX_RECORD_BYTES and MAX_COLUMNS > 2 * 5_000
    got = read_recording(data, name="many_records.atf")
    assert got.comment == "c" * 200_000 and len(got.header) == MAX_HEADER_RECORDS
    np.testing.assert_array_equal(got.data, rec.data)


class _CountingStr(str):
    """A str that counts how often it is compared or hashed (to measure work, not time)."""

    calls = 0

    def __eq__(self, other):
        type(self).calls += 1
        return str.__eq__(self, other)

    def __hash__(self):
        type(self).calls += 1
        return str.__hash__(self)


def test_column_names_are_made_unique_in_linear_work():
    # `name not in unique` and `unique.count(name)` compared every name with every other: 110k titles, 64-85 s
    from signal_core.io.atf import _unique_names

    assert _unique_names(["Im", "Im", "Vm", "Im", "Im 2"]) == ["Im", "Im 2", "Vm", "Im 3", "Im 2 2"]
    work = []
    for n in (2_000, 8_000):
        _CountingStr.calls = 0
        names = [_CountingStr("Im") for _ in range(n)] + [_CountingStr(f"c{k}") for k in range(n)]
        out = _unique_names(names)
        assert len(set(out)) == 2 * n and out[:3] == ["Im", "Im 2", "Im 3"]
        work.append(_CountingStr.calls)
    assert work[1] < 5 * work[0] and work[1] < 20 * 8_000, work  # 4x the names, about 4x the work


@pytest.mark.slow
def test_header_patterns_are_linear_and_match_as_before():
    import signal

    from signal_core.io import atf_header

    old = {
        "record": re.compile(r'^"([^"]*)"((?:\s*[\t,;]\s*"[^"]*")*)\s*[\t,;]?\s*$'),
        "line1": re.compile(r'^\s*"?ATF"?\s*[\t ,;]\s*"?(\d+(?:\.\d*)?)"?\s*[\t,;]?\s*$', re.IGNORECASE),
        "line2": re.compile(r'^\s*"?(\d+)"?\s*[\t ,;]\s*"?(\d+)"?\s*[\t,;]?\s*$'),
        "title": re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$"),
    }
    new = {"record": atf_header._RECORD_RE, "line1": atf_header._LINE1_RE, "line2": atf_header._LINE2_RE}
    rng = np.random.default_rng(16)
    alphabets = {"record": list('"a=\t ,;x'), "line1": list('"ATF1.0\t ,;x'), "line2": list('"18\t ,;x'),
                 "title": list("ab (pA)\t")}
    for kind, alphabet in alphabets.items():
        for _ in range(6_000):
            text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 13))))
            if kind == "record":
                text = '"a=b"' + text
            want = old[kind].match(text)
            if kind == "title":
                expected = (want.group(1).strip(), want.group(2).strip()) if want else (text.strip(), "")
                assert atf_header._split_title(text) == expected, repr(text)
                continue
            got = new[kind].match(text)
            assert (got and got.groups()) == (want and want.groups()), (kind, repr(text))

    def too_slow(*_):
        raise TimeoutError("a header pattern backtracked")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(20)  # the old patterns took minutes on these lines (10 s for 20,000 tabs); linear takes ms
    try:
        for text in ('"a=b"' + "\t" * 200_000 + "x", '"a=b"' + " \t" * 100_000 + "x",
                     '"a=b"' + ' ; "c"' * 50_000 + "x"):
            assert atf_header._RECORD_RE.match(text) is None
        assert atf_header._LINE1_RE.match("ATF" + " " * 200_000 + "x") is None
        assert atf_header._LINE2_RE.match("1" + " " * 200_000 + "2" + "\t" * 200_000 + "x") is None
        assert atf_header._split_title("a" + " " * 200_000 + "x (pA) ") == ("a" + " " * 200_000 + "x", "pA")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------- issue 16: recipes, special files, limits
def _recipe_attacks() -> dict[str, tuple[bytes, str]]:
    return {
        "array_40MB_cut.json": (b"[" + b"1," * 600_000 + b"1]",
                                r"^the recipe is 1,200,003 bytes, more than the limit of 1,000,000 bytes"),
        "unknown_keys.json": (json.dumps({f"key{k}": 1 for k in range(60_000)}).encode(),
                              r"^60,000 unknown recipe key\(s\): key0, key1, key2, .*, key19, \.\.\.$"),
        "latin1.json": ('{"baseline_ms": 5, "comment": "2 µm"}'.encode("latin-1"),
                        r"^the recipe is not UTF-8 text \(byte 33 is 0xb5\)"),
        "huge_integer.json": (b'{"baseline_ms": ' + b"9" * 5_000 + b"}",
                              r"^the recipe holds a number too long to read \(more than 4,300 digits\)"),
        "nested_5000.json": (b"[" * 5_000 + b"]" * 5_000, r"^the recipe nests its brackets too deeply to be read"),
        "nested_40.json": (b'{"filters": ' + b"[" * 40 + b"]" * 40 + b"}",
                           r"^the recipe nests more than 32 levels of brackets"),
        "long_string.json": (json.dumps({"baseline_ms": "x" * 500_000}).encode(),
                             r"^baseline_ms must be a number, got 'x{199}\.\.\. \(500,002 characters\)$"),
        "long_filter_kind.json": (json.dumps({"filters": [{"kind": "y" * 400_000}]}).encode(),
                                  r"^unknown filter kind 'y+\.\.\. \(400,\d{3} characters\)$"),
    }


@pytest.mark.parametrize("name", list(_recipe_attacks()))
def test_recipe_attacks_are_short_clear_errors_in_the_cli_and_the_loader(name, tmp_path, capsys):
    # a 40 MB array took +450 MB and 27 s; 3.5 M unknown keys a 30 MB message; not UTF-8, an integer of more
    # than 4,300 digits or deep nesting gave a traceback from --recipe (and the app's generic error page)
    from signal_core.errors import SignalCoreError

    data, pattern = _recipe_attacks()[name]
    with pytest.raises(SignalCoreError) as info:  # the app's recipe upload calls this loader with the bytes
        AnalysisParams.from_json(data)
    message = str(info.value)
    assert re.search(pattern, message), message
    assert len(message) < 320, len(message)  # quotes at most 200 characters of the recipe
    recipe = tmp_path / name
    recipe.write_bytes(data)
    rec = tmp_path / "cell.atf"
    rec.write_bytes(corpus.valid_small())
    assert main(["analyze", str(rec), "--recipe", str(recipe)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(pattern, err[len("error: "):].strip()), err
    assert "Traceback" not in err and len(err) < 400


@pytest.mark.slow
def test_recipe_from_a_special_file_is_refused_without_reading_it(tmp_path, capsys):
    fifo = tmp_path / "recipe.json"
    os.mkfifo(fifo)
    rec = tmp_path / "cell.atf"
    rec.write_bytes(corpus.valid_small())
    proc = subprocess.run([sys.executable, "-m", "signal_core", "analyze", str(rec), "--recipe", str(fifo)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)  # used to wait for a writer
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert re.search(r"^error: the recipe .*recipe\.json is a named pipe \(FIFO\), not a regular file", proc.stderr)
    if Path("/dev/zero").exists():
        assert main(["analyze", str(rec), "--recipe", "/dev/zero"]) == 1
        assert "is a character device, not a regular file" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_bytes(b"\xef\xbb\xbf" + AnalysisParams(baseline_ms=4.0).to_json().encode())  # a BOM is fine
    assert AnalysisParams.from_file(good) == AnalysisParams(baseline_ms=4.0)


@pytest.mark.slow
def test_cli_refuses_fifos_devices_and_directories_before_reading(tmp_path):
    # a FIFO blocked for ever; /dev/zero was read to 6.9 GB before "not enough memory"
    fifo = tmp_path / "pipe.atf"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.atf"
    folder.mkdir()
    good = tmp_path / "cell.atf"
    good.write_bytes(corpus.valid_small())
    files = [str(fifo), str(folder), str(good)] + [d for d in ("/dev/zero", "/dev/null") if Path(d).exists()]
    proc = subprocess.run([sys.executable, "-m", "signal_core", "analyze", *files, "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    rows = {Path(r["file"]).name: r for r in json.loads(proc.stdout)}
    assert rows["pipe.atf"]["error"] == ("pipe.atf: a named pipe (FIFO), not a regular file: it was not read "
                                         "(give the path of a recording file)")
    assert rows["folder.atf"]["error"].startswith("folder.atf: a directory, not a regular file")
    assert rows["cell.atf"]["error"] is None and math.isfinite(rows["cell.atf"]["q_on_pC"])
    for device in ("zero", "null"):
        if device in rows:
            assert rows[device]["error"].startswith(f"{device}: a character device, not a regular file")


def test_a_file_whose_size_says_0_is_read_no_further_than_the_upload_limit():
    # the memory pre-check trusted st_size, which is 0 for /proc files (and devices, now refused)
    status = Path("/proc/self/status")
    if not status.exists() or status.stat().st_size != 0:
        pytest.skip("no /proc file reporting 0 bytes here")
    with pytest.raises(RecordingFormatError, match=r"^line 1: not an ATF file: it must start with 'ATF 1\.0' but "
                                                   r"starts with b?'Name:"):
        read_recording(status)  # its bytes were read (bounded), not taken as an empty file


@pytest.mark.parametrize(("cutoff_hz", "fs_hz", "ok"), [(49_990.0, 10_000.0, False), (60_000.0, 10_000.0, False),
                                                        (1e9, 10_000.0, False), (4_999.0, 10_000.0, True)])
def test_a_cutoff_above_nyquist_is_an_error_naming_the_limit_never_changed(cutoff_hz, fs_hz, ok, tmp_path, capsys):
    # the app replaced such a cutoff by 1 Hz (its widget's minimum); the core must keep the user's value
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"filters": [{"kind": "butter", "cutoff_hz": cutoff_hz}]}))
    loaded = AnalysisParams.from_file(recipe)
    assert loaded.filters[0].cutoff_hz == cutoff_hz  # exactly the user's number
    rec = tmp_path / "cell.atf"
    rec.write_bytes(corpus.valid_small())  # 10 kHz: Nyquist 5 kHz
    code, rows, _ = cli_rows([str(rec), "--recipe", str(recipe)], capsys)
    if ok:
        assert code == 0 and rows[0]["error"] is None
        return
    assert code == 2
    assert rows[0]["error"].endswith(f"Butterworth cutoff {cutoff_hz:g} Hz must be below the Nyquist frequency "
                                     f"{fs_hz / 2:g} Hz (half the {fs_hz:g} Hz sampling rate)"), rows[0]["error"]


def test_a_notch_centre_out_of_range_is_an_error_naming_the_limit(tmp_path, capsys):
    rec = tmp_path / "cell.atf"
    rec.write_bytes(corpus.valid_small())
    code, rows, _ = cli_rows([str(rec), "--filter", "notch:6000:30"], capsys)
    assert code == 2 and rows[0]["error"].endswith("notch frequency 6000 Hz must be below the Nyquist frequency "
                                                   "5000 Hz")
    code, rows, _ = cli_rows([str(rec), "--filter", "notch:5:30"], capsys)  # 850 samples at 10 kHz: 11.76 Hz
    assert code == 2 and "notch frequency 5 Hz is below one cycle per trace (11.7647 Hz" in rows[0]["error"]


PASSWORDS = ["line one\nline two", 'say "hi"', "back\\slash\\", "tab\there", "cr\rlf\r\n", "\x01\x1f\x7f bell\x07",
             "ümlaut ✓ 😀", "'''triple'''", '"""', "\\u0041 not an escape", "trailing space ", "= [table]\n[x]\na = 1",
             "\u202eRTL override"]


@pytest.mark.slow
def test_setup_sh_writes_valid_toml_for_any_password(tmp_path):
    # a newline in APP_PASSWORD made setup.sh write invalid TOML: the deployment could not be unlocked
    import tomllib

    (tmp_path / "setup.sh").write_bytes((ROOT / "setup.sh").read_bytes())
    for password in PASSWORDS:
        env = {"PATH": os.environ["PATH"], "APP_PASSWORD": password, "DATABASE_URL": f'postgres://u:{password}@h/db'}
        subprocess.run(["sh", "setup.sh"], cwd=tmp_path, env=env, check=True, timeout=60)
        text = (tmp_path / ".streamlit" / "secrets.toml").read_text(encoding="utf-8")
        assert tomllib.loads(text) == {"DATABASE_URL": env["DATABASE_URL"], "APP_PASSWORD": password}, repr(text)
    bad = subprocess.run(["sh", "setup.sh"], cwd=tmp_path, capture_output=True, timeout=60,
                         env={"PATH": os.environ["PATH"],
                              "APP_PASSWORD": b"caf\xe9".decode("utf-8", "surrogateescape")})
    assert bad.returncode != 0 and b"APP_PASSWORD is not UTF-8 text" in bad.stderr


def test_names_are_cleaned_for_tables_and_exports(tmp_path, capsys):
    # an RTL override showed reversed text on pages and in sheet names; a NUL broke Load; 5,000 characters failed
    from signal_core.names import MAX_NAME_CHARS, clean_name

    cleaned = clean_name("cell\x00 1.atf")
    assert cleaned.name == "cell 1.atf" and cleaned.notes == (
        "1 control character(s) (such as NUL) were removed from the name",)
    rtl = clean_name("photo\u202egpj.atf")
    assert rtl.name == "photo<U+202E>gpj.atf" and "text-direction" in rtl.notes[0]
    long = clean_name("x" * 5_000 + ".abf")
    assert len(long.name) == MAX_NAME_CHARS and long.name.endswith("x.abf") and long.name.count("…") == 1
    assert long.notes == ("the name had 5,004 characters; it was shortened to 255",)
    assert clean_name("ok.atf") == type(cleaned)("ok.atf") and not clean_name("ok.atf").changed
    for bidi in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c":
        assert bidi not in clean_name(f"a{bidi}b").name
    # through the CLI: the table and the workbook show the escaped name
    name = "cell\nnew line \u202egpj.atf"
    path = tmp_path / name
    path.write_bytes(corpus.valid_small())
    out = tmp_path / "out.xlsx"
    assert main(["analyze", str(path), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "cellnew line <U+202E>gpj.atf" in table and "\u202e" not in table
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(out, read_only=True)
    texts = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c]
    assert not any("\u202e" in t for t in texts + book.sheetnames)
    assert any("<U+202E>" in t for t in texts)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_history_refuses_to_save_into_a_database_file_that_is_gone(how, tmp_path):
    # with the data directory deleted under a running app, two more saves said "Saved as analysis #2/#3"
    # and History listed them: they went to the deleted file (an open handle) and were lost on restart
    import shutil
    import sqlite3

    import signal_core
    from signal_core.store import Store, StoreError

    folder = tmp_path / "data"
    db = folder / "history.sqlite"
    store = Store.open(f"sqlite:///{db}")
    key = Store.new_workspace_key()
    kw = {"recording_name": "cell.atf", "recording_bytes": corpus.valid_small(),
          "recipe_json": AnalysisParams().to_json(), "results_json": "[]", "app_version": signal_core.__version__}
    try:
        first = store.save_analysis(key, **kw)
        assert [a.id for a in store.list_analyses(key)] == [first]
        if how == "deleted":
            shutil.rmtree(folder)
        else:
            for suffix in ("", "-wal", "-shm"):  # the file moved away with its write-ahead log
                if (folder / f"history.sqlite{suffix}").exists():
                    (folder / f"history.sqlite{suffix}").rename(tmp_path / f"old.sqlite{suffix}")
            sqlite3.connect(db).close()  # another (empty) file at the same path
        for _ in range(2):  # every attempt is refused, with the reason; none reports an id
            with pytest.raises(StoreError, match=rf"the history database file .*history\.sqlite was {how} .*"
                                                 r"(nothing more can be saved|nothing is saved)"):
                store.save_analysis(key, **kw)
        with pytest.raises(StoreError, match=how):
            store.list_analyses(key)  # History does not list what it cannot keep either
    finally:
        store.close()
    if how == "replaced":
        with sqlite3.connect(tmp_path / "old.sqlite") as old:
            assert old.execute("SELECT count(*) FROM analyses").fetchone() == (1,)  # nothing was added there


def test_the_column_cap_is_the_widest_file_read_and_one_more_is_refused():
    from signal_core.io.atf_header import MAX_COLUMNS

    rec = read_recording(corpus.titles_file(MAX_COLUMNS), name="widest.atf", fs_hz=1000.0)
    assert rec.data.shape == (1, MAX_COLUMNS, 2) and rec.channel_names[-1] == f"c{MAX_COLUMNS - 1}"
    with pytest.raises(RecordingFormatError, match=rf"^line 2: the file has {MAX_COLUMNS + 1:,} data columns, more "
                                                   rf"than the limit of {MAX_COLUMNS:,}"):
        read_recording(corpus.titles_file(MAX_COLUMNS + 1), name="too_wide.atf", fs_hz=1000.0)
    # one time column per sweep, all 10,001 of them: the membership tests were lists (quadratic), now a set
    titles = "\t".join('"Time (s)"' for _ in range(MAX_COLUMNS))
    with pytest.raises(RecordingFormatError, match=r"^line 3: the file has a time column but no signal column"):
        row = "\t".join(["0"] * MAX_COLUMNS) + "\n"
        read_recording(f"ATF\t1.0\n0\t{MAX_COLUMNS}\n{titles}\n{row}{row}".encode(), name="times.atf")


def test_a_huge_file_on_disk_with_a_refused_header_is_not_read_whole(tmp_path, monkeypatch, capsys):
    # the pre-check used to give up on a header it could not parse and read the whole file to say why
    path = tmp_path / "comment.atf"
    path.write_bytes(('ATF\t1.0\n1\t3\n"Comment=' + "x" * 9_000_000 + f'"\n{corpus.SMALL_BODY}').encode())
    with pytest.raises(RecordingFormatError, match=r"^line 3: header record 1 is 9,000,010 bytes long"):
        read_recording(path)  # under 100 MB: read whole, for the exact number
    monkeypatch.setattr(atf_module, "_READ_WHOLE_FOR_MESSAGE_BYTES", 8 << 20)

    def no_whole_read(self):
        raise AssertionError("the whole file was read")

    monkeypatch.setattr(Path, "read_bytes", no_whole_read)
    peak, error = _peak_bytes(lambda: read_recording(path))
    assert isinstance(error, RecordingFormatError), error
    assert re.match(r"line 3: header record 1 is [\d,]+ bytes long, more than the limit of 262,144", str(error))
    assert peak < 8 * 2**20, peak  # the 5.1 MB head, not the file
    code, rows, _ = cli_rows([str(path)], capsys)
    assert code == 2 and "more than the limit of 262,144 bytes" in rows[0]["error"]
