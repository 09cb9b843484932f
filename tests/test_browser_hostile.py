"""Text from files is data in a real Chromium: a payload in a file name and an ATF comment never runs.

The payload ``<img src=x onerror="window.__xss=1">`` (with ``<script>``, Markdown, a
``javascript:`` link and a ``:material/…:`` icon) goes into the name and the Comment record of
the sample recording, and into the name of a broken file; every page of the menu
(``app.nav.PAGES``, so a page added later is covered) is opened, the analysis is saved to
History, and after each step ``window.__xss`` is still unset, no ``alert`` was called, nothing
was fetched from another host (an icon font would be) and the name reads literally.
A file over the upload limit is refused by the browser itself (``server.maxUploadSize``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import BROKEN, SAMPLE_ATF

from app import nav
from tests.browser import UPLOAD, go, offline_problems, rerun, upload, wait_idle

PAYLOAD = ('<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> **b** '
           '[a](javascript:window.__xss=3) :material/home: :streamlit: :smile: a -> b $x^2$ :red[r] "q" \'s\'')
NAME = f"{PAYLOAD}.atf"
#: Chromium sends a file name's double quotes as %22 (the HTML form-data encoding); the server keeps that
SENT = NAME.replace('"', "%22")
TRAP = """() => {
  window.__alerts = 0;
  for (const f of ['alert', 'confirm', 'prompt']) window[f] = () => { window.__alerts += 1; };
}"""


def hostile_atf() -> bytes:
    data = SAMPLE_ATF.read_bytes()
    out = data.replace(b'"Comment="', f'"Comment={PAYLOAD} {"C" * 10_000}"'.encode(), 1)
    assert out != data
    return out


def text(locator) -> str:
    """What a person reads (the app puts invisible word joiners into shortcodes and arrows)."""
    return locator.inner_text().replace("\u2060", "")


def assert_inert(pg, where: str, problems: list[str]) -> None:
    pg.wait_for_timeout(300)  # an injected <img> would have failed to load and fired onerror by now
    state = pg.evaluate("() => ({xss: window.__xss, alerts: window.__alerts})")
    assert state == {"xss": None, "alerts": 0}, (where, state)
    assert pg.locator("img[src=x], [data-testid=stMain] a[href^='javascript']").count() == 0, where
    scripts = pg.evaluate("() => [...document.scripts].map(s => s.textContent).join('\\n')")
    assert "__xss" not in scripts, where
    assert pg.locator("[data-testid=stException]").count() == 0, where
    assert not problems, (where, problems)


@pytest.mark.browser
def test_payload_in_file_name_and_comment_never_runs_on_any_page(page):
    pg = page
    problems = offline_problems(pg)
    pg.context.add_init_script(f"({TRAP})()")
    pg.reload()
    wait_idle(pg)

    upload(pg, (NAME, hostile_atf()), (f"broken {NAME}", BROKEN), timeout_ms=60_000)
    assert_inert(pg, "Load", problems)
    main = pg.locator("[data-testid=stMain]")
    error = pg.locator("[data-testid=stAlertContentError]")
    assert error.count() == 1 and f"broken {SENT} could not be read" in text(error)
    assert pg.locator("[data-testid=stText]").first.inner_text().startswith(SENT)
    sidebar = pg.locator("[data-testid=stSidebar]")
    assert sidebar.get_by_role("combobox", name="Active file").input_value() == SENT

    for _, title, _ in nav.PAGES:
        go(pg, title, 60_000)
        assert_inert(pg, title, problems)
        if title in ("Explore", "Analyse"):
            assert f"{SENT} · sweep 1 of 1" in text(main), title

    # saved to History, listed and reopened
    go(pg, "Analyse", 60_000)
    with rerun(pg, 60_000):
        pg.get_by_role("button", name="Save to history").click()
    saved = pg.locator("[data-testid=stAlertContentSuccess]").filter(has_text="Saved as analysis #")
    aid = int(re.search(r"#(\d+)", saved.inner_text()).group(1))
    assert_inert(pg, "saved", problems)
    go(pg, "History", 60_000)
    assert_inert(pg, "History", problems)
    assert "1 saved analysis(es)" in main.inner_text()
    url = urlparse(pg.url)
    key = parse_qs(url.query)["ws"][0]
    pg.goto(f"{url.scheme}://{url.netloc}/?ws={key}&analysis={aid}")
    wait_idle(pg)
    assert_inert(pg, "reopened from its link", problems)
    assert f"{SENT}, sweep 1" in text(pg.locator("[data-testid=stAlertContentSuccess]"))



@pytest.mark.browser
def test_file_over_the_upload_limit_is_refused_in_the_browser(page, tmp_path):
    """``server.maxUploadSize = 50``: Chromium never sends a bigger file; the uploader says why."""
    pg = page
    big = tmp_path / "too big.atf"
    big.write_bytes(SAMPLE_ATF.read_bytes() * (51 * 2**20 // len(SAMPLE_ATF.read_bytes()) + 1))
    assert big.stat().st_size > 50 * 2**20
    puts: list[str] = []
    pg.on("request", lambda req: puts.append(req.url) if "/_stcore/upload_file/" in req.url else None)
    pg.locator(UPLOAD).set_input_files(big)
    uploader = pg.locator("[data-testid=stFileUploader]")
    uploader.get_by_text("File must be 50.0MB or smaller").wait_for()
    wait_idle(pg)
    assert not puts
    assert pg.get_by_text("No file loaded yet").count() == 1
