"""Layout in a real Chromium: one laptop screen for Analyse, a phone, icons that render offline, the keyboard.

- 1366 x 768 (a common laptop): Analyse shows, without scrolling, the Q_on and Q_off cards, the purple
  plot and the recipe controls that matter most (integration and tail windows, filters, V levels);
  the figure tabs' labels are not cut.
- 390 x 844 (a phone): Load, Analyse and the Q–V page have no horizontal page scroll, the cards wrap
  and the main figure fits the width.
- Icons come from Streamlit's Material Symbols font, which ships in its static files: every icon
  renders as one glyph (an icon whose font is missing shows its name, e.g. "folder_open", as wide text),
  no emoji is left in the menu, the titles and the buttons, and nothing is fetched from another host.
- Previous/next sweep and file: reachable with Tab, pressed with Enter or Space.

Screenshots go to ``test-artifacts/`` (laptop and phone) and, for Help's how-to, to ``docs/img/``
(``app/howto.py`` reads them there), so the Help page always shows the app as it is.
"""

from __future__ import annotations

import re

import pytest
from conftest import SAMPLE_ATF

from app import howto
from app.analyse_ui import TABS
from signal_core.io.atf_writer import write_atf
from signal_core.synthetic import CellModel, simulate
from tests.browser import (
    ARTIFACTS,
    IDLE,
    Q_ON,
    go,
    no_exception,
    offline_problems,
    rerun,
    track_runs,
    upload,
    wait_idle,
)

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
#: emoji and pictographs (and the emoji variation selector) that Debian shows as boxes without an emoji font
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")


@pytest.fixture
def open_app(browser, app_server):
    """A factory of fresh contexts on the app at a given viewport; each checked for offline use afterwards."""
    opened = []

    def _open(viewport: dict, **options):
        context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
        context.set_default_timeout(30_000)
        pg = context.new_page()
        track_runs(pg)
        problems = offline_problems(pg)
        pg.goto(app_server)
        wait_idle(pg)
        opened.append((context, problems))
        return pg

    yield _open
    for context, problems in opened:
        context.close()
        assert not problems, problems


def sample():
    return SAMPLE_ATF.name, SAMPLE_ATF.read_bytes()


def three_sweeps(name: str = "20230115_0003_3sweeps.atf"):
    sim = simulate(CellModel(), v_tests_mV=(-60.0, -20.0, 20.0), fs_hz=20_000.0, duration_ms=700.0, noise_pA=2.0,
                   seed=5, name=name)
    return name, write_atf(sim.recording)


def box(pg, selector: str) -> dict:
    loc = pg.locator(selector).filter(visible=True).first
    loc.wait_for()
    b = loc.bounding_box()
    assert b is not None, selector
    return b


def on_first_screen(pg, selector: str, what: str) -> None:
    b = box(pg, selector)
    height = pg.viewport_size["height"]
    assert b["y"] >= 0 and b["y"] + b["height"] <= height, f"{what} is not on the first screen: {b}"


def card(label: str) -> str:
    return f"[data-testid=stMetric]:has([data-testid=stMetricLabel]:has-text('{label}'))"


def shoot(pg, path) -> None:
    """A screenshot of what the screen shows (not the whole page), after the charts have settled."""
    pg.wait_for_timeout(400)
    wait_idle(pg)
    path.parent.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(path), **({"type": "jpeg", "quality": 80} if path.suffix == ".jpg" else {}))
    assert path.stat().st_size > 10_000


def page_has_no_horizontal_scroll(pg, where: str) -> None:
    width = pg.viewport_size["width"]
    widths = pg.evaluate("""() => [document.documentElement.scrollWidth, document.body.scrollWidth,
        ...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stMainBlockContainer]')]
        .map(e => e.scrollWidth)]""")
    assert max(widths) <= width, f"{where}: the page scrolls sideways ({widths} px for a {width} px screen)"


def analysed(pg) -> None:
    pg.wait_for_function(f"() => ({Q_ON})() !== null")
    wait_idle(pg)
    no_exception(pg)


