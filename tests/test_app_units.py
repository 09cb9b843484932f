"""Unit tests of the app's pure parts: downsampling, figures, tables, state helpers, downloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app import downloads, figures, state, tables
from app.downsample import MAX_POINTS, downsample, minmax_indices, window
from signal_core.analysis.pipeline import analyze_sweep
from signal_core.filters.chain import apply_chain, power_spectrum
from signal_core.filters.specs import FilterSpec
from signal_core.params import AnalysisParams
from signal_core.protocol.steps import ProtocolError


# ------------------------------------------------------------------ downsample
def test_minmax_keeps_every_buckets_extremes():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100_000)
    idx = minmax_indices(y, 1000)
    assert idx.size <= 1000
    assert np.all(np.diff(idx) > 0)
    edges = np.linspace(0, y.size, (1000 - 2) // 2 + 1).astype(int)
    kept = set(idx.tolist())
    for a, b in zip(edges[:-1], edges[1:]):
        assert a + int(np.argmin(y[a:b])) in kept
        assert a + int(np.argmax(y[a:b])) in kept
    assert {0, y.size - 1} <= kept


def test_minmax_on_a_known_array():
    y = np.array([0, 5, -1, 2, 9, 3, -4, 1, 0, 7, 2, 6], dtype=float)
    # 12 samples, n_out 6 -> 2 buckets of 6: [0..5] min -1 @2, max 9 @4; [6..11] min -4 @6, max 7 @9
    assert minmax_indices(y, 6).tolist() == [0, 2, 4, 6, 9, 11]
    assert minmax_indices(y, 50).tolist() == list(range(12))


@pytest.mark.parametrize("use_ts", [True, False])
def test_downsample_bounds_and_envelope(use_ts):
    t = np.arange(110_000) / 100_000.0
    y = np.sin(2 * np.pi * 15_625 * t) * 1200 + np.where(t > 0.5, 500.0, 0.0)
    x_out, y_out = downsample(t, y, MAX_POINTS, use_tsdownsample=use_ts)
    assert x_out.size <= MAX_POINTS and x_out.size == y_out.size
    assert np.all(np.diff(x_out) > 0)
    assert y_out.max() == y.max() and y_out.min() == y.min()
    assert x_out[0] == t[0] and x_out[-1] == t[-1]


def test_downsample_short_and_nan():
    x = np.arange(10.0)
    y = np.where(x < 3, np.nan, x)
    xs, ys = downsample(x, y, 5000)
    assert xs.tolist() == list(range(3, 10)) and ys.tolist() == list(range(3, 10))


def test_window_slice():
    x = np.arange(0.0, 100.0, 0.5)
    sl = window(x, 10.0, 20.0)
    assert x[sl][0] == 10.0 and x[sl][-1] == 20.0
    assert window(x, 200.0, 300.0).stop - window(x, 200.0, 300.0).start == 0


# ------------------------------------------------------------------ figures
@pytest.fixture(scope="module")
def result(sample_recording):
    return analyze_sweep(sample_recording, 0, AnalysisParams())


def _points(trace) -> int:
    return len(trace.x)


def test_trace_figure_names_units_bands(sample_recording):
    rec = sample_recording
    fil = apply_chain(rec.current(0), rec.fs_hz, (FilterSpec("butter", cutoff_hz=2000.0),))
    from signal_core.analysis.pipeline import find_protocol

    epochs = find_protocol(rec, 0, AnalysisParams()).epochs
    fig = figures.trace_figure(rec.t_s, raw_pA=rec.current(0), filtered_pA=fil, voltage_mV=rec.voltage(0),
                               epochs=epochs, selectable=True)
    names = [t.name for t in fig.data]
    assert names == ["raw current (grey)", "filtered current (red)", "command voltage (dark grey)"]
    assert all(_points(t) <= MAX_POINTS for t in fig.data)
    assert fig.data[0].line.color == figures.COLORS["raw"] and fig.data[1].line.color == figures.COLORS["filtered"]
    assert fig.layout.xaxis2.title.text == "time (ms)" and fig.layout.yaxis.title.text == "I (pA)"
    assert fig.layout.yaxis2.title.text == "V (mV)"
    labels = {a.text.replace("<br>", " ") for a in fig.layout.annotations}
    assert {"control ON 1", "control OFF 2", "test ON", "test OFF"} <= labels
    assert len(fig.layout.shapes) == 2 * 6  # six step epochs, both rows
    assert fig.layout.dragmode == "select"
    # x in ms
    assert max(fig.data[0].x) == pytest.approx(rec.t_s[-1] * 1e3)


def test_zoom_window_has_full_detail(sample_recording):
    rec = sample_recording
    fig = figures.trace_figure(rec.t_s, raw_pA=rec.current(0), x_range_ms=(417.0, 437.0))
    xs = np.asarray(fig.data[0].x)
    assert xs.size == 2001  # 20 ms at 100 kHz, every sample
    assert xs.min() >= 417.0 and xs.max() <= 437.0


def test_spectrum_marks_the_interference(sample_recording):
    rec = sample_recording
    f, p = power_spectrum(rec.current(0), rec.fs_hz)
    _, pf = power_spectrum(apply_chain(rec.current(0), rec.fs_hz, (FilterSpec("butter", cutoff_hz=2000.0),)),
                           rec.fs_hz)
    assert abs(figures.interference_peak_hz(f, p) - 15_625) < 20
    fig = figures.spectrum_figure(f, p, pf)
    assert [t.name for t in fig.data] == ["raw current (grey)", "filtered current (red)"]
    assert fig.layout.yaxis.type == "log"
    assert "15.6" in fig.layout.annotations[0].text


def test_analysis_figures(result):
    ctrl = figures.control_figure(result)
    names = [t.name for t in ctrl.data]
    assert names.count("control ON step 1 per mV (dark blue)") == 1
    assert any("(magenta)" in n for n in names)
    assert {t.line.color for t in ctrl.data if "dark blue" in t.name} == {figures.COLORS["dark_blue"]}
    purple = figures.purple_figure(result)
    pnames = [t.name for t in purple.data]
    assert "asymmetric current ON (purple)" in pnames and "asymmetric current OFF (purple)" in pnames
    shades = [s for s in purple.layout.shapes if s.type == "rect"]
    assert len(shades) == 4  # integration + tail window, ON and OFF
    a, b = result.integrate_on_ms
    assert shades[0].x0 == a and shades[0].x1 == b
    tr = figures.transient_figure(result)
    assert "exponential fit" in tr.data[1].name
    assert all(_points(t) <= MAX_POINTS for f in (ctrl, purple, tr) for t in f.data)


def test_manual_tail_points_drawn(sample_recording):
    p = AnalysisParams(tail_mode="manual", manual_tail_on=((10, 0), (90, 5)), manual_tail_off=((10, 0), (90, 0)))
    fig = figures.purple_figure(analyze_sweep(sample_recording, 0, p))
    marks = [t for t in fig.data if "points" in t.name]
    assert len(marks) == 2 and list(marks[0].x) == [10.0, 90.0]


# ------------------------------------------------------------------ tables
def test_epoch_table_round_trip(result):
    df = tables.epoch_frame(result.protocol)
    assert df.columns.tolist() == tables.EPOCH_COLUMNS
    d = tables.protocol_from_frame(df, 1099.99)
    assert d["test"]["level_mV"] == pytest.approx(result.protocol.v_test_mV, abs=1e-3)
    assert len(d["controls"]) == 2
    edited = tables.apply_edits(df, {5: {"level (mV)": 0.0}})
    assert tables.protocol_from_frame(edited, 1099.99)["test"]["level_mV"] == 0.0
    bad = tables.apply_edits(df, {5: {"end (ms)": 1.0}})
    with pytest.raises(ProtocolError):
        tables.protocol_from_frame(bad, 1099.99)


def test_file_summary(sample_recording):
    row = tables.file_summary(sample_recording, 1000, None, "no steps")
    assert row["protocol (sweep 1)"] == "not found: no steps"
    assert row["sampling rate (kHz)"] == 100.0


# ------------------------------------------------------------------ state helpers (session as a dict)
@pytest.fixture()
def session(monkeypatch):
    ss: dict = {}
    monkeypatch.setattr(state, "_ss", lambda: ss)
    state.init()
    return ss


def test_window_selection_sets_the_inputs(session):
    assert state.apply_window("integration OFF", 35.2, 5.0)
    assert session["rp_int_off_custom"] is True
    assert (session["rp_int_off_a"], session["rp_int_off_b"]) == (5.0, 35.2)
    assert not state.apply_window("tail window ON", -3.0, -1.0)  # before the edge: ignored


def test_window_selection_draws_a_manual_line(session):
    t = np.arange(0, 100, 0.01)
    y = 2.0 * t
    assert state.apply_window("manual tail line ON", 20.0, 80.0, curve=(t, y))
    (t1, i1), (t2, i2) = state.manual_points()["on"]
    assert (t1, t2) == (20.0, 80.0) and i1 == pytest.approx(40.0, abs=0.05) and i2 == pytest.approx(160.0, abs=0.05)
    assert session["rp_tail_mode"] == "manual"


def test_undo_redo_stack(session):
    state.push_manual("on", ((0, 0), (10, 1)))
    state.push_manual("on", ((0, 0), (10, 2)))
    assert state.manual_points()["on"][1] == (10.0, 2.0)
    state.undo()
    assert state.manual_points()["on"][1] == (10.0, 1.0)
    assert state.can_redo()
    state.redo()
    assert state.manual_points()["on"][1] == (10.0, 2.0)
    state.undo()
    state.push_manual("off", ((0, 0), (5, 5)))  # a new step drops the redo branch
    assert not state.can_redo() and state.manual_points()["on"][1] == (10.0, 1.0)


def test_box_x_reads_the_selection_state():
    sel = {"selection": {"box": [{"x": [12.5, 3.0], "y": [0, 1], "xref": "x"}], "points": []}}
    assert state.box_x(sel) == (3.0, 12.5)
    assert state.box_x({"selection": {"box": []}}) is None
    assert state.box_x(None) is None


def test_files_keep_order_and_errors(session):
    a = state.queue("a.atf", b"1")
    b = state.queue("b.atf", b"2")
    for lf in state.take_pending():
        state.accept(lf)
    bad = state.LoadedFile.from_bytes("bad.atf", b"x")
    state.reject(bad, "line 2: nonsense")
    assert list(state.files()) == [a.key, b.key]
    assert state.active().name == "b.atf"
    state.remove(b.key)
    assert state.active().name == "a.atf"
    assert state.errors()[bad.key] == ("bad.atf", "line 2: nonsense")
    assert "data" not in repr(a)  # bytes never end up in logs


def test_filter_rows_add_move_remove(session):
    state.add_filter("butter")
    state.add_filter("notch")
    rows = state.chain_rows()
    state.move_filter(rows[1]["id"], -1)
    assert [r["kind"] for r in state.chain_rows()] == ["notch", "butter"]
    specs = state.filters_from_rows(state.chain_rows())
    assert specs[0] == FilterSpec("notch", freq_hz=15625.0, q=30.0)
    state.remove_filter(state.chain_rows()[0]["id"])
    assert [r["kind"] for r in state.chain_rows()] == ["butter"]


# ------------------------------------------------------------------ downloads
def test_trace_csv(sample_recording):
    rec = sample_recording
    data = downloads.trace_csv(rec.t_s, rec.current(0), None, rec.voltage(0), header=["file: x\ny"])
    lines = data.decode().splitlines()
    assert lines[0] == "# file: x y" and lines[1] == "t_ms,i_raw_pA,v_mV"
    df = pd.read_csv(__import__("io").BytesIO(data), comment="#")
    assert len(df) == rec.n_samples
    assert df["i_raw_pA"].iloc[100] == pytest.approx(rec.current(0)[100], rel=1e-5)


def test_safe_stem():
    assert downloads.safe_stem("../../etc/pa ss*wd.ATF") == "etc_pa_ss_wd"
    assert downloads.safe_stem("***") == "recording"


@pytest.mark.slow
def test_batch_workbook_of_all_files(sample_bytes):
    exp = downloads.export
    import io

    import openpyxl

    files = [state.LoadedFile.from_bytes("202304_0521.atf", sample_bytes),
             state.LoadedFile.from_bytes("broken.atf", b"ATF\t1.0\nnonsense\n")]
    entries, failures = downloads.batch(files, AnalysisParams())
    assert len(entries) == 1 and failures[0][0] == "broken.atf" and failures[0][1] is None
    wb = openpyxl.load_workbook(io.BytesIO(exp.analysis_workbook(entries, failures=failures)))
    assert "Summary" in wb.sheetnames


def test_smoothed_curves_are_for_display_only(result):
    raw = figures.purple_figure(result)
    smooth = figures.purple_figure(result, smooth_curves=True)
    on_raw = next(t for t in raw.data if t.name == "asymmetric current ON (purple)")
    on_smooth = next(t for t in smooth.data if t.name == "asymmetric current ON (purple)")
    assert len(on_smooth.x) == result.t_on_ms.size // 50  # 0.5 ms per point at 100 kHz
    assert np.ptp(on_smooth.y) < np.ptp(on_raw.y) / 3  # the 15.6 kHz interference is gone
    assert len(figures.control_figure(result, smooth_curves=True).data) == 6
    assert figures.smooth(np.arange(3.0), np.ones(3), 1000.0, 50)[1].size == 3  # too short: unchanged


def test_zoom_selection_sets_and_resets_the_window(session):
    session["explore_trace"] = {"selection": {"box": [{"x": [440.0, 420.5]}]}}
    state.on_zoom_select("explore_trace")
    assert session[state.ZOOM] == (420.5, 440.0)
    session["explore_trace"] = {"selection": {"box": []}}
    state.on_zoom_select("explore_trace")  # an emptied selection keeps the zoom
    assert session[state.ZOOM] == (420.5, 440.0)
    state.reset_zoom()
    assert state.ZOOM not in session
