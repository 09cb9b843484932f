"""Sets of recordings: many files analysed (in-process, in parallel processes or on a Dask
cluster), their Q-V points with the source of each V2, and one Boltzmann fit per set.

Every mode runs the same function per file (:func:`signal_core.batch.analyze_file`), so the
rows are identical, float for float, whichever way a set is analysed.

- :func:`analyze_files`: rows per file, in input order; a bad file gives its error row and the
  others go on; a crashed worker process is reported on the files it took down.
- :func:`qv_points`: one :class:`QvPoint` per analysed sweep (V2, its source and a note when the
  file name and the voltage channel disagree; the set; whether the point is excluded).
- :func:`fit_sets`: one Boltzmann per set; :func:`fit_points` for the points of one set.
- :func:`qv_summary`: the ``qv --json`` object.

V2 enters the charge, not only the plot: the test response is corrected by V2 - V0 times
the control response per mV, so a V2 set by hand or taken from the file name must be given
to :func:`analyze_files` (``v_test_mV=``, ``v_test_from_name=``) and not only to
:func:`qv_points`, or the charges belong to another V2 (:func:`qv_points` notes such points).

Units: mV, pC, nF, nC/uF.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass

from .analysis import analyze_recording
from .batch import ROW_KEYS, analyze_file, clean_json, result_row
from .fitting import FitError
from .params import AnalysisParams
from .protocol import parse_filename
from .qv import QvFit, fit_qv

__all__ = [
    "DEFAULT_SET_ID",
    "QUANTITIES",
    "QvPoint",
    "SchedulerError",
    "V2_SOURCES",
    "analyze_files",
    "fit_points",
    "fit_sets",
    "qv_points",
    "qv_summary",
]

#: Set of a file whose name carries none and that no mapping places (as in ``export.sets_from_names``).
DEFAULT_SET_ID = ""
#: Where a point's V2 comes from.
V2_SOURCES = ("voltage channel", "file name", "manual")
#: What :func:`fit_sets` can fit against V2, and the QvPoint attribute (sign) it reads.
QUANTITIES = {"q_on_pC": ("q_on_pC", 1.0), "minus_q_off_pC": ("q_off_pC", -1.0),
              "q_on_per_c_m": ("q_on_per_c_m_nC_per_uF", 1.0)}
#: File name and voltage channel differing by more than this get a note (mV).
V2_DISAGREE_MV = 2.0
#: An override differing from the V2 the charges were computed with by more than this gets a note (mV).
V2_STALE_MV = 0.01

# Parallel runs: each worker gets about CHUNKS_PER_WORKER chunks (load balance between files of
# different sizes, and progress reports) of at most MAX_CHUNK files (one round trip per chunk).
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 16
# Third-party modules the fork server imports once, so that each worker starts in milliseconds.
_PRELOAD = ["numpy", "pandas", "scipy.signal", "scipy.optimize", "scipy.special", "pywt"]
# After this many files in a row kill their worker even when run alone, the rest is not tried.
_MAX_CRASHES_IN_A_ROW = 3

_NO_VOLTAGE_FLAG = "No voltage channel"  # start of analysis' no_voltage_channel flag message
_WORKER_DIED = ("the worker process analysing this file died (killed or crashed, for example out of "
                "memory) even when it analysed this file alone; no result")
_NOT_TRIED = ("not analysed: worker processes kept dying ({n} files in a row), the remaining files were "
              "not tried; analyse them with workers=1 to see the error")

Progress = Callable[[int, int], None]
PathLike = str | os.PathLike


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be used (Dask is not installed, or the address does not answer)."""


# ----------------------------------------------------------------------------- per-file work
def _error_row(file: str, error: str) -> dict:
    row: dict = dict.fromkeys(ROW_KEYS)
    row.update(file=file, sweep=None, flags=[], error=error)
    return row


def _analyze_one(path: str, params: AnalysisParams, fs_hz: float | None, v_test: float | None,
                 v_from_name: bool) -> list[dict]:
    """Rows of one file, as :func:`analyze_file` gives them (with its V2 set by hand or from the name)."""
    if v_test is not None:
        params = params.replace(v_test_mV=v_test)
    try:
        rec, _outcomes, rows = analyze_file(path, params, fs_hz=fs_hz)
        if (v_from_name and v_test is None and rec is not None and rec.voltage_channel is None
                and rec.n_sweeps == 1 and params.protocol is None and params.v_test_mV is None):
            v_name = parse_filename(path).v2_mV
            if v_name is not None:
                named = params.replace(v_test_mV=v_name)
                rows = [result_row(path, o) for o in analyze_recording(rec, named)]
    except MemoryError:
        return [_error_row(path, f"{os.path.basename(path)}: not enough memory to analyse this file")]
    return rows


