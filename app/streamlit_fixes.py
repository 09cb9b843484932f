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
"""

from __future__ import annotations

import logging
import threading
from pathlib import PurePosixPath
from urllib.parse import urlparse

__all__ = ["COORDINATE_PREFIX", "keep_deferred_downloads", "original_execute_deferred"]

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
