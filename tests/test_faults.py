"""Faults: the database going away during a save, a browser closed mid-analysis, a cancelled upload.

- PostgreSQL (a throwaway server of its own, ``tests/pg_server.py``) is stopped in the middle of
  a save, between the INSERT of the recording and the INSERT of the analysis, and also before
  Save is pressed: the analysis stays on screen, the user reads the store's message, and after
  the server is back the database holds exactly the rows it held before (the transaction is
  all or nothing); the next Save works.
- In Chromium, a context closed right after it uploaded and opened Analyse, and one closed in
  the middle of a 45 MB upload, leave the server healthy (``/_stcore/health``) and a new
  context analyses the sample.
"""

from __future__ import annotations

import math
import re
import time
import urllib.request

import pytest
from app_helpers import click, metrics, new_app, no_errors, upload
from sqlalchemy import Engine, event, func, select

from app import history
from signal_core.store import Store
from signal_core.store.schema import analyses, recordings
from tests.browser import UPLOAD, new_page, no_exception, wait_idle
from tests.pg_server import PgServer

SAMPLE = "202304_0521.atf"

pytestmark = pytest.mark.usefixtures("own_database")  # tests/conftest.py


# ------------------------------------------------------------------ the database goes away
@pytest.fixture()
def own_pg(pg_server):
    """A PostgreSQL server of this test alone (stopping the session's would break other tests)."""
    server = PgServer(pg_server.bin_dir).start()
    try:
        yield server
    finally:
        server.cleanup()


def rows(url: str) -> tuple[int, int]:
    """(analyses, recordings) in the whole database."""
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return (conn.execute(select(func.count()).select_from(analyses)).scalar_one(),
                    conn.execute(select(func.count()).select_from(recordings)).scalar_one())
    finally:
        store.close()


def stop_after_recording_insert(server: PgServer):
    """Stop ``server`` right after the save's INSERT INTO recordings (inside its transaction), once."""
    fired: list[str] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith("INSERT INTO RECORDINGS"):
            fired.append(statement)
            server.stop("fast")  # disconnects every client: the open transaction is rolled back

    event.listen(Engine, "after_cursor_execute", after)
    return after, fired


@pytest.mark.postgres
@pytest.mark.parametrize("when", ["during the save", "before the save"])
def test_database_gone_at_save_keeps_the_analysis_and_writes_nothing(own_pg, monkeypatch, sample_bytes, when):
    url = own_pg.new_database()
    monkeypatch.setenv("DATABASE_URL", url)
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    at.switch_page("pages/3_analyse.py").run()
    click(at, "Save to history")  # one analysis saved while all is well
    assert any("Saved as analysis #" in s.value for s in at.success), [e.value for e in at.error]
    before = rows(url)
    assert before == (1, 1)

    at.switch_page("pages/1_load.py").run()
    click(at, "demo")  # another recording: its save inserts a recording row, then an analysis row
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    shown = metrics(at)
    assert shown["Q_on (pC)"] not in ("", "—")

    if when == "during the save":
        hook, fired = stop_after_recording_insert(own_pg)
    else:
        own_pg.stop("fast")
    t0 = time.perf_counter()
    try:
        click(at, "Save to history")
    finally:
        if when == "during the save":
            event.remove(Engine, "after_cursor_execute", hook)
    took = time.perf_counter() - t0
    if when == "during the save":
        assert fired, "the save never reached INSERT INTO recordings"
    no_errors(at)
    assert not own_pg.running

    # the user is told, in the store's words, and the analysis stays on screen
    errors = [re.sub(r"\\(.)", r"\1", e.value.replace("\u2060", "")) for e in at.error]
    assert any(e.startswith("Not saved: the database is unavailable: ") for e in errors), errors
    assert not [s.value for s in at.success if "Saved as" in s.value]
    assert metrics(at) == shown
    assert at.get("plotly_chart"), "the figures are gone"
    assert took < 30, f"the failed save took {took:.1f} s"

    # other pages still work while the database is down
    for page in ("pages/1_load.py", "pages/4_help.py", "pages/3_analyse.py"):
        at.switch_page(page).run()
        no_errors(at)
    assert metrics(at) == shown

    # the server comes back: nothing half-written, and saving works again
    own_pg.start()
    assert rows(url) == before
    history._retry()
    click(at, "Save to history")
    no_errors(at)
    assert any("Saved as analysis #" in s.value for s in at.success), [e.value for e in at.error]
    assert rows(url) == (2, 2)


# ------------------------------------------------------------------ browsers that go away
def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as r:
        return r.status == 200 and r.read().strip() == b"ok"


