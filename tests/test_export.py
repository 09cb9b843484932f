"""Workbooks and CSV files read back (openpyxl, pandas) and compared with the results they came from."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils.cell import range_boundaries

import signal_core
from signal_core.analysis.batch import ROW_KEYS
from signal_core.analysis.pipeline import SweepFailure, analyze_recording
from signal_core.cli import main as cli_main
from signal_core.export import (
    ExportEntry,
    analysis_workbook,
    curves_csv,
    raw_csv,
    recipe_json,
    results_csv,
    results_long_csv,
    safe_sheet_name,
    set_workbook,
    sets_from_names,
    split_outcomes,
)
from signal_core.export import workbook as export_workbook
from signal_core.export import xlsx as export_xlsx
from signal_core.export.data import ORANGE_POINTS
from signal_core.export.data import WORKBOOK_CURVE_POINTS as CURVE_POINTS
from signal_core.filters.specs import FilterSpec
from signal_core.params import AnalysisParams
from signal_core.protocol.timing import ProtocolTiming
from signal_core.quantities import QUANTITIES
from signal_core.qv import fit_qv
from signal_core.synthetic import CellModel, simulate

ROOT = Path(__file__).resolve().parents[1]
CELL = CellModel(c_m_nF=0.8, r_s_MOhm=2.0, r_m_MOhm=400.0, e_leak_mV=-20.0, q_max_pC=20.0, v_half_mV=-34.0,
                 k_mV=8.7, tau_q_ms=2.0)
FS = 50_000.0
V_TESTS = (-60.0, -40.0, -20.0, 0.0)
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
BAD_NAMES = [
    "a" * 40 + ".atf",
    "a[b]c:d*e?f/g\\h.atf",
    "dup.atf",
    "DUP.atf",
    "=cmd|' /C calc'!A0.atf",
    "<script>alert('x')</script>.atf",
    "History",
    "'quoted'",
    "   ",
    "Curves!A1",
]


# ------------------------------------------------------------------------------ fixtures and helpers
def _entry(name: str, result, data: bytes | None = None) -> ExportEntry:
    data = data if data is not None else name.encode("utf-8")
    return ExportEntry(name, hashlib.sha256(data).hexdigest(), len(data) * 1000 + 17, result)


@pytest.fixture(scope="module")
def lab_set():
    """Four single-sweep files named as the lab names them, their entries and a Q-V fit."""
    params = AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=5000.0),))
    entries = []
    for i, v in enumerate(V_TESTS):
        name = f"20130507_{i + 6:04d}_{v:g}mVdepol.atf"
        sim = simulate(CELL, ProtocolTiming(), v_tests_mV=(v,), fs_hz=FS, noise_pA=3.0, seed=i, name=name)
        (res,) = analyze_recording(sim.recording, params)
        entries.append(_entry(name, res))
    fit = fit_qv([e.result.v_test_mV for e in entries], [e.result.q_on_pC for e in entries])
    return entries, fit, params


@pytest.fixture(scope="module")
def multi():
    """One file with three sweeps (one V2 each) and its recording."""
    sim = simulate(CELL, ProtocolTiming(), v_tests_mV=(-40.0, -20.0, 0.0), fs_hz=FS, noise_pA=3.0, seed=7,
                   name="0057_0_-100.atf")
    outcomes = analyze_recording(sim.recording)
    entries, failures = split_outcomes("0057_0_-100.atf", "ab" * 32, 12345, outcomes)
    assert not failures
    return sim.recording, entries


def load(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


@pytest.fixture(scope="module")
def lab_workbook(lab_set) -> openpyxl.Workbook:
    """The analysis workbook of the lab set with its fit, built and read back once for the tests that only
    read it (building and parsing it is the slow part)."""
    entries, fit, _ = lab_set
    return load(analysis_workbook(entries, fit=fit, exported_at=WHEN))


def headers(ws, row: int = 1) -> dict[str, int]:
    return {c.value: c.column for c in ws[row] if c.value is not None}


def ref_cells(wb, ref: str) -> list:
    """The values of a chart reference such as ``'Set summary'!$D$5:$D$8``."""
    sheet, _, rng = ref.rpartition("!")
    if sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    c1, r1, c2, r2 = range_boundaries(rng.replace("$", ""))
    ws = wb[sheet]
    return [ws.cell(r, c).value for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)]


def expected(value):
    """What a result attribute looks like in a cell: None for None, NaN and infinities."""
    if value is None or not math.isfinite(value):
        return None
    return pytest.approx(value, rel=1e-15, abs=1e-300)


def block_means(y: np.ndarray, max_points: int) -> np.ndarray:
    """Independent reference for the workbook's curve reduction (block means, short last block)."""
    n = y.size
    if n <= max_points:
        return y
    k = -(-n // max_points)
    return np.array([y[i:i + k].mean() for i in range(0, n, k)])


def series_refs(chart) -> list[tuple[str, str]]:
    return [(s.xVal.numRef.f, s.yVal.numRef.f) for s in chart.series]


# ------------------------------------------------------------------------------ analysis workbook
@pytest.mark.slow
def test_summary_numbers_are_the_results(lab_set, lab_workbook):
    entries, fit, _ = lab_set
    wb = lab_workbook
    assert wb.sheetnames == ["Summary", "Parameters", "Curves", "Charts", "Provenance", "Recipe"]
    ws = wb["Summary"]
    cols = headers(ws)
    for q in QUANTITIES:
        if q.key == "c_specific_uF_per_cm2":
            assert q.header not in cols  # no membrane area given
            continue
        assert q.header in cols
        assert q.unit in q.header
    for name in ("Q_on (pC)", "Q_off (pC)", "C_lin (nF)", "C_m (nF)", "R_s (MOhm)", "tau (ms)", "V_test (mV)",
                 "Q_on/C_m (nC/uF)", "flags", "error"):
        assert name in cols
    for i, e in enumerate(entries, 2):
        r = e.result
        assert ws.cell(i, cols["file"]).value == e.file_name
        assert ws.cell(i, cols["sweep"]).value == r.sweep + 1
        for q in QUANTITIES:
            if q.header in cols:
                cell = ws.cell(i, cols[q.header])
                assert cell.value == expected(getattr(r, q.key)), q.key
                if cell.value is not None:
                    assert cell.data_type == "n" and cell.number_format == q.num_format
        assert (ws.cell(i, cols["flags"]).value or "") == "; ".join(f.message for f in r.flags)
    # the fit below the table, with standard errors
    labels = {ws.cell(r, 1).value: r for r in range(1, ws.max_row + 1)}
    assert ws.cell(labels["Q_max"], 2).value == expected(fit.q_max_pC)
    assert ws.cell(labels["Q_max"], 3).value == expected(fit.q_max_pC_se)
    assert ws.cell(labels["V_half"], 2).value == expected(fit.v_half_mV)
    assert ws.cell(labels["k"], 3).value == expected(fit.k_mV_se)
    assert ws.cell(labels["z (effective valence)"], 2).value == expected(fit.z)


@pytest.mark.slow
def test_missing_values_are_blank_and_area_adds_a_column(lab_set):
    entries, _, _ = lab_set
    r = dataclasses.replace(entries[0].result, r_m_MOhm=None, q_off_over_on=float("nan"),
                            c_specific_uF_per_cm2=4.2)
    wb = load(analysis_workbook([dataclasses.replace(entries[0], result=r)]))
    ws = wb["Summary"]
    cols = headers(ws)
    assert ws.cell(2, cols["R_m (MOhm)"]).value is None
    assert ws.cell(2, cols["Q_off/Q_on"]).value is None
    assert ws.cell(2, cols["C_m/area (uF/cm^2)"]).value == expected(4.2)
    df = pd.read_csv(io.BytesIO(results_csv([dataclasses.replace(entries[0], result=r)])))
    assert np.isnan(df.loc[0, "r_m_MOhm"]) and np.isnan(df.loc[0, "q_off_over_on"])
    assert df.loc[0, "c_specific_uF_per_cm2"] == 4.2


@pytest.mark.slow
def test_failures_are_listed_with_their_error(lab_set):
    entries, _, _ = lab_set
    sim = simulate(CELL, ProtocolTiming(), v_tests_mV=(-20.0, 0.0), fs_hz=FS, name="0099_1_-20.atf")
    outcomes = analyze_recording(sim.recording, AnalysisParams(integrate_on_ms=(500.0, 600.0)))
    assert all(isinstance(o, SweepFailure) for o in outcomes)
    failures = [*outcomes, ("broken.atf", None, "line 1: not an ATF file")]
    data = analysis_workbook(entries[:1], failures=failures)
    ws = load(data)["Summary"]
    cols = headers(ws)
    rows = [[ws.cell(r, c).value for c in (cols["file"], cols["sweep"], cols["Q_on (pC)"], cols["error"])]
            for r in range(3, 6)]
    assert rows[0][:3] == ["0099_1_-20.atf", 1, None] and rows[0][3] == outcomes[0].error
    assert rows[1][:2] == ["0099_1_-20.atf", 2] and rows[1][3] == outcomes[1].error
    assert rows[2] == ["broken.atf", None, None, "line 1: not an ATF file"]
    # and the same in both CSV forms
    df = pd.read_csv(io.BytesIO(results_csv(entries[:1], failures)))
    assert list(df["error"].iloc[1:]) == [outcomes[0].error, outcomes[1].error, "line 1: not an ATF file"]
    assert np.isnan(df["sweep"].iloc[3]) and df["q_on_pC"].iloc[1:].isna().all()
    long = pd.read_csv(io.BytesIO(results_long_csv(entries[:1], failures)), keep_default_na=False)
    err = long[long["quantity"] == "error"]
    assert list(err["note"]) == [outcomes[0].error, outcomes[1].error, "line 1: not an ATF file"]
    # only failures: still a workbook
    wb = load(analysis_workbook([], failures=failures, params=AnalysisParams()))
    assert wb["Summary"].cell(2, 1).value == "0099_1_-20.atf"
    assert AnalysisParams.from_json("\n".join(c.value for c in wb["Recipe"]["A"])) == AnalysisParams()


@pytest.mark.slow
def test_parameters_sheet_has_recipe_filters_and_epochs(multi):
    rec, _ = multi
    params = AnalysisParams(filters=(FilterSpec(kind="notch", freq_hz=1000.0), FilterSpec(kind="butter",
                            cutoff_hz=4000.0, order=2)), baseline_ms=4.0, integrate_on_ms=(0.0, 50.0))
    entries, _ = split_outcomes(rec.name, "cd" * 32, 1, analyze_recording(rec, params))
    ws = load(analysis_workbook(entries))["Parameters"]
    rows = [[c.value for c in row] for row in ws.iter_rows(max_col=7)]
    by_name = {r[0]: r for r in rows if r[0]}
    for f in dataclasses.fields(AnalysisParams):
        assert f.name in by_name, f.name
    assert by_name["baseline_ms"][1:3] == [4.0, "ms"]
    assert json.loads(by_name["integrate_on_ms"][1]) == [0.0, 50.0]
    assert by_name["temperature_C"][2] == "deg C"
    chain = [r for r in rows if isinstance(r[0], int) and isinstance(r[1], str) and r[2] in ("yes", "no")]
    assert [r[1] for r in chain] == [s.label() for s in params.filters]
    assert [json.loads(r[3]) for r in chain] == [s.to_dict() for s in params.filters]
    epochs = [r for r in rows if r[2] == "voltage channel"]
    want = [(e.sweep_number, ep.role, ep.start_s * 1e3, ep.end_s * 1e3, ep.level_mV)
            for e in entries for ep in e.result.protocol.epochs]
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in epochs] == [
        (s, role, expected(a), expected(b), expected(v)) for s, role, a, b, v in want]
    assert {r[3] for r in epochs} >= {"hold", "control ON 1", "control OFF 2", "test ON", "test OFF"}


