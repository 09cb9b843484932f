"""Many files analysed in one call: in this process, in worker processes, or on a Dask cluster.

Every mode runs the same function per file (:func:`signal_core.analysis.batch.analyze_source`, which the
app's Q-V sets page also calls), so the rows are identical, float for float, whichever way a set is analysed.
:func:`analyze_files` gives the rows per file, in input order; a bad file gives its error row
and the others go on; a crashed worker process is reported on the files it took down (they are
first retried one by one, so only a file that kills its worker even alone is lost).

Worker processes (fork server or spawn) and Dask workers find the task functions
(:func:`_analyze_chunk`, :func:`_analyze_one`) by module and name, so they stay module-level
functions of this module.

The Q-V side of a set (points, V2 sources, one Boltzmann per set) is :mod:`signal_core.sets`,
which re-exports :func:`analyze_files` and :class:`SchedulerError`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from signal_core.analysis.batch import analyze_source, error_row
from signal_core.params import AnalysisParams

__all__ = ["SchedulerError", "analyze_files"]

# Parallel runs: each worker gets about CHUNKS_PER_WORKER chunks (load balance between files of
# different sizes, and progress reports) of at most MAX_CHUNK files (one round trip per chunk).
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 16
# Third-party modules the fork server imports once, so that each worker starts in milliseconds.
_PRELOAD = ["numpy", "pandas", "scipy.signal", "scipy.optimize", "scipy.special", "pywt"]
# After this many files in a row kill their worker even when run alone, the rest is not tried.
_MAX_CRASHES_IN_A_ROW = 3

_WORKER_DIED = ("the worker process analysing this file died (killed or crashed, for example out of "
                "memory) even when it analysed this file alone; no result")
_NOT_TRIED = ("not analysed: worker processes kept dying ({n} files in a row), the remaining files were "
              "not tried; analyse them with workers=1 to see the error")

Progress = Callable[[int, int], None]
PathLike = str | os.PathLike


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be used (Dask is not installed, or the address does not answer)."""


# ----------------------------------------------------------------------------- per-file work
def _analyze_one(path: str, params: AnalysisParams, fs_hz: float | None, v_test: float | None,
                 v_from_name: bool) -> list[dict]:
    """Rows of one file (:func:`~signal_core.analysis.batch.analyze_source`: V2 set by hand, or from the name)."""
    return analyze_source(path, params, v_test_mV=v_test, v_from_name=v_from_name, fs_hz=fs_hz).rows


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
                    results[j] = [error_row(path, None, _NOT_TRIED.format(n=crashes))]
                    notify(1)
                return
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=1, mp_context=_mp_context())
            try:
                ((_, rows),) = pool.submit(_analyze_chunk, [item], *task_args).result()
                results[i] = rows
                crashes = 0
            except BrokenProcessPool:
                results[i] = [error_row(item[1], None, _WORKER_DIED)]
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
                results[i] = [error_row(paths[i], None,
                                        f"the Dask workers analysing this file kept dying; no result ({exc})")]
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
    """Analyse many files: one list of rows (:func:`signal_core.analysis.batch.analyze_source`) per path, in order.

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
        control subtraction); give the same values to :func:`~signal_core.sets.qv_points` as
        ``v_overrides``.
    v_test_from_name : bool
        For single-sweep recordings without a voltage channel (whose protocol comes from
        ``params.timing``), take V2 from the file name when it has one and the recipe sets none
        (:func:`~signal_core.analysis.batch.implicit_v2`).

    Returns
    -------
    list of list of dict
        ``result[k]`` holds the rows of ``paths[k]`` (one per sweep; keys :data:`~signal_core.analysis.batch.ROW_KEYS`).
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

    Examples
    --------
    One row per file and sweep, with the command line's JSON keys (units in the names):

    >>> import pathlib, tempfile
    >>> import signal_core as sc
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "demo_0001_-20mV.atf")
    ...     _ = path.write_bytes(sc.demo_recording().to_atf_bytes())
    ...     rows = sc.analyze_files([path], sc.AnalysisParams(filters=["butter:2000"]))
    >>> [(row["sweep"], round(row["v_test_mV"]), round(row["r_s_MOhm"]), row["error"]) for row in rows[0]]
    [(1, -20, 14, None)]
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