def tabs_are_whole(pg) -> None:
    """Every figure tab's label whole: nothing clipped, the last tab inside the tab bar (no scrolling)."""
    tabs = pg.locator("[role=tab]")
    assert tabs.all_inner_texts() == list(TABS)
    for k in range(tabs.count()):
        clipped = tabs.nth(k).evaluate(
            "e => [...e.querySelectorAll('*'), e].some(n => n.scrollWidth > n.clientWidth + 1)")
        assert not clipped, TABS[k]
    bar = box(pg, "[role=tablist]")
    last = tabs.nth(tabs.count() - 1).bounding_box()
    assert last["x"] + last["width"] <= bar["x"] + bar["width"] + 1, (last, bar)


# ------------------------------------------------------------------ laptop
@pytest.mark.browser
def test_analyse_fits_one_laptop_screen(open_app):
    pg = open_app(LAPTOP)
    upload(pg, sample())
    go(pg, "Analyse")
    analysed(pg)
    assert pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop") == 0
    on_first_screen(pg, card("Q_on (pC)"), "the Q_on card")
    on_first_screen(pg, card("Q_off (pC)"), "the Q_off card")
    on_first_screen(pg, ".st-key-purple_chart .main-svg", "the purple plot")
    for key, what in (("rp_int_on_custom", "the ON integration window"), ("rp_int_off_custom", "the OFF one"),
                      ("rp_tail_mode", "the tail baseline"), ("rp_tail_on_custom", "the ON tail window"),
                      ("rp_tail_off_custom", "the OFF tail window"), ("rp_levels_custom", "the V levels")):
        on_first_screen(pg, f".st-key-{key}", what)
    on_first_screen(pg, "[data-testid=stExpander] summary:has-text('Filters:')", "the filters")
    tabs_are_whole(pg)
    shoot(pg, ARTIFACTS / "layout_laptop_analyse.png")


@pytest.mark.browser
def test_help_screenshots_of_every_page(open_app):
    """The how-to's screenshots, one per page at 1366 x 768, where the Help page reads them; Help shows them."""
    pg = open_app(LAPTOP)
    upload(pg, sample(), three_sweeps())
    shoot(pg, howto.image_path("load"))
    go(pg, "Explore")
    with rerun(pg):
        pg.locator(".st-key-ov_all label").first.click()  # overlay the 3 sweeps and their average
    shoot(pg, howto.image_path("explore"))
    go(pg, "Analyse")
    analysed(pg)
    shoot(pg, howto.image_path("analyse"))
    go(pg, "Q–V sets")
    pg.locator(".st-key-qv_chart .main-svg").first.wait_for()
    shoot(pg, howto.image_path("sets"))
    go(pg, "History")
    shoot(pg, howto.image_path("history"))
    go(pg, "Help")
    for title, _stem, _steps in howto.HOWTO:  # expanders open in the browser, without a rerun
        pg.locator("[data-testid=stExpander] summary").filter(has_text=title).first.click()
    pg.wait_for_function(f"() => [...document.querySelectorAll('[data-testid=stImage] img')]"
                         f".filter(i => i.complete && i.naturalWidth > 0).length === {len(howto.HOWTO)}")


