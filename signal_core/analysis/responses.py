"""Responses to each edge, windows in samples, tails and integrals: the arithmetic of one sweep.

Internal building blocks of :mod:`signal_core.analysis.pipeline`; times in ms from the
edge, currents in pA, charges in pC.
"""

from __future__ import annotations

import numpy as np

from signal_core.fitting import fit_line
from signal_core.flags import AnalysisError, Flag
from signal_core.protocol.steps import Protocol

__all__ = [
    "SweepIndex", "block_means", "control_curves", "integration_window", "per_mV_average", "stack_rows",
    "tail_baseline", "tail_drift_flag", "tail_window", "trapezoid_pC",
]


class SweepIndex:
    """Index arithmetic for one sweep: edges to samples, windows to slices."""

    def __init__(self, i: np.ndarray, fs_hz: float, t0_s: float, guard_s: float, baseline_s: float):
        self.i = i
        self.fs = fs_hz
        self.t0 = t0_s
        self.n = i.size
        self.guard = max(0, int(np.ceil(guard_s * fs_hz)))
        self.nbase = max(1, int(round(baseline_s * fs_hz)))

    def idx(self, t_s: float) -> int:
        return int(np.clip(round((t_s - self.t0) * self.fs), 0, self.n))

    def response(self, start_s: float, end_s: float, prev_edge_s: float | None, what: str) -> np.ndarray:
        """Current from an edge to a guard before the next edge, minus the mean just before the edge (pA)."""
        a, b = self.idx(start_s), self.idx(end_s) - self.guard
        lo_limit = 0 if prev_edge_s is None else self.idx(prev_edge_s) + self.guard
        base_end = a - self.guard
        base_start = max(lo_limit, base_end - self.nbase)
        if base_end - base_start < 1:
            raise AnalysisError(
                f"no room for the pre-edge baseline of the {what} at {start_s * 1e3:.2f} ms: "
                f"the previous epoch is shorter than the guard ({self.guard / self.fs * 1e3:.2f} ms) "
                "plus one sample; shorten the guard or the filter"
            )
        if b - a < 3:
            raise AnalysisError(
                f"the {what} at {start_s * 1e3:.2f} ms is too short for a response after the "
                f"{self.guard / self.fs * 1e3:.2f} ms guard"
            )
        base = float(np.mean(self.i[base_start:base_end]))
        return self.i[a:b] - base


def _ms_slice(window_ms: tuple[float, float], length: int, fs: float, what: str) -> slice:
    """Samples of a window given in ms from the edge; AnalysisError when it misses the curve."""
    a = int(round(window_ms[0] * 1e-3 * fs))
    b = int(round(window_ms[1] * 1e-3 * fs)) + 1
    if a >= length - 1 or b - a < 2:
        raise AnalysisError(
            f"the {what} {window_ms[0]:g}-{window_ms[1]:g} ms lies outside the "
            f"0-{(length - 1) / fs * 1e3:.2f} ms the asymmetric current lasts"
        )
    return slice(a, min(b, length))


def _span_ms(sl: slice, fs: float) -> tuple[float, float]:
    return sl.start / fs * 1e3, (sl.stop - 1) / fs * 1e3


def tail_window(
    window_ms: tuple[float, float] | None, length: int, fs: float, fraction: float, label: str
) -> tuple[slice, tuple[float, float]]:
    """The tail window as samples and as (start, end) ms; default the last ``fraction`` of the curve."""
    if window_ms is None:
        a = int(np.floor(length * (1.0 - fraction)))
        sl = slice(min(a, length - 2), length)
    else:
        sl = _ms_slice(window_ms, length, fs, f"{label} tail window")
    return sl, _span_ms(sl, fs)


def integration_window(
    window_ms: tuple[float, float] | None, length: int, fs: float, label: str
) -> tuple[slice, tuple[float, float]]:
    """The integration window as samples and as (start, end) ms; default the whole curve."""
    sl = slice(0, length) if window_ms is None else _ms_slice(window_ms, length, fs, f"{label} integration window")
    return sl, _span_ms(sl, fs)


def trapezoid_pC(y_pA: np.ndarray, fs: float) -> float:
    """Trapezoid-rule integral of a uniformly sampled current (pA) in pC."""
    if y_pA.size < 2:
        return 0.0
    return float((y_pA.sum() - 0.5 * (y_pA[0] + y_pA[-1])) / fs)