@pytest.mark.slow
def test_curves_hold_the_result_curves_and_charts_point_at_them(lab_set, lab_workbook):
    entries, fit, _ = lab_set
    wb = lab_workbook
    ws = wb["Curves"]
    charts = wb["Charts"]._charts
    assert len(charts) == 1 + 2 * len(entries)
    # every series of every chart points at a non-empty range of numbers
    for chart in charts:
        assert chart.series
        for xref, yref in series_refs(chart):
            for ref in (xref, yref):
                values = ref_cells(wb, ref)
                assert len(values) >= len(entries) and all(isinstance(v, float | int) for v in values), ref
    # each entry's block: title, units in headers, block means of the result's curves
    titles = {ws.cell(1, c).value: c for c in range(1, ws.max_column + 1) if ws.cell(1, c).value}
    for e, (purple, control) in zip(entries, zip(charts[1::2], charts[2::2])):
        col = titles[e.title]
        heads = {}
        while ws.cell(2, col).value is not None:  # the block ends at its empty gap column
            heads[ws.cell(2, col).value] = col
            col += 1
        r = e.result
        checks = {
            "asymmetric current ON, purple (pA)": r.purple_on_pA,
            "asymmetric current OFF, purple (pA)": r.purple_off_pA,
            "control ON per mV, average, magenta (pA/mV)": r.magenta_on_pA_per_mV,
            "control OFF per mV, average, magenta (pA/mV)": r.magenta_off_pA_per_mV,
            "control ON 2 per mV, dark blue (pA/mV)": r.dark_blue_on_pA_per_mV[1],
            "control OFF 1 per mV, dark blue (pA/mV)": r.dark_blue_off_pA_per_mV[0],
            "t from test ON edge (ms)": r.t_on_ms,
            "t from control edge (ms)": r.t_ctrl_ms,
            "t in sweep (ms)": r.t_orange_s * 1e3,
            "current decimated, orange (pA)": r.i_orange_pA,
        }
        for head, curve in checks.items():
            assert head in heads, head
            want = block_means(curve, ORANGE_POINTS if "orange" in head or "sweep" in head else CURVE_POINTS)
            got = [ws.cell(row, heads[head]).value for row in range(3, 3 + want.size + 1)]
            assert got[-1] is None
            np.testing.assert_allclose(got[:-1], want, rtol=1e-14, atol=1e-12, err_msg=head)
        # the purple chart of this entry: ON and OFF of this block, titled by the block's title cell
        (x_on, y_on), (x_off, y_off) = series_refs(purple)
        assert ref_cells(wb, y_on)[: 5] == [ws.cell(row, heads["asymmetric current ON, purple (pA)"]).value
                                            for row in range(3, 8)]
        assert ref_cells(wb, purple.title.tx.strRef.f) == [e.title]
        assert [s.tx.v for s in purple.series] == ["asymmetric current ON (purple)",
                                                   "asymmetric current OFF (purple)"]
        legends = [s.tx.v for s in control.series]
        assert legends.count("control ON per mV, average (magenta)") == 1
        assert sum("dark blue" in s for s in legends) == 2 * r.protocol.n_control


