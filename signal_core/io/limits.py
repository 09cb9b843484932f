"""Size limits: the upload limit and the memory budget of one parsed recording.

Two numbers protect a server with little memory (DOMAIN.md, issue 7):

- :data:`MAX_UPLOAD_BYTES` (50 MB, the app's ``server.maxUploadSize``): bytes handed to
  :func:`signal_core.io.read.read_recording` beyond it are refused before anything else.
- the recording budget (default :data:`DEFAULT_MAX_RECORDING_MB` = 400 MB of float64,
  ``SIGNAL_ANALYZER_MAX_RECORDING_MB`` in the environment changes it): the readers
  estimate the parsed size from the file's header *before* parsing (ATF: data bytes
  divided by the bytes of a row measured on the first and last rows, times the columns
  of line 2; ABF: sweeps x channels x samples from pyABF's header) and refuse a
  recording that would need more.

Both refusals are a :class:`RecordingTooLargeError`, part of
:class:`signal_core.errors.RecordingFormatError`.
"""

from __future__ import annotations

import math
import os

from signal_core.errors import RecordingFormatError

__all__ = [
    "BYTES_PER_VALUE",
    "DEFAULT_MAX_RECORDING_MB",
    "ENV_MAX_RECORDING_MB",
    "MAX_UPLOAD_BYTES",
    "RecordingTooLargeError",
    "check_recording_values",
    "check_upload_size",
    "estimate_rows",
    "max_recording_bytes",
]

MB = 2**20
#: the app's upload limit (``.streamlit/config.toml``: ``maxUploadSize = 50``), in bytes
MAX_UPLOAD_BYTES = 50 * MB
#: default memory budget of one parsed recording (MB of float64 samples)
DEFAULT_MAX_RECORDING_MB = 400.0
#: environment variable that sets the budget in MB (a positive number; anything else is ignored)
ENV_MAX_RECORDING_MB = "SIGNAL_ANALYZER_MAX_RECORDING_MB"
#: every sample is held as a float64
BYTES_PER_VALUE = 8


class RecordingTooLargeError(RecordingFormatError):
    """A file larger than the upload limit or a recording larger than the memory budget."""


def _mb(n_bytes: float) -> str:
    """MB with 3 significant digits below 10 MB (0.0195, 2.5), whole MB above (1,234)."""
    return f"{n_bytes / MB:.3g}" if n_bytes < 10 * MB else f"{n_bytes / MB:,.0f}"


def max_recording_bytes() -> int:
    """The memory budget of one parsed recording (bytes), read from the environment on every call."""
    text = os.environ.get(ENV_MAX_RECORDING_MB, "").strip()
    try:
        mb = float(text) if text else DEFAULT_MAX_RECORDING_MB
    except ValueError:
        mb = DEFAULT_MAX_RECORDING_MB
    if not (math.isfinite(mb) and mb > 0):
        mb = DEFAULT_MAX_RECORDING_MB
    return int(mb * MB)


def check_upload_size(n_bytes: int, name: str = "") -> None:
    """Refuse more than :data:`MAX_UPLOAD_BYTES`, naming the limit in MB."""
    if n_bytes > MAX_UPLOAD_BYTES:
        who = f"{name} is" if name else "the file is"
        raise RecordingTooLargeError(
            f"{who} {_mb(n_bytes)} MB ({n_bytes:,} bytes), more than the upload limit of "
            f"{MAX_UPLOAD_BYTES // MB} MB ({MAX_UPLOAD_BYTES:,} bytes): "
            "split the recording into smaller files (e.g. fewer sweeps per file)"
        )


def check_recording_values(n_values: int, what: str) -> None:
    """Refuse a recording of ``n_values`` samples when its float64 size exceeds the budget.

    ``what`` says where the count comes from (e.g. "about 120,000 rows x 9 columns").
    """
    need = int(n_values) * BYTES_PER_VALUE
    budget = max_recording_bytes()
    if need > budget:
        raise RecordingTooLargeError(
            f"the recording would need about {_mb(need)} MB of memory once read ({what}), more than the "
            f"budget of {_mb(budget)} MB per recording (set by {ENV_MAX_RECORDING_MB}): "
            "it was not read; split it into smaller files"
        )


def _rows_in(chunk: bytes, *, skip_first: bool) -> tuple[int, int]:
    """(complete rows, their bytes) in ``chunk``; ``skip_first`` drops a partial first line."""
    start = 0
    if skip_first:
        nl = chunk.find(b"\n")
        if nl < 0:
            return 0, 0
        start = nl + 1
    end = chunk.rfind(b"\n")
    if end < start:
        return 0, 0
    return chunk.count(b"\n", start, end + 1), end + 1 - start


def estimate_rows(head: bytes, tail: bytes, body_bytes: int) -> int:
    """Rows of a text data section of ``body_bytes`` bytes, from its first and last bytes.

    Parameters
    ----------
    head : bytes
        The start of the data section (complete rows are counted; at least a few KB).
    tail : bytes
        Its last bytes (the partial first line is skipped); may be empty.
    body_bytes : int
        Size of the whole data section (bytes).

    Returns
    -------
    int
        ``body_bytes`` divided by the mean bytes per row measured at both ends: an estimate,
        exact when every row has the same length.  A section whose first row does not fit in
        ``head`` counts as ``body_bytes / len(head)`` rows (at least 1).
    """
    rows_h, bytes_h = _rows_in(head, skip_first=False)
    rows_t, bytes_t = _rows_in(tail, skip_first=True)
    rows, size = rows_h + rows_t, bytes_h + bytes_t
    if rows == 0:
        return max(1, body_bytes // max(len(head), 1))
    return max(1, round(body_bytes * rows / size))
