"""Protocol detection: holding level, control steps and test pulse from the recorded command voltage.

:func:`detect_protocol` splits the voltage channel of a sweep into constant-level
segments, folds glitches away, takes the level held longest as the holding level and
sorts the excursions from it into control steps and the test pulse.  Times in s, levels in mV.
"""

from __future__ import annotations

import numpy as np

from signal_core.protocol.steps import Protocol, ProtocolError, Step

__all__ = [
    "MAX_ABS_VOLTAGE_MV",
    "detect_protocol",
]


#: a recorded voltage beyond +/- this (mV) is refused before edges are searched in it
MAX_ABS_VOLTAGE_MV = 1e6


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
        return [(0, n, float(np.median(v)))]
    levels = [float(np.median(v[s:e])) for s, e in flats]
    # merge neighbours whose levels do not differ by a step
    merged: list[list] = [[flats[0][0], flats[0][1], [levels[0]]]]
    for (s, e), lv in zip(flats[1:], levels[1:]):
        if abs(lv - np.median(merged[-1][2])) < threshold_mV:
            merged[-1][1] = e
            merged[-1][2].append(lv)
        else:
            merged.append([s, e, [lv]])
    segs = [(s, e, float(np.median(v[s:e]))) for s, e, _ in merged]
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
) -> Protocol:
    """Find holding level, control steps and test pulse from the recorded command voltage.

    Parameters
    ----------
    t_s : ndarray
        Sample times of the sweep (s), uniform.
    v_mV : ndarray
        Recorded command voltage (mV).
    threshold_mV : float
        A change of the level by more than this is an edge (mV).
    min_epoch_ms : float
        Shorter excursions are treated as glitches, not steps (ms).

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
        No step, only one step, a step that never returns, or a non-finite trace.
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
    fs = 1.0 / float(np.median(np.diff(t))) if t.size > 1 else 1.0
    duration = float(t[-1] - t[0]) + 1.0 / fs
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
            f"no voltage step larger than {threshold_mV:g} mV was found in the voltage channel "
            f"(it stays near {v_hold:.1f} mV): this sweep has no pulse protocol"
        )
    if len(steps) == 1:
        raise ProtocolError(
            f"only one voltage step was found (to {steps[0].level_mV:.1f} mV at "
            f"{steps[0].on_start_s * 1e3:.2f} ms): a control step and a test pulse are both needed"
        )
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
            skipped = ", ".join(f"{steps[i].level_mV:.1f} mV at {steps[i].on_start_s * 1e3:.1f} ms" for i in others[:-1])
            notes.append(f"steps not used as control or test: {skipped}")
    return Protocol(
        v_hold_mV=v_hold,
        controls=tuple(steps[i] for i in ctrl_ids),
        test=steps[test_id],
        duration_s=duration,
        source="voltage channel",
        notes=tuple(notes),
    )
