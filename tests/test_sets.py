"""Sets and Q(V): many files in (in-process, worker processes, a Dask cluster), one Boltzmann per set out.

Synthetic sets with known truth are written as ATF files.  The membrane sees the fraction
g = R_m / (R_m + R_s) of the command, so in command voltage the truth is V_half / g and k / g,
and the pipette sees g Q_max.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from signal_core import cli, parallel
from signal_core.analysis.batch import ROW_KEYS
from signal_core.io.atf_writer import write_atf
from signal_core.parallel import SchedulerError, analyze_files
from signal_core.params import AnalysisParams
from signal_core.protocol.filenames import parse_filename
from signal_core.protocol.timing import ProtocolTiming
from signal_core.qv import QvFit
from signal_core.sets import (
    DEFAULT_SET_ID,
    QvPoint,
    fit_points,
    fit_sets,
    qv_points,
    qv_summary,
)
from signal_core.synthetic import CellModel, simulate

CELL = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=28.0, v_half_mV=-34.0, k_mV=8.7)
CELL_B = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=15.0, v_half_mV=-15.0, k_mV=11.0)
V_TESTS = tuple(range(-70, 31, 10))
FS_HZ = 20_000.0
DURATION_MS = 700.0
TIMING = ProtocolTiming()  # what simulate uses by default; the params of recordings without a voltage channel
PARAMS = AnalysisParams()


def _g(cell: CellModel) -> float:
    return cell.r_m_MOhm / (cell.r_m_MOhm + cell.r_s_MOhm)


def _write(folder: Path, name: str, cell: CellModel, v2: float, *, seed: int, with_voltage: bool = True,
           duration_ms: float = DURATION_MS, blip_pC: float = 0.0) -> Path:
    """One single-sweep recording at test level ``v2`` written as ATF; ``blip_pC`` corrupts its Q_on."""
    syn = simulate(cell, v_tests_mV=(v2,), fs_hz=FS_HZ, duration_ms=duration_ms, noise_pA=2.0,
                   with_voltage=with_voltage, seed=seed, name=name)
    rec = syn.recording
    if blip_pC:
        t = rec.t_s
        t_on = syn.protocols[0].test.on_start_s + 2e-3
        tau_s = 3e-3
        blip = np.where(t >= t_on, blip_pC / tau_s * np.exp(-np.clip(t - t_on, 0, None) / tau_s), 0.0)
        data = rec.data.copy()
        data[0, rec.current_channel] += blip
        rec = dataclasses.replace(rec, data=data, _t_cache={})
    path = folder / name
    path.write_bytes(write_atf(rec))
    return path


def _set(folder: Path, set_id: str, cell: CellModel, *, first: int = 1, with_voltage: bool = True,
         name_fmt: str = "20240101_{n:04d}_{s}_{v}mV.atf") -> list[Path]:
    return [_write(folder, name_fmt.format(n=first + k, s=set_id, v=v), cell, v, seed=first + k,
                   with_voltage=with_voltage) for k, v in enumerate(V_TESTS)]


def _assert_truth(fit: QvFit | str, cell: CellModel) -> None:
    assert isinstance(fit, QvFit), fit
    g = _g(cell)
    assert abs(fit.v_half_mV - cell.v_half_mV / g) < 2.0, fit
    assert abs(fit.k_mV / (cell.k_mV / g) - 1) < 0.15, fit
    assert abs(fit.q_max_pC / (cell.q_max_pC * g) - 1) < 0.10, fit


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sets")


@pytest.fixture(scope="module")
def set_a(folder: Path) -> list[Path]:
    return _set(folder, "A", CELL)


@pytest.fixture(scope="module")
def junk(folder: Path) -> Path:
    path = folder / "junk.atf"
    path.write_bytes(bytes(range(256)) * 8)
    return path


# ----------------------------------------------------------------------------- the fit recovers the truth
def test_fit_recovers_truth_and_points_carry_their_source(set_a):
    rows = analyze_files(set_a, PARAMS)
    pts = qv_points(rows)
    assert [p.v_test_mV for p in pts] == pytest.approx(V_TESTS, abs=0.05)
    assert {p.v_source for p in pts} == {"voltage channel"}
    assert {p.set_id for p in pts} == {"A"}
    assert all(p.note == "" and p.v_name_mV == pytest.approx(p.v_test_mV, abs=0.05) for p in pts)
    fits = fit_sets(pts)
    assert list(fits) == ["A"]
    _assert_truth(fits["A"], CELL)
    # -Q_off gives the same relation; Q/C_m is Q_on over C_m ~ 1 nF, in nC/uF
    _assert_truth(fit_sets(pts, quantity="minus_q_off_pC")["A"], CELL)
    per_cm = fit_sets(pts, quantity="q_on_per_c_m")["A"]
    assert isinstance(per_cm, QvFit)
    assert per_cm.v_half_mV == pytest.approx(fits["A"].v_half_mV, abs=0.5)
    assert fit_sets(pts, with_offset=True)["A"].offset_pC is not None
    json.dumps([p.to_dict() for p in pts], allow_nan=False)
    with pytest.raises(ValueError, match="quantity"):
        fit_sets(pts, quantity="q_on")


def test_excluded_corrupted_point_leaves_the_fit(folder, set_a):
    bad = _write(folder, "20240101_0099_A_-10mV.atf", CELL, -10.0, seed=99, blip_pC=25.0)
    paths = [p for p in set_a if parse_filename(p.name).v2_mV != -10.0] + [bad]
    rows = analyze_files(paths, PARAMS)
    pts = qv_points(rows)
    with_bad = fit_sets(pts)["A"]
    assert isinstance(with_bad, QvFit)
    assert abs(with_bad.q_max_pC / (CELL.q_max_pC * _g(CELL)) - 1) > 0.10 or abs(
        with_bad.v_half_mV - CELL.v_half_mV / _g(CELL)) > 2.0, "the corruption should spoil the fit"
    pts = qv_points(rows, excluded=[(bad, 1)])
    assert [p.excluded for p in pts].count(True) == 1 and pts[-1].excluded
    fit = fit_sets(pts)["A"]
    _assert_truth(fit, CELL)
    assert fit.n_points == len(V_TESTS) - 1


@pytest.mark.slow
def test_v2_only_from_file_names(folder):
    """No voltage channel: protocol timing in the recipe, V2 per file from its name."""
    sub = folder / "names"
    sub.mkdir()
    paths = [_write(sub, f"{k + 1:04d}_7_{v}.atf", CELL, v, seed=200 + k, with_voltage=False)
             for k, v in enumerate(V_TESTS)]
    params = AnalysisParams(timing=TIMING)
    # V2 by hand from parse_filename: given to the analysis (it enters the subtraction) and to the points
    names = {p: parse_filename(p.name).v2_mV for p in paths}
    rows = analyze_files(paths, params, v_test_mV=names)
    pts = qv_points(rows, v_overrides={(p, 1): v for p, v in names.items()})
    assert [p.v_test_mV for p in pts] == list(V_TESTS)
    assert {p.v_source for p in pts} == {"file name"} and {p.set_id for p in pts} == {"7"}
    assert all(p.note == "" for p in pts)
    fit = fit_sets(pts)["7"]
    _assert_truth(fit, CELL)
    # the same by the analysis itself
    rows_auto = analyze_files(paths, params, v_test_from_name=True)
    assert rows_auto == rows
    pts_auto = qv_points(rows_auto)
    assert pts_auto == pts
    # without V2 from the names the timing's V2 was used: the points say so and where to look
    rows_timing = analyze_files(paths, params)
    pts_timing = qv_points(rows_timing)
    for p in pts_timing:
        assert p.v_test_mV == TIMING.v_test_mV
        if p.v_name_mV == TIMING.v_test_mV:  # the timing's V2 is the name's: nothing to say
            assert p.v_source == "file name" and p.note == ""
        else:
            assert p.v_source == "manual" and "timing parameters" in p.note and "file name says" in p.note
    # relabelling alone does not fix the charges: the note says the file must be analysed again
    relabelled = qv_points(rows_timing, v_overrides={p: v for p, v in names.items()})
    assert all(("analyse the file again" in p.note) == (p.v_test_mV != TIMING.v_test_mV) for p in relabelled)


@pytest.mark.slow
def test_two_sets_grouped_by_name_give_two_fits(folder, set_a):
    set_b = _set(folder, "B", CELL_B, first=101)
    mixed = [p for pair in zip(set_a, set_b, strict=True) for p in pair]  # interleaved
    rows = analyze_files(mixed, PARAMS)
    fits = fit_sets(qv_points(rows))
    assert list(fits) == ["A", "B"]
    _assert_truth(fits["A"], CELL)
    _assert_truth(fits["B"], CELL_B)
    # sets by hand win over the names; a set that cannot be fitted says why, the others are fitted
    by_hand = {p: ("one" if p in set_a else "lonely") for p in mixed}
    by_hand[set_b[0]] = "lonely"
    pts = qv_points(rows, sets=by_hand, excluded=[(p, 1) for p in set_b[1:]])
    fits = fit_sets(pts)
    _assert_truth(fits["one"], CELL)
    assert isinstance(fits["lonely"], str) and fits["lonely"]


# ----------------------------------------------------------------------------- the same numbers in every mode
@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, host="127.0.0.1")
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def mixed_sizes(folder, set_a, junk) -> list[Path]:
    """Files of very different sizes, a junk file among them, and the real sample."""
    big = _write(folder, "20240101_0050_A_-25mV.atf", CELL, -25.0, seed=50, duration_ms=4000.0)
    sample = Path(__file__).resolve().parents[2] / "shared" / "data" / "202304_0521.atf"
    paths = [big, *set_a[:3], junk, set_a[3], big, *set_a[4:6]]
    return paths + ([sample] if sample.exists() else [])


def _check_rows(rows: list[list[dict]], paths: list[Path], junk: Path) -> None:
    assert len(rows) == len(paths)
    for file_rows, path in zip(rows, paths, strict=True):
        assert file_rows and all(r["file"] == os.fspath(path) for r in file_rows)
        assert all(list(r) == list(ROW_KEYS) for r in file_rows)
        if path == junk:
            assert len(file_rows) == 1 and file_rows[0]["sweep"] is None and "junk.atf" in file_rows[0]["error"]
        else:
            assert all(r["error"] is None for r in file_rows)


@pytest.mark.slow
def test_identical_numbers_in_process_processes_and_dask(mixed_sizes, junk, dask_cluster):
    runs = {}
    for label, kwargs in (("workers=1", {}), ("workers=2", {"workers": 2}),
                          ("dask", {"scheduler": dask_cluster.scheduler_address})):
        calls: list[tuple[int, int]] = []
        runs[label] = analyze_files(mixed_sizes, PARAMS, progress=lambda d, t, c=calls: c.append((d, t)), **kwargs)
        _check_rows(runs[label], mixed_sizes, junk)
        assert calls[-1] == (len(mixed_sizes), len(mixed_sizes)), label
        assert [d for d, _ in calls] == sorted(d for d, _ in calls) and all(t == len(mixed_sizes) for _, t in calls)
    # exact equality of every float (rows hold plain floats, None for non-finite)
    assert runs["workers=2"] == runs["workers=1"]
    assert runs["dask"] == runs["workers=1"]
    # one process per chunk is not needed: more workers than files, and a single file, work too
    assert analyze_files(mixed_sizes[:2], PARAMS, workers=8) == runs["workers=1"][:2]
    assert analyze_files([junk], PARAMS, workers=2) == [runs["workers=1"][mixed_sizes.index(junk)]]
    assert analyze_files([], PARAMS, workers=2) == []


@pytest.mark.slow
def test_qv_summary_is_the_cli_output(set_a, junk, capsys):
    paths = [*set_a, junk]
    assert cli.main(["qv", *map(str, paths), "--json"]) == 2
    expected = json.loads(capsys.readouterr().out)
    rows = analyze_files(paths, PARAMS, workers=2)
    pts = qv_points(rows)
    fit = fit_points(pts, temperature_C=PARAMS.temperature_C)
    out = qv_summary(rows, fit)
    assert json.loads(json.dumps(out, allow_nan=False)) == expected
    assert qv_summary(rows, fit, points=pts) == out
    # a fit that fails: the same keys with None and the error last
    assert cli.main(["qv", str(set_a[0]), "--json", "--with-offset"]) == 2
    expected = json.loads(capsys.readouterr().out)
    rows = analyze_files(set_a[:1], PARAMS)
    out = qv_summary(rows, fit_points(qv_points(rows), with_offset=True))
    assert out == expected and out["v_half_mV"] is None and out["errors"][-1]["file"] is None



def test_qv_out_holds_the_charges_of_the_names_v2(folder, tmp_path, capsys):
    """``qv --out``: the export analyses each file again for its curves, with the V2 its JSON row has
    (from the name for a file without voltage channel), not the timing's."""
    sub = folder / "out_names"
    sub.mkdir()
    paths = [_write(sub, f"{k + 1:04d}_7_{v}.atf", CELL, v, seed=300 + k, with_voltage=False)
             for k, v in enumerate((-50, -30, -10))]
    out = tmp_path / "set.csv"
    assert cli.main(["qv", *map(str, paths), "--t0-ms", str(TIMING.t0_ms), "--json", "--out", str(out)]) == 0
    capsys.readouterr()
    with out.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    rows = [r for file_rows in analyze_files(paths, AnalysisParams(timing=TIMING), v_test_from_name=True)
            for r in file_rows]
    assert [float(r["v_test_mV"]) for r in table] == [-50.0, -30.0, -10.0]  # the names'; the timing says -20
    assert [float(r["q_on_pC"]) for r in table] == [r["q_on_pC"] for r in rows]

