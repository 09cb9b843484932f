"""Files in, rows out: the one path from a recording to JSON-ready numbers.

:func:`analyze_source` owns the per-file rule: read the file (a path, an upload's name and bytes,
or a recording already read), choose its V2 (set by hand, or from the file name where neither the
recording nor the recipe gives one: :func:`implicit_v2`), analyse every sweep, and turn a file that
cannot be read or runs out of memory into one error row naming the file.  The command line
(:func:`signal_core.parallel.analyze_files` in this process, in worker processes or on a Dask
cluster) and the app's Q-V sets page call it, so every front end reports the same numbers, float
for float, for the same file, recipe and V2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from signal_core.analysis.pipeline import ChargeResult, SweepFailure, analyze_recording
from signal_core.errors import RecordingFormatError
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.protocol.filenames import parse_filename
from signal_core.quantities import QUANTITIES
from signal_core.recording import Recording
from signal_core.values import clean_json

__all__ = ["NO_MEMORY", "ROW_KEYS", "FileAnalysis", "Source", "analyze_file", "analyze_source", "error_row",
           "implicit_v2", "result_row"]

#: Keys of every row, in order: file, sweep (1-based), the numbers of
#: :data:`signal_core.quantities.QUANTITIES` (units in the keys), flags (messages), flag_codes (their stable
#: codes from :data:`signal_core.flags.FLAG_KINDS`, in the same order), error.
ROW_KEYS: tuple[str, ...] = ("file", "sweep", *(q.key for q in QUANTITIES), "flags", "flag_codes", "error")
#: The error of a file whose analysis ran out of memory (after the file's name and ": ").
NO_MEMORY = "not enough memory to analyse this file"

#: What :func:`analyze_source` reads: a path, an upload as ``(name, bytes)``, or a recording already read.
Source = str | os.PathLike | tuple[str, bytes] | Recording


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


@dataclass(frozen=True)
class FileAnalysis:
    """One file analysed by :func:`analyze_source`.

    Attributes
    ----------
    recording : Recording or None
        None when the file gave no analysis: it could not be read, or it ran out of memory
        (``rows`` then hold the one error row).
    outcomes : list of ChargeResult or SweepFailure
        One per sweep (empty with ``recording`` None).
    rows : list of dict
        :func:`result_row` of each outcome, or the file's error row.
    v_test_mV : float or None
        The V2 (mV) the whole file was analysed with when it is not the recording's own: set by hand
        (``v_test_mV=``) or taken from the file name (``v_from_name=``); None otherwise.
    """

    recording: Recording | None
    outcomes: list[ChargeResult | SweepFailure]
    rows: list[dict]
    v_test_mV: float | None


def implicit_v2(rec: Recording, params: AnalysisParams, name: str | None = None) -> float | None:
    """The V2 (mV) a file's name gives where neither the recording nor the recipe gives one, else None.

    That is a single-sweep recording without a voltage channel (its protocol comes from
    ``params.timing``) analysed with a recipe that sets neither ``v_test_mV`` nor a whole
    ``protocol``: the lab names such files after their test potential
    (``20130507_0006_10mVdepol.atf``, ``0057_0_-100.atf``; :func:`~signal_core.protocol.parse_filename`).
    A recording with several sweeps has several V2 and one name, so the name says nothing of them.

    Parameters
    ----------
    rec : Recording
    params : AnalysisParams
        The recipe the file is analysed with.
    name : str, optional
        The file name (or a path, or ``"<anything>/<name>"``: only the last part is read);
        default ``rec.name``.

    Examples
    --------
    >>> import signal_core as sc
    >>> from signal_core.analysis.batch import implicit_v2
    >>> from signal_core.synthetic import simulate
    >>> rec = simulate(v_tests_mV=(-40.0,), fs_hz=20_000.0, with_voltage=False).recording   # current only
    >>> implicit_v2(rec, sc.AnalysisParams(), "cell3_0006_-40mV.atf")
    -40.0
    >>> implicit_v2(rec, sc.AnalysisParams(v_test_mV=-30.0), "cell3_0006_-40mV.atf") is None   # the recipe's
    True
    """
    if (rec.n_sweeps != 1 or rec.voltage_channel is not None or params.v_test_mV is not None
            or params.protocol is not None):
        return None
    return parse_filename(rec.name if name is None else name).v2_mV


def _read(source: str | os.PathLike | tuple[str, bytes], file: str, fs_hz: float | None) -> Recording | dict:
    """The recording of a path or an upload, or the error row of a file that cannot be read."""
    try:
        if isinstance(source, tuple):
            upload_name, data = source
            return read_recording(data, name=upload_name, fs_hz=fs_hz)
        return read_recording(Path(os.fspath(source)), fs_hz=fs_hz)
    except RecordingFormatError as exc:
        return error_row(file, None, f"{PurePath(file).name}: {exc}")
    except OSError as exc:
        return error_row(file, None, f"{file}: cannot be opened ({exc.strerror or exc})")


def analyze_source(
    source: Source,
    params: AnalysisParams,
    *,
    name: str | None = None,
    v_test_mV: float | None = None,
    v_from_name: bool = False,
    fs_hz: float | None = None,
) -> FileAnalysis:
    """Read and analyse every sweep of one file, with the V2 chosen by the per-file rule.

    Parameters
    ----------
    source : str, PathLike, (str, bytes) or Recording
        A path, an upload as ``(file name, bytes)``, or a recording already read.
    params : AnalysisParams
        The recipe.
    name : str, optional
        The rows' ``file`` and the name V2 is read from. Default: ``os.fspath(path)``, the upload's
        name, or ``recording.name``. Error messages name its last part (a path's: the path).
    v_test_mV : float, optional
        V2 (mV) set by hand for every sweep: it replaces the voltage channel's level and enters the
        control subtraction (``params.replace(v_test_mV=...)``).
    v_from_name : bool
        Without ``v_test_mV``: V2 from the file name where :func:`implicit_v2` gives one.
    fs_hz : float, optional
        Sampling rate (Hz) for ATF files without a time column (paths and uploads).

    Returns
    -------
    FileAnalysis
        The recording, one outcome and one row (keys :data:`ROW_KEYS`) per sweep, and the V2 set.
        A file that cannot be read gives one error row: ``"<name>: <why>"`` for a file that is not a
        recording, ``"<path>: cannot be opened (<why>)"``; one that runs out of memory
        ``"<name>: not enough memory to analyse this file"`` (:data:`NO_MEMORY`). Other exceptions
        (bugs, not the data) are raised.

    Examples
    --------
    An upload (name and bytes) whose V2 comes from its name: one sweep, no voltage channel, the
    protocol's timings in the recipe:

    >>> import signal_core as sc
    >>> from signal_core.analysis.batch import analyze_source
    >>> from signal_core.protocol.timing import ProtocolTiming
    >>> from signal_core.synthetic import simulate
    >>> upload = simulate(v_tests_mV=(-40.0,), fs_hz=20_000.0, with_voltage=False).to_atf_bytes()
    >>> params = sc.AnalysisParams(timing=ProtocolTiming())
    >>> got = analyze_source(("cell3_0006_-40mV.atf", upload), params, v_from_name=True)
    >>> got.v_test_mV, got.rows[0]["v_test_mV"], got.rows[0]["file"]
    (-40.0, -40.0, 'cell3_0006_-40mV.atf')
    >>> analyze_source(("junk.atf", b"nonsense"), params).rows[0]["error"][:30]
    'junk.atf: line 1: not an ATF f'
    """
    if isinstance(source, Recording):
        file = source.name if name is None else name
    elif isinstance(source, tuple):
        file = source[0] if name is None else name
    else:
        file = os.fspath(source) if name is None else name
    try:
        rec = source if isinstance(source, Recording) else _read(source, file, fs_hz)
        if isinstance(rec, dict):
            return FileAnalysis(None, [], [rec], None)
        v2 = v_test_mV if v_test_mV is not None else implicit_v2(rec, params, file) if v_from_name else None
        outcomes = analyze_recording(rec, params if v2 is None else params.replace(v_test_mV=float(v2)))
    except MemoryError:
        return FileAnalysis(None, [], [error_row(file, None, f"{PurePath(file).name}: {NO_MEMORY}")], None)
    return FileAnalysis(rec, outcomes, [result_row(file, o) for o in outcomes], v2)


def analyze_file(
    path: str | os.PathLike, params: AnalysisParams, *, fs_hz: float | None = None
) -> tuple[Recording | None, list[ChargeResult | SweepFailure], list[dict]]:
    """Read and analyse one file with the recipe's V2: :func:`analyze_source` of a path, as a tuple.

    Returns
    -------
    (recording or None, outcomes, rows)
    """
    got = analyze_source(path, params, fs_hz=fs_hz)
    return got.recording, got.outcomes, got.rows