@pytest.mark.slow
def test_qv_chart_uses_summary_points_and_the_fitted_line(lab_set, lab_workbook):
    entries, fit, _ = lab_set
    wb = lab_workbook
    qv = wb["Charts"]._charts[0]
    (xp, yp), (xf, yf) = series_refs(qv)
    assert ref_cells(wb, xp) == [expected(e.result.v_test_mV) for e in entries]
    assert ref_cells(wb, yp) == [expected(e.result.q_on_pC) for e in entries]
    v = np.array(ref_cells(wb, xf))
    q = np.array(ref_cells(wb, yf))
    assert v.min() < min(V_TESTS) and v.max() > max(V_TESTS)
    np.testing.assert_allclose(q, fit.q_max_pC / (1 + np.exp(-(v - fit.v_half_mV) / fit.k_mV)), rtol=1e-12)
    # one entry: no Q-V chart; without a fit: points only
    small = {"max_curve_points": 50, "max_orange_points": 50}
    assert len(load(analysis_workbook(entries[:1], **small))["Charts"]._charts) == 2
    assert len(load(analysis_workbook(entries, **small))["Charts"]._charts[0].series) == 1


@pytest.mark.slow
def test_full_rate_curves_on_request(lab_set):
    entries, _, _ = lab_set
    e = entries[0]
    ws = load(analysis_workbook([e], max_curve_points=None))["Curves"]
    col = headers(ws, 2)["asymmetric current OFF, purple (pA)"]
    got = [ws.cell(r, col).value for r in range(3, 3 + e.result.purple_off_pA.size)]
    np.testing.assert_allclose(got, e.result.purple_off_pA, rtol=1e-15)