# ----------------------------------------------------------------------------- failures
def _crash_chunk(items, *args):
    """A worker task that kills its process on files named *crash*."""
    if any("crash" in Path(path).name for _i, path, _v in items):
        os._exit(3)
    return parallel._analyze_chunk(items, *args)


@pytest.mark.slow
def test_dead_worker_loses_only_its_file(monkeypatch, folder, set_a):
    crash = folder / "crash.atf"
    crash.write_bytes(set_a[0].read_bytes())
    paths = [*set_a[:5], crash, *set_a[5:]]
    expected = analyze_files(set_a, PARAMS)
    monkeypatch.setattr(parallel, "_analyze_chunk", _crash_chunk)
    rows = analyze_files(paths, PARAMS, workers=2)
    assert len(rows) == len(paths)
    assert rows[:5] + rows[6:] == expected
    assert len(rows[5]) == 1 and rows[5][0]["file"] == os.fspath(crash) and "died" in rows[5][0]["error"]




def test_dask_missing_and_bad_workers(monkeypatch, set_a):
    with pytest.raises(ValueError, match="workers"):
        analyze_files(set_a, PARAMS, workers=0)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SchedulerError, match=r"pip install 'dask\[distributed\]'"):
        analyze_files(set_a, PARAMS, scheduler="tcp://127.0.0.1:8786")


