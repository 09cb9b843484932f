"""A person's flow in a real Chromium (Playwright) on the app started as the Procfile does.

One server for the session (``app_server``), a fresh browser context per test (``page``).
Every rerun is awaited on a counter of ``data-test-script-state`` changes, so a test never
reads the page between an action and the rerun it starts.  Full-page screenshots of Load,
Explore, Analyse and Help go to ``test-artifacts/``.
"""

from __future__ import annotations

import re

import openpyxl
import pytest
from conftest import BROKEN, SAMPLE_ATF

from signal_core.analysis.pipeline import analyze_sweep
from signal_core.io.atf import read_atf
from signal_core.io.atf_writer import write_atf
from signal_core.params import AnalysisParams
from signal_core.synthetic import demo_recording
from tests.browser import go, no_exception, offline_problems, rerun, screenshot, upload, wait_idle

SAMPLE = SAMPLE_ATF.name
DEMO = "demo_0001_-20mV.atf"

#: card label -> ChargeResult attribute (the cards show 4 significant digits)
CARDS = {
    "Q_on (pC)": "q_on_pC", "Q_off (pC)": "q_off_pC", "Q_off/Q_on": "q_off_over_on", "C_lin (nF)": "c_lin_nF",
    "C_m (nF)": "c_m_nF", "R_s (MOhm)": "r_s_MOhm", "R_m (MOhm)": "r_m_MOhm", "tau (ms)": "tau_ms",
    "Q_on/C_m (nC/µF)": "q_on_per_c_m_nC_per_uF", "C_lin corrected (nF)": "c_lin_corrected_nF",
}


# ------------------------------------------------------------------ helpers
@pytest.fixture
def app(page):  # noqa: F811 - the fixture imported from tests.browser
    """The ``page`` fixture (fresh context, app idle, its script runs counted), reloaded with listeners on.

    Afterwards: no JavaScript error was raised and nothing was fetched from another host
    (the app must work offline, e.g. no icon font from the internet).
    """
    problems = offline_problems(page)
    page.reload()  # the first load too, now that the listeners are on
    wait_idle(page)
    yield page
    assert not problems, problems


def loaded_rows(pg) -> list[str]:
    """The Load page's file rows (``name · SHA-256 …``)."""
    return [t.split("·")[0].strip() for t in pg.locator("[data-testid=stText]").all_inner_texts()]


def cards(pg) -> dict[str, str]:
    out = {}
    for m in pg.locator("[data-testid=stMetric]").all():
        label = m.locator("[data-testid=stMetricLabel]").inner_text().strip()
        # the value, without the standard error a card may show after it ("3.914 ± 0.37")
        out[label] = m.locator("[data-testid=stMetricValue]").inner_text().split("±")[0].strip()
    return out


def shown(value: float | None) -> str:
    """A number as a card shows it: 4 significant digits, a real minus sign, '—' when missing."""
    return "—" if value is None or value != value else f"{value:.4g}".replace("-", "−")


def download(pg, key: str, tmp_path):
    """Click a download button (after the rerun is over) and return the saved file's path."""
    wait_idle(pg)
    with pg.expect_download() as info:
        pg.locator(f".st-key-{key} button").filter(visible=True).click()
    dl = info.value
    path = tmp_path / dl.suggested_filename
    dl.save_as(path)
    return path


def shoot(pg, name: str) -> None:
    """A full-page screenshot: the viewport grows to the page's height (Streamlit scrolls inside)."""
    size = pg.viewport_size
    height = pg.evaluate("""() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll(
        '[data-testid=stMain], [data-testid=stAppScrollToBottomContainer], [data-testid=stMainBlockContainer]')]
        .map(e => e.scrollHeight))""")
    pg.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height + 80), 8000)})
    pg.wait_for_timeout(400)  # let the charts re-layout
    wait_idle(pg)
    path = screenshot(pg, name)
    pg.set_viewport_size(size)
    assert path.stat().st_size > 10_000


def sample_recording():
    return read_atf(SAMPLE_ATF.read_bytes(), name=SAMPLE)


