"""A work-around for Streamlit 1.67 found by the load test (``bench/bench_load.py``, issue 7).

Deferred downloads (``st.download_button(data=callable)``, every download of this app): on the
click Streamlit runs the callable, stores the bytes as a media file and sends its URL to the
browser, which then fetches it.  That file is deliberately not mapped to the session, so
``MediaFileManager.remove_orphaned_files`` -- which runs at the end of every script run of
*every* session -- marks it at its first sweep and deletes it at the second.  With one user the
browser is always faster; with ten users at once two other sessions often finish a run in
between, the browser gets ``404 /media/<id>.xlsx`` and the download fails ("canceled").

:func:`keep_deferred_downloads` wraps ``MediaFileManager.execute_deferred`` so the generated
file is also mapped to the session that asked for it (under a coordinate of its own): it then
lives until that session's next run starts (``clear_session_refs``) or the session ends, and
is swept as usual after that.  Repeated clicks still run the callable again (a new file
replaces the mapping).  Anything unexpected in Streamlit's internals leaves its behaviour
unchanged (logged once); ``tests/test_faults.py`` checks the patch on the pinned version.

Locked sessions (issue 16, item 4).  With ``APP_PASSWORD`` set, a session that has not typed it
could still ``PUT`` files to ``/_stcore/upload_file/<its session>/<id>`` with its XSRF cookie, and
Streamlit kept them in memory until the session ended.  :func:`guard_locked_sessions` wraps
``Runtime.is_active_session`` -- which the upload route asks before it reads a byte of the body,
and which nothing else calls -- so that a session counts as active for uploads only after one of
its script runs passed the password gate (:func:`allow_uploads`, called by
``app.history.unlocked``).  A refused upload gets Streamlit's ``400 Invalid session_id`` and
nothing is stored.  Without a password every session passes the gate in its first run, before
its page shows an uploader.  A session past the gate is still refused (``503``, before the body is
read) when an upload of the largest allowed size would take the process past its memory budget
(:func:`app.memory.upload_allowed`).  The same call switches ``/_stcore/metrics`` off (``404``): the
endpoint has no session, so it cannot be put behind the password.

Upload names (issue 16, item 10).  Streamlit re-checks an uploaded file's name on every rerun of
its session and raises on a NUL ("Filename cannot contain null bytes") *before* the script runs:
every later run of that session failed with the generic error page.  The upload route's multipart
parser (python-multipart) refuses a part header over 4,224 bytes, so names over ~4,100 characters
failed with ``400`` and the app never heard of them.  :func:`keep_odd_upload_names` stores a NUL in
a name as U+FFFD (and keeps the name as sent for :func:`upload_name`: the app cleans it with
``signal_core.names.clean_name`` and says what changed, see ``app.state.on_upload``) and lets a part header
reach :data:`MAX_PART_HEADER_BYTES`, so the app can shorten the name itself and say so.

The first run of a process (issue 16, found with the protocol client).  An app with a ``pages/``
folder starts in Streamlit's multipage "v1" mode: until some run calls ``st.navigation``, a run that
asks for a page path (``/history``) executes ``pages/5_history.py`` *instead of* the entry script --
without the password gate.  Only the first session of a fresh process can hit it (Heroku restarts
every dyno daily).  :func:`main_script_first`, called when the ``app`` package is first imported
(every page imports it), ends v1 mode and reruns, so that run starts again at ``streamlit_app.py``.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import PurePosixPath
from urllib.parse import urlparse

__all__ = [
    "COORDINATE_PREFIX",
    "allow_uploads",
    "guard_locked_sessions",
    "MAX_PART_HEADER_BYTES",
    "keep_deferred_downloads",
    "keep_odd_upload_names",
    "main_script_first",
    "original_execute_deferred",
    "upload_name",
    "uploads_allowed",
]

logger = logging.getLogger("signal_analyzer.app")

#: the session coordinate under which a generated download is kept
COORDINATE_PREFIX = "signal-analyzer:deferred-download:"

_lock = threading.Lock()
_original = None
_warned = False


def original_execute_deferred():
    """Streamlit's own ``execute_deferred`` (None before :func:`keep_deferred_downloads`)."""
    return _original