@pytest.mark.slow
def test_many_entries_spill_to_more_curve_sheets_and_cap_the_charts(lab_set, monkeypatch):
    entries, _, _ = lab_set
    monkeypatch.setattr(export_xlsx, "MAX_COLS", 20)  # one 13-column block per sheet
    monkeypatch.setattr(export_workbook, "MAX_CHARTED_ENTRIES", 3)
    wb = load(analysis_workbook(entries))
    assert [n for n in wb.sheetnames if n.startswith("Curves")] == ["Curves", "Curves (2)", "Curves (3)",
                                                                    "Curves (4)"]
    charts = wb["Charts"]._charts
    assert len(charts) == 1 + 2 * 3
    refs = {ref.rpartition("!")[0].strip("'") for c in charts[1:] for pair in series_refs(c) for ref in pair}
    assert refs == {"Curves", "Curves (2)", "Curves (3)"}
    for c in charts:
        for pair in series_refs(c):
            assert all(isinstance(v, float) for v in ref_cells(wb, pair[1]))
    assert "first 3 of 4" in wb["Charts"]["A21"].value


@pytest.mark.slow
def test_provenance_and_recipe(lab_set):
    entries, _, params = lab_set
    when = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    wb = load(analysis_workbook(entries, exported_at=when))
    ws = wb["Provenance"]
    kv = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0]}
    assert kv["app version"] == signal_core.__version__
    assert kv["exported (UTC)"] == "2024-05-06T07:08:09+00:00"
    assert kv["Python"] == ".".join(map(str, sys.version_info[:3]))
    for lib in ("numpy", "scipy", "pandas", "xlsxwriter", "pywt (PyWavelets)", "streamlit"):
        assert kv[lib]
    assert kv["numpy"] == np.__version__
    files = {r[0]: r for r in ws.iter_rows(values_only=True) if r[0] in {e.file_name for e in entries}}
    for e in entries:
        assert files[e.file_name][1] == e.sha256 and files[e.file_name][2] == e.size_bytes
    lines = [c.value for c in wb["Recipe"]["A"]]
    assert AnalysisParams.from_json("\n".join(lines)) == params


@pytest.mark.slow
def test_two_recipes_get_two_recipe_sheets(lab_set):
    entries, _, params = lab_set
    other = params.replace(baseline_ms=3.0)
    sim = simulate(CELL, ProtocolTiming(), fs_hz=FS, name="0100_x.atf")
    (res,) = analyze_recording(sim.recording, other)
    wb = load(analysis_workbook([entries[0], _entry("0100_x.atf", res)]))
    assert wb.sheetnames[-2:] == ["Recipe", "Recipe 2"]
    assert AnalysisParams.from_json("\n".join(c.value for c in wb["Recipe 2"]["A"])) == other