# ------------------------------------------------------------------ tests
@pytest.mark.browser
def test_person_flow_on_the_sample(app, tmp_path):
    pg = app
    assert pg.get_by_text("No file loaded yet").count() == 1
    # Load: upload the real recording through the file input
    upload(pg, (SAMPLE, SAMPLE_ATF.read_bytes()))
    assert loaded_rows(pg) == [SAMPLE]
    assert pg.get_by_role("heading", name="1 file(s) loaded").count() == 1
    shoot(pg, "browser-load")

    # Explore: the raw trace is drawn (downsampled for display)
    go(pg, "Explore")
    gd = pg.locator(".st-key-explore_trace .js-plotly-plot")
    traces = gd.evaluate("gd => gd._fullData.map(d => ({name: d.name, n: d._length, visible: d.visible}))")
    raw = [t for t in traces if t["name"].startswith("raw current")]
    assert raw and raw[0]["visible"] is True, traces
    assert 1000 < raw[0]["n"] <= 6000, traces  # ~5k points of the 110k samples
    assert any(t["name"].startswith("command voltage") for t in traces), traces
    assert gd.locator("canvas, .scatterlayer .trace").count() > 0
    shoot(pg, "browser-explore")

    # Analyse: the numbers for the default recipe
    go(pg, "Analyse")
    before = cards(pg)
    default = analyze_sweep(sample_recording(), 0, AnalysisParams())
    assert before["Q_on (pC)"] == shown(default.q_on_pC)

    # set the ON integration window by hand, then end it at 20 ms after the edge
    with rerun(pg):
        pg.locator(".st-key-rp_int_on_custom").get_by_text("Set the ON integration window by hand").click()
    start, end = pg.locator(".st-key-rp_int_on_a input"), pg.locator(".st-key-rp_int_on_b input")
    assert float(end.input_value()) > 20.0
    with rerun(pg):
        end.fill("20.00")
        end.press("Enter")
    no_exception(pg)
    after = cards(pg)
    assert after["Q_on (pC)"] != before["Q_on (pC)"]
    assert after["Q_off (pC)"] == before["Q_off (pC)"]  # only the ON window changed

    # the recipe the app used: downloaded, and built from the same inputs
    recipe = AnalysisParams.from_json(download(pg, "dl_analyse_recipe", tmp_path).read_bytes())
    window = (float(start.input_value()), float(end.input_value()))
    assert window == (0.0, 20.0)
    assert recipe == AnalysisParams().replace(integrate_on_ms=window)
    expected = analyze_sweep(sample_recording(), 0, recipe)
    assert {label: after[label] for label in CARDS} == {
        label: shown(getattr(expected, attr)) for label, attr in CARDS.items()}

    # the workbook of what is shown
    path = download(pg, "dl_analyse_xlsx", tmp_path)
    assert path.name == "202304_0521_sweep1_analysis.xlsx"
    ws = openpyxl.load_workbook(path)["Summary"]
    cols = {c.value: c.column for c in ws[1]}
    assert ws.cell(2, cols["file"]).value == SAMPLE
    assert ws.cell(2, cols["sweep"]).value == 1
    q_on = ws.cell(2, cols["Q_on (pC)"]).value
    assert shown(q_on) == after["Q_on (pC)"]
    assert q_on == pytest.approx(expected.q_on_pC, rel=1e-12)
    recipe_sheet = openpyxl.load_workbook(path)["Recipe"]
    assert AnalysisParams.from_json("\n".join(c.value for c in recipe_sheet["A"])) == recipe
    shoot(pg, "browser-analyse")

    # Help, then back: the recipe and its numbers are kept
    go(pg, "Help")
    assert pg.get_by_role("heading", name="How to cite the numbers").count() == 1
    shoot(pg, "browser-help")
    go(pg, "Analyse")
    assert cards(pg)["Q_on (pC)"] == after["Q_on (pC)"]
    assert pg.locator(".st-key-rp_int_on_b input").input_value() == "20.00"


@pytest.mark.browser
def test_demo_button_in_a_fresh_context(app):
    pg = app
    with rerun(pg):
        pg.get_by_role("button", name="Load the demo recording").click()
    no_exception(pg)
    assert loaded_rows(pg) == [DEMO]
    go(pg, "Analyse")
    assert pg.get_by_text(f"{DEMO} · sweep 1 of 1").count() == 1
    demo = read_atf(write_atf(demo_recording().recording), name=DEMO)
    expected = analyze_sweep(demo, 0, AnalysisParams())
    assert cards(pg)["Q_on (pC)"] == shown(expected.q_on_pC)


@pytest.mark.browser
def test_broken_file_shows_the_line_and_the_good_file_stays(app):
    pg = app
    upload(pg, (SAMPLE, SAMPLE_ATF.read_bytes()), ("broken.atf", BROKEN))
    box = pg.locator("[data-testid=stAlertContentError]")
    assert box.count() == 1
    text = box.inner_text()
    assert "broken.atf could not be read" in text
    assert re.search(r"\bline 4\b", text), text
    assert loaded_rows(pg) == [SAMPLE]
    assert pg.get_by_text("1 file(s) could not be read").count() == 1  # sidebar note
    # the good file is analysed; the note follows to other pages
    go(pg, "Analyse")
    assert "Q_on (pC)" in cards(pg)
    assert pg.locator("[data-testid=stSidebar]").get_by_text("1 file(s) could not be read").count() == 1
    go(pg, "Load")
    assert loaded_rows(pg) == [SAMPLE]
    assert pg.locator("[data-testid=stAlertContentError]").count() == 1


@pytest.mark.browser
def test_page_switching_keeps_the_loaded_file(app):
    pg = app
    upload(pg, (SAMPLE, SAMPLE_ATF.read_bytes()))
    sidebar = pg.locator("[data-testid=stSidebar]")
    for title in ("Explore", "Analyse", "Help", "Load", "Analyse"):
        go(pg, title)
        assert pg.get_by_text("No recording loaded yet").count() == 0, title
        assert sidebar.get_by_role("combobox", name="Active file").input_value() == SAMPLE, title
        if title == "Explore":
            assert pg.locator(".st-key-explore_trace .js-plotly-plot").count() == 1
        if title == "Analyse":
            assert cards(pg)["Q_on (pC)"] not in ("", "—")
        if title == "Help":
            assert pg.locator(".st-key-dl_help_xlsx").count() == 1  # downloads only with an active file
        if title == "Load":
            assert loaded_rows(pg) == [SAMPLE]