def _analyze_chunk(items: Sequence[tuple[int, str, float | None]], params: AnalysisParams,
                   fs_hz: float | None, v_from_name: bool) -> list[tuple[int, list[dict]]]:
    """Worker task: ``(index, rows)`` for each ``(index, path, v_test)``."""
    return [(i, _analyze_one(p, params, fs_hz, v, v_from_name)) for i, p, v in items]


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork server where there is one (Linux, macOS), else spawn; see :func:`analyze_files`."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)  # only read when the server starts
        return ctx
    return multiprocessing.get_context("spawn")


def _chunks(indices: list[int], workers: int) -> list[list[int]]:
    size = max(1, min(MAX_CHUNK, math.ceil(len(indices) / (workers * CHUNKS_PER_WORKER))))
    return [indices[k:k + size] for k in range(0, len(indices), size)]


# ----------------------------------------------------------------------------- the three modes
def _run_pool(items: list[tuple[int, str, float | None]], results: list, workers: int, task_args: tuple,
              notify: Callable[[int], None]) -> list[int]:
    """Run ``items`` in a process pool; fill ``results``; return the indices a broken pool lost."""
    by_index = {i: (i, p, v) for i, p, v in items}
    chunks = _chunks(list(by_index), workers)
    lost: list[int] = []
    pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_mp_context())
    try:
        futures = {pool.submit(_analyze_chunk, [by_index[i] for i in ch], *task_args): ch for ch in chunks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    lost.extend(futures[fut])
                    continue
                if exc is not None:
                    raise exc
                for i, rows in fut.result():
                    results[i] = rows
                notify(len(futures[fut]))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(lost)


def _run_local(paths: list[str], v_tests: list[float | None], results: list, workers: int,
               task_args: tuple, notify: Callable[[int], None]) -> None:
    items = [(i, p, v) for i, (p, v) in enumerate(zip(paths, v_tests, strict=True))]
    lost = _run_pool(items, results, workers, task_args, notify)
    if lost:
        _run_isolated([items[i] for i in lost], results, task_args, notify)


def _run_isolated(items: list[tuple[int, str, float | None]], results: list, task_args: tuple,
                  notify: Callable[[int], None]) -> None:
    """Files a dead worker took down, again one by one in a pool of one worker.

    Only a file that kills its worker even alone is lost (and said so); the pool is renewed
    after each death. After a few deaths in a row the rest is not tried.
    """
    pool: ProcessPoolExecutor | None = None
    crashes = 0
    try:
        for n, item in enumerate(items):
            i = item[0]
            if crashes >= _MAX_CRASHES_IN_A_ROW:
                for j, path, _v in items[n:]:
                    results[j] = [_error_row(path, _NOT_TRIED.format(n=crashes))]
                    notify(1)
                return
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=1, mp_context=_mp_context())
            try:
                ((_, rows),) = pool.submit(_analyze_chunk, [item], *task_args).result()
                results[i] = rows
                crashes = 0
            except BrokenProcessPool:
                results[i] = [_error_row(item[1], _WORKER_DIED)]
                crashes += 1
                pool.shutdown(wait=True)
                pool = None
            notify(1)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(scheduler: str, paths: list[str], v_tests: list[float | None], results: list,
              task_args: tuple, notify: Callable[[int], None]) -> None:
    try:
        from distributed import Client, KilledWorker, as_completed
    except ImportError as exc:
        raise SchedulerError(
            "sending the analyses to a Dask cluster needs Dask distributed: pip install 'dask[distributed]'"
        ) from exc
    try:
        client = Client(scheduler, set_as_default=False, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
    params, fs_hz, v_from_name = task_args
    with client:
        futures = [client.submit(_analyze_one, p, params, fs_hz, v, v_from_name, pure=False)
                   for p, v in zip(paths, v_tests, strict=True)]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures, loop=client.loop):
            i = index[fut.key]
            try:
                results[i] = fut.result()
            except KilledWorker as exc:
                results[i] = [_error_row(paths[i], f"the Dask workers analysing this file kept dying; no result ({exc})")]
            notify(1)


