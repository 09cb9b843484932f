"""The charge step: the tail-corrected purple curve of one edge, its integral, and the checks on Q_off.

Charges are integrals of the purple curves by the midpoint rule (each sample stands for its
interval after the edge), with the filter chain's spread before the edge added when the
integration window starts at the edge: a zero-phase filter moves part of every step's response
to before its edge, and the part cut off there would otherwise be missing from Q and C_lin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signal_core.analysis.responses import (
    TailResult,
    drift_window,
    integral_pC,
    integration_window,
    tail_drift_flag,
    tail_step,
    unsettled_charge_flag,
)
from signal_core.flags import OFF_INVALID_FRACTION, Q_RATIO_TOLERANCE, Flag, make_flag
from signal_core.params import AnalysisParams
from signal_core.protocol.steps import Protocol

__all__ = ["ChargeStep", "charge_step", "off_invalid_flag", "ratio_flag"]


@dataclass(frozen=True, eq=False)
class ChargeStep:
    """One edge's charge: the purple curve after the tail step, its integral and windows, and the flags.

    Attributes
    ----------
    purple_pA : ndarray
        The asymmetric current after the tail level is removed (pA).
    tail : TailResult
        The tail step (level, window, extrapolated or not, its flags).
    q_pC : float
        Integral over the integration window (pC), the filter's pre-edge spread included when the
        window starts at the edge.
    integrate_ms : (float, float)
        The integration window (ms from the edge).
    flags : tuple of Flag
        The tail's flags and the drift flag.
    """

    purple_pA: np.ndarray
    tail: TailResult
    q_pC: float
    integrate_ms: tuple[float, float]
    flags: tuple[Flag, ...]


def charge_step(purple_raw: np.ndarray, purple_pre: np.ndarray, fs: float, params: AnalysisParams,
                label: str, tau_ms: float, settle_tau_ms: float | None = None) -> ChargeStep:
    """Tail level, integral and drift check of one purple curve (``label`` "ON" or "OFF").

    Parameters
    ----------
    purple_raw : ndarray
        Asymmetric current from the first sample after the edge (pA), before the tail step.
    purple_pre : ndarray
        The same in the samples just before the edge (the filter's spread; empty unfiltered).
    fs : float
        Sampling rate (Hz).
    params : AnalysisParams
    label : {"ON", "OFF"}
    tau_ms : float
        The clamp's time constant (ms): the default tail window waits for it to settle.
    settle_tau_ms : float, optional
        The late decay time of the test pulse's own response to this edge (ms,
        :func:`~signal_core.analysis.responses.settling_tau_ms`): with a constant tail, the check that the
        purple curve has settled in the tail window (``charge_unsettled_on`` / ``_off``).
    """
    on = label == "ON"
    window = params.tail_on_ms if on else params.tail_off_ms
    points = params.manual_tail_on if on else params.manual_tail_off
    sl, int_ms = integration_window(params.integrate_on_ms if on else params.integrate_off_ms,
                                    purple_raw.size, fs, label)
    pre_pC = integral_pC(purple_pre, fs) if sl.start == 0 else 0.0
    q_raw = integral_pC(purple_raw[sl], fs) + pre_pC
    tail = tail_step(purple_raw, fs, params.tail_mode, window, params.tail_fraction, points, label,
                     tau_ms=tau_ms, q_scale_pC=q_raw)
    purple = purple_raw - tail.level_pA
    q = integral_pC(purple[sl], fs) + pre_pC
    flags = list(tail.flags)
    unsettled = None
    if params.tail_mode == "constant" and not tail.unsettled:
        unsettled = unsettled_charge_flag(purple_raw, fs, tail.window, sl, q, label, settle_tau_ms)
        if unsettled is not None:
            flags.append(unsettled)
    if params.tail_mode != "line" and not tail.unsettled and unsettled is None:  # a decay explains any drift
        drift = tail_drift_flag(purple, drift_window(purple.size, fs, tail.window, tau_ms), fs, q, label,
                                tail=tail.window, integrate=sl)
        if drift is not None:
            flags.append(drift)
    return ChargeStep(purple, tail, q, int_ms, tuple(flags))


def off_invalid_flag(prot: Protocol, params: AnalysisParams, tau_ms: float, c_lin_nF: float,
                     q_on_pC: float) -> Flag | None:
    """``off_invalid`` when the test's unsettled ON transient leaves too much linear current in the OFF.

    The OFF subtraction assumes the test's OFF edge starts from the same settled state as the
    controls' OFF edges.  A test pulse of T_test leaves exp(-T_test / tau) of its transient at the
    OFF edge, a control of T_ctrl exp(-T_ctrl / tau); the difference, times the transient's
    charge dV C_lin, stays in the purple OFF curve.  Flagged (and Q_off withheld) when that
    exceeds :data:`~signal_core.flags.OFF_INVALID_FRACTION` of Q_on.
    """
    t_test = prot.test.on_duration_s * 1e3
    left_test = np.exp(-t_test / tau_ms)
    left_ctrl = 0.0 if params.control_off_source == "on" else float(
        np.mean([np.exp(-c.on_duration_s * 1e3 / tau_ms) for c in prot.controls]))
    mismatch_pC = abs(prot.test_step_mV * c_lin_nF * (left_test - left_ctrl))
    if not mismatch_pC > OFF_INVALID_FRACTION * abs(q_on_pC):
        return None
    return make_flag(
        "off_invalid",
        f"The test pulse ({t_test:.1f} ms) is too short for its transient to settle (tau {tau_ms:.2f} ms; about "
        f"{7 * tau_ms:.0f} ms needed) and its OFF edge starts from another state than the controls': the OFF "
        f"subtraction would leave about {mismatch_pC:.2f} pC of linear current, so Q_off is not given.",
    )


def ratio_flag(q_on_pC: float, q_off_pC: float) -> tuple[float, Flag | None]:
    """Q_off/Q_on and the ``q_ratio`` flag when it is outside -1 +/- the catalogue's tolerance."""
    ratio = q_off_pC / q_on_pC if q_on_pC != 0 else float("nan")
    if np.isfinite(ratio) and abs(1.0 + ratio) <= Q_RATIO_TOLERANCE:
        return ratio, None
    lo, hi = -(1 - Q_RATIO_TOLERANCE), -(1 + Q_RATIO_TOLERANCE)
    return ratio, make_flag(
        "q_ratio",
        f"Q_off/Q_on is {ratio:.2f}; for pure gating charge it is -1 (flagged beyond {lo:g} to {hi:g}). "
        "Ionic current, a drifting baseline or a poor tail window can cause this.",
    )