def analyse_in_a_fresh_context(browser, url: str, sample_bytes: bytes) -> str:
    """Upload the sample in a new context, open Analyse, return the Q_on card's value."""
    ctx, pg = new_page(browser, 60_000)
    try:
        pg.goto(url)
        wait_idle(pg, 60_000)
        pg.locator(UPLOAD).set_input_files([{"name": SAMPLE, "mimeType": "text/plain", "buffer": sample_bytes}])
        pg.get_by_role("heading", name="1 file(s) loaded").wait_for()
        wait_idle(pg, 60_000)
        pg.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Analyse").click()
        card = pg.locator("[data-testid=stMetric]").filter(has_text="Q_on (pC)").locator(
            "[data-testid=stMetricValue]")
        card.wait_for()
        wait_idle(pg, 60_000)
        no_exception(pg)
        return card.inner_text().strip()
    finally:
        ctx.close()


@pytest.mark.browser
def test_browser_closed_mid_analysis_leaves_the_server_healthy(browser, app_server, sample_bytes):
    for _ in range(3):
        ctx, pg = new_page(browser, 60_000)
        pg.goto(app_server)
        wait_idle(pg, 60_000)
        pg.locator(UPLOAD).set_input_files([{"name": SAMPLE, "mimeType": "text/plain", "buffer": sample_bytes}])
        pg.get_by_role("heading", name="1 file(s) loaded").wait_for()
        pg.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Analyse").click()
        ctx.close()  # at once: the Analyse run is under way or about to start
    time.sleep(1.0)
    assert healthy(app_server)
    assert math.isfinite(float(analyse_in_a_fresh_context(browser, app_server, sample_bytes).replace("−", "-")))


@pytest.mark.browser
def test_cancelled_upload_leaves_the_server_healthy(browser, app_server, sample_bytes, tmp_path):
    big = tmp_path / "big.atf"  # a path: Chromium reads it itself (a buffer would cross Playwright's pipe)
    big.write_bytes(sample_bytes * (45 * 2**20 // len(sample_bytes)))  # under the limit, long to send
    started: list[str] = []
    for wait_ms in (0, 150, 600):
        ctx, pg = new_page(browser, 60_000)
        pg.goto(app_server)
        wait_idle(pg, 60_000)
        pg.on("request", lambda req, s=started: s.append(req.method) if "/_stcore/upload_file/" in req.url else None)
        pg.locator(UPLOAD).set_input_files(big)
        pg.wait_for_timeout(wait_ms)
        ctx.close()  # the upload is cut off (or the file is read while nobody is there)
    assert "PUT" in started
    time.sleep(1.0)
    assert healthy(app_server)
    assert math.isfinite(float(analyse_in_a_fresh_context(browser, app_server, sample_bytes).replace("−", "-")))


# ------------------------------------------------------------------ many sessions: downloads outlive other runs
def _manager_with_a_download(execute):
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    storage = MemoryMediaFileStorage("/media")
    mgr = MediaFileManager(storage)
    fid = mgr.add_deferred(lambda: b"PK workbook", "application/octet-stream", "coord-1", file_name="a.xlsx")
    url = execute(mgr, fid)
    actual = url.rsplit("/", 1)[1].split(".", 1)[0]
    return mgr, storage, actual


def _exists(storage, file_id: str) -> bool:
    from streamlit.runtime.media_file_storage import MediaFileStorageError

    try:
        storage.get_file(file_id)
        return True
    except MediaFileStorageError:
        return False


def test_a_generated_download_outlives_other_sessions_runs():
    """Found by bench/bench_load.py: with 10 users, 404 /media/<id>.xlsx for some workbook downloads."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    from app import streamlit_fixes

    assert streamlit_fixes.keep_deferred_downloads()
    assert streamlit_fixes.keep_deferred_downloads()  # once
    original = streamlit_fixes.original_execute_deferred()
    assert original is not None and MediaFileManager.execute_deferred is not original

    # Streamlit alone: two other sessions finishing a run delete the file before the browser fetches it
    mgr, storage, actual = _manager_with_a_download(original)
    mgr.remove_orphaned_files()
    mgr.remove_orphaned_files()
    assert not _exists(storage, actual)

    # patched: kept for the session that asked for it ...
    mgr, storage, actual = _manager_with_a_download(MediaFileManager.execute_deferred)
    for _ in range(5):
        mgr.remove_orphaned_files()
    assert _exists(storage, actual)
    assert storage.get_file(actual).content == b"PK workbook"
    # ... until that session's next run (or its end); then swept as usual: nothing accumulates
    mgr.clear_session_refs(next(iter(mgr._files_by_session_and_coord)))
    mgr.remove_orphaned_files()
    mgr.remove_orphaned_files()
    assert not _exists(storage, actual)
