"""The average of chosen sweeps as a recording of one sweep: what Clampfit calls "average traces".

Repeated identical sweeps (the same protocol run several times) averaged sample by sample keep the
signal and divide uncorrelated noise by the square root of their number.  The recipe's
``average_sweeps`` (1-based sweep numbers) makes :func:`~signal_core.analysis.pipeline.analyze_sweep`
analyse this average instead of one sweep, so the choice is part of the recipe and of every export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from signal_core.recording import Recording, RecordingError

__all__ = ["average_sweeps", "check_sweep_numbers"]


def check_sweep_numbers(sweeps: Sequence[int], n_sweeps: int) -> tuple[int, ...]:
    """The chosen sweep numbers (1-based), sorted and checked against a recording of ``n_sweeps`` sweeps.

    Raises
    ------
    RecordingError
        No sweep chosen, or a number outside 1..``n_sweeps``.
    """
    chosen = tuple(sorted({int(k) for k in sweeps}))
    if not chosen:
        raise RecordingError("choose at least one sweep to average")
    bad = [k for k in chosen if not 1 <= k <= n_sweeps]
    if bad:
        raise RecordingError(f"sweep(s) {', '.join(map(str, bad))} do not exist: the file has {n_sweeps} sweep(s)")
    return chosen


def average_sweeps(rec: Recording, sweeps: Sequence[int]) -> Recording:
    """A one-sweep recording whose every channel is the sample-by-sample mean of the chosen sweeps.

    Parameters
    ----------
    rec : Recording
        The recording (currents pA, voltages mV, times s).
    sweeps : sequence of int
        The sweeps to average, 1-based as the app and the workbooks number them (order and repeats
        do not matter).

    Returns
    -------
    Recording
        One sweep, as long as the shortest chosen sweep (samples at the same time after the sweep
        start are averaged), starting at the first chosen sweep's start; its header gains a record
        ``AveragedSweeps`` listing them.  Name, digest and units stay the file's.

    Raises
    ------
    RecordingError
        No sweep chosen, or a sweep that does not exist.

    Examples
    --------
    >>> import signal_core as sc
    >>> rec = sc.demo_recording(v_tests_mV=(-20.0, -20.0, -20.0)).recording
    >>> avg = average_sweeps(rec, [1, 2, 3])
    >>> avg.n_sweeps, avg.n_samples == rec.n_samples
    (1, True)
    """
    chosen = check_sweep_numbers(sweeps, rec.n_sweeps)
    idx = [k - 1 for k in chosen]
    lengths = tuple(rec.sweep_lengths) or (rec.n_samples,) * rec.n_sweeps
    n = min(lengths[i] for i in idx)
    data = np.mean(rec.data[idx, :, :n], axis=0, keepdims=True, dtype=np.float64)  # summed in float64
    starts = tuple(rec.sweep_start_s) or (0.0,) * rec.n_sweeps
    header = (*rec.header, ("AveragedSweeps", ", ".join(map(str, chosen))))
    return dataclasses.replace(rec, data=data, sweep_start_s=(float(starts[idx[0]]),), sweep_lengths=(),
                               header=header, _t_cache={})
