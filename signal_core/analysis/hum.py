"""The mains-hum check: how much 50 or 60 Hz hum the settled holding stretches of a sweep carry.

Baseline windows of a few ms are fractions of a mains period, so hum of amplitude A moves every
response's zero by up to A, and C_lin by up to A x T / (|dVc| C_lin) (T the control epoch).  The
check fits the fundamentals of 50 and 60 Hz to the settled part (the second half, and after
:data:`~signal_core.flags.SETTLE_TAUS` tau) of every return to the holding level, each stretch
detrended on its own, and raises ``mains_hum`` when the hum is significant (3 standard errors)
and that bound passes :data:`~signal_core.flags.HUM_MAX_BIAS`; the ``mains:50`` / ``mains:60``
filter removes it.  It costs well under a millisecond.
"""

from __future__ import annotations

import numpy as np

from signal_core.analysis.responses import SweepIndex
from signal_core.flags import HUM_MAX_BIAS, SETTLE_TAUS, Flag, make_flag
from signal_core.protocol.steps import Protocol

__all__ = ["MAINS_HZ", "hum_flag"]

#: the mains frequencies looked for (Hz)
MAINS_HZ = (50.0, 60.0)


def _stretches(sw: SweepIndex, prot: Protocol, tau_ms: float) -> list[slice]:
    """Samples of every settled return to holding (its second half, and SETTLE_TAUS tau on), a 50 Hz period or more.

    The charge's return can outlast the clamp's tau (the charge adds its own capacitance near V_half), so
    the first half of each return is left out even on a fast clamp.
    """
    out = []
    wait = int(np.ceil(SETTLE_TAUS * tau_ms * 1e-3 * sw.fs))
    shortest = int(np.ceil(sw.fs / min(MAINS_HZ)))
    for s in (*prot.controls, prot.test):
        a0, b = sw.idx(s.on_end_s), sw.idx(s.off_end_s) - sw.guard
        a = max(a0 + wait, (a0 + b) // 2)
        if b - a >= shortest:
            out.append(slice(a, b))
    return out


def hum_flag(sw: SweepIndex, prot: Protocol, tau_ms: float, c_lin_nF: float) -> Flag | None:
    """``mains_hum`` when 50 or 60 Hz hum can bias C_lin (and Q likewise) by more than HUM_MAX_BIAS."""
    parts = _stretches(sw, prot, tau_ms)
    if not parts:
        return None
    ys, ts = [], []
    for sl in parts:
        y = sw.i[sl]
        t = (np.arange(sl.start, sl.stop) + 0.5) / sw.fs
        x = t - t.mean()
        coef = np.polyfit(x, y, 1)
        ys.append(y - np.polyval(coef, x))
        ts.append(t)
    y, t = np.concatenate(ys), np.concatenate(ts)
    cols = []
    for f in MAINS_HZ:
        w = 2.0 * np.pi * f * t
        cols.extend((np.cos(w), np.sin(w)))
    design = np.column_stack(cols)
    gram = design.T @ design
    if np.linalg.cond(gram) > 1e8:
        return None
    coef = np.linalg.solve(gram, design.T @ y)
    resid = y - design @ coef
    dof = max(1, y.size - design.shape[1])
    cov = np.linalg.inv(gram) * float(resid @ resid) / dof
    dv = abs(float(np.mean([c.step_mV for c in prot.controls])))
    t_ctrl_s = float(np.mean([c.on_duration_s for c in prot.controls]))
    for k, f in enumerate(MAINS_HZ):
        a, b = coef[2 * k], coef[2 * k + 1]
        amp = float(np.hypot(a, b))
        se = float(np.sqrt(0.5 * (cov[2 * k, 2 * k] + cov[2 * k + 1, 2 * k + 1])))
        bias = amp * t_ctrl_s / (dv * abs(c_lin_nF)) if dv and c_lin_nF else 0.0  # pA s = pC over mV nF = pC
        if amp > 3 * se and bias > HUM_MAX_BIAS:
            return make_flag(
                "mains_hum",
                f"The holding current carries {f:g} Hz hum of about {amp:.1f} pA: baselines of a few ms catch it at "
                f"random phase, which can move C_lin by up to {bias * 100:.0f} % (and the charges likewise). "
                f"Add the filter mains:{f:g}.",
            )
    return None
