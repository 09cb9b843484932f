"""AppTest of the Q–V sets page, and unit tests of its figure and table glue.

Synthetic sets with known truth (as in test_sets.py): the membrane sees g = R_m / (R_m + R_s) of the
command, so in command voltage V_half is -34 / g and k is 8.7 / g.  The page's numbers are checked
against signal_core computed independently here (analyze_files, qv_points, fit_points) and against
the command line (``python -m signal_core qv FILES --json``); tests/test_sets.py proves the CLI, its
parallel mode and a Dask run give the same numbers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from app_helpers import array, figures, new_app, no_errors, traces, upload

from app import qv_results, sets_ui
from app.figures_qv import qv_figure
from signal_core.io.atf_writer import write_atf
from signal_core.parallel import analyze_files
from signal_core.params import AnalysisParams
from signal_core.protocol.timing import ProtocolTiming
from signal_core.qv import QvFit
from signal_core.sets import QvPoint, fit_points, fit_sets, qv_points
from signal_core.synthetic import CellModel, simulate

ROOT = Path(__file__).resolve().parents[1]
CELL = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=28.0, v_half_mV=-34.0, k_mV=8.7)
CELL_B = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=15.0, v_half_mV=-15.0, k_mV=11.0)
G = 500.0 / 501.0
V_TESTS = tuple(range(-70, 31, 10))
PAGE = "pages/6_sets.py"
FIT_COLUMNS = {"q_max_pC": "Q_max (pC)", "q_max_pC_se": "± Q_max", "v_half_mV": "V_half (mV)",
               "v_half_mV_se": "± V_half", "k_mV": "k (mV)", "k_mV_se": "± k", "z": "z", "z_se": "± z",
               "r_squared": "R²"}


def _atf(name: str, cell: CellModel, v_tests: tuple[float, ...], seed: int, *, with_voltage: bool = True) -> bytes:
    syn = simulate(cell, v_tests_mV=v_tests, fs_hz=20_000.0, duration_ms=700.0, noise_pA=2.0,
                   with_voltage=with_voltage, seed=seed, name=name)
    return write_atf(syn.recording)


def _set(cell: CellModel = CELL, *, fmt: str = "20230115_{n:04d}_{v}mVdepol.atf", first: int = 1,
         with_voltage: bool = True) -> list[tuple[str, bytes]]:
    return [(fmt.format(n=first + k, v=v), _atf(fmt.format(n=first + k, v=v), cell, (float(v),), first + k,
                                                with_voltage=with_voltage))
            for k, v in enumerate(V_TESTS)]


@pytest.fixture(scope="module")
def set_files() -> list[tuple[str, bytes]]:
    return _set()


def _write(folder: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    paths = []
    for name, data in files:
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def _sets_page(files: list[tuple[str, bytes]]):
    at = new_app()
    upload(at, *files)
    at.switch_page(PAGE).run()
    no_errors(at)
    return at


def _frame(at, column: str) -> pd.DataFrame:
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column")


def _fits(at) -> pd.DataFrame:
    return _frame(at, "V_half (mV)")


def _table(at) -> pd.DataFrame:
    return _frame(at, "exclude")


def _sha(at, name: str) -> str:
    return next(sha for sha, lf in at.session_state["files"].items() if lf.name == name)


def _assert_fit_row(row: pd.Series, fit: QvFit) -> None:
    assert isinstance(fit, QvFit), fit
    q_max = next(c for c in row.index if c.startswith("Q_max ("))  # pC, or nC/µF for Q_on/C_m
    for attr, col in FIT_COLUMNS.items():
        col = q_max if col == "Q_max (pC)" else col
        assert row[col] == getattr(fit, attr), (col, row[col], getattr(fit, attr))
    assert row["n"] == fit.n_points


def _assert_truth(row: pd.Series, cell: CellModel) -> None:
    assert abs(row["V_half (mV)"] - cell.v_half_mV / G) < 2.0, row
    assert abs(row["k (mV)"] / (cell.k_mV / G) - 1) < 0.15, row


def _expected_points(paths: list[Path], params: AnalysisParams | None = None, **kw) -> list[QvPoint]:
    return qv_points(analyze_files(paths, params or AnalysisParams(), v_test_from_name=True), **kw)


# ----------------------------------------------------------------------------- the page
def test_no_files_points_to_load():
    at = new_app()
    at.switch_page(PAGE).run()
    no_errors(at)
    assert any("No recording loaded" in i.value for i in at.info)
    assert not at.get("plotly_chart")


@pytest.mark.slow
def test_fit_equals_signal_core_and_recovers_the_truth(set_files, tmp_path):
    at = _sets_page(set_files)
    expected = _expected_points(_write(tmp_path, set_files))
    fit = fit_points(expected)
    fits = _fits(at)
    assert fits["set"].tolist() == ["(unnamed)"]
    _assert_fit_row(fits.iloc[0], fit)
    _assert_truth(fits.iloc[0], CELL)
    table = _table(at)
    assert table["file"].tolist() == [n for n, _ in set_files]
    assert table["V2 (mV)"].tolist() == [p.v_test_mV for p in expected]
    assert table["Q_on (pC)"].tolist() == [p.q_on_pC for p in expected]
    assert set(table["V2 from"]) == {"voltage channel"}
    assert not table["exclude"].any()
    (fig,) = figures(at)
    assert traces(fig) == {"set (unnamed)": 11, "set (unnamed): Boltzmann fit": 241}
    assert fig["layout"]["yaxis"]["title"]["text"] == "Q_on (pC)"
    labels = {d.label for d in at.get("download_button")}
    assert {"Set workbook (.xlsx)", "Analysis workbook (.xlsx)", "Table (.csv)"} <= labels


@pytest.mark.slow
def test_excluding_a_row_changes_the_fit(set_files, tmp_path):
    at = _sets_page(set_files)
    before = _fits(at).iloc[0]
    dropped = "20230115_0005_-30mVdepol.atf"
    at.session_state[sets_ui.EDITS] = {(_sha(at, dropped), 1): {"exclude": True}}
    at.run()
    no_errors(at)
    path = {p.name: p for p in _write(tmp_path, set_files)}
    expected = _expected_points(list(path.values()), excluded=[(path[dropped], 1)])
    after = _fits(at).iloc[0]
    _assert_fit_row(after, fit_points(expected))
    assert after["n"] == 10 and after["V_half (mV)"] != before["V_half (mV)"]
    _assert_truth(after, CELL)
    table = _table(at)
    assert table.loc[table["file"] == dropped, "exclude"].tolist() == [True]
    (fig,) = figures(at)
    assert traces(fig) == {"set (unnamed)": 10, "set (unnamed): excluded": 1, "set (unnamed): Boltzmann fit": 241}
    hollow = next(d for d in fig["data"] if d["name"].endswith("excluded"))
    assert hollow["marker"]["symbol"] == "circle-open" and array(hollow["x"]) == [-30.0]


@pytest.mark.slow
def test_a_v2_typed_in_the_table_reanalyses_that_file(set_files, tmp_path):
    at = _sets_page(set_files)
    name = "20230115_0005_-30mVdepol.atf"
    at.session_state[sets_ui.EDITS] = {(_sha(at, name), 1): {"v2": -25.0}}
    at.run()
    no_errors(at)
    paths = _write(tmp_path, set_files)
    path = next(p for p in paths if p.name == name)
    rows = analyze_files(paths, AnalysisParams(), v_test_mV={path: -25.0})
    expected = qv_points(rows, v_overrides={path: -25.0})
    row = _table(at).set_index("file").loc[name]
    assert row["V2 (mV)"] == -25.0 and row["V2 from"] == "manual" and row["note"] == ""
    point = next(p for p in expected if p.file == str(path))
    assert row["Q_on (pC)"] == point.q_on_pC
    assert point.q_on_pC != next(p for p in _expected_points(paths) if p.file == str(path)).q_on_pC
    _assert_fit_row(_fits(at).iloc[0], fit_points(expected))


@pytest.mark.slow
def test_multi_sweep_file_gives_one_row_per_sweep():
    multi = ("20230116_0001_multi.atf", _atf("multi.atf", CELL, (-60.0, -40.0, -20.0, 0.0), 7))
    at = _sets_page([multi])
    table = _table(at)
    assert table["sweep"].tolist() == [1, 2, 3, 4]
    assert table["V2 (mV)"].tolist() == pytest.approx([-60.0, -40.0, -20.0, 0.0], abs=0.05)
    assert set(table["V2 from"]) == {"voltage channel"}
    # one V2 per sweep: setting sweep 2's leaves the others alone
    at.session_state[sets_ui.EDITS] = {(_sha(at, multi[0]), 2): {"v2": -45.0}}
    at.run()
    no_errors(at)
    table = _table(at)
    assert table["V2 (mV)"].tolist() == pytest.approx([-60.0, -45.0, -20.0, 0.0], abs=0.05)
    assert table["V2 from"].tolist() == ["voltage channel", "manual", "voltage channel", "voltage channel"]
    assert _fits(at)["n"].tolist() == [4]


def test_file_name_and_voltage_channel_disagreeing_get_a_note():
    name = "20230115_0001_-30mVdepol.atf"  # recorded at -20 mV
    at = _sets_page([(name, _atf(name, CELL, (-20.0,), 1))])
    row = _table(at).iloc[0]
    assert row["V2 (mV)"] == pytest.approx(-20.0, abs=0.05) and row["V2 from"] == "voltage channel"
    assert "file name says -30 mV" in row["note"] and "voltage channel is used" in row["note"]


@pytest.mark.slow
def test_v2_from_file_names_without_voltage_channel(tmp_path):
    files = _set(with_voltage=False)
    at = new_app()
    upload(at, *files)
    # the Analyse page's recipe form asks for the timings of a file without voltage channel and keeps them
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    params = at.session_state["params"]
    assert params.timing == ProtocolTiming()
    at.switch_page(PAGE).run()
    no_errors(at)
    table = _table(at)
    assert table["V2 (mV)"].tolist() == [float(v) for v in V_TESTS]
    assert set(table["V2 from"]) == {"file name"}
    expected = _expected_points(_write(tmp_path, files), params)
    assert table["Q_on (pC)"].tolist() == [p.q_on_pC for p in expected]
    fit = _fits(at).iloc[0]
    _assert_fit_row(fit, fit_points(expected))
    _assert_truth(fit, CELL)


@pytest.mark.slow
def test_without_timings_the_page_says_where_to_give_them():
    at = _sets_page(_set(with_voltage=False)[:3])
    assert any("no voltage channel" in w.value for w in at.warning)
    assert "could not be analysed" in " ".join(e.label for e in at.expander)


@pytest.mark.slow
def test_two_sets_give_two_curves(tmp_path):
    files = _set(fmt="20230115_{n:04d}_A_{v}mV.atf") + _set(CELL_B, fmt="20230115_{n:04d}_B_{v}mV.atf", first=21)
    at = _sets_page(files)
    fits = _fits(at)
    assert fits["set"].tolist() == ["A", "B"]
    expected = fit_sets(_expected_points(_write(tmp_path, files)))
    _assert_fit_row(fits.iloc[0], expected["A"])
    _assert_fit_row(fits.iloc[1], expected["B"])
    _assert_truth(fits.iloc[0], CELL)
    _assert_truth(fits.iloc[1], CELL_B)
    (fig,) = figures(at)
    curves = [d["name"] for d in fig["data"] if d["name"].endswith("Boltzmann fit")]
    assert curves == ["set A: Boltzmann fit", "set B: Boltzmann fit"]
    colors = [d["line"]["color"] for d in fig["data"] if d["name"].endswith("Boltzmann fit")]
    assert colors[0] != colors[1]
    assert at.selectbox(key=qv_results.DL_SET).options == ["A", "B"]


def test_sets_by_hand_and_too_few_points(set_files):
    at = _sets_page(set_files)
    moved = [n for n, _ in set_files][-2:]
    at.session_state[sets_ui.EDITS] = {(_sha(at, n), 1): {"set": "late"} for n in moved}
    at.run()
    no_errors(at)
    fits = _fits(at).set_index("set")
    assert fits.loc["(unnamed)", "n"] == 9
    assert fits.loc["late", "n"] == 2
    assert "needs at least 3" in fits.loc["late", "note"] and pd.isna(fits.loc["late", "V_half (mV)"])
    assert _table(at).set_index("file").loc[moved, "set"].tolist() == ["late", "late"]
    (fig,) = figures(at)
    assert traces(fig)["set late"] == 2 and "set late: Boltzmann fit" not in traces(fig)
    # with offset a set needs 4 points
    at.toggle(key=qv_results.OFFSET).set_value(True).run()
    assert "at least 4" in _fits(at).set_index("set").loc["late", "note"]
    assert "offset (pC)" in _fits(at).columns


def test_fewer_than_three_points_says_the_fit_needs_three(set_files):
    at = _sets_page(set_files[:2])
    assert "needs at least 3" in _fits(at)["note"][0]
    assert any("at least 3 points" in i.value for i in at.info)


@pytest.mark.slow
def test_quantity_and_edits_survive_a_page_change(set_files, tmp_path):
    at = _sets_page(set_files)
    at.radio(key=qv_results.QUANTITY).set_value("minus_q_off_pC").run()
    at.session_state[sets_ui.EDITS] = {(_sha(at, set_files[0][0]), 1): {"exclude": True}}
    at.run()
    fit = _fits(at)
    assert "Q_max (pC)" in fit.columns
    paths = _write(tmp_path, set_files)
    expected = _expected_points(paths, excluded=[(paths[0], 1)])
    _assert_fit_row(fit.iloc[0], fit_points(expected, quantity="minus_q_off_pC"))
    for page in ("pages/1_load.py", "pages/3_analyse.py", PAGE):
        at.switch_page(page).run()
        no_errors(at)
    assert at.radio(key=qv_results.QUANTITY).value == "minus_q_off_pC"
    assert _table(at)["exclude"].tolist()[0] is True
    _assert_fit_row(_fits(at).iloc[0], fit_points(expected, quantity="minus_q_off_pC"))
    (fig,) = figures(at)
    assert fig["layout"]["yaxis"]["title"]["text"] == "−Q_off (pC)"
    at.radio(key=qv_results.QUANTITY).set_value("q_on_per_c_m").run()
    assert "Q_max (nC/µF)" in _fits(at).columns
    _assert_fit_row(_fits(at).iloc[0], fit_points(expected, quantity="q_on_per_c_m"))


@pytest.mark.slow
def test_page_and_cli_give_identical_numbers(set_files, tmp_path):
    at = _sets_page(set_files)
    paths = _write(tmp_path, set_files)
    out = subprocess.run([sys.executable, "-m", "signal_core", "qv", *map(str, paths), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    row = _fits(at).iloc[0]
    for key, col in FIT_COLUMNS.items():
        assert row[col] == cli[key], (col, row[col], cli[key])
    assert row["n"] == len(cli["points"])
    table = _table(at)
    assert table["V2 (mV)"].tolist() == [p["v_test_mV"] for p in cli["points"]]
    assert table["Q_on (pC)"].tolist() == [p["q_on_pC"] for p in cli["points"]]


@pytest.mark.slow
def test_file_names_and_sets_are_shown_as_text():
    name = "20230115_0001_<b>x_-20mV.atf"  # set "<b>x" (a "/" would end the name's directory part)
    files = [(name, _atf(name, CELL, (-20.0,), 1))]
    at = _sets_page(files)
    assert _table(at)["set"].tolist() == ["<b>x"]
    assert _table(at)["file"].tolist() == [name]
    (fig,) = figures(at)
    assert fig["data"][0]["name"] == "set &lt;b&gt;x"
    assert "&lt;b&gt;" in fig["data"][0]["customdata"][0][0]


# ----------------------------------------------------------------------------- the glue, without the page
@pytest.mark.slow
def test_app_path_and_cli_path_give_identical_rows(tmp_path, monkeypatch):
    """V2 from the file name (one sweep, no voltage channel) and V2 typed in the table: the rows the page's
    analysis holds are the command line's, float for float (only ``file`` differs: digest/name vs path)."""
    from app.state import LoadedFile

    named = ("20230115_0002_-50mVdepol.atf", _atf("20230115_0002_-50mVdepol.atf", CELL, (-50.0,), 2,
                                                   with_voltage=False))
    typed = ("20230115_0003_-30mVdepol.atf", _atf("20230115_0003_-30mVdepol.atf", CELL, (-30.0,), 3))
    paths = _write(tmp_path, [named, typed])
    files = [LoadedFile.from_bytes(n, b) for n, b in (named, typed)]
    params = AnalysisParams(timing=ProtocolTiming())  # simulate's timings (the file without a voltage channel)
    session: dict = {sets_ui.EDITS: {(files[1].key, 1): {"v2": -25.0}}}
    monkeypatch.setattr(sets_ui, "_ss", lambda: session)
    an = sets_ui.analyse(files, params)
    cli = analyze_files(paths, params, v_test_from_name=True, v_test_mV={paths[1]: -25.0})
    assert an.failures == []
    for app_rows, cli_rows, lf in zip(an.rows_per_file, cli, files, strict=True):
        assert [r["file"] for r in app_rows] == [sets_ui.file_label(lf)]
        assert [{k: v for k, v in r.items() if k != "file"} for r in app_rows] == \
            [{k: v for k, v in r.items() if k != "file"} for r in cli_rows]
    assert [rows[0]["v_test_mV"] for rows in an.rows_per_file] == [-50.0, -25.0]  # the name's, the typed one
    labels = [sets_ui.file_label(lf) for lf in files]
    assert an.overrides == {(labels[0], 1): -50.0, (labels[1], 1): -25.0}
    pts = sets_ui.points(an, params)
    assert [(p.v_test_mV, p.v_source, p.note) for p in pts] == [(-50.0, "file name", ""), (-25.0, "manual", "")]
    # the command line itself, for the file whose V2 comes from its name
    out = subprocess.run([sys.executable, "-m", "signal_core", "qv", str(paths[0]), "--t0-ms", "17.2", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    (point,) = json.loads(out.stdout)["points"]
    row = an.rows_per_file[0][0]
    assert {k: point[k] for k in ("v_test_mV", "q_on_pC", "q_off_pC", "q_on_se_pC", "q_on_corr_pC")} == \
        {k: row[k] for k in ("v_test_mV", "q_on_pC", "q_off_pC", "q_on_se_pC", "q_on_corr_pC")}


def _point(v: float, q: float, *, set_id: str = "A", excluded: bool = False, file: str = "f") -> QvPoint:
    return QvPoint(file=f"{file}{v}", sweep=1, v_test_mV=v, v_source="voltage channel", v_name_mV=None,
                   q_on_pC=q, q_off_pC=-q, q_off_over_on=-1.0, c_m_nF=2.0, q_on_per_c_m_nC_per_uF=q / 2,
                   flags=(), excluded=excluded, set_id=set_id)


def _boltz(v: float, q_max: float = 20.0, v_half: float = -30.0, k: float = 9.0) -> float:
    import math

    return q_max / (1 + math.exp(-(v - v_half) / k))


def test_qv_figure_traces_counts_and_hollow_excluded_points():
    pts = [_point(v, _boltz(v), excluded=v == -40) for v in range(-80, 41, 10)]
    pts += [_point(v, _boltz(v, 10, -10), set_id="B") for v in (-50, -20)]
    fits = fit_sets(pts)
    assert isinstance(fits["A"], QvFit) and isinstance(fits["B"], str)
    fig = qv_figure(pts, fits).to_plotly_json()
    names = [d["name"] for d in fig["data"]]
    assert names == ["set A", "set A: excluded", "set A: Boltzmann fit", "set B"]
    counts = {d["name"]: len(array(d["x"])) for d in fig["data"]}
    assert counts["set A"] == 12 and counts["set A: excluded"] == 1 and counts["set B"] == 2
    excluded = fig["data"][1]
    assert excluded["marker"]["symbol"] == "circle-open" and excluded["marker"]["color"] == "#9e9e9e"
    assert fig["data"][0]["marker"]["symbol"] == "circle"
    curve = fig["data"][2]
    assert curve["line"]["color"] == fig["data"][0]["marker"]["color"]
    assert max(array(curve["y"])) == pytest.approx(fits["A"].q_max_pC, rel=0.02)
    # -Q_off flips the sign back to positive charges; Q/C_m is in nC/uF
    neg = qv_figure(pts, fit_sets(pts, quantity="minus_q_off_pC"), quantity="minus_q_off_pC").to_plotly_json()
    assert array(neg["data"][0]["y"]) == pytest.approx([_boltz(v) for v in range(-80, 41, 10) if v != -40])
    per_cm = qv_figure(pts, {}, quantity="q_on_per_c_m").to_plotly_json()
    assert per_cm["layout"]["yaxis"]["title"]["text"] == "Q_on/C_m (nC/µF)"
    assert [d["name"] for d in per_cm["data"]] == ["set A", "set A: excluded", "set B"]
    # a point without a charge is not drawn
    none = [dataclasses.replace(pts[0], q_on_pC=None), *pts[1:3]]
    assert len(array(qv_figure(none, {}).to_plotly_json()["data"][0]["x"])) == 2


def test_apply_edits_moves_the_editor_changes_into_the_session():
    ids = [("a" * 64, 1), ("b" * 64, 1), ("b" * 64, 2)]
    edits: dict = {("b" * 64, 2): {"exclude": True}}
    sets_ui.apply_edits({0: {"exclude": True, "set": " X "}, "1": {"V2 (mV)": -42.5},
                         2: {"exclude": False}}, ids, edits)
    assert edits == {ids[0]: {"exclude": True, "set": "X"}, ids[1]: {"v2": -42.5}}
    # cleared cells go back to the file's own set and V2; out-of-range V2 and unknown rows are ignored
    sets_ui.apply_edits({0: {"set": ""}, 1: {"V2 (mV)": None}, 2: {"V2 (mV)": 1e6}, 9: {"exclude": True}},
                        ids, edits)
    assert edits == {ids[0]: {"exclude": True}}


@pytest.mark.slow
def test_downloads_hold_the_set_and_every_row(set_files, tmp_path):
    from app.state import LoadedFile

    paths = _write(tmp_path, set_files)
    files = [LoadedFile.from_bytes(n, b) for n, b in set_files]
    label = {str(p): sets_ui.file_label(lf) for p, lf in zip(paths, files)}
    pts = [dataclasses.replace(p, file=label[p.file], excluded=k == 3) for k, p in enumerate(_expected_points(paths))]
    an = sets_ui.Analysed(files={sets_ui.file_label(lf): lf for lf in files})
    jobs = qv_results._jobs(an, pts)
    params = AnalysisParams()
    book = openpyxl.load_workbook(io.BytesIO(qv_results._set_book(jobs, [], pts, "", params, False)))
    assert book.sheetnames[0] == "Set summary"
    assert len(book.sheetnames) == 1 + 10 and "0004" not in book.sheetnames  # excluded points are left out
    cells = [c for row in book["Set summary"].iter_rows(values_only=True) for c in row]
    # xlsxwriter writes 15 significant digits
    assert any(isinstance(c, float) and c == pytest.approx(fit_points(pts).v_half_mV, rel=1e-13) for c in cells)
    full = openpyxl.load_workbook(io.BytesIO(qv_results._analysis_book(jobs, [], pts, [""], params, False)))
    summary = [r[0] for r in full["Summary"].iter_rows(values_only=True)]
    assert all(n in summary for n, _ in set_files)  # every row, the excluded one too
    zipped = zipfile.ZipFile(io.BytesIO(qv_results._sets_zip(jobs, [], pts, ["", "B"], params, False)))
    assert zipped.namelist() == ["set_unnamed_qv.xlsx", "set_B_qv.xlsx"]
    lines = qv_results.table_csv(an, pts).decode().splitlines()
    assert lines[0].split(",")[:5] == ["exclude", "file", "sweep", "set", "V2 (mV)"]
    assert lines[0].endswith("flags,flag messages,SHA-256") and len(lines) == 12
    assert lines[4].startswith("true,20230115_0004_-40mVdepol.atf,1,,-40") and lines[4].endswith(files[3].sha256)


def test_table_csv_keeps_formulas_from_file_names_as_text():
    from app.state import LoadedFile

    lf = LoadedFile.from_bytes("=HYPERLINK(1)_0001_-20mV.atf", b"x")
    label = sets_ui.file_label(lf)
    an = sets_ui.Analysed(files={label: lf})
    pts = [dataclasses.replace(_point(-20.0, 3.0, set_id="@x"), file=label)]
    line = qv_results.table_csv(an, pts).decode().splitlines()[1]
    assert line.startswith("false,'=HYPERLINK(1)_0001_-20mV.atf,1,'@x,-20.0,")