def _keep(manager, file_id: str, session_id: str | None, url: str) -> None:
    global _warned
    try:
        actual = PurePosixPath(urlparse(url).path).name.split(".", 1)[0]
        with manager._lock:
            if session_id and actual in manager._file_metadata:
                manager._files_by_session_and_coord[session_id][COORDINATE_PREFIX + file_id] = actual
    except Exception:  # noqa: BLE001 - Streamlit's internals changed: keep its behaviour, say so once
        if not _warned:
            _warned = True
            logger.warning("deferred downloads are not kept for their session (Streamlit changed)",
                           exc_info=True)


def keep_deferred_downloads() -> bool:
    """Patch ``MediaFileManager.execute_deferred`` once per process; True when it is in place."""
    global _original
    with _lock:
        if _original is not None:
            return True
        try:
            from streamlit.runtime.media_file_manager import MediaFileManager
        except ImportError:
            return False
        original = getattr(MediaFileManager, "execute_deferred", None)
        if original is None:
            return False

        def execute_deferred(self, file_id: str) -> str:
            try:
                with self._lock:
                    entry = self._deferred_callables.get(file_id)
                session_id = entry.get("session_id") if entry else None
            except Exception:  # noqa: BLE001 - see _keep
                session_id = None
            url = original(self, file_id)
            _keep(self, file_id, session_id, url)
            return url

        execute_deferred.__doc__ = original.__doc__
        MediaFileManager.execute_deferred = execute_deferred
        _original = original
        return True


# ------------------------------------------------------------------ locked sessions: no uploads, no metrics
_gate_lock = threading.Lock()
_allowed_sessions: set[str] = set()
_original_is_active = None


def uploads_allowed(session_id: str) -> bool:
    """Whether ``session_id`` passed the password gate in one of its runs (see :func:`allow_uploads`)."""
    with _gate_lock:
        return session_id in _allowed_sessions


def allow_uploads(session_id: str | None = None) -> None:
    """Let a session upload: call it once its run has passed the password gate.

    ``session_id`` defaults to the session of the running script.  Sessions that have ended are
    forgotten at the same time, so the set holds at most the sessions alive now.
    """
    if session_id is None:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is None:
            return
        session_id = ctx.session_id
    with _gate_lock:
        if session_id in _allowed_sessions:
            return
        _allowed_sessions.add(session_id)
        if _original_is_active is None or len(_allowed_sessions) < 64:
            return
        try:
            from streamlit.runtime import Runtime

            runtime = Runtime.instance()
        except RuntimeError:  # no server (AppTest): nothing to prune against
            return
        ended = {s for s in _allowed_sessions if s != session_id and not _original_is_active(runtime, s)}
        _allowed_sessions.difference_update(ended)


#: memory an upload needs while the route reads it, per byte of the upload
UPLOAD_READ_FACTOR = 2


def _content_length(frame) -> int | None:
    """The Content-Length of the upload request being handled (the upload route, our caller, has it
    as its local ``request``); None when it is not there (another caller, a chunked upload)."""
    request = frame.f_locals.get("request") if frame is not None else None
    headers = getattr(request, "headers", None)
    try:
        return int(headers.get("content-length")) if headers is not None else None
    except (TypeError, ValueError):
        return None


def _refuse_upload_without_memory(session_id: str, content_length: int | None) -> None:
    """HTTP 503 before the body is read when the upload (its Content-Length, else the largest allowed
    size) would pass the process's memory budget (``app.memory``; the caches give way first)."""
    from starlette.exceptions import HTTPException
    from streamlit import config

    from app import memory

    max_bytes = int(config.get_option("server.maxUploadSize")) * 2**20
    size = min(content_length, max_bytes) if content_length is not None and content_length >= 0 else max_bytes
    # twice the size: while the route reads the body its bytes exist twice for a moment (measured: five
    # 49 MB uploads at once took the RSS 98 MB above what they kept)
    if not memory.reserve_upload(session_id, UPLOAD_READ_FACTOR * size):
        logger.warning("upload refused: the server is short of memory (RSS %.0f MB)", memory.rss_bytes() / 2**20)
        raise HTTPException(status_code=503, detail="The server is short of memory right now: try again in a "
                                                    "minute (other users share this server).")


