"""Control-pulse subtraction, charges, linear capacitance and passive parameters (DOMAIN.md section 2).

The entry points are :func:`analyze_sweep` (one sweep into a frozen
:class:`ChargeResult`) and :func:`analyze_recording` (every sweep, a failure per
sweep reported instead of stopping the others).  Every curve carries its own
time axis in ms from its edge; every number carries its unit in its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .filters import apply_chain, chain_settle_s, decimate, decimated_time
from .fitting import FitError, FitResult, fit_exponential, fit_line
from .params import AnalysisParams
from .protocol import Protocol, ProtocolError, detect_protocol, protocol_from_timing, v2_from_filename
from .recording import Recording

__all__ = [
    "AnalysisError",
    "ChargeResult",
    "Flag",
    "SweepFailure",
    "analyze_recording",
    "analyze_sweep",
    "filtered_current",
    "find_protocol",
]


class AnalysisError(ValueError):
    """The analysis cannot be done with these data and parameters (the message says why)."""


@dataclass(frozen=True)
class Flag:
    """A quality remark: a short code, a severity ("info" or "warning") and a plain-language text."""

    code: str
    severity: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, eq=False)
class ChargeResult:
    """Everything one sweep's analysis produced.

    Curves (ndarrays, read-only) and their time axes:

    - ``t_orange_s``, ``i_orange_pA``: the filtered current, decimated (orange), whole sweep.
    - ``t_ctrl_ms`` with ``dark_blue_on_pA_per_mV`` (one row per control step, each divided
      by its own signed step) and ``magenta_on_pA_per_mV`` (the average the recipe's
      ``control_on_source`` picks); likewise ``_off`` for the returns.
    - ``t_on_ms``, ``purple_on_pA``: asymmetric current ON after tail correction;
      ``purple_on_raw_pA`` before it and ``tail_on_pA`` the removed baseline; likewise OFF.
    - ``ctrl_on_mean_pA``: the averaged control ON response (pA, on ``t_ctrl_on_ms``) and
      ``ctrl_fit_pA`` the exponential fitted to it (nan outside the fit window); both on
      their own axis ``np.arange(len) / fs_hz * 1e3`` (ms), see :meth:`t_ctrl_fit_ms`.

    Scalars: charges pC, capacitances nF, resistances MOhm, times ms, currents pA.
    ``r_m_MOhm`` and ``r_in_MOhm`` are None when the passive model does not hold.
    """

    sweep: int
    name: str
    fs_hz: float
    protocol: Protocol
    params: AnalysisParams
    guard_ms: float
    t_orange_s: np.ndarray
    i_orange_pA: np.ndarray
    t_ctrl_ms: np.ndarray
    dark_blue_on_pA_per_mV: np.ndarray
    magenta_on_pA_per_mV: np.ndarray
    dark_blue_off_pA_per_mV: np.ndarray
    magenta_off_pA_per_mV: np.ndarray
    t_on_ms: np.ndarray
    purple_on_raw_pA: np.ndarray
    tail_on_pA: np.ndarray
    purple_on_pA: np.ndarray
    t_off_ms: np.ndarray
    purple_off_raw_pA: np.ndarray
    tail_off_pA: np.ndarray
    purple_off_pA: np.ndarray
    ctrl_on_mean_pA: np.ndarray
    ctrl_fit_pA: np.ndarray
    integrate_on_ms: tuple[float, float]
    integrate_off_ms: tuple[float, float]
    tail_on_ms: tuple[float, float]
    tail_off_ms: tuple[float, float]
    q_on_pC: float
    q_off_pC: float
    q_off_over_on: float
    c_lin_nF: float
    c_lin_corrected_nF: float | None
    c_m_nF: float
    r_s_MOhm: float
    r_m_MOhm: float | None
    r_in_MOhm: float | None
    tau_ms: float
    i0_pA: float
    i_ss_pA: float
    q_on_per_c_m_nC_per_uF: float
    c_specific_uF_per_cm2: float | None
    exp_fit: FitResult | None
    flags: tuple[Flag, ...] = field(default=())

    @property
    def v_hold_mV(self) -> float:
        return self.protocol.v_hold_mV

    @property
    def v_control_mV(self) -> float:
        return self.protocol.v_control_mV

    @property
    def v_test_mV(self) -> float:
        return self.protocol.v_test_mV

    @property
    def t_ctrl_fit_ms(self) -> np.ndarray:
        """Time axis (ms from the edge) of ``ctrl_on_mean_pA`` and ``ctrl_fit_pA``."""
        return np.arange(self.ctrl_on_mean_pA.size) / self.fs_hz * 1e3

    def scalars(self) -> dict[str, float | None]:
        """The numbers of the result, keyed by name with unit (the CLI's and the workbook's columns)."""
        return {
            "fs_hz": self.fs_hz,
            "v_hold_mV": self.v_hold_mV,
            "v_control_mV": self.v_control_mV,
            "v_test_mV": self.v_test_mV,
            "q_on_pC": self.q_on_pC,
            "q_off_pC": self.q_off_pC,
            "q_off_over_on": self.q_off_over_on,
            "c_lin_nF": self.c_lin_nF,
            "c_lin_corrected_nF": self.c_lin_corrected_nF,
            "c_m_nF": self.c_m_nF,
            "r_s_MOhm": self.r_s_MOhm,
            "r_m_MOhm": self.r_m_MOhm,
            "r_in_MOhm": self.r_in_MOhm,
            "tau_ms": self.tau_ms,
            "i0_pA": self.i0_pA,
            "i_ss_pA": self.i_ss_pA,
            "q_on_per_c_m_nC_per_uF": self.q_on_per_c_m_nC_per_uF,
            "c_specific_uF_per_cm2": self.c_specific_uF_per_cm2,
        }

    def to_dict(self) -> dict:
        """JSON-friendly numbers, flags and the protocol (no curves)."""
        out: dict = {"sweep": self.sweep + 1, **self.scalars()}
        out["flags"] = [f.message for f in self.flags]
        out["flag_codes"] = [f.code for f in self.flags]
        out["protocol"] = self.protocol.to_dict()
        out["integrate_on_ms"] = list(self.integrate_on_ms)
        out["integrate_off_ms"] = list(self.integrate_off_ms)
        out["tail_on_ms"] = list(self.tail_on_ms)
        out["tail_off_ms"] = list(self.tail_off_ms)
        return out


@dataclass(frozen=True)
class SweepFailure:
    """A sweep that could not be analysed, with the reason in plain words."""

    sweep: int
    name: str
    error: str


# ---------------------------------------------------------------------------- helpers
def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def filtered_current(rec: Recording, params: AnalysisParams) -> np.ndarray:
    """All sweeps of the current after the recipe's filter chain, shape (n_sweeps, n_samples) (pA)."""
    if rec.current_channel is None:
        raise AnalysisError("the recording has no current channel (no column in pA, nA or A)")
    i = rec.data[:, rec.current_channel, :]
    if not params.filters:
        return i
    return apply_chain(i, rec.fs_hz, params.filters)


