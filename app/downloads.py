"""Files the pages offer for download, built only when the user clicks (``data=callable``).

The callables run outside the script (Streamlit calls them on the click), so they use no
Streamlit API: everything they need is bound when the page is drawn.  Failures are logged
with the traceback and re-raised; the page never shows a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from signal_core import export
from signal_core.analysis.pipeline import ChargeResult, analyze_recording
from signal_core.errors import RecordingFormatError
from signal_core.export import safe_stem, trace_csv  # the pages' builders, kept here by name
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.recording import RecordingError

__all__ = [
    "CSV_MIME",
    "JSON_MIME",
    "XLSX_MIME",
    "batch",
    "entry",
    "logged",
    "safe_stem",
    "trace_csv",
]

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
JSON_MIME = "application/json"

logger = logging.getLogger(__name__)


def logged(build: Callable[[], bytes], what: str) -> Callable[[], bytes]:
    """Wrap a builder so a failure is logged with its traceback before it propagates."""

    def run() -> bytes:
        try:
            return build()
        except Exception:
            logger.exception("building the download %s failed", what)
            raise

    return run


def entry(name: str, sha256: str, size: int, result: ChargeResult):
    """The export's ``ExportEntry`` for one analysed sweep."""
    return export.ExportEntry(file_name=name, sha256=sha256, size_bytes=size, result=result)


def batch(files: Iterable, params: AnalysisParams) -> tuple[list, list]:
    """Analyse every sweep of every file with one recipe: (export entries, failures).

    A file that cannot be read or a sweep that cannot be analysed becomes a failure
    ``(file, sweep 1-based or None for the whole file, reason)``; the others go on.
    """
    entries: list = []
    failures: list = []
    for lf in files:
        try:
            rec = read_recording(lf.data, name=lf.name)
        except (RecordingFormatError, RecordingError) as exc:
            failures.append((lf.name, None, str(exc)))  # the whole file
            continue
        got, failed = export.split_outcomes(lf.name, lf.sha256, lf.size, analyze_recording(rec, params))
        entries += got
        failures += failed
    return entries, failures


