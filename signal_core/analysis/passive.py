"""Linear capacitance and passive parameters from the control steps (DOMAIN.md section 2, step 10).

C_lin from the transient integral; tau, I0 and the steady current from an
exponential fitted to the averaged control ON response; R_s = dV/I0, R_in = dV/I_ss,
R_m = R_in - R_s, C_m = tau (R_s + R_m) / (R_s R_m).  When the passive model does
not hold, R_m is not reported and C_m falls back to tau / R_s, with a flag.
"""

from __future__ import annotations

import numpy as np

from signal_core.analysis.responses import trapezoid_pC
from signal_core.fitting import FitError, fit_exponential
from signal_core.flags import AnalysisError, Flag
from signal_core.params import AnalysisParams
from signal_core.protocol.steps import Protocol

__all__ = ["MIN_C_M_NF", "passive_parameters"]

#: a membrane capacitance below this (nF), 1 fF, is not a cell's: refused instead of reported
MIN_C_M_NF = 1e-6


def passive_parameters(
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
    c_lin = trapezoid_pC(mean_on - i_ss, fs) / dv  # pC / mV = nF
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
    if not (np.isfinite(c_m) and c_m >= MIN_C_M_NF):
        raise AnalysisError(
            f"C_m comes out at {c_m:.3g} nF, below {MIN_C_M_NF * 1e6:g} fF: the capacitive transient "
            f"(I0 {i0:.3g} pA for a {dv:+.1f} mV step) is too small to be a cell's"
        )
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
        per_step = np.array([trapezoid_pC(c[:length] - c[:length][-n_ss:].mean(), fs) / s.step_mV
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
