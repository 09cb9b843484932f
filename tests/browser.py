"""Real-browser fixtures: Playwright driving Debian's Chromium (never `playwright install`).

tests/conftest.py registers the fixtures once for the session; test modules use them by name.
Screenshots go to ``test-artifacts/`` (git-ignored), kept as CI artifacts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ROOT, run_app

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


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
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(30_000)
    pg = context.new_page()
    pg.goto(app_server)
    wait_idle(pg)
    yield pg
    context.close()


def wait_idle(pg, timeout_ms: int = 30_000) -> None:
    """Wait until the Streamlit script has finished its rerun."""
    pg.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout_ms)
    pg.wait_for_timeout(150)
    pg.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout_ms)


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
