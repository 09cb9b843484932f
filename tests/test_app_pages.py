"""AppTest of every page: load (upload, demo, bad file), explore, analyse, help."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
from app_helpers import click, figures, metrics, new_app, no_errors, number, traces, upload
from conftest import BROKEN

from app import files_ui
from app.analyse_ui import TAB, TABS
from signal_core.analysis.pipeline import analyze_sweep
from signal_core.filters.specs import FilterSpec
from signal_core.io.atf_writer import write_atf
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.synthetic import CellModel, simulate

SAMPLE = "202304_0521.atf"

CARDS = {  # label (unit) -> attribute of ChargeResult
    "Q_on (pC)": "q_on_pC", "Q_off (pC)": "q_off_pC", "Q_off/Q_on": "q_off_over_on", "C_lin (nF)": "c_lin_nF",
    "C_m (nF)": "c_m_nF", "R_s (MOhm)": "r_s_MOhm", "R_m (MOhm)": "r_m_MOhm", "tau (ms)": "tau_ms",
    "Q_on/C_m (nC/µF)": "q_on_per_c_m_nC_per_uF", "C_lin corrected (nF)": "c_lin_corrected_nF",
}


def assert_cards_match(at, expected) -> None:
    shown = metrics(at)
    for label, attr in CARDS.items():
        value = getattr(expected, attr)
        if value is None:
            assert shown[label] == "—", label
        else:
            assert math.isclose(number(shown[label]), value, rel_tol=6e-4, abs_tol=1e-9), (label, shown[label], value)


@pytest.fixture()
def loaded(sample_bytes):
    """The app with the real sample recording uploaded."""
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    no_errors(at)
    return at


def test_load_page_starts_empty():
    at = new_app()
    no_errors(at)
    up = at.file_uploader(key="uploader")
    assert up.accept_multiple_files
    assert set(up.allowed_type) >= {".atf", ".abf", ".txt"}
    assert any("No file loaded" in i.value for i in at.info)


def test_demo_button_loads_the_simulated_recording():
    at = new_app()
    click(at, "demo")
    no_errors(at)
    assert at.subheader[0].value == "1 file(s) loaded"
    table = at.dataframe[0].value
    assert table["file"].tolist() == ["demo_0001_-20mV.atf"]
    assert table["sweeps"].tolist() == [1]
    assert table["sampling rate (kHz)"].tolist() == [100.0]
    assert "V2 -20" in table["protocol (sweep 1)"][0]
    assert at.selectbox(key="active_sha").value == at.session_state["active_sha"]


def test_upload_summary_of_the_sample(loaded, sample_recording):
    table = loaded.dataframe[0].value
    row = table.iloc[0]
    assert row["file"] == SAMPLE
    assert row["sweeps"] == sample_recording.n_sweeps
    assert row["channels"] == "Im (pA), I_MTest 1 (mV)"
    assert row["sampling rate (kHz)"] == pytest.approx(100.0)
    assert row["duration (ms)"] == pytest.approx(sample_recording.duration_s * 1e3)
    assert row["acquisition mode"] == "Episodic Stimulation"
    assert "2 control step(s)" in row["protocol (sweep 1)"]
    assert row["SHA-256"] == "a14aaae1cd469c9c4ca51143df5d44e960f0e9b69185a94293cd22e26acdc99e"


def test_broken_file_shows_the_readers_message_and_the_good_file_stays(sample_bytes):
    at = new_app()
    upload(at, (SAMPLE, sample_bytes), ("broken.atf", BROKEN))
    no_errors(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "broken" in message and "line" in message
    assert at.dataframe[0].value["file"].tolist() == [SAMPLE]
    # the error stays on other pages too (in the sidebar note) and the good file is analysed
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    assert "Q_on (pC)" in metrics(at)


def test_untrusted_file_name_is_shown_as_text():
    at = new_app()
    upload(at, ("**bold** [x](http://example.invalid) <b>.atf", BROKEN))
    message = at.error[0].value
    assert "\\*\\*bold\\*\\*" in message and "\\[x\\]" in message and "\\<b\\>" in message


def test_files_survive_page_changes_and_can_be_removed(sample_bytes):
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    click(at, "demo")
    for page in ("pages/2_explore.py", "pages/3_analyse.py", "pages/4_help.py", "pages/1_load.py"):
        at.switch_page(page).run()
        no_errors(at)
    assert at.dataframe[0].value["file"].tolist() == [SAMPLE, "demo_0001_-20mV.atf"]
    options = at.selectbox(key="active_sha").options
    assert len(options) == 2
    at.button(key=files_ui.widget_key("btn_remove", at.session_state["active_sha"])).click().run()
    no_errors(at)
    assert at.dataframe[0].value["file"].tolist() == [SAMPLE]


def test_analyse_shows_what_signal_core_computes(loaded, sample_bytes):
    loaded.switch_page("pages/3_analyse.py").run()
    no_errors(loaded)
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, AnalysisParams())
    assert_cards_match(loaded, expected)
    shown_flags = " ".join(w.value for w in loaded.warning) + " ".join(i.value for i in loaded.info)
    for flag in expected.flags:
        assert flag.code.replace("_", "\\_") in shown_flags or flag.code in shown_flags


def test_changing_the_integration_window_changes_the_numbers(loaded, sample_bytes):
    loaded.switch_page("pages/3_analyse.py").run()
    before = number(metrics(loaded)["Q_on (pC)"])
    loaded.toggle(key="rp_int_on_custom").set_value(True).run()
    loaded.number_input(key="rp_int_on_a").set_value(0.0).run()
    loaded.number_input(key="rp_int_on_b").set_value(20.0).run()
    no_errors(loaded)
    after = number(metrics(loaded)["Q_on (pC)"])
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0,
                             AnalysisParams(integrate_on_ms=(0.0, 20.0)))
    assert after != before
    assert math.isclose(after, expected.q_on_pC, rel_tol=6e-4)
    assert_cards_match(loaded, expected)


def test_explore_filter_chain_feeds_the_analysis(loaded, sample_bytes):
    at = loaded
    at.switch_page("pages/2_explore.py").run()
    no_errors(at)
    names = traces(figures(at)[0])
    assert "raw current (grey)" in names and "filtered current (red)" not in names
    at.selectbox(key="chain_new_kind").set_value("butter").run()
    click(at, "Add")
    no_errors(at)
    figs = figures(at)
    main, spectrum = figs[0], figs[-1]
    assert {"raw current (grey)", "filtered current (red)", "command voltage (dark grey)"} <= set(traces(main))
    assert set(traces(spectrum)) == {"raw current (grey)", "filtered current (red)"}
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    spec = FilterSpec("butter", cutoff_hz=2000.0, order=4)
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, AnalysisParams(filters=(spec,)))
    assert_cards_match(at, expected)


def test_figures_are_named_and_downsampled(loaded):
    loaded.switch_page("pages/3_analyse.py").run()
    figs = []
    for tab in TABS:  # lazy tabs: only the open tab's figure is built and sent
        loaded.session_state[TAB] = tab
        loaded.run()
        no_errors(loaded)
        drawn = figures(loaded)
        assert len(drawn) == 1, (tab, len(drawn))
        figs += drawn
    names = set().union(*(traces(f) for f in figs))
    for expected in ("asymmetric current ON (purple)", "asymmetric current OFF (purple)",
                     "control ON step 1 per mV (dark blue)", "average per mV for test ON, from ON steps (magenta)",
                     "decimated current (orange)", "mean control ON response (dark blue)"):
        assert expected in names
    for fig in figs:
        for name, n in traces(fig).items():
            assert 0 < n <= 5000, (name, n)


def test_spectrum_shows_the_interference(loaded):
    loaded.switch_page("pages/2_explore.py").run()
    spectrum = figures(loaded)[-1]
    assert spectrum["layout"]["yaxis"]["type"] == "log"
    peak = [a for a in spectrum["layout"]["annotations"] if "kHz" in a["text"]]
    assert peak and abs(float(peak[0]["text"].split()[1]) - 15.6) < 0.1


def test_recipe_upload_sets_every_widget(loaded, sample_bytes):
    loaded.switch_page("pages/3_analyse.py").run()
    recipe = AnalysisParams(baseline_ms=3.0, tail_fraction=0.3, integrate_off_ms=(1.0, 40.0))
    loaded.file_uploader(key="recipe_upload").set_value(("r.json", recipe.to_json().encode(), "application/json"))
    loaded.run()
    no_errors(loaded)
    assert loaded.number_input(key="rp_baseline_ms").value == 3.0
    assert loaded.slider(key="rp_tail_pct").value == 30
    assert loaded.toggle(key="rp_int_off_custom").value is True
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, recipe)
    assert_cards_match(loaded, expected)


def test_bad_recipe_is_refused_with_its_reason(loaded):
    loaded.switch_page("pages/3_analyse.py").run()
    loaded.file_uploader(key="recipe_upload").set_value(("bad.json", b'{"baseline_ms": -1}', "application/json"))
    loaded.run()
    no_errors(loaded)
    assert any("baseline\\_ms must be positive" in e.value for e in loaded.error)
    assert "Q_on (pC)" in metrics(loaded)


@pytest.mark.slow
def test_manual_tail_line_with_undo_and_redo(loaded, sample_bytes):
    at = loaded
    at.switch_page("pages/3_analyse.py").run()
    at.selectbox(key="rp_tail_mode").set_value("manual").run()
    no_errors(at)
    seeded = number(metrics(at)["Q_on (pC)"])
    at.number_input(key="rp_manual_on_i2").set_value(at.number_input(key="rp_manual_on_i2").value + 20.0).run()
    no_errors(at)
    changed = number(metrics(at)["Q_on (pC)"])
    assert changed != seeded
    p = at.session_state["params"]
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, p)
    assert math.isclose(changed, expected.q_on_pC, rel_tol=6e-4)
    at.button(key="btn_tail_undo").click().run()
    assert number(metrics(at)["Q_on (pC)"]) == seeded
    at.button(key="btn_tail_redo").click().run()
    assert number(metrics(at)["Q_on (pC)"]) == changed


@pytest.mark.slow
def test_sweep_selector_picks_the_sweep():
    sim = simulate(CellModel(), v_tests_mV=(-60.0, -20.0, 20.0), duration_ms=700.0, noise_pA=1.0, seed=3,
                   name="set_three.atf")
    data = write_atf(sim.recording)
    at = new_app()
    upload(at, ("set_three.atf", data))
    at.switch_page("pages/3_analyse.py").run()
    at.number_input(key="sweep").set_value(3).run()
    no_errors(at)
    expected = analyze_sweep(read_recording(data, name="set_three.atf"), 2, AnalysisParams())
    assert_cards_match(at, expected)


@pytest.mark.slow
def test_recording_without_voltage_channel_asks_for_timings():
    sim = simulate(CellModel(), duration_ms=700.0, with_voltage=False, name="novolt.atf")
    at = new_app()
    upload(at, ("novolt.atf", write_atf(sim.recording)))
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    assert any("no voltage channel" in i.value for i in at.info)
    assert "Q_on (pC)" in metrics(at)


def test_help_page_explains_every_flag():
    at = new_app()
    at.switch_page("pages/4_help.py").run()
    no_errors(at)
    text = " ".join(at.table[1].value.index)
    for code in ("q_ratio", "tail_slope", "tail_line_short", "passive_model", "fast_transient",
                 "poor_transient_fit", "slow_clamp", "controls_disagree", "test_longer_than_control",
                 "no_voltage_channel", "v2_name_mismatch", "protocol_note"):
        assert code in text
    assert any("SHA-256" in m.value for m in at.markdown)


@pytest.mark.parametrize("page", ["pages/1_load.py", "pages/2_explore.py", "pages/3_analyse.py", "pages/4_help.py"])
def test_every_page_offers_the_downloads(loaded, page):
    loaded.switch_page(page).run()
    no_errors(loaded)
    labels = {d.label for d in loaded.get("download_button")}
    assert {"Workbook (.xlsx)", "Results (.csv)", "Curves (.csv)", "Recipe (.json)"} <= labels
    if page == "pages/2_explore.py":
        assert "Raw and filtered trace (.csv)" in labels


def test_unexpected_errors_show_no_traceback():
    from streamlit.testing.v1 import AppTest

    def script():
        from app import ui

        try:
            raise RuntimeError("internal detail /srv/secret.py line 12")
        except RuntimeError as exc:
            ui.show_error(exc, "Drawing")
        with ui.guard("Reading"):
            raise KeyError("another internal detail")

    at = AppTest.from_function(script).run()
    texts = [e.value for e in at.error]
    assert len(texts) == 2 and not at.exception
    assert all("secret" not in t and "internal detail" not in t and "Traceback" not in t for t in texts)
    assert texts[0].startswith("Drawing failed unexpectedly")


def test_config_toml():
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert cfg["server"] == {"maxUploadSize": 50, "enableXsrfProtection": True, "enableCORS": True}
    assert cfg["client"] == {"toolbarMode": "viewer", "showErrorDetails": "none"}
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["theme"]["base"] == "light"


@pytest.mark.slow
def test_epochs_and_levels_by_hand(loaded, sample_bytes):
    at = loaded
    at.switch_page("pages/3_analyse.py").run()
    default = metrics(at)
    at.toggle(key="rp_protocol_custom").set_value(True).run()
    no_errors(at)
    p = at.session_state["params"]
    assert p.protocol is not None and p.protocol["source"] == "manual"
    for label, value in metrics(at).items():  # the table holds the detected epochs: same numbers
        assert value == default[label] or number(value) == pytest.approx(number(default[label]), rel=1e-3)
    at.toggle(key="rp_protocol_custom").set_value(False).run()
    at.toggle(key="rp_levels_custom").set_value(True).run()
    at.number_input(key="rp_v_test_mV").set_value(-30.0).run()
    no_errors(at)
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, AnalysisParams(
        v_hold_mV=at.session_state["params"].v_hold_mV, v_control_mV=at.session_state["params"].v_control_mV,
        v_test_mV=-30.0))
    assert_cards_match(at, expected)


# ------------------------------------------------------------------ copies with the same bytes
COPIES = tuple(f"20230415_0007_{v}mVdepol.atf" for v in (-60, -40, -20, 0))


@pytest.mark.slow
def test_renamed_copies_with_identical_bytes_stay_four_files(tmp_path, monkeypatch):
    """Four uploads of one recording under four names: four rows on Load, four files in the sidebar,
    four points on the Q–V page, four file sheets in the set workbook; the bytes are parsed once."""
    import io

    import openpyxl

    from app import cache, qv_results, sets_ui
    from app.state import LoadedFile
    from signal_core.parallel import analyze_files
    from signal_core.sets import qv_points

    cell = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=20.0, v_half_mV=-30.0, k_mV=9.0)
    data = write_atf(simulate(cell, v_tests_mV=(-20.0,), fs_hz=20_000.0, duration_ms=700.0, noise_pA=2.0,
                              seed=7, name=COPIES[0]).recording)
    parses = []
    monkeypatch.setattr(cache, "read_recording", lambda d, name: parses.append(name) or read_recording(d, name=name))
    at = new_app()
    upload(at, *[(n, data) for n in COPIES])
    no_errors(at)
    assert parses == [COPIES[0]]  # parsed once; the copies share the parse under their own names
    assert at.subheader[0].value == "4 file(s) loaded"
    assert at.dataframe[0].value["file"].tolist() == list(COPIES)
    assert at.selectbox(key="active_sha").options == list(COPIES)  # the sidebar shows their names

    at.switch_page("pages/6_sets.py").run()
    no_errors(at)
    table = next(df.value for df in at.dataframe if "exclude" in df.value.columns)
    assert table["file"].tolist() == list(COPIES)
    qv = next(f for f in figures(at) if any(d.get("mode") == "markers" for d in f["data"]))
    n_points = sum(len(d.get("x") or []) if isinstance(d.get("x"), list) else 0
                   for d in qv["data"] if d.get("mode") == "markers")
    assert n_points == 4

    paths = []
    for n in COPIES:
        (tmp_path / n).write_bytes(data)
        paths.append(tmp_path / n)
    files = [LoadedFile.from_bytes(n, data) for n in COPIES]
    assert len({lf.key for lf in files}) == 4 and len({lf.sha256 for lf in files}) == 1
    label = {str(p): sets_ui.file_label(lf) for p, lf in zip(paths, files)}
    pts = [dataclasses.replace(p, file=label[p.file]) for p in qv_points(analyze_files(paths, AnalysisParams()))]
    an = sets_ui.Analysed(files={sets_ui.file_label(lf): lf for lf in files})
    book = openpyxl.load_workbook(io.BytesIO(
        qv_results._set_book(qv_results._jobs(an, pts), [], pts, pts[0].set_id, AnalysisParams(), False)))
    assert len(book.sheetnames) == 1 + 4, book.sheetnames
    summary = [c for row in book[book.sheetnames[0]].iter_rows(values_only=True) for c in row]
    assert all(n in summary for n in COPIES)


# ------------------------------------------------------------------ figures for talks and papers
def _axis_titles(fig: dict) -> list[str]:
    layout = fig["layout"]
    return [layout[k]["title"]["text"] for k in layout if re.match(r"[xy]axis\d*$", k) and layout[k].get("title")]


def test_every_figure_saves_svg_or_png_at_publication_size_and_names_its_units(loaded):
    """The toolbar's camera button saves each figure (toImageButtonOptions) as the sidebar says; every
    axis title carries its unit in parentheses."""
    at = loaded
    pages = {"pages/2_explore.py": 2, "pages/3_analyse.py": 1, "pages/6_sets.py": 1}
    for fmt, scale in (("svg", 1), ("png", 2)):
        if fmt == "png":
            at.radio(key="figure_format").set_value("png").run()
        for page, n in pages.items():
            at.switch_page(page).run()
            no_errors(at)
            charts = at.get("plotly_chart")
            assert len(charts) >= n, page
            for chart in charts:
                opts = json.loads(chart.proto.config)["toImageButtonOptions"]
                assert (opts["format"], opts["width"], opts["height"], opts["scale"]) == (fmt, 1050, 600, scale)
                assert opts["filename"] and "/" not in opts["filename"]
                titles = _axis_titles(json.loads(chart.proto.spec))
                assert titles and all(re.search(r"\(.+\)", t) for t in titles), (page, titles)


# ------------------------------------------------------------------ polish on Load, prev/next in the sidebar
def test_a_text_file_is_refused_with_its_first_characters_as_text_and_remove_all_clears_load(sample_bytes):
    at = new_app()
    upload(at, (SAMPLE, sample_bytes), ("notes.atf", b"hello this is not a recording\n1\t2\n"))
    no_errors(at)
    message = at.error[0].value.replace("\\", "")
    assert "notes.atf" in message and "starts with 'hello this is no'" in message, message
    assert "b'" not in message  # never a Python byte string
    assert "chip" in message  # the box says why the uploader may still show the file
    click(at, "Remove all files")
    no_errors(at)
    assert not at.error and not at.dataframe and any("No file loaded" in i.value for i in at.info)


def test_next_and_previous_sweep_and_file_buttons():
    sim = simulate(CellModel(), v_tests_mV=(-60.0, -20.0, 20.0), duration_ms=700.0, noise_pA=1.0, seed=4,
                   name="three.atf")
    at = new_app()
    upload(at, ("one.atf", write_atf(simulate(CellModel(), v_tests_mV=(-20.0,), duration_ms=700.0, seed=2,
                                               name="one.atf").recording)),
           ("three.atf", write_atf(sim.recording)))
    assert at.session_state["files"][at.session_state["active_sha"]].name == "three.atf"  # the last loaded
    at.button(key="btn_next_sweep").click().run()
    at.button(key="btn_next_sweep").click().run()
    assert at.number_input(key="sweep").value == 3
    assert at.button(key="btn_next_sweep").disabled
    at.button(key="btn_prev_sweep").click().run()
    assert at.number_input(key="sweep").value == 2
    at.button(key="btn_next_file").click().run()  # wraps round to the first file, sweep 1
    no_errors(at)
    assert at.session_state["files"][at.session_state["active_sha"]].name == "one.atf"
    assert at.number_input(key="sweep").value == 1
