"""Mains hum removal by regression: the 50 or 60 Hz sinusoid and its harmonics, fitted to the whole sweep.

A notch filter at 50 Hz rings for hundreds of ms (Q / (pi f0)), longer than the epochs of a
control-pulse protocol, and the 5-10 ms baseline and steady-state windows of the analysis are
fractions of a mains period, so hum of a few tens of pA moves C_lin and R_m by 10 % or more.
Here the hum is a sum of sinusoids at f0, 2 f0, ... :data:`MAINS_HARMONICS` f0 with amplitudes
and phases fitted by least squares over the whole sweep, on the samples away from the cell's own
steps and transients (:func:`quiet_mask`), and subtracted everywhere.  Nothing else changes: it
spreads no edge (its settling time is 0).  Signals in pA, frequencies in Hz.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAINS_HARMONICS", "MAINS_RANGE_HZ", "mains_design", "quiet_mask", "remove_mains"]

#: the fundamental and harmonics up to this order are fitted (the 3rd and 5th carry most of a rig's hum
#: after the fundamental); harmonics at or above the Nyquist frequency are left out
MAINS_HARMONICS = 5
#: mains frequencies accepted (Hz): 50 and 60 Hz grids, with room for a generator or a mis-set clock
MAINS_RANGE_HZ = (40.0, 70.0)


def mains_design(n: int, fs_hz: float, freq_hz: float, harmonics: int = MAINS_HARMONICS) -> np.ndarray:
    """Design matrix (n x (2 + 2 H)): constant, line, then cos and sin of each harmonic below Nyquist."""
    t = (np.arange(n) - 0.5 * (n - 1)) / fs_hz  # centred: the line and the constant stay orthogonal-ish
    cols = [np.ones(n), t / max(t[-1], 1.0 / fs_hz)]
    for h in range(1, harmonics + 1):
        f = h * freq_hz
        if f >= fs_hz / 2:
            break
        w = 2.0 * np.pi * f * t
        cols.extend((np.cos(w), np.sin(w)))
    return np.column_stack(cols)


def _period_mean(a: np.ndarray, period: float) -> np.ndarray:
    """Centred running mean over exactly one (fractional) period of samples: zero for any sum of its harmonics."""
    n = a.size
    c = np.concatenate([[0.0], np.cumsum(a)])
    k = np.arange(n) + 0.5
    lo = np.clip(k - period / 2, 0, n)
    hi = np.clip(k + period / 2, 0, n)
    grid = np.arange(n + 1, dtype=np.float64)
    return (np.interp(hi, grid, c) - np.interp(lo, grid, c)) / (hi - lo)


def quiet_mask(a: np.ndarray, period: float) -> np.ndarray:
    """Samples far (one period) from any step or transient: where the one-period running mean is flat.

    The running mean over a mains period has no hum left, so wherever it changes the cell's own
    current changes (an edge, a capacitive transient, charge movement); those stretches, widened
    by a period on each side, and the half periods at both ends are left out of the hum's fit.
    """
    n = a.size
    p = int(np.ceil(period))
    smooth = _period_mean(a, period)
    half = max(1, p // 2)
    change = np.zeros(n)
    change[half:n - half] = np.abs(smooth[2 * half:] - smooth[:n - 2 * half])
    ref = float(np.median(change[half:n - half])) if n > 2 * half else 0.0
    busy = change > 5.0 * ref + 1e-12
    # widen every busy stretch by a period on each side (a running maximum over 2p + 1 samples)
    c = np.concatenate([[0], np.cumsum(busy)])
    lo = np.clip(np.arange(n) - p, 0, n)
    hi = np.clip(np.arange(n) + p + 1, 0, n)
    quiet = (c[hi] - c[lo]) == 0
    quiet[:half] = quiet[n - half:] = False
    return quiet


def remove_mains(x: np.ndarray, fs_hz: float, freq_hz: float, harmonics: int = MAINS_HARMONICS) -> np.ndarray:
    """Subtract the fitted mains sinusoid and harmonics along the last axis.

    The hum is fitted to what a one-period running mean leaves (x minus that mean: the hum, noise,
    and the cell's current only near its edges), on the quiet samples of :func:`quiet_mask`; steps
    and transients, which would leak into a fit of the raw sweep (tens of pA next to a 14 nA
    transient), stay out of it.  When fewer than two periods are quiet, every sample is used.

    Parameters
    ----------
    x : ndarray
        Current (pA), 1-D or sweeps x samples, float64 (not modified).
    fs_hz : float
        Sampling rate (Hz).
    freq_hz : float
        Mains frequency (Hz), 50 or 60.
    harmonics : int
        Highest harmonic fitted.

    Returns
    -------
    ndarray
        ``x`` less the fitted hum (pA).
    """
    a = np.asarray(x, dtype=np.float64)
    n = a.shape[-1]
    period = fs_hz / freq_hz
    design = mains_design(n, fs_hz, freq_hz, harmonics)
    flat = a.reshape(-1, n)
    out = np.empty_like(flat)
    for k, row in enumerate(flat):
        quiet = quiet_mask(row, period)
        if quiet.sum() < 2 * period:
            quiet[:] = True
        resid = row - _period_mean(row, period)
        d = design[quiet]
        coef = np.linalg.solve(d.T @ d, d.T @ resid[quiet])  # 12 x 12 normal equations: well conditioned
        out[k] = row - design[:, 2:] @ coef[2:]
    return out.reshape(a.shape)