@pytest.mark.parametrize("params", [
    AnalysisParams(),
    AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=2000.0), FilterSpec(kind="wavelet", level=4)),
                   tail_on_ms=(60.0, 90.0), integrate_off_ms=(0.0, 80.0), area_um2=12_000.0),
    AnalysisParams(tail_mode="manual", manual_tail_on=((10.0, 1.0), (90.0, 2.0)),
                   manual_tail_off=((10.0, -1.0), (90.0, 0.5)), control_on_source="both",
                   timing=ProtocolTiming(t0_ms=10.0, n_control=4), v_test_mV=-30.0, temperature_C=30.0),
])
def test_recipe_json_round_trip(params):
    data = recipe_json(params)
    assert isinstance(data, bytes) and data.endswith(b"\n")
    assert AnalysisParams.from_json(data) == params


@pytest.mark.slow
def test_raw_sheet_only_on_request(multi):
    rec, entries = multi
    assert "Raw (decimated)" not in load(analysis_workbook(entries)).sheetnames
    wb = load(analysis_workbook(entries[1:2], raw=[(entries[1], rec)]))
    ws = wb["Raw (decimated)"]
    assert ws.cell(1, 1).value.startswith(entries[1].title)
    assert [ws.cell(2, c).value for c in range(1, 4)] == ["t in sweep (ms)", "Im (pA)", "Vm (mV)"]
    n = ws.max_row - 2
    assert n <= export_workbook.MAX_RAW_ROWS
    t = np.array([ws.cell(r, 1).value for r in range(3, n + 3)])
    v = np.array([ws.cell(r, 3).value for r in range(3, n + 3)])
    assert t[0] >= 0 and t[-1] <= rec.duration_s * 1e3 and np.all(np.diff(t) > 0)
    # sweep 2 steps to -20 mV during the test pulse; the decimated command follows it
    test = entries[1].result.protocol.test
    inside = (t > test.on_start_s * 1e3 + 2) & (t < test.on_end_s * 1e3 - 2)
    np.testing.assert_allclose(v[inside], -20.0, atol=0.5)


# ------------------------------------------------------------------------------ sheet names
@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=45), min_size=1, max_size=12))
def test_safe_sheet_names_follow_excel_rules(names):
    used: set[str] = {"Set summary"}
    out = [safe_sheet_name(n, used) for n in names]
    for name in out:
        assert 0 < len(name.encode("utf-16-le")) // 2 <= 31
        assert not re.search(r"[\[\]:*?/\\]", name)
        assert name.strip() and not name.startswith("'") and not name.endswith("'")
        assert name.casefold() != "history"
    folded = [n.casefold() for n in [*out, "Set summary"]]
    assert len(set(folded)) == len(folded)
    assert set(out) <= used


def test_safe_sheet_name_examples():
    used: set[str] = set()
    assert safe_sheet_name("0006", used) == "0006"
    assert safe_sheet_name("0006", used) == "0006 (2)"
    assert safe_sheet_name("a" * 40, used) == "a" * 31
    assert safe_sheet_name("A" * 40, used) == "A" * 27 + " (2)"
    assert safe_sheet_name("a[b]c:d*e?f/g\\h", used) == "a_b_c_d_e_f_g_h"
    assert safe_sheet_name("history", used) == "history_"
    assert safe_sheet_name("'quoted'", used) == "quoted"
    assert safe_sheet_name("  ", used) == "Sheet"


@pytest.mark.slow
def test_odd_file_names_stay_text_and_get_valid_sheets(lab_set):
    entries, fit, _ = lab_set
    odd = [dataclasses.replace(entries[i % len(entries)], file_name=n) for i, n in enumerate(BAD_NAMES)]
    wb = load(analysis_workbook(odd, fit=fit, max_curve_points=100, max_orange_points=100))
    ws = wb["Summary"]
    for i, e in enumerate(odd, 2):
        cell = ws.cell(i, 1)
        assert cell.value == e.file_name and cell.data_type == "s"
    curves = wb["Curves"]
    titles = [curves.cell(1, c).value for c in range(1, curves.max_column + 1) if curves.cell(1, c).value]
    assert titles[1:] == [e.title for e in odd]
    assert len(wb["Charts"]._charts) == 1 + 2 * len(odd)
    # the set workbook names sheets after the files: all valid, all distinct
    wb = load(set_workbook(odd, fit=fit, set_name="=HYPERLINK(\"http://x\")", max_curve_points=100))
    names = wb.sheetnames
    assert names[0] == "Set summary" and len(names) == 1 + len(odd)
    assert len({n.casefold() for n in names}) == len(names)
    for n in names:
        assert len(n) <= 31 and not re.search(r"[\[\]:*?/\\]", n) and n.strip() and n[0] != "'" and n[-1] != "'"
    assert wb["Set summary"]["B1"].value == "=HYPERLINK(\"http://x\")"
    assert wb["Set summary"]["B1"].data_type == "s"
    for e, sheet in zip(odd, names[1:]):
        assert wb[sheet]["B1"].value == e.file_name and wb[sheet]["B1"].data_type == "s"


