"""Linear capacitance and passive parameters from the control steps (DOMAIN.md section 2, step 10).

An exponential I(t) = I_ss + (I0 - I_ss) exp(-t / tau) is fitted to the averaged control ON
response, with the samples at the midpoints of their intervals (the first one half a sample
after the edge).  Its asymptote is the steady current I_ss (the last samples of a step still
hold the transient when tau is long) and its value at the edge is I0, corrected for what the
filter chain does to an exponential.  Then R_s = dV / I0, R_in = dV / I_ss, R_m = R_in - R_s
and C_m = tau (R_s + R_m) / (R_s R_m) whenever R_m comes out positive; only when it cannot be
estimated (a steady current with the wrong sign for a leak, or R_in not above R_s) does C_m fall
back to tau / R_s, with a flag.  C_lin is the transient's integral above I_ss: the filter's spread
before the edge included, the part beyond the step's end taken from the fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from signal_core.analysis.responses import integral_pC, sample_times_ms
from signal_core.fitting import FitError, FitResult, fit_exponential
from signal_core.flags import (
    CONTROLS_DISAGREE_FRACTION,
    POOR_FIT_R2,
    SLOW_CLAMP_MAX_BIAS,
    AnalysisError,
    Flag,
    fast_transient_min_samples,
    make_flag,
)
from signal_core.params import AnalysisParams
from signal_core.protocol.steps import Protocol

__all__ = ["MIN_C_M_NF", "PassiveResult", "filter_gain", "passive_parameters"]

#: a membrane capacitance below this (nF), 1 fF, is not a cell's: refused instead of reported
MIN_C_M_NF = 1e-6


@dataclass(frozen=True, eq=False)
class PassiveResult:
    """The passive step: C_lin, the exponential fit and R_s, R_m, C_m, with their flags.

    Attributes
    ----------
    mean_on_pA, fit_curve_pA : ndarray
        The averaged control ON response and the fit (nan before the fit starts), on
        :func:`~signal_core.analysis.responses.sample_times_ms`.
    fit : FitResult
        The exponential (times in ms from the edge).
    tau_ms, i0_pA, i_ss_pA : float
        Clamp time constant, current at the edge (filter-corrected) and the fit's asymptote.
    c_lin_nF, c_lin_corrected_nF, c_m_nF : float
        Transient integral / step; C_lin (1 + R_s/R_m)^2 (None without R_m); membrane capacitance.
    r_s_MOhm, r_m_MOhm, r_in_MOhm : float
        Series, membrane (None when not estimable) and input (None likewise) resistance.
    flags : tuple of Flag
    """

    mean_on_pA: np.ndarray
    fit_curve_pA: np.ndarray
    fit: FitResult
    tau_ms: float
    i0_pA: float
    i_ss_pA: float
    c_lin_nF: float
    c_lin_corrected_nF: float | None
    c_m_nF: float
    r_s_MOhm: float
    r_m_MOhm: float | None
    r_in_MOhm: float | None
    flags: tuple[Flag, ...]


def filter_gain(tau_ms: float, fs: float, start: int, n_pre: int,
                run_filter: Callable[[np.ndarray], np.ndarray] | None) -> float:
    """How much the filter chain scales an exponential's amplitude once it has settled (1 without filters).

    A zero-phase filter h turns A exp(-t/tau) into about A exp(-t/tau) x sum h(s) exp(s/tau) a few
    settling times after the edge: the fit extrapolated to the edge reads that factor too much
    (2.7 % for a 2 kHz Butterworth at tau 0.6 ms).  Measured by running the chain on a unit
    exponential sampled like the data and reading the ratio where the fit starts.
    """
    if run_filter is None:
        return 1.0
    n_tau = max(1, int(np.ceil(tau_ms * 1e-3 * fs)))
    n_post = start + 4 * n_tau + 8
    pad = n_pre + 8
    t_ms = sample_times_ms(n_post, fs)
    x = np.concatenate([np.zeros(pad), np.exp(-t_ms / tau_ms)])
    y = run_filter(x)
    k = slice(pad + start, pad + start + max(2, n_tau))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.median(y[k] / x[k]))
    return ratio if np.isfinite(ratio) and ratio > 0 else 1.0


def passive_parameters(
    ctrl_on: list[np.ndarray], prot: Protocol, fs: float, settle_samples: int, params: AnalysisParams,
    *, ctrl_on_pre: list[np.ndarray] | None = None,
    run_filter: Callable[[np.ndarray], np.ndarray] | None = None,
) -> PassiveResult:
    """Linear capacitance, exponential fit, R_s, R_in, R_m and C_m from the control ON responses.

    Parameters
    ----------
    ctrl_on : list of ndarray
        Each control step's ON response (pA), referenced to its pre-edge level, from the first
        sample of the new level.
    prot : Protocol
    fs : float
        Sampling rate (Hz).
    settle_samples : int
        The filter chain's spread of an edge (samples): the fit starts after it.
    params : AnalysisParams
    ctrl_on_pre : list of ndarray, optional
        Each control's response per mV in the samples just before its edge (the filter's spread).
    run_filter : callable, optional
        The recipe's filter chain on a 1-D array, for :func:`filter_gain`.

    Returns
    -------
    PassiveResult
    """
    flags: list[Flag] = []
    length = min(c.size for c in ctrl_on)
    mean_on = np.vstack([c[:length] for c in ctrl_on]).mean(axis=0)
    dv = float(np.mean([c.step_mV for c in prot.controls]))
    start = max(int(round(params.fit_start_ms * 1e-3 * fs)), settle_samples, 1)
    t_ms = sample_times_ms(length, fs)
    fit_curve = np.full(length, np.nan)
    if length - start < 8:
        raise AnalysisError("the control step is too short to fit its capacitive transient")
    try:
        fit = fit_exponential(t_ms[start:], mean_on[start:])
    except FitError as exc:
        raise AnalysisError(f"the capacitive transient of the control steps could not be fitted: {exc}") from exc
    tau = float(fit.params["tau"])
    amp = float(fit.params["amplitude"])
    i_ss = float(fit.params["offset"])
    fit_curve[start:] = fit.predict(t_ms[start:])
    gain = filter_gain(tau, fs, start, settle_samples, run_filter)
    i0 = i_ss + amp / gain
    # C_lin: the samples above I_ss (the filter's spread before the edge included) plus the fit beyond the end
    pre_pC = float(np.mean([p.sum() * s.step_mV for p, s in zip(ctrl_on_pre or [], prot.controls)])) / fs \
        if ctrl_on_pre and ctrl_on_pre[0].size else 0.0
    end_ms = length / fs * 1e3
    beyond_pC = amp * tau * np.exp(-end_ms / tau) * 1e-3  # pA x ms -> pC
    c_lin = (integral_pC(mean_on - i_ss, fs) + pre_pC + beyond_pC) / dv  # pC / mV = nF
    r_s = dv / i0 * 1e3 if i0 != 0 else float("nan")  # mV / pA = GOhm -> MOhm
    if not (np.isfinite(r_s) and r_s > 0):
        raise AnalysisError(
            f"the capacitive transient extrapolates to {i0:.1f} pA at the edge, which has the wrong sign "
            f"for a {dv:+.1f} mV step: R_s cannot be estimated (is the current channel inverted?)"
        )
    r_in = r_m = None
    c_lin_corr = None
    if i_ss * dv > 0 and dv / i_ss * 1e3 > r_s:
        r_in = dv / i_ss * 1e3
        r_m = r_in - r_s
        c_m = tau * (r_s + r_m) / (r_s * r_m)
        c_lin_corr = c_lin * (1.0 + r_s / r_m) ** 2
    else:
        why = (
            f"the steady current of the control step is {i_ss:+.0f} pA for a {dv:+.1f} mV step, "
            "the wrong sign for a passive leak"
            if i_ss * dv <= 0
            else f"the input resistance ({dv / i_ss * 1e3:.1f} MOhm) is not above R_s ({r_s:.1f} MOhm)"
        )
        flags.append(make_flag(
            "passive_model",
            f"R_m cannot be estimated: {why}. C_m is given as tau / R_s, which assumes R_m >> R_s.",
        ))
        c_m = tau / r_s
    if not (np.isfinite(c_m) and c_m >= MIN_C_M_NF):
        raise AnalysisError(
            f"C_m comes out at {c_m:.3g} nF, below {MIN_C_M_NF * 1e6:g} fF: the capacitive transient "
            f"(I0 {i0:.3g} pA for a {dv:+.1f} mV step) is too small to be a cell's"
        )
    flags.extend(_transient_flags(fit, tau, fs, start, mean_on, i_ss, prot))
    n_ss = max(2, int(round(params.steady_ms * 1e-3 * fs)))
    flags.extend(_controls_flag(ctrl_on, prot, length, fs, n_ss if n_ss < length // 2 else max(2, length // 4)))
    return PassiveResult(
        mean_on_pA=mean_on, fit_curve_pA=fit_curve, fit=fit, tau_ms=tau, i0_pA=i0, i_ss_pA=i_ss,
        c_lin_nF=c_lin, c_lin_corrected_nF=c_lin_corr, c_m_nF=c_m, r_s_MOhm=r_s, r_m_MOhm=r_m,
        r_in_MOhm=r_in, flags=tuple(flags),
    )


def _transient_flags(fit: FitResult, tau: float, fs: float, start: int, mean_on: np.ndarray, i_ss: float,
                     prot: Protocol) -> list[Flag]:
    """fast_transient / poor_transient_fit and slow_clamp, each from the size of the error it warns about."""
    flags: list[Flag] = []
    dt_ms = 1e3 / fs
    n_min = fast_transient_min_samples()
    peak = float(np.max(np.abs(mean_on[:start + 1] - i_ss)))
    left = abs(float(mean_on[start]) - i_ss)
    if tau / dt_ms < n_min:
        worst = np.expm1(dt_ms / (2 * tau)) * 100
        flags.append(make_flag(
            "fast_transient",
            f"The capacitive transient is fast for this sampling: tau {tau:.3f} ms spans {tau / dt_ms:.1f} samples "
            f"of {dt_ms * 1e3:.1f} us (fewer than {n_min:.0f}). Where within a sample the step fell is unknown, "
            f"which can err R_s and C_m by up to {worst:.0f} %; record faster.",
        ))
    elif left < 0.05 * peak:
        flags.append(make_flag(
            "fast_transient",
            f"The capacitive transient has almost gone when the fit starts {start * dt_ms:.2f} ms after the edge "
            f"(after the filter's spread): tau ({tau:.3f} ms), R_s and C_m rest on an extrapolation over "
            f"{start * dt_ms / tau:.1f} tau; filter less or record faster.",
        ))
    elif fit.r_squared < POOR_FIT_R2:
        flags.append(make_flag(
            "poor_transient_fit",
            f"The exponential fits the capacitive transient poorly (R^2 {fit.r_squared:.2f}): "
            "tau, R_s and C_m are unreliable.",
        ))
    pulse_ms = min(c.on_duration_s for c in prot.controls) * 1e3
    unsettled = float(np.exp(-pulse_ms / tau))
    if unsettled > SLOW_CLAMP_MAX_BIAS:
        flags.append(make_flag(
            "slow_clamp",
            f"The clamp time constant ({tau:.2f} ms) is long for the {pulse_ms:.0f} ms control steps: "
            f"{unsettled * 100:.0f} % of the transient is still there at their end, so the steady current and "
            "C_lin rest on the fitted exponential's extrapolation.",
        ))
    return flags


def _controls_flag(ctrl_on: list[np.ndarray], prot: Protocol, length: int, fs: float, n_end: int) -> list[Flag]:
    """controls_disagree when the steps' own transient integrals (above their last ``n_end`` samples' mean)
    differ by more than the catalogue's fraction."""
    if len(ctrl_on) < 2:
        return []
    per_step = np.array([integral_pC(c[:length] - c[:length][-n_end:].mean(), fs) / s.step_mV
                         for c, s in zip(ctrl_on, prot.controls)])
    spread = float(np.ptp(per_step) / abs(np.mean(per_step))) if np.mean(per_step) != 0 else np.inf
    if spread <= CONTROLS_DISAGREE_FRACTION:
        return []
    values = ", ".join(f"{v:.3f}" for v in per_step)
    return [make_flag(
        "controls_disagree",
        f"The control steps do not agree: step by step C_lin is {values} nF ({spread * 100:.0f} % apart). "
        "The cell, the seal or the leak changed during the sweep; the magenta average mixes them.",
    )]