def control_curves(
    sw: SweepIndex, prot: Protocol
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per-control responses: ON (pA), ON per mV, OFF per mV (each on its own edge)."""
    on_raw, on_per_mV, off_per_mV = [], [], []
    all_steps = sorted((*prot.controls, prot.test), key=lambda s: s.on_start_s)
    for k, c in enumerate(prot.controls, 1):
        pos = all_steps.index(c)
        prev = all_steps[pos - 1].off_end_s if pos > 0 else None
        prev_edge = prev if prev is not None and prev < c.on_start_s else None
        r_on = sw.response(c.on_start_s, c.on_end_s, prev_edge, f"control step {k}")
        r_off = sw.response(c.on_end_s, c.off_end_s, c.on_start_s, f"return of control step {k}")
        on_raw.append(r_on)
        on_per_mV.append(r_on / c.step_mV)
        off_per_mV.append(r_off / (-c.step_mV))
    return on_raw, on_per_mV, off_per_mV


def stack_rows(curves: list[np.ndarray], length: int) -> np.ndarray:
    return np.vstack([c[:length] for c in curves])


def per_mV_average(source: str, on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Magenta: the average control response per mV from the ON, the OFF or both sets of steps."""
    if source == "on":
        return on.mean(axis=0)
    if source == "off":
        return off.mean(axis=0)
    return np.vstack([on, off]).mean(axis=0)


def tail_baseline(
    purple: np.ndarray, fs: float, mode: str, window: tuple[float, float] | None, fraction: float,
    points: tuple[tuple[float, float], tuple[float, float]] | None, label: str, flags: list[Flag],
) -> tuple[np.ndarray, tuple[float, float], slice]:
    """Baseline to remove from a purple curve, its window (ms) and the window as a slice."""
    n = purple.size
    t_ms = np.arange(n) / fs * 1e3
    sl, win_ms = tail_window(window, n, fs, fraction, label)
    if mode == "none":
        base = np.zeros(n)
    elif mode == "constant":
        base = np.full(n, float(np.mean(purple[sl])))
    elif mode == "line":
        if sl.stop - sl.start < 3:
            raise AnalysisError(f"the {label} tail window is too short for a line")
        base = fit_line(t_ms[sl], purple[sl]).predict(t_ms)
        span = win_ms[1] - win_ms[0]
        if span < 30.0 or span < 0.3 * t_ms[-1]:
            flags.append(Flag(
                f"tail_line_short_{label}", "warning",
                f"The {label} tail line was fitted over only {span:.1f} ms and extrapolated back to the edge: "
                "a short window tilts the line and can change the sign of the charge. "
                "A constant tail is safer.",
            ))
    else:  # manual two-point line
        (t1, y1), (t2, y2) = points  # type: ignore[misc]
        with np.errstate(over="ignore", invalid="ignore"):
            base = y1 + (y2 - y1) * (t_ms - t1) / (t2 - t1)
        if not np.isfinite(base).all():
            raise AnalysisError(
                f"the hand-drawn {label} tail line through ({t1:g} ms, {y1:g} pA) and ({t2:g} ms, {y2:g} pA) is "
                "too steep: it runs off to infinity within the epoch"
            )
    return base, win_ms, sl


def block_means(y: np.ndarray, n_per_block: int) -> np.ndarray:
    n = (y.size // n_per_block) * n_per_block
    return y[:n].reshape(-1, n_per_block).mean(axis=1)


def tail_drift_flag(curve: np.ndarray, sl: slice, fs: float, q_pC: float, label: str) -> Flag | None:
    """Flag a tail that still drifts: a significant slope whose effect on the charge passes 5 %.

    The slope is fitted to 10 block means of the tail window, so slow correlated
    noise (left by low-pass filters) does not pass for a trend.  Its effect on the
    charge: the baseline is uncertain by half the drift across the window, over
    the whole epoch.
    """
    tail = curve[sl]
    n_blk = tail.size // 10
    if n_blk < 1:
        return None
    means = block_means(tail, n_blk)
    t_ms = (np.arange(means.size) + 0.5) * n_blk / fs * 1e3
    line = fit_line(t_ms, means)
    slope, se = line.params["slope"], line.stderr["slope"]
    window_ms = tail.size / fs * 1e3
    drift_pA = slope * window_ms
    effect_pC = 0.5 * abs(drift_pA) * curve.size / fs
    if np.isfinite(se) and abs(slope) > 3 * se and effect_pC > 0.05 * abs(q_pC):
        return Flag(
            f"tail_slope_{label}", "warning",
            f"The {label} asymmetric current still drifts at the end: {drift_pA:+.1f} pA across the "
            f"{window_ms:.1f} ms tail window. That makes the tail level, and Q_{label.lower()}, uncertain by about "
            f"{effect_pC:.2f} pC ({effect_pC / abs(q_pC) * 100:.0f} %); check the tail on the purple plot.",
        )
    return None
