"""Real-browser fixtures and helpers: Playwright driving Debian's Chromium (never `playwright install`).

tests/conftest.py registers the fixtures once for the session; test modules use them by name.
Screenshots go to ``test-artifacts/`` (git-ignored), kept as CI artifacts.

The helpers below (``rerun``, ``go``, ``upload``, ``no_exception``, ``metric``, ...) use
Playwright's sync API, as the tests and ``bench/bench_app.py`` do; the selectors and JavaScript
snippets (``IDLE``, ``UPLOAD``, ``WATCH``, ``Q_ON``) are plain strings, also used by the async
``bench/bench_load.py``.  Pages come from :func:`new_page` (or the ``page`` fixture), which counts
the script runs the server finishes for them, so that :func:`rerun` knows when an action's run is
over.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.server import ROOT, run_app

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}

#: the app is idle: the Streamlit script has finished its run
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
#: the Load page's file input
UPLOAD = "[data-testid=stFileUploader] input[type=file]"
#: counts changes of ``data-test-script-state`` in ``window.__stChanges``; installing it twice does nothing.
#: ``bench/bench_app.py`` times reruns with it (polled every frame); a run of a few milliseconds may
#: change nothing there, so the tests wait on the server's count instead (:func:`rerun`, :func:`runs`)
WATCH = """() => {
  if (window.__stChanges !== undefined) return;
  window.__stChanges = 0;
  new MutationObserver(ms => { window.__stChanges += ms.length; }).observe(document.documentElement,
    {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
}"""
#: the Q_on card's value when it shows a number, else null (no card yet, empty, or '—')
Q_ON = """() => {
  const m = [...document.querySelectorAll('[data-testid=stMetric]')].find(e => e.innerText.includes('Q_on (pC)'));
  const v = m && m.querySelector('[data-testid=stMetricValue]');
  const t = v ? v.innerText.trim() : '';
  return t && t !== '—' ? t : null;
}"""


def _need_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; make test does it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[str]:
    """The app started as the Procfile does, on 127.0.0.1, with its own SQLite data dir."""
    data_dir = tmp_path_factory.mktemp("app-data")
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(data_dir)}, log_path=ARTIFACTS / "app-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    """A fresh browser context (its own session) on the app, 1400 x 1000, downloads allowed."""
    context, pg = new_page(browser)
    pg.goto(app_server)
    wait_idle(pg)
    yield pg
    context.close()


def new_page(browser, timeout_ms: int = 30_000):
    """A fresh browser context (no session, cookies or storage shared), 1400 x 1000, downloads allowed,
    and its page: ``(context, page)``, whose script runs are counted (:func:`runs`); close the context
    when done."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(timeout_ms)
    pg = context.new_page()
    track_runs(pg)
    return context, pg


#: page -> [number of script runs the server has finished for it]
_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def track_runs(pg) -> None:
    """Count the script runs the server finishes for ``pg``: the ``script_finished`` messages on the
    app's websocket (a reload opens a new one, counted too).  Call before the page opens the app.

    This is the server's own word that a run is over; the page's ``data-test-script-state``
    attribute is not: when a run takes only a few milliseconds the front end may never show
    "running", and an observer of the attribute sees nothing change.
    """
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    count = _RUNS.setdefault(pg, [0])

    def on_frame(payload: bytes | str) -> None:
        if isinstance(payload, bytes) and ForwardMsg.FromString(payload).HasField("script_finished"):
            count[0] += 1

    def on_websocket(ws) -> None:
        if ws.url.endswith("/_stcore/stream"):
            ws.on("framereceived", on_frame)

    pg.on("websocket", on_websocket)


def runs(pg) -> int:
    """How many script runs the server has finished for ``pg`` so far (see :func:`track_runs`)."""
    assert pg in _RUNS, "the page was not made by new_page() or the page fixture: its runs are not counted"
    return _RUNS[pg][0]


def wait_idle(pg, timeout_ms: int = 30_000) -> None:
    """Wait until the Streamlit script has finished its rerun."""
    pg.wait_for_selector(IDLE, timeout=timeout_ms)
    pg.wait_for_timeout(150)
    pg.wait_for_selector(IDLE, timeout=timeout_ms)


def offline_problems(pg) -> list[str]:
    """A list that from now on collects what must never happen on ``pg``: a JavaScript error, and a
    request to another host (the app must work offline, e.g. no icon font from the internet)."""
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
    pg.on("request", lambda req: problems.append(f"request to another host: {req.url}")
          if urlparse(req.url).scheme in ("http", "https", "ws", "wss")
          and urlparse(req.url).hostname not in ("127.0.0.1", "localhost") else None)
    return problems


@contextmanager
def rerun(pg, timeout_ms: int = 30_000) -> Iterator[None]:
    """Run the body (an action that makes Streamlit rerun), then wait until that rerun has finished:
    the server has finished a script run after the action (:func:`runs`) and the page is idle."""
    before = runs(pg)
    yield
    deadline = time.monotonic() + timeout_ms / 1000
    while runs(pg) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no script run finished within {timeout_ms} ms of the action on {pg.url}")
        pg.wait_for_timeout(25)  # Playwright delivers the websocket events while it waits
    wait_idle(pg, timeout_ms)


def url_path(title: str) -> str:
    """The URL path of the menu page ``title`` (``app.nav.PAGES``): '' for the first, else ``/`` and
    the script's name without its number (``pages/6_sets.py`` -> ``/sets``), as Streamlit names it."""
    from app.nav import PAGES

    scripts = [script for script, t, _ in PAGES if t == title]
    assert scripts, f"no page {title!r} in the menu: {[t for _, t, _ in PAGES]}"
    return "" if scripts[0] == PAGES[0][0] else "/" + re.sub(r"^[0-9]+_", "", Path(scripts[0]).stem)


def go(pg, title: str, timeout_ms: int = 30_000) -> None:
    """Open a page from the sidebar menu, as a person does."""
    with rerun(pg, timeout_ms):
        pg.locator("[data-testid=stSidebarNav]").get_by_role("link", name=title).click()
    path = urlparse(pg.url).path.rstrip("/")
    assert path == url_path(title), pg.url
    no_exception(pg)


def upload(pg, *files: tuple[str, bytes], timeout_ms: int = 30_000) -> None:
    """Put files (name, bytes) into the Load page's file input and wait for the rerun."""
    payload = [{"name": n, "mimeType": "text/plain", "buffer": b} for n, b in files]
    with rerun(pg, timeout_ms):
        pg.locator(UPLOAD).set_input_files(payload)
    no_exception(pg)


def no_exception(pg) -> None:
    """No traceback box, no 'failed unexpectedly' message."""
    boxes = pg.locator("[data-testid=stException]")
    assert boxes.count() == 0, boxes.all_inner_texts()
    assert pg.get_by_text("failed unexpectedly").count() == 0


def metric(pg, label: str) -> str:
    """The value shown on the card labelled ``label``."""
    card = pg.locator("[data-testid=stMetric]").filter(
        has=pg.locator("[data-testid=stMetricLabel]", has_text=label)).first
    return card.locator("[data-testid=stMetricValue]").inner_text().strip()


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
