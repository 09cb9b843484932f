"""Files the pages offer for download, built only when the user clicks (``data=callable``).

The callables run outside the script (Streamlit calls them on the click), so they use no
Streamlit API: everything they need is bound when the page is drawn.  Failures are logged
with the traceback and re-raised; the page never shows a traceback.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from signal_core import export
from signal_core.analysis.pipeline import ChargeResult, analyze_recording
from signal_core.io.read import RecordingFormatError, read_recording
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


def safe_stem(name: str, default: str = "recording") -> str:
    """A file-name stem made of letters, digits, ``._-`` only (the user's name is untrusted)."""
    stem = re.sub(r"\.(atf|abf|txt)$", "", str(name), flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return stem[:80] or default


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


def trace_csv(t_s: np.ndarray, raw_pA: np.ndarray, filtered_pA: np.ndarray | None,
              voltage_mV: np.ndarray | None, *, header: Sequence[str] = ()) -> bytes:
    """One sweep as CSV: t_ms, raw current, filtered current, voltage (full rate, UTF-8).

    ``header`` lines are written first as ``# ...`` comments (file, SHA-256, filter chain).
    """
    cols = [np.asarray(t_s, dtype=np.float64) * 1e3, np.asarray(raw_pA, dtype=np.float64)]
    names = ["t_ms", "i_raw_pA"]
    if filtered_pA is not None:
        cols.append(np.asarray(filtered_pA, dtype=np.float64))
        names.append("i_filtered_pA")
    if voltage_mV is not None:
        cols.append(np.asarray(voltage_mV, dtype=np.float64))
        names.append("v_mV")
    buf = io.StringIO()
    for line in header:
        buf.write("# " + " ".join(str(line).split()) + "\n")
    buf.write(",".join(names) + "\n")
    np.savetxt(buf, np.column_stack(cols), delimiter=",", fmt=["%.6f"] + ["%.6g"] * (len(cols) - 1))
    return buf.getvalue().encode("utf-8")