# ----------------------------------------------------------------------------- V2 sources without files
def _row(file: str, sweep: int, v2: float | None, *, q: float = 1.0, flags=(), error=None) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(file=file, sweep=sweep, v_test_mV=v2, q_on_pC=q, q_off_pC=-q, flags=list(flags), error=error)
    return row


@pytest.mark.slow
def test_v2_sources_and_notes():
    rows = [
        [_row("/d/20240101_0001_3_-50mV.atf", 1, -49.6)],  # agrees within 2 mV
        [_row("/d/20240101_0002_3_-50mV.atf", 1, -40.0)],  # disagrees
        [_row("/d/multi_-50mV.atf", 1, -70.0), _row("/d/multi_-50mV.atf", 2, -60.0)],  # name V2 not per sweep
        [_row("/d/bad_0003.atf", None, None, error="bad_0003.atf: line 1: not an ATF file")],
        [_row("/d/20240101_0004_3_-20mV.atf", 1, -20.0, flags=["No voltage channel: the protocol comes from "
                                                               "the timing parameters, not from the recording."])],
    ]
    pts = qv_points(rows)
    assert [p.file.rsplit("/", 1)[1][:13] for p in pts] == ["20240101_0001", "20240101_0002", "multi_-50mV.a",
                                                            "multi_-50mV.a", "20240101_0004"]
    assert [p.v_source for p in pts] == ["voltage channel"] * 4 + ["file name"]
    assert pts[0].note == "" and pts[0].v_name_mV == -50.0
    assert pts[1].note == "file name says -50 mV, voltage channel -40.0 mV; the voltage channel is used"
    assert pts[2].v_name_mV is None and pts[2].set_id == DEFAULT_SET_ID and pts[0].set_id == "3"
    assert all(isinstance(p, QvPoint) for p in pts)
    # by hand: per file or per sweep; the recipe's V2 is "manual"
    pts = qv_points(rows, v_overrides={"/d/multi_-50mV.atf": -70.0, ("/d/multi_-50mV.atf", 2): -60.0})
    assert [p.v_source for p in pts[2:4]] == ["manual", "manual"] and pts[2].note == pts[3].note == ""
    pts = qv_points(rows, params=AnalysisParams(v_test_mV=-20.0))
    assert {p.v_source for p in pts} == {"manual"}
