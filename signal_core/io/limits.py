"""Size limits: the upload limit and the memory budget of one parsed recording.

Two numbers protect a server with little memory (DOMAIN.md, issue 7):

- :data:`MAX_UPLOAD_BYTES` (50 MB, the app's ``server.maxUploadSize``): bytes handed to
  :func:`signal_core.io.read.read_recording` beyond it are refused before anything else.
- the recording budget: the readers estimate the parsed size from the file's header *before*
  parsing (ATF: data bytes divided by the bytes of a row measured on the first and last rows,
  times the columns of line 2; ABF: sweeps x channels x samples from the header) and refuse a
  recording that would need more.  It derives from the process budget (issue 16):
  ``SIGNAL_ANALYZER_MEMORY_MB`` (default :data:`DEFAULT_MEMORY_MB` = 480 MB, a 512 MB dyno less
  the interpreter's slack) times :data:`RECORDING_SHARE` (0.3): **144 MB of samples per
  recording** on a 512 MB dyno: 18.9 M float64 values (text: ATF), or 37.7 M float32 values from
  a 16-bit source (ABF, stored as float32: :data:`BYTES_PER_VALUE_16BIT`).  Reading an ATF peaks
  at about 2.3x its samples (the text beside the result: ``app/memory.py`` measures it), 331 MB,
  which with the ~150 MB of an idle server stays under 480 MB; an ABF at 1.2-1.6x (it is scaled
  a block at a time).  Two at once are the app's governor's to queue.  The dense 49 MB ATF (15 M
  values, 115 MB) fits.  ``SIGNAL_ANALYZER_MAX_RECORDING_MB`` still sets the recording budget
  directly when given.

The upload limit is 50 MB as Streamlit's server counts it (50 x 2**20 = 52,428,800 bytes); the
uploader in browsers off Windows counts 50 x 10**6 and refuses files over 50,000,000 bytes, so
50,000,000 bytes is what every browser can send (``docs/operations.md``); the CLI and the API
accept up to 52,428,800.

Both refusals are a :class:`RecordingTooLargeError`, part of
:class:`signal_core.errors.RecordingFormatError`.
"""

from __future__ import annotations

import math
import os

from signal_core.errors import RecordingFormatError

__all__ = [
    "BROWSER_UPLOAD_BYTES",
    "BYTES_PER_VALUE",
    "BYTES_PER_VALUE_16BIT",
    "DEFAULT_MAX_RECORDING_MB",
    "DEFAULT_MEMORY_MB",
    "ENV_MAX_RECORDING_MB",
    "ENV_MEMORY_MB",
    "MAX_UPLOAD_BYTES",
    "RECORDING_SHARE",
    "RecordingTooLargeError",
    "check_recording_values",
    "check_upload_size",
    "estimate_rows",
    "max_recording_bytes",
    "process_budget_bytes",
]

MB = 2**20
#: the app's upload limit (``.streamlit/config.toml``: ``maxUploadSize = 50``), in bytes
MAX_UPLOAD_BYTES = 50 * MB
#: what every browser uploads: Streamlit's uploader off Windows counts 50 MB as 50 x 10**6 bytes
BROWSER_UPLOAD_BYTES = 50_000_000
#: environment variable: the memory budget of the whole process in MB (a positive number; else the default)
ENV_MEMORY_MB = "SIGNAL_ANALYZER_MEMORY_MB"
#: default process budget (MB): a 512 MB dyno less room for the interpreter's own slack
DEFAULT_MEMORY_MB = 480.0
#: share of the process budget one parsed recording may take (its parse peaks at ~2.3x that)
RECORDING_SHARE = 0.3
#: default memory budget of one parsed recording (MB of float64 samples): 144 MB on a 512 MB dyno
DEFAULT_MAX_RECORDING_MB = DEFAULT_MEMORY_MB * RECORDING_SHARE
#: environment variable that sets the recording budget in MB directly (a positive number; else derived)
ENV_MAX_RECORDING_MB = "SIGNAL_ANALYZER_MAX_RECORDING_MB"
#: bytes of one sample held as a float64 (text sources: ATF)
BYTES_PER_VALUE = 8
#: bytes of one sample of a 16-bit source (ABF), held as a float32 (:class:`signal_core.recording.Recording`)
BYTES_PER_VALUE_16BIT = 4


class RecordingTooLargeError(RecordingFormatError):
    """A file larger than the upload limit or a recording larger than the memory budget."""


def _mb(n_bytes: float) -> str:
    """MB with 3 significant digits below 10 MB (0.0195, 2.5), whole MB above (1,234)."""
    return f"{n_bytes / MB:.3g}" if n_bytes < 10 * MB else f"{n_bytes / MB:,.0f}"


def _env_mb(name: str) -> float | None:
    """A positive, finite number of MB from the environment variable ``name``, else None."""
    text = os.environ.get(name, "").strip()
    try:
        mb = float(text) if text else math.nan
    except ValueError:
        return None
    return mb if math.isfinite(mb) and mb > 0 else None


def process_budget_bytes() -> int:
    """The memory budget of the whole server process (bytes): ``SIGNAL_ANALYZER_MEMORY_MB``, default 480 MB."""
    return int((_env_mb(ENV_MEMORY_MB) or DEFAULT_MEMORY_MB) * MB)


def max_recording_bytes() -> int:
    """The memory budget of one parsed recording (bytes), read from the environment on every call.

    ``SIGNAL_ANALYZER_MAX_RECORDING_MB`` when set; otherwise :data:`RECORDING_SHARE` of
    :func:`process_budget_bytes` (144 MB of the default 480 MB).
    """
    direct = _env_mb(ENV_MAX_RECORDING_MB)
    if direct is not None:
        return int(direct * MB)
    return int(process_budget_bytes() * RECORDING_SHARE)


def check_upload_size(n_bytes: int, name: str = "") -> None:
    """Refuse more than :data:`MAX_UPLOAD_BYTES`, naming the limit in MB."""
    if n_bytes > MAX_UPLOAD_BYTES:
        who = f"{name} is" if name else "the file is"
        raise RecordingTooLargeError(
            f"{who} {_mb(n_bytes)} MB ({n_bytes:,} bytes), more than the upload limit of "
            f"{MAX_UPLOAD_BYTES // MB} MB ({MAX_UPLOAD_BYTES:,} bytes): "
            "split the recording into smaller files (e.g. fewer sweeps per file)"
        )


def check_recording_values(n_values: int, what: str, bytes_per_value: int = BYTES_PER_VALUE) -> None:
    """Refuse a recording of ``n_values`` samples when their size in memory exceeds the budget.

    ``what`` says where the count comes from (e.g. "about 120,000 rows x 9 columns");
    ``bytes_per_value`` is how the samples are held: :data:`BYTES_PER_VALUE` (8, float64) or
    :data:`BYTES_PER_VALUE_16BIT` (4, float32 from a 16-bit source).
    """
    need = int(n_values) * int(bytes_per_value)
    budget = max_recording_bytes()
    if need > budget:
        raise RecordingTooLargeError(
            f"the recording would need about {_mb(need)} MB of memory once read ({what}), more than the "
            f"budget of {_mb(budget)} MB per recording (set by {ENV_MAX_RECORDING_MB}, or "
            f"{RECORDING_SHARE:g} x {ENV_MEMORY_MB}): "
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
