"""The mains-hum check: how much 50 or 60 Hz hum the settled holding stretches of a sweep carry.

Baseline windows of a few ms are fractions of a mains period, so hum of amplitude A moves every
response's zero by up to A, and C_lin by up to A x T / (|dVc| C_lin) (T the control epoch).  The
check fits the fundamentals of 50 and 60 Hz to the settled part (the second half, and after
:data:`~signal_core.flags.SETTLE_TAUS` tau) of every return to the holding level, each stretch
detrended on its own, and raises ``mains_hum`` when the hum is significant (3 standard errors)
and that bound passes :data:`~signal_core.flags.HUM_MAX_BIAS`; the ``mains:50`` / ``mains:60``
filter removes it.  On the lab's recording (33,000 settled samples) it costs ~1.5 ms: the lines are
removed in closed form and the cosines and sines come from products of two short phasor tables.
"""

from __future__ import annotations

import math

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


def _detrended(y: np.ndarray) -> np.ndarray:
    """``y`` minus its least-squares straight line in time (the line ``np.polyfit(x, y, 1)`` fits).

    Closed form on the centred sample numbers x = k - (n - 1) / 2, for which sum(x) = 0 and
    sum(x^2) = n (n^2 - 1) / 12: slope = sum(x y) / sum(x^2) (per sample), intercept = mean(y).
    """
    n = y.size
    x = np.arange(n, dtype=np.float64)
    x -= 0.5 * (n - 1)
    slope = float(x @ y) / (n * (n * n - 1.0) / 12.0)
    out = y - float(y.mean())
    x *= slope
    out -= x
    return out


def _phasors(start: int, stop: int, fs_hz: float, f_hz: float) -> np.ndarray:
    """``exp(2j pi f t)`` at the sample times t = (k + 0.5) / fs, k = start .. stop - 1 (s, Hz).

    As products of a coarse and a fine table of about sqrt(n) phasors each (angle addition):
    two small exponentials instead of a cosine and a sine per sample, equal to them within a
    few units in the last place.
    """
    n = stop - start
    block = math.isqrt(n - 1) + 1  # block * block >= n
    step = 2.0 * np.pi * f_hz / fs_hz  # rad per sample
    fine = np.exp(1j * step * np.arange(block))
    coarse = np.exp(1j * step * (start + 0.5 + block * np.arange(-(-n // block))))
    return np.multiply.outer(coarse, fine).ravel()[:n]


def hum_flag(sw: SweepIndex, prot: Protocol, tau_ms: float, c_lin_nF: float) -> Flag | None:
    """``mains_hum`` when 50 or 60 Hz hum can bias C_lin (and Q likewise) by more than HUM_MAX_BIAS."""
    parts = _stretches(sw, prot, tau_ms)
    if not parts:
        return None
    n = sum(sl.stop - sl.start for sl in parts)
    y = np.empty(n)
    rows = np.empty((2 * len(MAINS_HZ), n))  # the design matrix, transposed: cos and sin of each frequency
    at = 0
    for sl in parts:
        end = at + sl.stop - sl.start
        y[at:end] = _detrended(sw.i[sl])
        for k, f in enumerate(MAINS_HZ):
            z = _phasors(sl.start, sl.stop, sw.fs, f)
            rows[2 * k, at:end] = z.real
            rows[2 * k + 1, at:end] = z.imag
        at = end
    gram = rows @ rows.T
    if np.linalg.cond(gram) > 1e8:
        return None
    coef = np.linalg.solve(gram, rows @ y)
    resid = y - coef @ rows
    dof = max(1, n - rows.shape[0])
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
