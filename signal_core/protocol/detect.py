"""Protocol detection: holding level, control steps and test pulse from a voltage trace.

:func:`detect_protocol` splits one sweep's voltage (the recorded channel, or the command
waveform an ABF header describes) into constant-level segments, folds glitches away, takes
the level held longest as the holding level and sorts the excursions from it into control
steps and the test pulse.  A step counts only when it is larger than
:data:`NOISE_FACTOR` times the trace's noise and than :data:`MIN_DETECT_STEP_MV`.
:func:`protocol_from_recording` picks the trace of a sweep: the recorded voltage, or the
command when there is no recorded voltage or the recorded one disagrees with it.
Times in s, levels in mV.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from signal_core.protocol.steps import Protocol, ProtocolError, Step
from signal_core.recording import Recording

__all__ = [
    "COMMAND_NOTE",
    "COMMAND_SOURCE",
    "MAX_ABS_VOLTAGE_MV",
    "MIN_DETECT_STEP_MV",
    "NOISE_FACTOR",
    "SingleStepError",
    "detect_protocol",
    "noise_mV",
    "protocol_from_recording",
]


#: a recorded voltage beyond +/- this (mV) is refused before edges are searched in it
MAX_ABS_VOLTAGE_MV = 1e6
#: a step must exceed this many times the trace's noise (robust rms of the sample-to-sample noise)
NOISE_FACTOR = 5.0
#: and be larger than this (mV): amplifier commands are set in steps far coarser than 1 mV
MIN_DETECT_STEP_MV = 1.0
#: :attr:`Protocol.source` of a protocol found in the command waveform of the file's header
COMMAND_SOURCE = "protocol (command)"
#: what results, the Load summary and the workbook say about such a protocol
COMMAND_NOTE = "voltage from the protocol (command), not measured"


class SingleStepError(ProtocolError):
    """A sweep with one voltage step only (a membrane test or one sweep of an I-V family)."""

    def __init__(self, message: str, step: Step, source: str) -> None:
        super().__init__(message)
        self.step = step
        self.source = source


#: arrays shorter than this go straight to np.median
_COUNT_MIN_SIZE = 512
#: about this many evenly spaced samples propose the candidates for the middle value
_SAMPLE_SIZE = 512
#: candidates counted before np.median takes over
_MAX_TRIES = 4


def _median(x: np.ndarray, *, overwrite_input: bool = False) -> float:
    """``np.median(x)`` of a 1-D float64 array, the same value bit for bit, found by counting when it repeats.

    A recorded trace is quantised (an ADC's steps, a value printed to 6 digits), so the middle
    value of a long trace, a flat level or its sample-to-sample differences usually occurs many
    times, as does the step of a uniform time axis.  Candidates come from an even sample of
    about :data:`_SAMPLE_SIZE` values, starting at its median: a candidate c is the median when
    fewer than half the values are below c and more than half are at most c (two counts, no
    partition of the whole array).  The counts say which way to move to the next distinct
    value of the sample; after :data:`_MAX_TRIES` candidates, when the two middle values
    differ, with NaN, or when the middle is zero and the zeros have both signs (the sign
    np.median gives then depends on which zeros its partition puts in the middle),
    np.median decides.
    """
    n = x.size
    if x.ndim == 1 and n >= _COUNT_MIN_SIZE:
        values, counts = np.unique(x[:: max(1, n // _SAMPLE_SIZE)], return_counts=True)
        j = int(np.searchsorted(np.cumsum(counts), counts.sum() // 2, side="right"))  # the sample's median
        low, high = (n - 1) // 2, n // 2  # 0-based ranks of the middle value(s)
        for _ in range(_MAX_TRIES):
            c = float(values[j])
            if not abs(c) < 1e300:  # NaN, or so large that np.median's mean of two could overflow
                break
            if np.count_nonzero(x < c) > low:
                j -= 1
            else:
                upto = np.count_nonzero(x <= c)
                if upto <= low:
                    j += 1
                elif upto <= high or upto + np.count_nonzero(x > c) != n:
                    break  # the two middle values differ, or x holds NaN
                elif c != 0.0:
                    return c
                else:  # zeros: np.median's own mean of the middle one or two gives the sign
                    negative = np.signbit(x[x == 0.0])
                    if negative.all() or not negative.any():
                        return float(np.median(np.full(2 - n % 2, -0.0 if negative[0] else 0.0)))
                    break
            if not 0 <= j < values.size:
                break
    return float(np.median(x, overwrite_input=overwrite_input))


def noise_mV(v_mV: np.ndarray) -> float:
    """Robust rms noise of a trace (mV): the median absolute deviation of its sample-to-sample
    differences, scaled to a Gaussian's standard deviation and divided by sqrt(2).

    Steps change only a few differences, so they do not count; a clean command gives 0.
    """
    v = np.asarray(v_mV, dtype=np.float64)
    if v.size < 3:
        return 0.0
    d = np.diff(v)  # our own arrays: the medians may reorder them instead of copying
    dev = np.abs(d - _median(d, overwrite_input=True))
    return float(1.4826 * _median(dev, overwrite_input=True) / math.sqrt(2.0))


def _segments(v: np.ndarray, fs_hz: float, threshold_mV: float) -> list[tuple[int, int, float]]:
    """Split a command-voltage trace into constant-level segments ``(start, end, level)`` (samples, mV)."""
    n = v.size
    # smooth over ~0.1 ms so recording noise does not make edges; the edge position is refined below
    w = max(1, int(round(1e-4 * fs_hz)))
    if w > 1:
        kernel = np.ones(w) / w
        vs = np.convolve(v, kernel, mode="same")
        vs[: w // 2] = v[: w // 2]
        vs[n - w // 2 :] = v[n - w // 2 :]
    else:
        vs = v
    lag = max(1, w)
    jump = np.zeros(n, dtype=bool)
    d = np.abs(vs[lag:] - vs[:-lag])
    jump[lag:] |= d > threshold_mV / 2
    jump[:-lag] |= d > threshold_mV / 2
    # regions where the level is changing; the gaps between them are the flat segments
    change = np.diff(jump.astype(np.int8))
    starts = list(np.flatnonzero(change == -1) + 1)
    ends = list(np.flatnonzero(change == 1) + 1)
    if not jump[0]:
        starts.insert(0, 0)
    if not jump[-1]:
        ends.append(n)
    flats = [(s, e) for s, e in zip(starts, ends) if e - s >= 2]
    if not flats:
        return [(0, n, _median(v))]
    levels = [_median(v[s:e]) for s, e in flats]
    # merge neighbours whose levels do not differ by a step
    merged: list[list] = [[flats[0][0], flats[0][1], [levels[0]]]]  # start, end, levels of its flats
    for (s, e), lv in zip(flats[1:], levels[1:]):
        if abs(lv - statistics.median(merged[-1][2])) < threshold_mV:
            merged[-1][1] = e
            merged[-1][2].append(lv)
        else:
            merged.append([s, e, [lv]])
    # a segment of one flat keeps that flat's median (the same samples); merged ones take their own
    segs = [(s, e, lvs[0] if len(lvs) == 1 else _median(v[s:e])) for s, e, lvs in merged]
    # edges: the first sample past the midpoint between neighbouring levels
    out: list[tuple[int, int, float]] = []
    cut = 0
    for k, (_s, e, lv) in enumerate(segs):
        if k + 1 < len(segs):
            s_next, _, lv_next = segs[k + 1]
            mid = 0.5 * (lv + lv_next)
            region = v[e - 1 : s_next + 1]
            crossed = (region - mid) * np.sign(lv_next - lv) > 0
            edge = e - 1 + int(np.argmax(crossed)) if crossed.any() else s_next
            out.append((cut, edge, lv))
            cut = edge
        else:
            out.append((cut, n, lv))
    return out


def detect_protocol(
    t_s: np.ndarray,
    v_mV: np.ndarray,
    *,
    threshold_mV: float = 5.0,
    min_epoch_ms: float = 1.0,
    source: str = "voltage channel",
) -> Protocol:
    """Find holding level, control steps and test pulse from a sweep's voltage.

    Parameters
    ----------
    t_s : ndarray
        Sample times of the sweep (s), uniform.
    v_mV : ndarray
        Recorded voltage, or the command waveform (mV).
    threshold_mV : float
        A change of the level by more than this is an edge (mV); raised to
        :data:`NOISE_FACTOR` times the trace's noise (:func:`noise_mV`) and to at least
        :data:`MIN_DETECT_STEP_MV`, so noise is never taken for steps.
    min_epoch_ms : float
        Shorter excursions are treated as glitches, not steps (ms).
    source : str
        What the trace is (``"voltage channel"`` or :data:`COMMAND_SOURCE`), for
        :attr:`Protocol.source` and the messages.

    Returns
    -------
    Protocol
        Holding level = the level held longest; steps = excursions from it.
        The steps at the most common level are the controls (ties: the earlier
        ones), the last other step is the test pulse; when every step has the
        same level, the last one is the test pulse.

    Raises
    ------
    ProtocolError
        No step, a step that never returns, or a non-finite trace;
        :class:`SingleStepError` for only one step.
    """
    v = np.asarray(v_mV, dtype=np.float64)
    t = np.asarray(t_s, dtype=np.float64)
    if v.ndim != 1 or v.size != t.size or v.size < 4:
        raise ProtocolError("the voltage trace and its time axis must be 1-D, of equal length, at least 4 samples")
    if not np.all(np.isfinite(v)):
        raise ProtocolError("the voltage channel contains NaN or infinite values")
    peak = float(np.max(np.abs(v)))
    if peak > MAX_ABS_VOLTAGE_MV:
        raise ProtocolError(f"the voltage channel reaches {peak:.3g} mV, beyond +/-{MAX_ABS_VOLTAGE_MV:g} mV: "
                            "not a command voltage (a wrong unit in the file, or damaged data)")
    fs = 1.0 / _median(np.diff(t), overwrite_input=True) if t.size > 1 else 1.0
    duration = float(t[-1] - t[0]) + 1.0 / fs
    what = "the protocol (command)" if source == COMMAND_SOURCE else "the voltage channel"
    noise = noise_mV(v)
    threshold_mV = max(float(threshold_mV), MIN_DETECT_STEP_MV, NOISE_FACTOR * noise)
    why = (f" (= {NOISE_FACTOR:g} x its noise of {noise:.3g} mV rms)"
           if NOISE_FACTOR * noise >= threshold_mV and noise > 0 else "")
    segs = _segments(v, fs, threshold_mV)
    min_len = max(2, int(round(min_epoch_ms * 1e-3 * fs)))
    # fold glitches into the preceding segment
    clean: list[list] = []
    for s, e, lv in segs:
        if clean and (e - s < min_len or abs(lv - clean[-1][2]) < threshold_mV):
            clean[-1][1] = e
        else:
            clean.append([s, e, lv])
    notes: list[str] = []
    # holding level: the level held longest in total
    levels = np.array([c[2] for c in clean])
    lengths = np.array([c[1] - c[0] for c in clean])
    groups: list[list[int]] = []
    for i, lv in enumerate(levels):
        for g in groups:
            if abs(levels[g[0]] - lv) < threshold_mV:
                g.append(i)
                break
        else:
            groups.append([i])
    hold_group = max(groups, key=lambda g: lengths[g].sum())
    v_hold = float(np.average(levels[hold_group], weights=lengths[hold_group]))
    is_hold = np.zeros(len(clean), dtype=bool)
    is_hold[hold_group] = True
    steps: list[Step] = []
    step_idx: list[int] = []
    for i, (s, e, lv) in enumerate(clean):
        if is_hold[i]:
            continue
        if i + 1 >= len(clean):
            raise ProtocolError(
                f"the step to {lv:.1f} mV at {t[s] * 1e3:.2f} ms never returns before the end of the sweep"
            )
        if not is_hold[i + 1]:
            raise ProtocolError(
                f"the step to {lv:.1f} mV at {t[s] * 1e3:.2f} ms is followed directly by another level "
                f"({clean[i + 1][2]:.1f} mV) instead of a return to the holding level ({v_hold:.1f} mV); "
                "set the epochs by hand"
            )
        off_end = clean[i + 2][0] if i + 2 < len(clean) else v.size
        t_start = t[0] + s / fs
        steps.append(Step(t_start, t[0] + e / fs, t[0] + off_end / fs if off_end < v.size else t[0] + duration,
                          lv, v_hold))
        step_idx.append(i)
    if not steps:
        raise ProtocolError(
            f"no voltage step larger than {threshold_mV:.3g} mV{why} was found in {what} "
            f"(it stays near {v_hold:.1f} mV): this sweep has no pulse protocol"
        )
    if len(steps) == 1:
        raise SingleStepError(f"only one voltage step in this sweep: {_describe(steps[0])}; {NEEDS}",
                              steps[0], source)
    lgroups: list[list[int]] = []
    for i, st in enumerate(steps):
        for g in lgroups:
            if abs(steps[g[0]].level_mV - st.level_mV) < threshold_mV:
                g.append(i)
                break
        else:
            lgroups.append([i])
    if len(lgroups) == 1:
        ctrl_ids, test_id = lgroups[0][:-1], lgroups[0][-1]
        notes.append("all steps have the same level: the last one is taken as the test pulse")
    else:
        ctrl_group = max(lgroups, key=lambda g: (len(g), -g[0]))
        others = [i for i in range(len(steps)) if i not in ctrl_group]
        test_id = others[-1]
        ctrl_ids = ctrl_group
        if len(others) > 1:
            skipped = ", ".join(f"{steps[i].level_mV:.1f} mV at {steps[i].on_start_s * 1e3:.1f} ms"
                                for i in others[:-1])
            notes.append(f"steps not used as control or test: {skipped}")
    return Protocol(
        v_hold_mV=v_hold,
        controls=tuple(steps[i] for i in ctrl_ids),
        test=steps[test_id],
        duration_s=duration,
        source=source,
        notes=tuple(notes),
    )


#: what every refusal of a one-step protocol says is missing
NEEDS = ("a control-pulse protocol needs at least two steps from the holding level in each sweep "
         "(control steps and a test pulse): set the epochs by hand if this file has them")


def _describe(step: Step) -> str:
    """``-10.0 mV (from -70.0 to -80.0 mV at 15.6 ms, 50.0 ms long)``."""
    return (f"{step.step_mV:+.1f} mV (from {step.base_mV:.1f} to {step.level_mV:.1f} mV at "
            f"{step.on_start_s * 1e3:.1f} ms, {step.on_duration_s * 1e3:.1f} ms long)")


def _trace(rec: Recording, sweep: int, threshold_mV: float) -> tuple[np.ndarray, str, tuple[str, ...]] | None:
    """(trace, source, notes) to find the protocol in: the recorded voltage unless the command disagrees."""
    v, c = rec.voltage(sweep), rec.command(sweep)
    if v is None and c is None:
        return None
    if v is None:
        return c, COMMAND_SOURCE, ()
    if c is None or not np.isfinite(v).all():
        return v, "voltage channel", ()
    tolerance = max(float(threshold_mV), MIN_DETECT_STEP_MV, NOISE_FACTOR * noise_mV(v))
    gap = _median(np.abs(v - c), overwrite_input=True)
    if gap <= tolerance:
        return v, "voltage channel", ()
    name = rec.channel_names[rec.voltage_channel]
    return c, COMMAND_SOURCE, (
        f"the recorded voltage channel ({name}) differs from the command by {gap:.3g} mV (median), more than "
        f"its noise and the edge threshold allow ({tolerance:.3g} mV): the command is used",)


def _survey(rec: Recording, sweep: int, threshold_mV: float, first: SingleStepError) -> str:
    """The refusal of a one-step sweep, saying what the file's other sweeps hold (first, middle, last)."""
    steps = [first.step]
    for k in sorted({0, rec.n_sweeps // 2, rec.n_sweeps - 1} - {sweep}):
        found = _trace(rec, k, threshold_mV)
        if found is None:
            continue
        try:
            detect_protocol(rec.sweep_t_s(k), found[0], threshold_mV=threshold_mV, source=found[1])
        except SingleStepError as exc:
            steps.append(exc.step)
        except ProtocolError:
            return str(first)
        else:
            return str(first)
    what = "the protocol (command)" if first.source == COMMAND_SOURCE else "the voltage channel"
    sizes = sorted(s.step_mV for s in steps)
    if len(steps) == 1 or sizes[-1] - sizes[0] < MIN_DETECT_STEP_MV:
        kind = " (a membrane test?)" if len(steps) > 1 else ""
        return f"{what} has one step of {_describe(first.step)} per sweep{kind}; {NEEDS}"
    levels = sorted(s.level_mV for s in steps)
    return (f"{what} has one step per sweep, to a level that changes from sweep to sweep ({levels[0]:.1f} to "
            f"{levels[-1]:.1f} mV in the sweeps looked at: an I-V family?); this sweep: {_describe(first.step)}; "
            f"{NEEDS}")


def protocol_from_recording(rec: Recording, sweep: int, threshold_mV: float = 5.0) -> Protocol | None:
    """The protocol of one sweep from the recording itself, or None when it has no voltage at all.

    The recorded voltage channel is used when there is one, unless the command waveform of
    the file's header (ABF epoch table, :attr:`Recording.command_channel`) disagrees with it by
    more than the channel's noise and the edge threshold: then, and when there is no recorded
    voltage, the command is used, :attr:`Protocol.source` is :data:`COMMAND_SOURCE` and the
    results say :data:`COMMAND_NOTE`.

    Parameters
    ----------
    rec : Recording
        The recording (mV, s).
    sweep : int
        0-based sweep index; the sweep is taken at its own length.
    threshold_mV : float
        Edge threshold (mV), see :func:`detect_protocol`.

    Raises
    ------
    ProtocolError
        As :func:`detect_protocol`; a one-step sweep's message says what the file's sweeps hold
        (the same step in each: a membrane test; a level changing per sweep: an I-V family).
    """
    found = _trace(rec, sweep, threshold_mV)
    if found is None:
        return None
    trace, source, notes = found
    try:
        prot = detect_protocol(rec.sweep_t_s(sweep), trace, threshold_mV=threshold_mV, source=source)
    except SingleStepError as exc:
        raise ProtocolError(_survey(rec, sweep, threshold_mV, exc)) from None
    if notes:
        prot = Protocol(prot.v_hold_mV, prot.controls, prot.test, prot.duration_s, prot.source,
                        (*notes, *prot.notes))
    return prot