# ------------------------------------------------------------------ phone
@pytest.mark.browser
def test_phone_load_analyse_and_qv_without_sideways_scroll(open_app):
    pg = open_app(PHONE, is_mobile=True, has_touch=True)
    upload(pg, sample())
    page_has_no_horizontal_scroll(pg, "Load")
    shoot(pg, ARTIFACTS / "layout_phone_load.png")

    with rerun(pg):  # the workflow's links: the menu is folded away on a phone
        pg.locator(".st-key-workflow a").filter(has_text="Analyse").click()
    analysed(pg)
    page_has_no_horizontal_scroll(pg, "Analyse")
    tabs_are_whole(pg)
    for m in pg.locator("[data-testid=stMetric]").all():  # the cards wrap: each one inside the screen
        b = m.bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"], m.inner_text()
    pg.locator(".st-key-purple_chart").scroll_into_view_if_needed()
    plot = box(pg, ".st-key-purple_chart .main-svg")
    assert plot["x"] >= 0 and plot["x"] + plot["width"] <= PHONE["width"], plot
    pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    shoot(pg, ARTIFACTS / "layout_phone_analyse.png")
    pg.locator(".st-key-purple_chart").scroll_into_view_if_needed()
    shoot(pg, ARTIFACTS / "layout_phone_analyse_plot.png")

    pg.set_viewport_size(LAPTOP)  # the menu, then back to the phone's width
    go(pg, "Q–V sets")
    pg.set_viewport_size(PHONE)
    pg.wait_for_timeout(500)
    wait_idle(pg)
    page_has_no_horizontal_scroll(pg, "Q–V sets")
    pg.locator(".st-key-qv_chart").scroll_into_view_if_needed()
    plot = box(pg, ".st-key-qv_chart .main-svg")
    assert plot["x"] >= 0 and plot["x"] + plot["width"] <= PHONE["width"], plot
    shoot(pg, ARTIFACTS / "layout_phone_sets.png")


# ------------------------------------------------------------------ icons
@pytest.mark.browser
def test_icons_render_from_the_bundled_font_and_no_emoji_is_left(open_app):
    pg = open_app(LAPTOP)
    upload(pg, sample())
    for title in ("Load", "Explore", "Analyse", "Help", "History", "Q–V sets"):
        if title != "Load":
            go(pg, title)
        pg.wait_for_selector(IDLE)
        texts = pg.evaluate("""() => [...document.querySelectorAll(
            '[data-testid=stSidebarNav], h1, h2, h3, button, [data-testid=stExpander] summary, '
            + '[data-testid=stAlertContainer], [data-testid=stPageLink]')].map(e => e.innerText)""")
        left = [t for t in texts if EMOJI.search(t)]
        assert not left, (title, left)
        assert pg.evaluate("() => document.fonts.check('24px \"Material Symbols Rounded\"')"), title
        icons = pg.evaluate("""() => [...document.querySelectorAll('[data-testid=stIconMaterial]')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.innerText, e.getBoundingClientRect().width, getComputedStyle(e).fontSize])""")
        assert icons, title
        for name, width, size in icons:  # a ligature is one glyph, about 1 em wide; missing, it is the name
            assert 0 < width <= 1.5 * float(size.rstrip("px")), (title, name, width, size)
    favicon = pg.evaluate("() => document.querySelector('link[rel*=icon]').href")
    assert favicon.startswith("data:") or "127.0.0.1" in favicon, favicon


# ------------------------------------------------------------------ keyboard
@pytest.mark.browser
def test_previous_and_next_sweep_and_file_from_the_keyboard(open_app):
    pg = open_app(LAPTOP)
    upload(pg, sample(), three_sweeps())
    sweep = pg.locator("[data-testid=stSidebar] [data-testid=stNumberInput] input")
    assert sweep.input_value() == "1"
    sweep.focus()
    for _ in range(8):  # Tab from the sweep box reaches the "Next sweep" button
        pg.keyboard.press("Tab")
        if pg.evaluate("() => document.activeElement.innerText.includes('Next sweep')"):
            break
    else:
        pytest.fail("Tab never reached the 'Next sweep' button")
    with rerun(pg):
        pg.keyboard.press("Enter")
    assert sweep.input_value() == "2"
    pg.locator("[data-testid=stSidebar]").get_by_role("button", name="Prev. file").focus()
    with rerun(pg):
        pg.keyboard.press(" ")
    active = pg.locator("[data-testid=stSidebar] [data-testid=stSelectbox] input").first.input_value()
    assert SAMPLE_ATF.name in active
    assert pg.locator("[data-testid=stSidebar] [data-testid=stNumberInput] input").input_value() == "1"
