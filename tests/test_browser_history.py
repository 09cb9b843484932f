"""History in a real Chromium: a saved analysis's link reopens it in a fresh browser context.

One browser context loads the demo recording, analyses it, saves it to history and reads
the workspace link on History; a second, fresh context (no shared session, cookies or
storage) opens the analysis link and must show the same Q_on on Analyse.  Screenshot of
History: ``test-artifacts/history.png``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import openpyxl
import pytest

from signal_core.store import Store
from tests.browser import go, metric, new_page, no_exception, rerun, screenshot, wait_idle

pytestmark = pytest.mark.browser


def workspace_key(url: str) -> str:
    return parse_qs(urlparse(url).query)["ws"][0]


def test_copied_link_reopens_the_analysis_in_a_fresh_context(page, browser, app_server):  # noqa: F811
    pg = page
    key = workspace_key(pg.url)  # a first visit gets a workspace key in the URL
    assert Store.valid_key(key)

    with rerun(pg):
        pg.get_by_role("button", name=re.compile("Load the demo recording")).click()
    go(pg, "Analyse")
    q_on = metric(pg, "Q_on (pC)")
    assert re.fullmatch(r"−?[0-9.]+", q_on), q_on
    assert workspace_key(pg.url) == key  # kept across the page change
    pg.get_by_label("Label").fill("browser test <b>cell</b>")
    with rerun(pg):
        pg.get_by_role("button", name=re.compile("Save to history")).click()
    saved = pg.get_by_text(re.compile(r"Saved as analysis #\d+")).inner_text()
    aid = int(re.search(r"#(\d+)", saved).group(1))

    go(pg, "History")
    assert pg.get_by_text("1 saved analysis(es) in this workspace").count() == 1
    link = pg.locator("[data-testid=stCode]").first.inner_text().strip()
    assert urlparse(link).netloc == urlparse(app_server).netloc and workspace_key(link) == key
    grid = pg.locator("[data-testid=stDataFrame]")
    assert grid.count() == 1
    box = grid.bounding_box()
    with rerun(pg):  # the row's selection box: first column of the first row (the grid is a canvas)
        pg.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    export = pg.get_by_role("button", name=re.compile(r"Export selected \(\.xlsx, 1\)"))
    assert export.is_enabled()
    screenshot(pg, "history")
    with pg.expect_download() as dl:
        export.click()
    assert dl.value.suggested_filename == "history_export.xlsx"
    workbook = openpyxl.load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()), read_only=True)
    header, *rows = list(workbook["Summary"].iter_rows(values_only=True))
    q_col = next(i for i, h in enumerate(header) if h and str(h).startswith("Q_on"))
    assert f"{rows[0][q_col]:.4g}" == q_on.replace("−", "-")

    fresh, other = new_page(browser)
    try:
        other.goto(f"{link}&analysis={aid}")
        wait_idle(other)
        other.get_by_role("heading", level=1, name="Analyse").wait_for()
        wait_idle(other)
        no_exception(other)
        assert urlparse(other.url).path.rstrip("/") == "/analyse"
        assert workspace_key(other.url) == key and "analysis=" not in other.url
        assert other.get_by_text(re.compile(rf"Opened analysis #{aid}")).count() == 1
        assert metric(other, "Q_on (pC)") == q_on
        screenshot(other, "history-reopened")
    finally:
        fresh.close()

    # a fresh context without the link has its own, empty workspace
    stranger, pg3 = new_page(browser)
    try:
        pg3.goto(app_server)
        wait_idle(pg3)
        assert workspace_key(pg3.url) != key
        go(pg3, "History")
        assert pg3.get_by_text(re.compile("keeps the analyses you save")).count() == 1
    finally:
        stranger.close()