# ------------------------------------------------------------------------------ set workbook
@pytest.mark.slow
def test_set_workbook_one_sheet_per_file_number(lab_set):
    entries, fit, _ = lab_set
    wb = load(set_workbook(entries, fit=fit, set_name="cell 3", exported_at=WHEN))
    assert wb.sheetnames == ["Set summary", "0006", "0007", "0008", "0009"]
    ws = wb["Set summary"]
    assert ws["B1"].value == "cell 3" and ws["B2"].value == "2024-05-06T07:08:09+00:00"
    cols = headers(ws, 4)
    for i, e in enumerate(entries, 5):
        assert ws.cell(i, cols["file"]).value == e.file_name
        assert ws.cell(i, cols["V_test (mV)"]).value == expected(e.result.v_test_mV)
        assert ws.cell(i, cols["Q_on (pC)"]).value == expected(e.result.q_on_pC)
        assert ws.cell(i, cols["Q_off (pC)"]).value == expected(e.result.q_off_pC)
        assert ws.cell(i, cols["C_m (nF)"]).value == expected(e.result.c_m_nF)
    labels = {ws.cell(r, 1).value: r for r in range(1, ws.max_row + 1)}
    for label, value, se in (("Q_max", fit.q_max_pC, fit.q_max_pC_se), ("V_half", fit.v_half_mV, fit.v_half_mV_se),
                             ("k", fit.k_mV, fit.k_mV_se), ("z (effective valence)", fit.z, fit.z_se)):
        assert ws.cell(labels[label], 2).value == expected(value)
        assert ws.cell(labels[label], 3).value == expected(se)
    (chart,) = ws._charts
    (xp, yp), (xf, yf) = series_refs(chart)
    assert ref_cells(wb, yp) == [expected(e.result.q_on_pC) for e in entries]
    assert all(isinstance(v, float) for v in ref_cells(wb, yf))
    for e, sheet in zip(entries, wb.sheetnames[1:]):
        fs = wb[sheet]
        rows = {fs.cell(r, 1).value: fs.cell(r, 2).value for r in range(1, 10)}
        assert rows["file"] == e.file_name and rows["sweep"] == 1
        assert rows["V2 = V_test (mV)"] == expected(e.result.v_test_mV)
        assert rows["Q_on (pC)"] == expected(e.result.q_on_pC)
        assert rows["Q_off (pC)"] == expected(e.result.q_off_pC)
        (purple,) = fs._charts
        (x_on, y_on), (x_off, y_off) = series_refs(purple)
        np.testing.assert_allclose(ref_cells(wb, y_on), block_means(e.result.purple_on_pA, CURVE_POINTS), rtol=1e-14)
        np.testing.assert_allclose(ref_cells(wb, x_off), block_means(e.result.t_off_ms, CURVE_POINTS), rtol=1e-14)
        assert x_on.startswith(f"'{sheet}'!")


@pytest.mark.slow
def test_set_workbook_multi_sweep_and_unnumbered_files(multi, lab_set):
    _, entries = multi
    odd = dataclasses.replace(lab_set[0][0], file_name="cell A, -30 mV.atf")
    wb = load(set_workbook([*entries, odd], failures=[("0060_0_-10.atf", None, "cannot be read")]))
    assert wb.sheetnames == ["Set summary", "0057 s1", "0057 s2", "0057 s3", "cell A, -30 mV"]
    ws = wb["Set summary"]
    cols = headers(ws, 4)
    assert [ws.cell(r, cols["sheet"]).value for r in range(5, 9)] == wb.sheetnames[1:]
    assert ws.cell(9, cols["file"]).value == "0060_0_-10.atf"
    assert ws.cell(9, cols["error"]).value == "cannot be read"


def test_sets_from_names():
    names = ["0057_0_-100.atf", "20130507_0006_10mVdepol.atf", "0058_0_-80.atf", "20240101_0003_2_-50mV.atf",
             "notes.atf"]
    assert sets_from_names(names) == {
        "0": ["0057_0_-100.atf", "0058_0_-80.atf"],
        "": ["20130507_0006_10mVdepol.atf", "notes.atf"],
        "2": ["20240101_0003_2_-50mV.atf"],
    }
    assert sets_from_names([]) == {}


# ------------------------------------------------------------------------------ CSV
def test_results_csv_round_trips_through_pandas(lab_set):
    entries, _, _ = lab_set
    df = pd.read_csv(io.BytesIO(results_csv(entries)))
    assert list(df.columns) == list(ROW_KEYS)
    for i, e in enumerate(entries):
        r = e.result
        assert df.loc[i, "file"] == e.file_name and df.loc[i, "sweep"] == r.sweep + 1
        for key, value in r.scalars().items():
            if value is None or not math.isfinite(value):
                assert np.isnan(df.loc[i, key]), key
            else:
                assert df.loc[i, key] == value, key  # full precision
        flags = df.loc[i, "flags"]
        assert (flags if isinstance(flags, str) else "") == "; ".join(f.message for f in r.flags)


