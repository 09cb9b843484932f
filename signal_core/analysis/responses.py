"""Responses to each edge, windows in samples, tails and integrals: the arithmetic of one sweep.

Internal building blocks of :mod:`signal_core.analysis.pipeline`; times in ms from the
edge, currents in pA, charges in pC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from signal_core.fitting import exp_profile, fit_line
from signal_core.flags import (
    CHARGE_SETTLING_MAX_BIAS,
    SETTLE_TAUS,
    SIGNIFICANCE_SE,
    SLOW_CLAMP_MAX_BIAS,
    TAIL_DRIFT_MAX_FRACTION,
    AnalysisError,
    Flag,
    make_flag,
)
from signal_core.protocol.steps import Protocol

__all__ = [
    "CarryOver", "ResponseStep", "SweepIndex", "TailResult", "block_means", "control_curves", "drift_window",
    "integral_pC", "integration_window", "per_mV_average", "response_step", "sample_times_ms", "settling_tau_ms",
    "stack_rows", "tail_drift_flag", "unsettled_charge_flag",
    "tail_step", "tail_window",
]


@dataclass(frozen=True)
class CarryOver:
    """What earlier edges' capacitive transients still add after a later edge (linear superposition).

    A step of dV at t_j adds dV a exp(-(t - t_j) / tau) to the current; when the epochs are not
    many tau long, that tail is still there at the next edges, and a constant pre-edge baseline
    cannot remove a decaying one (on a 15 ms clamp with 100 ms epochs it biases Q by ~10 %).

    Attributes
    ----------
    edges_s : tuple of float
        Each edge's time (s), at the first sample of the new level (the step itself half a sample earlier).
    steps_mV : tuple of float
        Each edge's signed step (mV).
    amp_pA_per_mV : float
        The transient's amplitude per mV of step (pA/mV), from the fit of the control transient.
    tau_s : float
        The clamp's time constant (s).
    """

    edges_s: tuple[float, ...]
    steps_mV: tuple[float, ...]
    amp_pA_per_mV: float
    tau_s: float

    @classmethod
    def from_protocol(cls, prot: Protocol, amp_pA_per_mV: float, tau_ms: float) -> CarryOver:
        edges = sorted([(s.on_start_s, s.step_mV) for s in (*prot.controls, prot.test)]
                       + [(s.on_end_s, -s.step_mV) for s in (*prot.controls, prot.test)])
        return cls(tuple(e for e, _ in edges), tuple(d for _, d in edges), amp_pA_per_mV, tau_ms * 1e-3)

    def largest(self) -> float:
        """The largest carried-over fraction of a transient at the next edge (0 with a single edge)."""
        gaps = np.diff(self.edges_s)
        return float(np.exp(-gaps.min() / self.tau_s)) if gaps.size else 0.0

    def at(self, edge_s: float, t_s: np.ndarray) -> np.ndarray:
        """The carried-over current (pA) at times ``t_s`` from the edges before ``edge_s``.

        ``t_s`` are the samples' times shifted by half a sample, so that they count from the
        steps themselves (which fall half a sample before the edges' first samples).
        """
        out = np.zeros(t_s.size)
        for t_j, dv in zip(self.edges_s, self.steps_mV):
            if t_j >= edge_s - 1e-12:
                break
            x = (t_s - t_j) / self.tau_s
            out += np.where(x >= 0, dv * self.amp_pA_per_mV * np.exp(-np.maximum(x, 0.0)), 0.0)
        return out


class SweepIndex:
    """Index arithmetic for one sweep: edges to samples, windows to slices.

    With ``carry``, every response is also cleared of the earlier edges' transients
    (:class:`CarryOver`) before its baseline is taken.
    """

    def __init__(self, i: np.ndarray, fs_hz: float, t0_s: float, guard_s: float, baseline_s: float,
                 carry: CarryOver | None = None):
        self.i = i
        self.fs = fs_hz
        self.t0 = t0_s
        self.n = i.size
        self.guard = max(0, int(np.ceil(guard_s * fs_hz)))
        self.nbase = max(1, int(round(baseline_s * fs_hz)))
        self.carry = carry

    def idx(self, t_s: float) -> int:
        return int(np.clip(round((t_s - self.t0) * self.fs), 0, self.n))

    def response(self, start_s: float, end_s: float, prev_edge_s: float | None, what: str,
                 n_pre: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Current from an edge to a guard before the next edge, minus the mean just before the edge (pA).

        Returns ``(post, pre)``: ``post`` from the first sample of the new level to a guard before
        the next edge, ``pre`` the ``n_pre`` samples just before the edge (a zero-phase filter
        spreads a step to both sides of its edge; the part before it belongs to this response).
        """
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
        n_pre = int(min(max(n_pre, 0), a - base_end))
        seg = self.i[base_start:b]
        if self.carry is not None:
            # sample k lies at t0 + k / fs; an edge at the first sample of its new level stepped half a sample earlier
            t_s = self.t0 + (np.arange(base_start, b) + 0.5) / self.fs
            seg = seg - self.carry.at(start_s, t_s)
        base = float(np.mean(seg[:base_end - base_start]))
        return seg[a - base_start:] - base, seg[a - n_pre - base_start:a - base_start] - base


def _ms_slice(window_ms: tuple[float, float], length: int, fs: float, what: str) -> slice:
    """Samples of a window given in ms from the edge; AnalysisError when it misses the curve.

    Sample k stands for the interval [k, k + 1) / fs after the edge (its midpoint is (k + 0.5) / fs).
    """
    a = int(round(window_ms[0] * 1e-3 * fs))
    b = int(round(window_ms[1] * 1e-3 * fs))
    if a >= length - 1 or b - a < 2:
        raise AnalysisError(
            f"the {what} {window_ms[0]:g}-{window_ms[1]:g} ms lies outside the "
            f"0-{length / fs * 1e3:.2f} ms the asymmetric current lasts"
        )
    return slice(a, min(b, length))


def _span_ms(sl: slice, fs: float) -> tuple[float, float]:
    return sl.start / fs * 1e3, sl.stop / fs * 1e3


def sample_times_ms(length: int, fs: float) -> np.ndarray:
    """Times (ms from the edge) of a response's samples.

    The command steps somewhere between the last sample of the old level and the first of the
    new one; the expected place is half way, so the first sample of a response lies half a
    sample after its edge.  Counting it as t = 0 would bias I0, hence R_s, by exp(dt / (2 tau)).
    """
    return (np.arange(length) + 0.5) / fs * 1e3


def integration_window(
    window_ms: tuple[float, float] | None, length: int, fs: float, label: str
) -> tuple[slice, tuple[float, float]]:
    """The integration window as samples and as (start, end) ms; default the whole curve."""
    sl = slice(0, length) if window_ms is None else _ms_slice(window_ms, length, fs, f"{label} integration window")
    return sl, _span_ms(sl, fs)


def integral_pC(y_pA: np.ndarray, fs: float) -> float:
    """Integral (pC) of a current (pA) sampled at the midpoints of intervals 1 / fs long (the midpoint rule).

    With samples at (k + 0.5) / fs after an edge this integrates from the edge itself to the end
    of the last sample's interval; for an exponential of time constant tau its error is about
    -(dt / tau)^2 / 24 (0.1 % at 6 samples per tau).
    """
    return float(np.sum(y_pA) / fs)


def control_curves(
    sw: SweepIndex, prot: Protocol, n_pre: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per-control responses: ON (pA), ON per mV, OFF per mV, and the pre-edge parts per mV of ON and OFF."""
    on_raw, on_per_mV, off_per_mV, on_pre, off_pre = [], [], [], [], []
    all_steps = sorted((*prot.controls, prot.test), key=lambda s: s.on_start_s)
    for k, c in enumerate(prot.controls, 1):
        pos = all_steps.index(c)
        prev = all_steps[pos - 1].off_end_s if pos > 0 else None
        prev_edge = prev if prev is not None and prev < c.on_start_s else None
        r_on, p_on = sw.response(c.on_start_s, c.on_end_s, prev_edge, f"control step {k}", n_pre)
        r_off, p_off = sw.response(c.on_end_s, c.off_end_s, c.on_start_s, f"return of control step {k}", n_pre)
        on_raw.append(r_on)
        on_per_mV.append(r_on / c.step_mV)
        off_per_mV.append(r_off / (-c.step_mV))
        on_pre.append(p_on / c.step_mV)
        off_pre.append(p_off / (-c.step_mV))
    return on_raw, on_per_mV, off_per_mV, on_pre, off_pre


def stack_rows(curves: list[np.ndarray], length: int) -> np.ndarray:
    return np.vstack([c[:length] for c in curves])


def per_mV_average(source: str, on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Magenta: the average control response per mV from the ON, the OFF or both sets of steps."""
    if source == "on":
        return on.mean(axis=0)
    if source == "off":
        return off.mean(axis=0)
    return np.vstack([on, off]).mean(axis=0)


@dataclass(frozen=True, eq=False)
class ResponseStep:
    """The responses step of one sweep: control curves per mV and the raw asymmetric currents.

    Attributes
    ----------
    ctrl_on_pA : tuple of ndarray
        Each control step's ON response (pA), for the passive step.
    ctrl_on_pre_pA_per_mV : tuple of ndarray
        Each control step's ON response per mV in the filter's spread before its edge.
    dark_on, dark_off : ndarray
        One row per control step, each divided by its own signed step (pA/mV), ``len_ctrl`` long.
    magenta_on, magenta_off : ndarray
        The averages the recipe's control sources pick (pA/mV).
    purple_on_raw, purple_off_raw : ndarray
        Test response minus the scaled magenta curve (pA), before the tail step.
    purple_on_pre, purple_off_pre : ndarray
        The same in the samples just before the test's edges (the filter's spread; empty unfiltered).
    test_on, test_off : ndarray
        The test pulse's own responses to its two edges (pA, from the first sample after the edge to
        the guard before the next), whose late decay times the settling of the charge.
    flags : tuple of Flag
        ``test_longer_than_control``.
    """

    ctrl_on_pA: tuple[np.ndarray, ...]
    ctrl_on_pre_pA_per_mV: tuple[np.ndarray, ...]
    dark_on: np.ndarray
    dark_off: np.ndarray
    magenta_on: np.ndarray
    magenta_off: np.ndarray
    purple_on_raw: np.ndarray
    purple_off_raw: np.ndarray
    purple_on_pre: np.ndarray
    purple_off_pre: np.ndarray
    test_on: np.ndarray
    test_off: np.ndarray
    flags: tuple[Flag, ...]

    @property
    def len_ctrl(self) -> int:
        return int(self.dark_on.shape[1])


def response_step(sw: SweepIndex, prot: Protocol, control_on_source: str, control_off_source: str,
                  n_pre: int = 0) -> ResponseStep:
    """Control responses per mV (dark blue, magenta) and the raw asymmetric currents ON and OFF (purple).

    With the signed test step dV: I_on = test ON - dV g_on, I_off = test OFF + dV g_off, each as
    long as the shorter of the test epoch and the control epochs (less the guards).
    """
    on_raw, on_pm, off_pm, on_pre, off_pre = control_curves(sw, prot, n_pre)
    all_steps = sorted((*prot.controls, prot.test), key=lambda s: s.on_start_s)
    t_pos = all_steps.index(prot.test)
    prev = all_steps[t_pos - 1].off_end_s if t_pos > 0 else None
    test_on, test_on_pre = sw.response(prot.test.on_start_s, prot.test.on_end_s,
                                       prev if prev is not None and prev < prot.test.on_start_s else None,
                                       "test pulse", n_pre)
    test_off, test_off_pre = sw.response(prot.test.on_end_s, prot.test.off_end_s, prot.test.on_start_s,
                                         "test pulse return", n_pre)
    len_ctrl = min(c.size for c in (*on_pm, *off_pm))
    dark_on = stack_rows(on_pm, len_ctrl)
    dark_off = stack_rows(off_pm, len_ctrl)
    magenta_on = per_mV_average(control_on_source, dark_on, dark_off)
    magenta_off = per_mV_average(control_off_source, dark_on, dark_off)
    len_on = min(test_on.size, len_ctrl)
    len_off = min(test_off.size, len_ctrl)
    flags: list[Flag] = []
    if test_on.size > len_ctrl:
        flags.append(make_flag(
            "test_longer_than_control",
            f"The test pulse ({prot.test.on_duration_s * 1e3:.1f} ms) is longer than the control steps: "
            f"the asymmetric current ON is computed only over the first {len_on / sw.fs * 1e3:.1f} ms.",
        ))
    dv = prot.test_step_mV
    n_p = min(c.size for c in (*on_pre, *off_pre, test_on_pre, test_off_pre))
    g_on_pre = per_mV_average(control_on_source, _pre_rows(on_pre, n_p), _pre_rows(off_pre, n_p))
    g_off_pre = per_mV_average(control_off_source, _pre_rows(on_pre, n_p), _pre_rows(off_pre, n_p))
    purple_on = test_on[:len_on] - dv * magenta_on[:len_on]
    # the OFF edge's pre-edge baseline holds the linear current at V2 plus whatever charge current still flows
    # there (a slow clamp); only the linear part is the OFF response's zero, so the charge current is put back
    still = float(np.mean(purple_on[-sw.nbase:])) if test_on.size <= len_ctrl else 0.0
    return ResponseStep(
        ctrl_on_pA=tuple(on_raw),
        ctrl_on_pre_pA_per_mV=tuple(on_pre),
        dark_on=dark_on, dark_off=dark_off, magenta_on=magenta_on, magenta_off=magenta_off,
        purple_on_raw=purple_on,
        purple_off_raw=test_off[:len_off] + dv * magenta_off[:len_off] + still,
        purple_on_pre=test_on_pre[test_on_pre.size - n_p:] - dv * g_on_pre,
        purple_off_pre=test_off_pre[test_off_pre.size - n_p:] + dv * g_off_pre + still,
        test_on=test_on, test_off=test_off,
        flags=tuple(flags),
    )


def _pre_rows(curves: list[np.ndarray], n: int) -> np.ndarray:
    """The last ``n`` samples of each pre-edge curve, one row each (the samples nearest the edge)."""
    return np.vstack([c[c.size - n:] for c in curves]) if n else np.zeros((len(curves), 0))


@dataclass(frozen=True, eq=False)
class TailResult:
    """The tail step of one purple curve: the level removed, where it came from, and its flags.

    Attributes
    ----------
    level_pA : ndarray
        The baseline removed from the purple curve, one value per sample (pA).
    window_ms : (float, float)
        The tail window (ms from the edge); for an extrapolated level, the span fitted.
    window : slice
        The same window in samples.
    unsettled : bool
        True when no part of the epoch had settled (:data:`~signal_core.flags.SETTLE_TAUS` tau): no level
        is removed then (``level_pA`` is 0), since the last samples still carry charge current.
    flags : tuple of Flag
    """

    level_pA: np.ndarray
    window_ms: tuple[float, float]
    window: slice
    unsettled: bool
    flags: tuple[Flag, ...]


def _settled_start(length: int, fs: float, fraction: float, tau_ms: float | None) -> int:
    """First sample of the default tail window: the last ``fraction`` of the epoch, and at least SETTLE_TAUS tau."""
    a = int(np.floor(length * (1.0 - fraction)))
    if tau_ms is not None and np.isfinite(tau_ms) and tau_ms > 0:
        a = max(a, int(np.ceil(SETTLE_TAUS * tau_ms * 1e-3 * fs - 0.5)))
    return a


def tail_window(
    window_ms: tuple[float, float] | None, length: int, fs: float, fraction: float, label: str,
    tau_ms: float | None = None,
) -> tuple[slice, tuple[float, float]]:
    """The tail window as samples and as (start, end) ms.

    Default: the last ``fraction`` of the curve, starting no earlier than
    :data:`~signal_core.flags.SETTLE_TAUS` clamp time constants after the edge; when that leaves
    less than half the default window, the default window itself (the caller then knows the
    epoch has not settled).
    """
    if window_ms is None:
        a = _settled_start(length, fs, fraction, tau_ms)
        if length - a < max(3, 0.5 * fraction * length):
            a = int(np.floor(length * (1.0 - fraction)))
        sl = slice(min(a, length - 2), length)
    else:
        sl = _ms_slice(window_ms, length, fs, f"{label} tail window")
    return sl, _span_ms(sl, fs)


def tail_step(
    purple: np.ndarray, fs: float, mode: str, window: tuple[float, float] | None, fraction: float,
    points: tuple[tuple[float, float], tuple[float, float]] | None, label: str, tau_ms: float | None = None,
    q_scale_pC: float | None = None,
) -> TailResult:
    """The baseline to remove from a purple curve (``label`` "ON" or "OFF").

    ``tau_ms`` is the clamp's time constant: the default constant tail window starts
    :data:`~signal_core.flags.SETTLE_TAUS` tau after the edge at the earliest; where the epoch is too
    short for that no level is removed, with a ``slow_clamp`` flag when the level of the default
    window would move the charge by more than :data:`~signal_core.flags.SLOW_CLAMP_MAX_BIAS` of
    ``q_scale_pC`` (the charge before the tail step): the bias left if that level were a steady current.
    """
    n = purple.size
    t_ms = sample_times_ms(n, fs)
    sl, win_ms = tail_window(window, n, fs, fraction, label, tau_ms)
    flags: list[Flag] = []
    unsettled = False
    code = label.lower()
    if mode == "none":
        base = np.zeros(n)
    elif mode == "constant":
        level = float(np.mean(purple[sl]))
        settled = _settled_start(n, fs, fraction, tau_ms)
        if window is None and tau_ms is not None and sl.start < settled:
            # no settled part: the last samples still hold charge current, and removing them as "tail" would bias Q;
            # the controls have removed the linear current and the pre-edge reference the holding level
            change_pC = abs(level) * n / fs
            scale = abs(q_scale_pC) if q_scale_pC is not None else 0.0
            unsettled = True
            if change_pC > SLOW_CLAMP_MAX_BIAS * scale:
                flags.append(make_flag(
                    "slow_clamp",
                    f"The clamp time constant ({tau_ms:.2f} ms) is long for this {n / fs * 1e3:.0f} ms {label} "
                    f"epoch: no part of it has settled for {SETTLE_TAUS:g} tau, so no tail level is removed (the "
                    f"last {fraction * 100:.0f} % still carries charge current, {level:+.1f} pA on average). If "
                    f"the cell also passes a steady nonlinear current of that size, Q_{code} is off by up to "
                    f"{change_pC:.2f} pC" + (f" ({change_pC / scale * 100:.0f} %)" if scale > 0 else "")
                    + "; longer pulses settle this.",
                ))
            level = 0.0
        base = np.full(n, level)
    elif mode == "line":
        if sl.stop - sl.start < 3:
            raise AnalysisError(f"the {label} tail window is too short for a line")
        base = fit_line(t_ms[sl], purple[sl]).predict(t_ms)
        span = win_ms[1] - win_ms[0]
        if span < 30.0 or span < 0.3 * t_ms[-1]:
            flags.append(make_flag(
                f"tail_line_short_{code}",
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
    return TailResult(base, win_ms, sl, unsettled, tuple(flags))


def block_means(y: np.ndarray, n_per_block: int) -> np.ndarray:
    n = (y.size // n_per_block) * n_per_block
    return y[:n].reshape(-1, n_per_block).mean(axis=1)


def drift_window(length: int, fs: float, tail: slice, tau_ms: float | None) -> slice:
    """Where a purple curve's drift is measured: from SETTLE_TAUS tau (or 60 % of the epoch, if later) to the end.

    A longer settled span than the tail window itself measures a slow drift far more precisely
    (the slope's standard error falls as the span to the power 1.5); never shorter than the tail window.
    """
    a = int(0.6 * length)
    if tau_ms is not None and np.isfinite(tau_ms) and tau_ms > 0:
        a = max(a, int(np.ceil(SETTLE_TAUS * tau_ms * 1e-3 * fs)))
    a = min(a, tail.start)
    return slice(a, length) if tail.stop >= length else tail


def tail_drift_flag(curve: np.ndarray, sl: slice, fs: float, q_pC: float, label: str,
                    tail: slice | None = None, integrate: slice | None = None) -> Flag | None:
    """Flag a purple curve that still drifts where it has settled, when the drift biases the charge by over 5 %.

    The slope is fitted to 10 block means of the window ``sl``, so slow correlated noise (left
    by low-pass filters) does not pass for a trend.  A constant tail level taken at the tail
    window's centre c leaves, over the integration window [t1, t2], the error
    slope x (t2 - t1) x ((t1 + t2) / 2 - c) in the charge: the flag states it.
    """
    seg = curve[sl]
    n_blk = seg.size // 10
    if n_blk < 1:
        return None
    means = block_means(seg, n_blk)
    t_ms = (sl.start + (np.arange(means.size) + 0.5) * n_blk) / fs * 1e3
    line = fit_line(t_ms, means)
    slope, se = line.params["slope"], line.stderr["slope"]  # pA/ms
    tail = tail if tail is not None else sl
    integrate = integrate if integrate is not None else slice(0, curve.size)
    c_ms = 0.5 * (tail.start + tail.stop) / fs * 1e3
    t1, t2 = integrate.start / fs * 1e3, integrate.stop / fs * 1e3
    effect_pC = abs(slope * (t2 - t1) * (0.5 * (t1 + t2) - c_ms)) * 1e-3  # pA x ms = fC
    window_ms = seg.size / fs * 1e3
    if np.isfinite(se) and abs(slope) > 3 * se and effect_pC > TAIL_DRIFT_MAX_FRACTION * abs(q_pC):
        code = f"tail_slope_{label.lower()}"
        share = f" ({effect_pC / abs(q_pC) * 100:.0f} %)" if q_pC else ""
        return make_flag(
            code,
            f"The {label} asymmetric current still drifts where it has settled: {slope * 1e3:+.0f} pA/s over the "
            f"last {window_ms:.1f} ms. With a constant tail level that biases Q_{label.lower()} by about "
            f"{effect_pC:.2f} pC{share}; check the baseline, or fit a tail line over a long window.",
        )
    return None


#: the test's transient is timed from this many clamp time constants after the edge, where the linear part has
#: fallen to 14 % and the slowest decay (the membrane and the charge's capacitance together) dominates
_SETTLING_FROM_TAUS = 2.0
#: block length (s) of the settling fits: short against any clamp time constant worth flagging, long against a
#: sample, so a fit of a 100 ms epoch has about a hundred points
_SETTLING_BLOCK_S = 1e-3
#: the settling time constant is searched on a log grid from half the clamp's tau to this many times the span
_SETTLING_GRID = (0.5, 10.0, 1.03)
#: block length (s) of the purple curve in the remainder fit: 1 ms averages out the filters' correlation (2 kHz)
_REMAINDER_BLOCK_S = 1e-3


def settling_tau_ms(test_pA: np.ndarray, fs: float, tau_ms: float) -> float | None:
    """The late decay time (ms) of the test pulse's own response to an edge, or None when it shows none.

    The controls decay with the clamp's time constant ``tau_ms``; the test, at a potential where
    charge moves, decays more slowly: near its final level the membrane's capacitance is C_m plus
    the charge's dQ/dV, so the slowest time constant is about tau (1 + C_q / C_m).  It is fitted
    (exponential plus offset) to block means of the response from :data:`_SETTLING_FROM_TAUS` tau
    after the edge to its end, where the large linear transient makes it precise even when the
    purple curve is noisy.  The fit is a one-dimensional search: for each tau of a log grid the level
    and amplitude are solved exactly (:func:`signal_core.fitting.exp_profile`), and a parabola
    refines the best.  None when fewer than 8 blocks remain or no decay is found in the grid.
    """
    if not (np.isfinite(tau_ms) and tau_ms > 0):
        return None
    a = int(np.ceil(_SETTLING_FROM_TAUS * tau_ms * 1e-3 * fs))
    nb = max(1, int(round(_SETTLING_BLOCK_S * fs)))
    seg = test_pA[a:]
    m = seg.size // nb
    if m < 8:
        return None
    y = block_means(seg, nb)
    s_ms = (np.arange(m) + 0.5) * nb / fs * 1e3
    lo, hi, ratio = _SETTLING_GRID
    taus = np.exp(np.arange(np.log(lo * tau_ms), np.log(hi * s_ms[-1]), np.log(ratio)))
    if taus.size < 3:  # a clamp far slower than what is left of the epoch: nothing to time the settling by
        return None
    ssr = exp_profile(s_ms, y, taus)
    k = int(np.argmin(ssr))
    if not 0 < k < taus.size - 1:  # no decay within the grid (flat, a ramp, or faster than the clamp)
        return None
    # parabola through the three grid points around the minimum, in log(tau)
    d1, d2 = ssr[k + 1] - ssr[k - 1], ssr[k + 1] - 2.0 * ssr[k] + ssr[k - 1]
    shift = -0.5 * d1 / d2 if d2 > 0 else 0.0
    return float(taus[k] * ratio ** float(np.clip(shift, -1.0, 1.0)))


def unsettled_charge_flag(purple: np.ndarray, fs: float, tail: slice, integrate: slice, q_pC: float, label: str,
                          settle_tau_ms: float | None) -> Flag | None:
    """``charge_unsettled_*`` when charge current still decaying in the tail window biases Q beyond the bound.

    The purple curve's late part is fitted, in 1 ms block means from two ``settle_tau_ms`` after the
    edge on, as ``c + A exp(-t / settle_tau_ms)``: the decay time is the test's own
    (:func:`settling_tau_ms`), so only the level and amplitude are free and the fit is stable even where the
    purple curve is noisy.  The decaying part's mean over the tail window, R, is removed with the
    steady level over the whole integration window, so Q errs by about -R x (integration window).
    Fires when that exceeds :data:`~signal_core.flags.CHARGE_SETTLING_MAX_BIAS` of |Q| and R exceeds
    :data:`~signal_core.flags.SIGNIFICANCE_SE` standard errors (the block means' scatter, raised by
    the variance ratio of 5-block means where the noise is slow).
    """
    if settle_tau_ms is None or not q_pC:
        return None
    nb = max(1, int(round(_REMAINDER_BLOCK_S * fs)))
    m = purple.size // nb
    y = block_means(purple, nb)
    t_ms = (np.arange(m) + 0.5) * nb / fs * 1e3
    use = t_ms >= _SETTLING_FROM_TAUS * settle_tau_ms
    if np.count_nonzero(use) < 8:
        return None
    decay = np.exp(-t_ms[use] / settle_tau_ms)
    yu = y[use]
    # least squares of c + A decay, by the 2 x 2 normal equations on centred data
    dc = decay - decay.mean()
    sdd = float(dc @ dc)
    dof = yu.size - 2
    g = 5
    if dof < 3 or yu.size // g < 3 or sdd <= 0.0:  # too few points, or a decay flat over the span
        return None
    amp = float(dc @ (yu - yu.mean())) / sdd
    resid = yu - yu.mean() - amp * dc
    var_resid = float(resid @ resid) / dof
    var_ratio = max(1.0, float(np.var(block_means(resid, g))) * g / float(np.var(resid))) if var_resid > 0 else 1.0
    se_amp = math.sqrt(var_resid * var_ratio / sdd)
    t_tail_ms = (np.arange(tail.start, tail.stop) + 0.5) / fs * 1e3
    shape = float(np.mean(np.exp(-t_tail_ms / settle_tau_ms)))
    remainder_pA = amp * shape
    se_pA = se_amp * shape
    bias_pC = -remainder_pA * (integrate.stop - integrate.start) / fs  # pA x s = pC
    if not (abs(bias_pC) > CHARGE_SETTLING_MAX_BIAS * abs(q_pC) and abs(remainder_pA) > SIGNIFICANCE_SE * se_pA):
        return None
    code = label.lower()
    return make_flag(
        f"charge_unsettled_{code}",
        f"The test pulse's {label} transient decays with {settle_tau_ms:.1f} ms, slower than the controls' (the "
        f"moving charge adds its capacitance), and the purple {label} curve has not settled in the tail window: "
        f"{remainder_pA:+.1f} pA of decaying charge current there is removed as the steady level, so Q_{code} is "
        f"off by about {bias_pC:+.2f} pC ({bias_pC / abs(q_pC) * 100:+.0f} %) and the charge the pipette saw is "
        f"about {q_pC - bias_pC:.2f} pC. Longer test pulses settle it.",
    )
