"""Keep Streamlit's garbage collection after every script run cheap (found by the load test).

Streamlit runs a full ``gc.collect(2)`` at the end of every script run of every session
(``runner.postScriptGC``, on by default, so that memory does not build up between runs).  Once
numpy, SciPy, pandas, Plotly, SQLAlchemy and the app are imported, a full collection walks some
200,000 long-lived objects -- module dictionaries, functions, classes -- that can never become
garbage: about 50 ms per run on the development machine, a fifth of the server's CPU with ten
users at once (``bench/bench_load.py`` sampled with py-spy).

:func:`freeze_startup_heap` imports every module of the app (all pages' dependencies, which
would otherwise be imported on the first visit of each page) and then moves every object alive
at that moment into the collector's permanent generation (:func:`gc.freeze`, the technique
CPython documents for pre-fork servers).  Later collections skip them; objects created by the
sessions -- recordings, analyses, figures -- are collected exactly as before.  Reference counting
is not affected: frozen objects are still freed when their last reference goes; only frozen
reference cycles stay for the life of the process -- the first session's own objects alive at that
moment (it has just connected and holds no recording yet).
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import threading

__all__ = ["freeze_startup_heap"]

_lock = threading.Lock()
_frozen = False


def freeze_startup_heap() -> bool:
    """Import the whole app, then ``gc.freeze()`` what is alive; once per process.

    Returns
    -------
    bool
        True on the call that froze the heap, False when an earlier call already did.
    """
    global _frozen
    with _lock:
        if _frozen:
            return False
        package = importlib.import_module(__package__ or "app")
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
            importlib.import_module(info.name)
        gc.collect()  # what is garbage already is freed, not frozen
        gc.freeze()
        _frozen = True
        return True