def find_protocol(rec: Recording, sweep: int, params: AnalysisParams) -> Protocol:
    """The protocol of one sweep: by hand, from the voltage channel, or from timing parameters."""
    if params.protocol is not None:
        prot = Protocol.from_dict(params.protocol)
    elif rec.voltage_channel is not None:
        prot = detect_protocol(rec.t_s, rec.voltage(sweep), threshold_mV=params.edge_threshold_mV)
    elif params.timing is not None:
        prot = protocol_from_timing(params.timing, rec.duration_s)
    else:
        raise ProtocolError(
            "this recording has no voltage channel: give the protocol timings "
            "(first control step, durations, number of controls) and levels (V0, Vc, V2)"
        )
    prot = prot.with_levels(params.v_hold_mV, params.v_control_mV, params.v_test_mV)
    last = max(s.off_end_s for s in (*prot.controls, prot.test))
    if last > rec.t0_s + rec.duration_s + 1e-9:
        raise ProtocolError(
            f"the protocol reaches {last * 1e3:.1f} ms but the sweep ends at "
            f"{(rec.t0_s + rec.duration_s) * 1e3:.1f} ms"
        )
    return prot


class _Sweep:
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


def _tail_window(
    window_ms: tuple[float, float] | None, length: int, fs: float, fraction: float, label: str
) -> tuple[slice, tuple[float, float]]:
    dur_ms = length / fs * 1e3
    if window_ms is None:
        a = int(np.floor(length * (1.0 - fraction)))
        sl = slice(min(a, length - 2), length)
    else:
        a = int(round(window_ms[0] * 1e-3 * fs))
        b = int(round(window_ms[1] * 1e-3 * fs)) + 1
        if a >= length - 1 or b - a < 2:
            raise AnalysisError(
                f"the {label} tail window {window_ms[0]:g}-{window_ms[1]:g} ms lies outside the "
                f"{dur_ms:.2f} ms the asymmetric current lasts"
            )
        sl = slice(a, min(b, length))
    return sl, (sl.start / fs * 1e3, (sl.stop - 1) / fs * 1e3)


