"""Files in, rows out: the one path from a recording on disk to JSON-ready numbers.

The CLI, the app's set page and parallel workers all go through
:func:`analyze_file` so that every front end reports the same numbers for the
same file and recipe.
"""

from __future__ import annotations

import os
from pathlib import Path

from signal_core.analysis.pipeline import ChargeResult, SweepFailure, analyze_recording
from signal_core.io.read import RecordingFormatError, read_recording
from signal_core.params import AnalysisParams
from signal_core.quantities import QUANTITIES
from signal_core.recording import Recording
from signal_core.values import clean_json

__all__ = ["ROW_KEYS", "analyze_file", "error_row", "result_row"]

#: Keys of every row, in order: file, sweep (1-based), the numbers of
#: :data:`signal_core.quantities.QUANTITIES` (units in the keys), flags (messages), flag_codes (their stable
#: codes from :data:`signal_core.flags.FLAG_KINDS`, in the same order), error.
ROW_KEYS: tuple[str, ...] = ("file", "sweep", *(q.key for q in QUANTITIES), "flags", "flag_codes", "error")


def error_row(file: str, sweep: int | None, error: str) -> dict:
    """A row (keys :data:`ROW_KEYS`) for a file or sweep (1-based; None: the whole file) that gave no result."""
    row: dict = dict.fromkeys(ROW_KEYS)
    row.update(file=file, sweep=sweep, flags=[], flag_codes=[], error=error)
    return row


def result_row(file: str, outcome: ChargeResult | SweepFailure) -> dict:
    """One JSON-ready row (keys :data:`ROW_KEYS`) for a sweep's result or failure (sweep 1-based)."""
    if isinstance(outcome, SweepFailure):
        return error_row(file, outcome.sweep + 1, outcome.error)
    row: dict = {"file": file, "sweep": outcome.sweep + 1, **outcome.scalars()}
    row["flags"] = [f.message for f in outcome.flags]
    row["flag_codes"] = [f.code for f in outcome.flags]
    row["error"] = None
    return clean_json({k: row.get(k) for k in ROW_KEYS})  # type: ignore[return-value]


def analyze_file(
    path: str | os.PathLike, params: AnalysisParams, *, fs_hz: float | None = None
) -> tuple[Recording | None, list[ChargeResult | SweepFailure], list[dict]]:
    """Read and analyse one file; a file that cannot be read gives one row with its error.

    Returns
    -------
    (recording or None, outcomes, rows)
    """
    file = os.fspath(path)
    try:
        rec = read_recording(Path(file), fs_hz=fs_hz)
    except RecordingFormatError as exc:
        return None, [], [error_row(file, None, f"{Path(file).name}: {exc}")]
    except OSError as exc:
        return None, [], [error_row(file, None, f"{file}: cannot be opened ({exc.strerror or exc})")]
    outcomes = analyze_recording(rec, params)
    return rec, outcomes, [result_row(file, o) for o in outcomes]