def test_results_long_csv_is_tidy(lab_set):
    entries, _, _ = lab_set
    df = pd.read_csv(io.BytesIO(results_long_csv(entries)), keep_default_na=False)
    assert list(df.columns) == ["file", "sweep", "quantity", "value", "unit", "note"]
    numbers = df[~df["quantity"].isin(["flag", "error"])]
    for e in entries:
        got = numbers[numbers["file"] == e.file_name].set_index("quantity")
        assert len(got) == len(QUANTITIES)
        for q in QUANTITIES:
            value = getattr(e.result, q.key)
            cell = got.loc[q.name, "value"]
            if value is None:
                assert cell == ""
            else:
                assert float(cell) == value
            assert got.loc[q.name, "unit"] == q.unit
        flags = df[(df["file"] == e.file_name) & (df["quantity"] == "flag")]
        assert list(flags["note"]) == [f"{f.code}: {f.message}" for f in e.result.flags]
    assert set(numbers["unit"]) >= {"pC", "nF", "MOhm", "ms", "mV", ""}


@pytest.mark.slow
def test_curves_csv_holds_every_curve_at_full_rate(multi):
    _, entries = multi
    df = pd.read_csv(io.BytesIO(curves_csv(entries)))
    assert list(df.columns) == ["file", "sweep", "curve", "t_ms", "value", "unit"]
    for e in entries:
        r = e.result
        sub = df[df["sweep"] == e.sweep_number]
        want = {
            "purple_on": (r.t_on_ms, r.purple_on_pA, "pA"),
            "purple_off": (r.t_off_ms, r.purple_off_pA, "pA"),
            "magenta_on": (r.t_ctrl_ms, r.magenta_on_pA_per_mV, "pA/mV"),
            "magenta_off": (r.t_ctrl_ms, r.magenta_off_pA_per_mV, "pA/mV"),
            "dark_blue_on_1": (r.t_ctrl_ms, r.dark_blue_on_pA_per_mV[0], "pA/mV"),
            "dark_blue_on_2": (r.t_ctrl_ms, r.dark_blue_on_pA_per_mV[1], "pA/mV"),
            "dark_blue_off_1": (r.t_ctrl_ms, r.dark_blue_off_pA_per_mV[0], "pA/mV"),
            "dark_blue_off_2": (r.t_ctrl_ms, r.dark_blue_off_pA_per_mV[1], "pA/mV"),
            "orange": (r.t_orange_s * 1e3, r.i_orange_pA, "pA"),
        }
        assert list(dict.fromkeys(sub["curve"])) == list(want)
        for curve, (t, y, unit) in want.items():
            c = sub[sub["curve"] == curve]
            np.testing.assert_array_equal(c["t_ms"].to_numpy(), t)
            np.testing.assert_array_equal(c["value"].to_numpy(), y)
            assert set(c["unit"]) == {unit}
    small = pd.read_csv(io.BytesIO(curves_csv(entries[:1], max_points=500)))
    assert small.groupby("curve").size().max() <= 500


def test_raw_csv_full_rate(multi):
    rec, _ = multi
    df = pd.read_csv(io.BytesIO(raw_csv(rec)))
    assert list(df.columns) == ["t_ms"] + [f"{n} ({u}) sweep {s}" for s in (1, 2, 3)
                                           for n, u in zip(rec.channel_names, rec.channel_units)]
    assert len(df) == rec.n_samples
    np.testing.assert_allclose(df["t_ms"], rec.t_s * 1e3, rtol=1e-10)
    np.testing.assert_allclose(df["Im (pA) sweep 2"], rec.current(1), rtol=1e-9, atol=1e-9)
    one = pd.read_csv(io.BytesIO(raw_csv(rec, sweep=2)))
    assert list(one.columns) == ["t_ms", "Im (pA) sweep 3", "Vm (mV) sweep 3"]
    np.testing.assert_allclose(one["Vm (mV) sweep 3"], rec.voltage(2), rtol=1e-9, atol=1e-9)
    with pytest.raises(IndexError):
        raw_csv(rec, sweep=3)


def test_csv_text_cannot_become_a_formula(lab_set):
    entries, _, _ = lab_set
    e = dataclasses.replace(entries[0], file_name="=cmd|' /C calc'!A0")
    df = pd.read_csv(io.BytesIO(results_csv([e])))
    assert df.loc[0, "file"] == "'=cmd|' /C calc'!A0"
    df = pd.read_csv(io.BytesIO(results_csv([e], excel_safe=False)))
    assert df.loc[0, "file"] == "=cmd|' /C calc'!A0"
    normal = pd.read_csv(io.BytesIO(results_csv(entries[:1])))
    assert normal.loc[0, "file"] == entries[0].file_name