def _integration_window(
    window_ms: tuple[float, float] | None, length: int, fs: float, label: str
) -> tuple[slice, tuple[float, float]]:
    if window_ms is None:
        sl = slice(0, length)
    else:
        a = int(round(window_ms[0] * 1e-3 * fs))
        b = int(round(window_ms[1] * 1e-3 * fs)) + 1
        dur_ms = (length - 1) / fs * 1e3
        if a >= length - 1 or b - a < 2:
            raise AnalysisError(
                f"the {label} integration window {window_ms[0]:g}-{window_ms[1]:g} ms lies outside "
                f"the 0-{dur_ms:.2f} ms the asymmetric current lasts"
            )
        sl = slice(a, min(b, length))
    return sl, (sl.start / fs * 1e3, (sl.stop - 1) / fs * 1e3)


def _trapezoid_pC(y_pA: np.ndarray, fs: float) -> float:
    """Trapezoid-rule integral of a uniformly sampled current (pA) in pC."""
    if y_pA.size < 2:
        return 0.0
    return float((y_pA.sum() - 0.5 * (y_pA[0] + y_pA[-1])) / fs)


def _control_curves(
    sw: _Sweep, prot: Protocol
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


def _stack(curves: list[np.ndarray], length: int) -> np.ndarray:
    return np.vstack([c[:length] for c in curves])


def _g(source: str, on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Magenta: the average control response per mV from the ON, the OFF or both sets of steps."""
    if source == "on":
        return on.mean(axis=0)
    if source == "off":
        return off.mean(axis=0)
    return np.vstack([on, off]).mean(axis=0)


def _tail(
    purple: np.ndarray, fs: float, mode: str, window: tuple[float, float] | None, fraction: float,
    points: tuple[tuple[float, float], tuple[float, float]] | None, label: str, flags: list[Flag],
) -> tuple[np.ndarray, tuple[float, float], slice]:
    """Baseline to remove from a purple curve, its window (ms) and the window as a slice."""
    n = purple.size
    t_ms = np.arange(n) / fs * 1e3
    sl, win_ms = _tail_window(window, n, fs, fraction, label)
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
        base = y1 + (y2 - y1) * (t_ms - t1) / (t2 - t1)
    return base, win_ms, sl


def _block_means(y: np.ndarray, n_per_block: int) -> np.ndarray:
    n = (y.size // n_per_block) * n_per_block
    return y[:n].reshape(-1, n_per_block).mean(axis=1)


def _tail_drift_flag(curve: np.ndarray, sl: slice, fs: float, q_pC: float, label: str) -> Flag | None:
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
    means = _block_means(tail, n_blk)
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


def _passive(
    ctrl_on: list[np.ndarray], prot: Protocol, fs: float, settle_samples: int, params: AnalysisParams,
    flags: list[Flag],
) -> dict:
    """Linear capacitance, exponential fit, R_s, R_in, R_m and C_m from the control ON responses."""
    length = min(c.size for c in ctrl_on)
    mean_on = np.vstack([c[:length] for c in ctrl_on]).mean(axis=0)
    dv = float(np.mean([c.step_mV for c in prot.controls]))
    n_ss = max(2, int(round(params.steady_ms * 1e-3 * fs)))
    if n_ss >= length // 2:
        n_ss = max(2, length // 4)
    i_ss = float(mean_on[-n_ss:].mean())
    c_lin = _trapezoid_pC(mean_on - i_ss, fs) / dv  # pC / mV = nF
    start = max(int(round(params.fit_start_ms * 1e-3 * fs)), settle_samples, 1)
    t_ms = np.arange(length) / fs * 1e3
    fit_curve = np.full(length, np.nan)
    if length - start < 8:
        raise AnalysisError("the control step is too short to fit its capacitive transient")
    try:
        fit = fit_exponential(t_ms[start:], mean_on[start:])
    except FitError as exc:
        raise AnalysisError(f"the capacitive transient of the control steps could not be fitted: {exc}") from exc
    tau = float(fit.params["tau"])
    i0 = float(fit.params["offset"] + fit.params["amplitude"])
    fit_curve[start:] = fit.predict(t_ms[start:])
    r_s = dv / i0 * 1e3 if i0 != 0 else float("nan")  # mV / pA = GOhm -> MOhm
    if not (np.isfinite(r_s) and r_s > 0):
        raise AnalysisError(
            f"the capacitive transient extrapolates to {i0:.1f} pA at the edge, which has the wrong sign "
            f"for a {dv:+.1f} mV step: R_s cannot be estimated (is the current channel inverted?)"
        )
    r_in = r_m = None
    c_lin_corr = None
    passive_ok = i_ss * dv > 0
    if passive_ok:
        r_in = dv / i_ss * 1e3
        r_m = r_in - r_s
        if not r_m > r_s:
            passive_ok = False
    if passive_ok:
        c_m = tau * (r_s + r_m) / (r_s * r_m)
        c_lin_corr = c_lin * (1.0 + r_s / r_m) ** 2
    else:
        why = (
            f"the steady current at the end of the control step is {i_ss:+.0f} pA for a {dv:+.1f} mV step, "
            "the wrong sign for a passive leak"
            if i_ss * dv <= 0
            else f"R_m comes out at {r_m:.1f} MOhm, not much larger than R_s ({r_s:.1f} MOhm)"
        )
        flags.append(Flag(
            "passive_model", "warning",
            f"R_m cannot be estimated: {why}. C_m is given as tau / R_s (assuming R_m >> R_s).",
        ))
        r_in = r_m = None
        c_m = tau / r_s
    dt_ms = 1e3 / fs
    peak = float(np.max(np.abs(mean_on[:start + 1] - i_ss)))
    left = abs(float(mean_on[start]) - i_ss)
    if tau / dt_ms < 5 or left < 0.05 * peak:
        flags.append(Flag(
            "fast_transient", "warning",
            f"The capacitive transient is too fast for this sampling ({dt_ms * 1e3:.1f} us per sample): "
            f"{'its time constant is ' + format(tau, '.3f') + ' ms, fewer than 5 samples' if tau / dt_ms < 5 else 'it has almost gone when the fit starts ' + format(start * dt_ms, '.2f') + ' ms after the edge'}. "
            "C_m, R_s and tau are unreliable; record faster or filter less.",
        ))
    elif fit.r_squared < 0.5:
        flags.append(Flag(
            "poor_transient_fit", "warning",
            f"The exponential fits the capacitive transient poorly (R^2 {fit.r_squared:.2f}): "
            "tau, R_s and C_m are unreliable.",
        ))
    pulse_ms = min(c.on_duration_s for c in prot.controls) * 1e3
    if 5 * tau > pulse_ms:
        flags.append(Flag(
            "slow_clamp", "warning",
            f"The clamp time constant ({tau:.2f} ms) is long for the {pulse_ms:.0f} ms steps: the transient has "
            "not settled by the end of the step, so the steady current and C_lin are biased.",
        ))
    if len(ctrl_on) > 1:
        per_step = np.array([_trapezoid_pC(c[:length] - c[:length][-n_ss:].mean(), fs) / s.step_mV
                             for c, s in zip(ctrl_on, prot.controls)])
        spread = float(np.ptp(per_step) / abs(np.mean(per_step))) if np.mean(per_step) != 0 else np.inf
        if spread > 0.1:
            values = ", ".join(f"{v:.3f}" for v in per_step)
            flags.append(Flag(
                "controls_disagree", "warning",
                f"The control steps do not agree: step by step C_lin is {values} nF ({spread * 100:.0f} % apart). "
                "The cell, the seal or the leak changed during the sweep; the magenta average mixes them.",
            ))
    return {
        "mean_on": mean_on, "fit_curve": fit_curve, "fit": fit, "tau": tau, "i0": i0, "i_ss": i_ss,
        "c_lin": c_lin, "c_lin_corr": c_lin_corr, "c_m": c_m, "r_s": r_s, "r_m": r_m, "r_in": r_in,
    }


# ---------------------------------------------------------------------------- entry points
def analyze_sweep(
    rec: Recording,
    sweep: int = 0,
    params: AnalysisParams | None = None,
    *,
    current_pA: np.ndarray | None = None,
) -> ChargeResult:
    """Analyse one sweep: control subtraction, charges, capacitance, passive parameters, flags.

    Parameters
    ----------
    rec : Recording
        The recording (pA, mV, s).
    sweep : int
        0-based sweep index.
    params : AnalysisParams, optional
        The recipe (defaults when omitted).
    current_pA : ndarray, optional
        This sweep's current already filtered with ``params.filters`` (pA), to
        share one filtering pass between sweeps; filtered here when omitted.

    Returns
    -------
    ChargeResult

    Raises
    ------
    AnalysisError, ProtocolError
        With a message that says what in the data or the parameters prevents the analysis.
    """
    params = params or AnalysisParams()
    if not 0 <= sweep < rec.n_sweeps:
        raise AnalysisError(f"sweep {sweep + 1} does not exist: the file has {rec.n_sweeps} sweep(s)")
    if rec.current_channel is None:
        raise AnalysisError("the recording has no current channel (no column in pA, nA or A)")
    fs = rec.fs_hz
    for spec in params.filters:
        spec.validate(fs)
    if current_pA is None:
        raw = rec.current(sweep)
        i = apply_chain(raw, fs, params.filters) if params.filters else raw
    else:
        i = np.asarray(current_pA, dtype=np.float64)
    if not np.all(np.isfinite(i)):
        raise AnalysisError("the current contains NaN or infinite values")
    prot = find_protocol(rec, sweep, params)
    flags: list[Flag] = []
    settle_s = chain_settle_s(params.filters, fs)
    guard_s = max(params.guard_ms * 1e-3, settle_s)
    sw = _Sweep(i, fs, rec.t0_s, guard_s, params.baseline_ms * 1e-3)

    # control responses per mV (dark blue) and their averages (magenta)
    on_raw, on_pm, off_pm = _control_curves(sw, prot)
    all_steps = sorted((*prot.controls, prot.test), key=lambda s: s.on_start_s)
    t_pos = all_steps.index(prot.test)
    prev = all_steps[t_pos - 1].off_end_s if t_pos > 0 else None
    test_on = sw.response(prot.test.on_start_s, prot.test.on_end_s,
                          prev if prev is not None and prev < prot.test.on_start_s else None, "test pulse")
    test_off = sw.response(prot.test.on_end_s, prot.test.off_end_s, prot.test.on_start_s, "test pulse return")
    len_ctrl = min(c.size for c in (*on_pm, *off_pm))
    dark_on = _stack(on_pm, len_ctrl)
    dark_off = _stack(off_pm, len_ctrl)
    magenta_on = _g(params.control_on_source, dark_on, dark_off)
    magenta_off = _g(params.control_off_source, dark_on, dark_off)
    len_on = min(test_on.size, len_ctrl)
    len_off = min(test_off.size, len_ctrl)
    if test_on.size > len_ctrl:
        flags.append(Flag(
            "test_longer_than_control", "info",
            f"The test pulse ({prot.test.on_duration_s * 1e3:.1f} ms) is longer than the control steps: "
            f"the asymmetric current ON is computed only over the first {len_on / fs * 1e3:.1f} ms.",
        ))
    g_on = magenta_on[:len_on]
    g_off = magenta_off[:len_off]
    dv = prot.test_step_mV
    purple_on_raw = test_on[:len_on] - dv * g_on
    purple_off_raw = test_off[:len_off] - (-dv) * g_off

    tail_on, tail_on_win, tail_on_sl = _tail(purple_on_raw, fs, params.tail_mode, params.tail_on_ms,
                                           params.tail_fraction, params.manual_tail_on, "ON", flags)
    tail_off, tail_off_win, tail_off_sl = _tail(purple_off_raw, fs, params.tail_mode, params.tail_off_ms,
                                              params.tail_fraction, params.manual_tail_off, "OFF", flags)
    purple_on = purple_on_raw - tail_on
    purple_off = purple_off_raw - tail_off
    sl_on, int_on = _integration_window(params.integrate_on_ms, len_on, fs, "ON")
    sl_off, int_off = _integration_window(params.integrate_off_ms, len_off, fs, "OFF")
    q_on = _trapezoid_pC(purple_on[sl_on], fs)
    q_off = _trapezoid_pC(purple_off[sl_off], fs)
    ratio = q_off / q_on if q_on != 0 else float("nan")
    if not np.isfinite(ratio) or abs(1.0 + ratio) > 0.2:
        flags.append(Flag(
            "q_ratio", "warning",
            f"Q_off/Q_on is {ratio:.2f}; for pure gating charge it is -1 (flagged beyond -0.8 to -1.2). "
            "Ionic current, a drifting baseline or a poor tail window can cause this.",
        ))
    if params.tail_mode != "line":
        for label, curve, sl, q in (("ON", purple_on, tail_on_sl, q_on), ("OFF", purple_off, tail_off_sl, q_off)):
            flag = _tail_drift_flag(curve, sl, fs, q, label)
            if flag is not None:
                flags.append(flag)

    pas = _passive(on_raw, prot, fs, int(np.ceil(settle_s * fs)), params, flags)
    c_m = pas["c_m"]
    q_per_c = q_on / c_m if c_m else float("nan")
    c_spec = None
    if params.area_um2:
        c_spec = c_m * 1e-3 / (params.area_um2 * 1e-8)  # nF -> uF over um^2 -> cm^2
    if rec.voltage_channel is None and params.protocol is None:
        flags.append(Flag("no_voltage_channel", "info",
                          "No voltage channel: the protocol comes from the timing parameters, not from the recording."))
    v2_name = v2_from_filename(rec.name) if rec.name else None
    if v2_name is not None and abs(v2_name - prot.v_test_mV) > 2.0 and rec.n_sweeps == 1:
        flags.append(Flag(
            "v2_name_mismatch", "info",
            f"The file name suggests V2 = {v2_name:g} mV but the protocol has {prot.v_test_mV:.1f} mV "
            f"(from the {prot.source}); the {prot.source} is used.",
        ))
    for note in prot.notes:
        flags.append(Flag("protocol_note", "info", f"Protocol: {note}."))

    t_on_ms = np.arange(len_on) / fs * 1e3
    t_off_ms = np.arange(len_off) / fs * 1e3
    factor = max(1, int(round(params.decimate_ms * 1e-3 * fs)))
    if factor > 1 and i.size // factor >= 2:
        i_orange, _ = decimate(i, fs, factor)
        t_orange = decimated_time(rec.t_s, factor)
    else:
        i_orange, t_orange = i, rec.t_s
    return ChargeResult(
        sweep=sweep,
        name=rec.name,
        fs_hz=fs,
        protocol=prot,
        params=params,
        guard_ms=sw.guard / fs * 1e3,
        t_orange_s=_ro(t_orange),
        i_orange_pA=_ro(i_orange),
        t_ctrl_ms=_ro(np.arange(len_ctrl) / fs * 1e3),
        dark_blue_on_pA_per_mV=_ro(dark_on),
        magenta_on_pA_per_mV=_ro(magenta_on),
        dark_blue_off_pA_per_mV=_ro(dark_off),
        magenta_off_pA_per_mV=_ro(magenta_off),
        t_on_ms=_ro(t_on_ms),
        purple_on_raw_pA=_ro(purple_on_raw),
        tail_on_pA=_ro(tail_on),
        purple_on_pA=_ro(purple_on),
        t_off_ms=_ro(t_off_ms),
        purple_off_raw_pA=_ro(purple_off_raw),
        tail_off_pA=_ro(tail_off),
        purple_off_pA=_ro(purple_off),
        ctrl_on_mean_pA=_ro(pas["mean_on"]),
        ctrl_fit_pA=_ro(pas["fit_curve"]),
        integrate_on_ms=int_on,
        integrate_off_ms=int_off,
        tail_on_ms=tail_on_win,
        tail_off_ms=tail_off_win,
        q_on_pC=q_on,
        q_off_pC=q_off,
        q_off_over_on=ratio,
        c_lin_nF=pas["c_lin"],
        c_lin_corrected_nF=pas["c_lin_corr"],
        c_m_nF=c_m,
        r_s_MOhm=pas["r_s"],
        r_m_MOhm=pas["r_m"],
        r_in_MOhm=pas["r_in"],
        tau_ms=pas["tau"],
        i0_pA=pas["i0"],
        i_ss_pA=pas["i_ss"],
        q_on_per_c_m_nC_per_uF=q_per_c,
        c_specific_uF_per_cm2=c_spec,
        exp_fit=pas["fit"],
        flags=tuple(flags),
    )


def analyze_recording(rec: Recording, params: AnalysisParams | None = None) -> list[ChargeResult | SweepFailure]:
    """Analyse every sweep; a sweep that fails becomes a :class:`SweepFailure`, the others go on.

    The filter chain runs once over all sweeps.  Errors that are not about the
    data (bugs) are not caught.
    """
    params = params or AnalysisParams()
    for spec in params.filters:
        spec.validate(rec.fs_hz)
    cur = filtered_current(rec, params)
    out: list[ChargeResult | SweepFailure] = []
    for k in range(rec.n_sweeps):
        try:
            out.append(analyze_sweep(rec, k, params, current_pA=cur[k]))
        except (AnalysisError, ProtocolError) as exc:
            out.append(SweepFailure(k, rec.name, str(exc)))
    return out