def analyze_files(
    paths: Sequence[PathLike],
    params: AnalysisParams,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    fs_hz: float | None = None,
    progress: Progress | None = None,
    v_test_mV: Mapping[PathLike, float] | None = None,
    v_test_from_name: bool = False,
) -> list[list[dict]]:
    """Analyse many files: one list of rows (:func:`signal_core.batch.analyze_file`) per path, in input order.

    Parameters
    ----------
    paths : sequence of str or PathLike
        ATF or ABF files. Each row's ``file`` is ``os.fspath(path)``.
    params : AnalysisParams
        The recipe, the same for every file.
    workers : int
        1: one after the other in this process. More: that many worker processes
        (``ProcessPoolExecutor`` with the fork-server start method, spawn where there is none).
        Files go in chunks of consecutive files (about 4 chunks per worker, at most 16 files
        each) so that a set of small files does not pay a round trip per file.
    scheduler : str, optional
        Address of a running Dask distributed scheduler (``"tcp://host:port"``): one task per file
        on its workers (``workers`` is then ignored). The workers must see the files under the same
        paths and have ``signal_core`` importable; results are gathered in input order and are the
        same numbers as a local run. Needs ``pip install 'dask[distributed]'``.
    fs_hz : float, optional
        Sampling rate (Hz) for ATF files without a time column.
    progress : callable(done, total), optional
        Called in this process as files complete (per chunk in a process pool), ``done`` rising to ``total``.
    v_test_mV : mapping path -> mV, optional
        V2 set by hand for some files (it replaces the voltage channel's level and enters the
        control subtraction); give the same values to :func:`qv_points` as ``v_overrides``.
    v_test_from_name : bool
        For single-sweep recordings without a voltage channel (whose protocol comes from
        ``params.timing``), take V2 from the file name (:func:`~signal_core.protocol.parse_filename`)
        when it has one and the recipe sets none.

    Returns
    -------
    list of list of dict
        ``result[k]`` holds the rows of ``paths[k]`` (one per sweep; keys :data:`~signal_core.batch.ROW_KEYS`).
        A file that cannot be read gives one row with its ``error``, the others are still analysed;
        a file whose worker process died (the files a dead worker took down are first retried one
        by one) gives a row saying so.

    Raises
    ------
    SchedulerError
        ``scheduler`` given but Dask is not installed or the scheduler does not answer.
    ValueError
        ``workers`` below 1.

    Notes
    -----
    Why the fork server: fork (Linux's default before Python 3.14) copies a parent that may run
    threads (the app, a Dask client, BLAS) and can deadlock; spawn is safe but every worker imports
    numpy and scipy again (about 0.7 s each). The fork server is a fresh single-threaded process
    that imports them once; workers fork from it in milliseconds, also on later calls from a
    long-running app. Errors that are bugs (not about the data) are raised, as with ``workers=1``.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    files = [os.fspath(p) for p in paths]
    by_file = {os.fspath(k): float(v) for k, v in (v_test_mV or {}).items()}
    v_tests = [by_file.get(f) for f in files]
    total = len(files)
    results: list[list[dict] | None] = [None] * total
    done = 0

    def notify(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    task_args = (params, fs_hz, v_test_from_name)
    if scheduler is not None:
        _run_dask(scheduler, files, v_tests, results, task_args, notify)
    elif workers == 1 or total <= 1:
        for i, (f, v) in enumerate(zip(files, v_tests, strict=True)):
            results[i] = _analyze_one(f, params, fs_hz, v, v_test_from_name)
            notify(1)
    else:
        _run_local(files, v_tests, results, workers, task_args, notify)
    return results  # type: ignore[return-value]


# ----------------------------------------------------------------------------- Q-V points
@dataclass(frozen=True)
class QvPoint:
    """One analysed sweep as a point of a set's Q-V relation (mV, pC, nF, nC/uF).

    ``v_source`` is one of :data:`V2_SOURCES`; ``v_name_mV`` what the file name says (single-sweep
    files) or None; ``note`` explains a disagreement or a V2 that is not the one the charges were
    computed with ("" when there is nothing to say).
    """

    file: str
    sweep: int
    v_test_mV: float | None
    v_source: str
    v_name_mV: float | None
    q_on_pC: float | None
    q_off_pC: float | None
    q_off_over_on: float | None
    c_m_nF: float | None
    q_on_per_c_m_nC_per_uF: float | None
    flags: tuple[str, ...]
    excluded: bool
    set_id: str
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        return clean_json(d)  # type: ignore[return-value]


def _same(a: float | None, b: float | None, tol: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= tol


def _v2(row: dict, n_rows: int, override: float | None, recipe_v2: bool) -> tuple[float | None, str, float | None, str]:
    """(V2, source, V2 of the file name, note) of one row."""
    file, v_row = row["file"], row["v_test_mV"]
    v_name = parse_filename(file).v2_mV if n_rows == 1 else None
    no_channel = any(str(f).startswith(_NO_VOLTAGE_FLAG) for f in row["flags"] or ())
    notes: list[str] = []
    if override is not None:
        v = override
        source = "file name" if _same(v, v_name, 1e-9) else "manual"
        if v_row is not None and not _same(v, v_row, V2_STALE_MV):
            notes.append(f"V2 is set to {v:g} mV here but the charges were computed with {v_row:g} mV: "
                         "analyse the file again with this V2")
    elif recipe_v2:
        v, source = v_row, "manual"
    elif no_channel:
        v = v_row
        if _same(v_row, v_name, 1e-9):
            source = "file name"
        else:
            source = "manual"
            notes.append(f"no voltage channel: V2 {v_row:g} mV comes from the timing parameters")
            if v_name is not None:
                notes.append(f"the file name says {v_name:g} mV; give it as this file's V2")
    else:
        v, source = v_row, "voltage channel"
        if v_name is not None and v_row is not None and abs(v_name - v_row) > V2_DISAGREE_MV:
            notes.append(f"file name says {v_name:g} mV, voltage channel {v_row:.1f} mV; "
                         "the voltage channel is used")
    return v, source, v_name, "; ".join(notes)


def qv_points(
    rows_per_file: Sequence[Sequence[dict]],
    *,
    v_overrides: Mapping[Hashable, float] | None = None,
    excluded: Collection[tuple[PathLike, int]] = (),
    sets: Mapping[PathLike, str] | None = None,
    params: AnalysisParams | None = None,
) -> list[QvPoint]:
    """The Q-V points of analysed files: one per sweep that was analysed (error rows are skipped).

    Parameters
    ----------
    rows_per_file : sequence of row lists
        As :func:`analyze_files` returns them (rows of one file together).
    v_overrides : mapping, optional
        V2 by hand (mV), keyed ``(file, sweep)`` (sweep 1-based) or ``file`` for every sweep of it.
        Source "file name" when it equals the name's V2, else "manual". It should be the V2 the
        file was analysed with (:func:`analyze_files` ``v_test_mV=``); a point whose charges were
        computed with another V2 says so in its note.
    excluded : collection of (file, sweep)
        Points left out of the fits (still listed, ``excluded=True``).
    sets : mapping file -> set id, optional
        Sets by hand; files it does not list take the set of their names, else :data:`DEFAULT_SET_ID`.
    params : AnalysisParams, optional
        The recipe the rows were analysed with; when it sets V2 (``v_test_mV`` or a whole
        ``protocol``) the source is "manual".

    Without an override, V2 is the row's: "voltage channel" (with a note when the file name
    differs by more than 2 mV), "file name" (no voltage channel, V2 taken from the name, see
    :func:`analyze_files` ``v_test_from_name``), or "manual" (the recipe's V2 or timing parameters).
    """
    overrides: dict = {}
    for key, value in (v_overrides or {}).items():
        if isinstance(key, tuple):
            overrides[(os.fspath(key[0]), int(key[1]))] = float(value)
        else:
            overrides[os.fspath(key)] = float(value)
    excl = {(os.fspath(f), int(s)) for f, s in excluded}
    set_map = {os.fspath(k): str(v) for k, v in (sets or {}).items()}
    recipe_v2 = params is not None and (params.v_test_mV is not None or params.protocol is not None)
    points: list[QvPoint] = []
    for rows in rows_per_file:
        for row in rows:
            if row.get("error"):
                continue
            file, sweep = row["file"], int(row["sweep"])
            override = overrides.get((file, sweep), overrides.get(file))
            v, source, v_name, note = _v2(row, len(rows), override, recipe_v2)
            set_id = set_map.get(file)
            if set_id is None:
                set_id = parse_filename(file).set_id or DEFAULT_SET_ID
            points.append(QvPoint(
                file=file, sweep=sweep, v_test_mV=v, v_source=source, v_name_mV=v_name,
                q_on_pC=row["q_on_pC"], q_off_pC=row["q_off_pC"], q_off_over_on=row["q_off_over_on"],
                c_m_nF=row["c_m_nF"], q_on_per_c_m_nC_per_uF=row["q_on_per_c_m_nC_per_uF"],
                flags=tuple(row["flags"] or ()), excluded=(file, sweep) in excl, set_id=set_id, note=note,
            ))
    return points


# ----------------------------------------------------------------------------- fits
def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def fit_points(
    points: Sequence[QvPoint], *, quantity: str = "q_on_pC", with_offset: bool = False,
    temperature_C: float = 22.0,
) -> QvFit | str:
    """One Boltzmann over the points not excluded (whatever their set); the FitError's text when it fails.

    ``quantity`` is a key of :data:`QUANTITIES`: ``"q_on_pC"``, ``"minus_q_off_pC"`` (-Q_off, pC) or
    ``"q_on_per_c_m"`` (nC/uF; the fit's ``q_max_pC`` is then in nC/uF). Points without a
    finite V2 or value are left out.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}, got {quantity!r}")
    attr, sign = QUANTITIES[quantity]
    v: list[float] = []
    y: list[float] = []
    for p in points:
        value = getattr(p, attr)
        if not p.excluded and _finite(p.v_test_mV) and _finite(value):
            v.append(p.v_test_mV)  # type: ignore[arg-type]
            y.append(sign * value)
    try:
        return fit_qv(v, y, with_offset=with_offset, temperature_C=temperature_C)
    except FitError as exc:
        return str(exc)


def fit_sets(
    points: Sequence[QvPoint], *, quantity: str = "q_on_pC", with_offset: bool = False,
    temperature_C: float = 22.0,
) -> dict[str, QvFit | str]:
    """One Boltzmann per ``set_id`` (sets in order of first appearance) over the points not excluded.

    A set that cannot be fitted gets the error's text; the other sets are still fitted.
    See :func:`fit_points` for ``quantity``.
    """
    groups: dict[str, list[QvPoint]] = {}
    for p in points:
        groups.setdefault(p.set_id, []).append(p)
    return {s: fit_points(pts, quantity=quantity, with_offset=with_offset, temperature_C=temperature_C)
            for s, pts in groups.items()}


FIT_KEYS = ("q_max_pC", "v_half_mV", "k_mV", "z", "q_max_pC_se", "v_half_mV_se", "k_mV_se", "z_se", "r_squared")


def qv_summary(
    rows_per_file: Sequence[Sequence[dict]], fit: QvFit | str | Exception,
    *, points: Sequence[QvPoint] | None = None,
) -> dict:
    """The ``qv --json`` object: points, the fit's numbers (None when it failed), errors.

    Keys: ``points`` (file, sweep, v_test_mV, q_on_pC of every analysed sweep with a Q_on, or of
    ``points`` not excluded when given), ``q_max_pC``, ``v_half_mV``, ``k_mV``, ``z``, their
    ``*_se``, ``r_squared``, ``offset_pC`` when the fit has one, and ``errors`` (file, sweep, error
    of every failed file or sweep, then ``{"file": None, "sweep": None, "error": "Boltzmann fit: ..."}``
    when the fit failed). NaN and infinities become None.
    """
    rows = [r for file_rows in rows_per_file for r in file_rows]
    errors = [{"file": r["file"], "sweep": r["sweep"], "error": r["error"]} for r in rows if r["error"]]
    if points is None:
        pts = [{"file": r["file"], "sweep": r["sweep"], "v_test_mV": r["v_test_mV"], "q_on_pC": r["q_on_pC"]}
               for r in rows if not r["error"] and r["q_on_pC"] is not None]
    else:
        pts = [{"file": p.file, "sweep": p.sweep, "v_test_mV": p.v_test_mV, "q_on_pC": p.q_on_pC}
               for p in points if not p.excluded and p.q_on_pC is not None]
    out: dict = {"points": pts}
    if isinstance(fit, QvFit):
        out.update({k: getattr(fit, k) for k in FIT_KEYS})
        if fit.offset_pC is not None:
            out["offset_pC"] = fit.offset_pC
    else:
        out.update(dict.fromkeys(FIT_KEYS))
        errors.append({"file": None, "sweep": None, "error": f"Boltzmann fit: {fit}"})
    out["errors"] = errors
    return clean_json(out)  # type: ignore[return-value]