# ------------------------------------------------------------------------------ the real recording
@pytest.mark.slow
def test_real_recording_workbook(sample_recording, sample_bytes):
    params = AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=2000.0),))
    outcomes = analyze_recording(sample_recording, params)
    sha = hashlib.sha256(sample_bytes).hexdigest()
    entries, failures = split_outcomes(sample_recording.name, sha, len(sample_bytes), outcomes)
    assert entries
    wb = load(analysis_workbook(entries, failures=failures))
    ws = wb["Summary"]
    cols = headers(ws)
    assert ws.cell(2, cols["file"]).value == "202304_0521.atf"
    for key, head in (("q_on_pC", "Q_on (pC)"), ("q_off_pC", "Q_off (pC)"), ("c_m_nF", "C_m (nF)"),
                      ("tau_ms", "tau (ms)"), ("v_test_mV", "V_test (mV)")):
        assert ws.cell(2, cols[head]).value == expected(getattr(entries[0].result, key))
    prov = [r for r in wb["Provenance"].iter_rows(values_only=True)]
    assert any(r[:3] == ("202304_0521.atf", sha, len(sample_bytes)) for r in prov)
    for chart in wb["Charts"]._charts:
        for _xref, yref in series_refs(chart):
            assert all(isinstance(v, float) for v in ref_cells(wb, yref))
    set_wb = load(set_workbook(entries))
    assert set_wb.sheetnames == ["Set summary", "0521"]


# ------------------------------------------------------------------------------ command line
def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m signal_core ARGS`` started in ``cwd``, run in this process (:func:`signal_core.cli.main`
    with its output captured; tests/test_cli.py runs the real command once)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(args)
        except SystemExit as exc:  # argparse: --help and usage errors exit
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(["signal_core", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def atf_files(tmp_path_factory):
    from signal_core.io.atf_writer import write_atf

    folder = tmp_path_factory.mktemp("atf")
    names = []
    for i, v in enumerate((-60.0, -40.0, -20.0, 0.0, 20.0)):
        name = f"{57 + i:04d}_0_{v:g}.atf"
        sim = simulate(CELL, ProtocolTiming(), v_tests_mV=(v,), fs_hz=FS, noise_pA=2.0, seed=i, name=name)
        (folder / name).write_bytes(write_atf(sim.recording))
        names.append(name)
    return folder, names


@pytest.mark.slow
def test_cli_analyze_out_xlsx_and_csv(atf_files):
    folder, names = atf_files
    plain = _run(["analyze", names[2], "--json"], folder)
    assert plain.returncode == 0, plain.stderr
    out = _run(["analyze", names[2], "--json", "--out", "x.xlsx"], folder)
    assert out.returncode == 0, out.stderr
    assert out.stdout == plain.stdout  # the printed results do not change
    rows = json.loads(out.stdout)
    wb = load((folder / "x.xlsx").read_bytes())
    assert wb.sheetnames == ["Summary", "Parameters", "Curves", "Charts", "Provenance", "Recipe"]
    ws = wb["Summary"]
    cols = headers(ws)
    assert ws.cell(2, cols["file"]).value == names[2]
    assert ws.cell(2, cols["Q_on (pC)"]).value == expected(rows[0]["q_on_pC"])
    sha = hashlib.sha256((folder / names[2]).read_bytes()).hexdigest()
    assert sha in [r[1] for r in wb["Provenance"].iter_rows(values_only=True)]
    out = _run(["analyze", *names[:2], "--out", "x.csv", "--curves-csv", "curves.csv"], folder)
    assert out.returncode == 0, out.stderr
    df = pd.read_csv(folder / "x.csv")
    assert list(df["file"]) == names[:2] and list(df.columns) == list(ROW_KEYS)
    curves = pd.read_csv(folder / "curves.csv")
    assert set(curves["file"]) == set(names[:2]) and "purple_on" in set(curves["curve"])


@pytest.mark.slow
def test_cli_qv_out_set_workbook(atf_files):
    folder, names = atf_files
    (folder / "broken.atf").write_text("not an ATF file")
    out = _run(["qv", *names, "broken.atf", "--json", "--out", "set.xlsx"], folder)
    assert out.returncode == 2, out.stderr  # one file failed, the others are in the workbook
    result = json.loads(out.stdout)
    assert set(result) == {"points", "q_max_pC", "v_half_mV", "k_mV", "z", "q_max_pC_se", "v_half_mV_se",
                           "k_mV_se", "z_se", "r_squared", "warnings", "errors"}
    wb = load((folder / "set.xlsx").read_bytes())
    assert wb.sheetnames == ["Set summary", "0057", "0058", "0059", "0060", "0061"]
    ws = wb["Set summary"]
    assert ws["B1"].value == "0"  # the set named in the files' names
    labels = {ws.cell(r, 1).value: r for r in range(1, ws.max_row + 1)}
    assert ws.cell(labels["V_half"], 2).value == expected(result["v_half_mV"])
    assert ws.cell(labels["k"], 3).value == expected(result["k_mV_se"])
    assert "broken.atf" in labels
    assert len(ws._charts) == 1 and len(ws._charts[0].series) == 2


@pytest.mark.slow
def test_cli_refuses_unknown_out_suffix(atf_files):
    folder, names = atf_files
    out = _run(["analyze", names[0], "--out", "x.txt"], folder)
    assert out.returncode == 1 and ".xlsx" in out.stderr
    assert not (folder / "x.txt").exists()