def _metrics_off(self) -> list[str]:
    from starlette.exceptions import HTTPException

    raise HTTPException(status_code=404, detail="Not Found")


def guard_locked_sessions() -> bool:
    """Patch Streamlit once per process: uploads only from sessions past the gate; metrics off.

    Returns True when both patches are in place (False when Streamlit's internals changed; its
    behaviour is then unchanged and a warning is logged).
    """
    global _original_is_active
    with _gate_lock:
        if _original_is_active is not None:
            return True
        try:
            from streamlit.runtime import Runtime
            from streamlit.runtime.stats import StatsManager
        except ImportError:
            logger.warning("locked sessions are not kept from uploading (Streamlit changed)")
            return False
        original = getattr(Runtime, "is_active_session", None)
        if original is None or not hasattr(StatsManager, "registered_families"):
            logger.warning("locked sessions are not kept from uploading (Streamlit changed)")
            return False

        def is_active_session(self, session_id: str) -> bool:
            if not original(self, session_id):
                return False
            if not uploads_allowed(session_id):
                logger.warning("upload refused: session %.8s… has not passed the password gate", session_id)
                return False
            _refuse_upload_without_memory(session_id, _content_length(sys._getframe(1)))
            return True

        is_active_session.__doc__ = original.__doc__
        Runtime.is_active_session = is_active_session
        StatsManager.registered_families = _metrics_off
        _original_is_active = original
        return True


def main_script_first() -> None:
    """In the first run of a process, leave Streamlit's ``pages/``-folder mode and rerun (see above).

    A no-op outside a script run, and in every later run (``st.navigation`` ended that mode).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        logger.warning("cannot check Streamlit's pages/ folder mode (Streamlit changed)")
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        import streamlit as st

        PagesManager.uses_pages_directory = False
        st.rerun()


#: the longest multipart part header the upload route accepts (bytes): a file name of ~60,000 characters
MAX_PART_HEADER_BYTES = 64 * 1024
_names_patched = False
#: upload file id -> the name as sent, for names the route had to change (a NUL); read once by the app
_route_names: dict[str, str] = {}


def upload_name(file_id: str | None, stored: str) -> str:
    """The name an upload was sent with: ``stored`` unless the route changed it (then the original, once)."""
    with _gate_lock:
        return _route_names.pop(file_id, stored) if file_id else stored


def keep_odd_upload_names() -> bool:
    """Patch once per process: NUL in an upload name stored as U+FFFD; long names reach the app (see above).

    Returns True when both patches are in place.
    """
    global _names_patched
    with _gate_lock:
        if _names_patched:
            return True
        try:
            import python_multipart
            from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
        except ImportError:
            logger.warning("odd upload names are not handled (Streamlit or python-multipart changed)")
            return False
        add_file = MemoryUploadedFileManager.add_file
        parser_init = python_multipart.MultipartParser.__init__

        def add_file_without_nul(self, session_id: str, file) -> None:
            from app import memory

            if "\0" in (file.name or ""):
                with _gate_lock:
                    _route_names[file.file_id] = file.name
                    while len(_route_names) > 256:
                        _route_names.pop(next(iter(_route_names)))
                file = file._replace(name=file.name.replace("\0", "\ufffd"))
            try:
                return add_file(self, session_id, file)
            finally:
                memory.upload_arrived(session_id)  # the route's reservation ends: the bytes are in the RSS now

        def init_with_long_headers(self, boundary, callbacks=None, max_size=float("inf"), *,
                                   max_header_count: int = 8, max_header_size: int = MAX_PART_HEADER_BYTES):
            parser_init(self, boundary, callbacks, max_size, max_header_count=max_header_count,
                        max_header_size=max(max_header_size, MAX_PART_HEADER_BYTES))

        MemoryUploadedFileManager.add_file = add_file_without_nul
        python_multipart.MultipartParser.__init__ = init_with_long_headers
        _names_patched = True
        return True
