"""Filters for membrane-current traces: the functions that run a chain of filter specs.

Every filter is zero-phase (or symmetric), so it never shifts a transient in time, but it
does spread each step edge a little on *both* sides; :meth:`FilterSpec.settle_s` and
:func:`chain_settle_s` say how far, so the analysis can keep its baseline and integration
windows a guard away from every edge.  Signals are in pA, times in s, frequencies in Hz.
All functions work on 1-D arrays or along one axis (default the last) of N-D arrays
(sweeps x samples) and return new float64 arrays.  Decimation (the orange curve) and the
power spectrum are here too.

The specs themselves (:class:`~signal_core.filters.specs.FilterSpec`, the chain's JSON and
command-line forms) live in :mod:`signal_core.filters.specs`, the kinds' table in
:mod:`signal_core.filters.kinds` and their rules (with :class:`~signal_core.filters.kind_rules.FilterError`)
in :mod:`signal_core.filters.kind_rules`; every name has one import path, the module that defines it.
:mod:`scipy.signal` is imported inside the functions that need it, not at the top: it takes
about 0.4 s to import, which a command-line run without a filter would otherwise pay for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pywt

from signal_core.filters.kind_rules import (
    FilterError,
    _fmt,
    _integer,
    _real,
    _wavelet_level,
)
from signal_core.filters.kinds import filter_kind
from signal_core.filters.specs import (
    FilterSpec,
)

__all__ = [
    "ANTIALIAS_ORDER",
    "antialias_spec",
    "apply_chain",
    "apply_filter",
    "butter_lowpass",
    "chain_settle_s",
    "decimate",
    "decimated_time",
    "notch",
    "power_spectrum",
    "savgol",
    "wavelet_denoise",
]

#: Butterworth order of the anti-alias low-pass used by :func:`decimate` (-60 dB at the new Nyquist)
ANTIALIAS_ORDER = 8


# --- the filters -------------------------------------------------------------------------
def _as_signal(x: Any, axis: int) -> np.ndarray:
    """Writable C-contiguous float64 copy with the filter axis last (pandas 3 may hand in read-only arrays)."""
    a = np.array(x, dtype=np.float64, copy=True)
    if a.ndim == 0:
        raise FilterError("a signal must be an array of samples, got a scalar")
    a = np.ascontiguousarray(np.moveaxis(a, axis, -1))
    if a.shape[-1] == 0:
        raise FilterError("the signal has no samples")
    if not np.all(np.isfinite(a)):
        raise FilterError("the signal contains NaN or infinite values; remove them before filtering")
    return a


def _zero_phase(a: np.ndarray, run, mean_len: int, padlen: int) -> np.ndarray:
    """Pad the last axis with the mean of its first/last ``mean_len`` samples, run, unpad."""
    n = a.shape[-1]
    m = int(min(max(mean_len, 1), n))
    head = np.broadcast_to(a[..., :m].mean(axis=-1, keepdims=True), a.shape[:-1] + (padlen,))
    tail = np.broadcast_to(a[..., n - m :].mean(axis=-1, keepdims=True), a.shape[:-1] + (padlen,))
    y = run(np.concatenate([head, a, tail], axis=-1))
    return np.ascontiguousarray(y[..., padlen : padlen + n])


def butter_lowpass(x, fs_hz: float, cutoff_hz: float, order: int = 4, *, axis: int = -1) -> np.ndarray:
    """Zero-phase Butterworth low-pass (second-order sections, forward and backward).

    Parameters
    ----------
    x : array_like
        Signal (pA), filtered along ``axis``.
    fs_hz : float
        Sampling rate (Hz).
    cutoff_hz : float
        -3 dB frequency of one pass (Hz); the forward-backward pair is -6 dB there.
    order : int
        Order of one pass.

    Returns
    -------
    ndarray
        Filtered signal (pA), same shape.

    Notes
    -----
    Edge handling: each end is extended by a constant equal to the mean of the first (last)
    samples over the filter's settling time (:meth:`FilterSpec.settle_s`), with the filter
    started in its steady state.  scipy's default odd extension reflects the signal about the
    end sample, so on a sweep that ends at a noisy holding level a single noisy end sample
    shifts the whole extension by twice its deviation and bends the filtered edge; the local
    mean is the best estimate of the level there.  A constant stays exactly constant, and
    away from the ends (beyond the settling time) the result equals any other padding.
    """
    spec = FilterSpec("butter", cutoff_hz=cutoff_hz, order=order)
    a = _as_signal(x, axis)
    spec.validate(fs_hz, a.shape[-1])
    from scipy import signal  # here, not at the top: see the module docstring
    sos = signal.butter(spec.order, spec.cutoff_hz, fs=fs_hz, output="sos")
    settle = int(math.ceil(spec.settle_s(fs_hz) * fs_hz))
    y = _zero_phase(a, lambda v: signal.sosfiltfilt(sos, v, axis=-1, padtype=None), settle, 2 * settle + 16)
    return np.moveaxis(y, -1, axis)


def notch(x, fs_hz: float, freq_hz: float, q: float = 30.0, *, axis: int = -1) -> np.ndarray:
    """Zero-phase notch (``scipy.signal.iirnotch`` applied forward and backward).

    Parameters
    ----------
    x : array_like
        Signal (pA), filtered along ``axis``.
    fs_hz, freq_hz : float
        Sampling rate and notch centre (Hz).
    q : float
        Quality factor: centre / -3 dB bandwidth of one pass.

    Returns
    -------
    ndarray
        Filtered signal (pA), same shape.  Edges as in :func:`butter_lowpass`, the mean
        taken over at least ten periods of the notch frequency so the interference averages out.
    """
    spec = FilterSpec("notch", freq_hz=freq_hz, q=q)
    a = _as_signal(x, axis)
    spec.validate(fs_hz, a.shape[-1])
    from scipy import signal  # here, not at the top: see the module docstring
    b, den = signal.iirnotch(spec.freq_hz, spec.q, fs=fs_hz)
    if not (np.all(np.isfinite(den)) and np.max(np.abs(np.roots(den))) < 1.0):
        raise FilterError(f"the notch at {_fmt(spec.freq_hz)} Hz with Q {_fmt(spec.q)} is numerically unstable at "
                          f"{_fmt(fs_hz)} Hz sampling: raise Q or the frequency")
    settle = int(math.ceil(spec.settle_s(fs_hz) * fs_hz))
    mean_len = max(settle, int(round(10 * fs_hz / spec.freq_hz)))
    y = _zero_phase(a, lambda v: signal.filtfilt(b, den, v, axis=-1, padtype=None), mean_len, 3 * settle + 16)
    return np.moveaxis(y, -1, axis)


def savgol(x, window: int, polyorder: int = 3, *, axis: int = -1) -> np.ndarray:
    """Savitzky-Golay smoothing (local least-squares polynomial, symmetric: no time shift).

    Parameters
    ----------
    x : array_like
        Signal (pA), filtered along ``axis``.
    window : int
        Window length in samples (odd, > polyorder, <= trace length).
    polyorder : int
        Degree of the local polynomial; polynomials up to this degree pass unchanged,
        also at the edges (``mode="interp"`` fits the end windows).

    Returns
    -------
    ndarray
        Smoothed signal (pA), same shape.
    """
    spec = FilterSpec("savgol", window=window, polyorder=polyorder)
    a = _as_signal(x, axis)
    spec.validate(1.0, a.shape[-1])
    from scipy import signal  # here, not at the top: see the module docstring
    y = signal.savgol_filter(a, spec.window, spec.polyorder, axis=-1, mode="interp")
    return np.moveaxis(y, -1, axis)


def wavelet_denoise(
    x, wavelet: str = "db4", level: int | None = None, threshold: str = "soft", *, axis: int = -1
) -> np.ndarray:
    """Wavelet denoising with the universal threshold (VisuShrink).

    The detail coefficients of every level are thresholded at ``sigma * sqrt(2 ln n)``,
    where ``sigma = median(|finest detail|) / 0.6745`` estimates the white-noise rms (per
    trace) and ``n`` is the trace length; the approximation is kept.

    Parameters
    ----------
    x : array_like
        Signal (pA), denoised along ``axis``.
    wavelet : str
        Discrete PyWavelets wavelet name.
    level : int or None
        Decomposition depth; None = ``pywt.dwt_max_level`` capped at :data:`WAVELET_AUTO_MAX_LEVEL`.
    threshold : {"soft", "hard"}
        Soft shrinks surviving coefficients by the threshold, hard keeps them as they are.

    Returns
    -------
    ndarray
        Denoised signal (pA), same shape.
    """
    spec = FilterSpec("wavelet", wavelet=wavelet, level=level, threshold=threshold)
    a = _as_signal(x, axis)
    n = a.shape[-1]
    lev = _wavelet_level(n, spec.wavelet, spec.level)
    coeffs = pywt.wavedec(a, spec.wavelet, level=lev, axis=-1)
    sigma = np.median(np.abs(coeffs[-1]), axis=-1, keepdims=True) / 0.6745
    thr = sigma * math.sqrt(2.0 * math.log(n))
    out = [coeffs[0]]
    for d in coeffs[1:]:
        if spec.threshold == "soft":
            out.append(np.sign(d) * np.maximum(np.abs(d) - thr, 0.0))
        else:
            out.append(np.where(np.abs(d) > thr, d, 0.0))
    y = pywt.waverec(out, spec.wavelet, axis=-1)[..., :n]
    return np.moveaxis(np.ascontiguousarray(y), -1, axis)


def apply_filter(x, fs_hz: float, spec: FilterSpec) -> np.ndarray:
    """Apply one spec along the last axis (pA in, pA out); a disabled spec returns a copy."""
    a = _as_signal(x, -1)
    if not spec.enabled:
        return a
    spec.validate(fs_hz, a.shape[-1])
    return filter_kind(spec.kind).run(a, fs_hz, spec)


def apply_chain(x, fs_hz: float, chain: Sequence[FilterSpec]) -> np.ndarray:
    """Apply the filters in the user's order along the last axis (1-D or sweeps x samples)."""
    y = _as_signal(x, -1)
    for spec in chain:
        y = apply_filter(y, fs_hz, spec)
    return y


def chain_settle_s(chain: Sequence[FilterSpec], fs_hz: float) -> float:
    """Sum of the enabled filters' :meth:`FilterSpec.settle_s` (s): the guard to keep around edges."""
    return float(sum(spec.settle_s(fs_hz) for spec in chain))


# --- decimation and spectrum ------------------------------------------------------------
def _check_factor(factor: Any, method: str) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 1:
        raise FilterError(f"decimation factor must be a whole number >= 1, got {factor!r}")
    if method not in ("mean", "pick"):
        raise FilterError(f"decimation method must be 'mean' or 'pick', got {method!r}")
    return int(factor)


def antialias_spec(fs_hz: float, factor: int) -> FilterSpec:
    """The anti-alias low-pass :func:`decimate` uses: Butterworth at 0.4 * fs / factor (Hz).

    Its :meth:`FilterSpec.settle_s` is the guard the decimated (orange) curve needs.
    """
    factor = _check_factor(factor, "mean")
    return FilterSpec("butter", cutoff_hz=0.4 * float(fs_hz) / factor, order=ANTIALIAS_ORDER)


def decimate(
    x, fs_hz: float, factor: int, *, antialias: bool = True, method: str = "mean"
) -> tuple[np.ndarray, float]:
    """Reduce the sampling rate by an integer factor along the last axis (the orange curve).

    Parameters
    ----------
    x : array_like
        Signal (pA); 1-D or sweeps x samples.
    fs_hz : float
        Sampling rate (Hz).
    factor : int
        Samples per output point.
    antialias : bool
        First low-pass with :func:`antialias_spec` (zero-phase Butterworth, order
        :data:`ANTIALIAS_ORDER`, at 0.4 * fs / factor, below the new Nyquist 0.5 * fs / factor).
        Without it, interference above the new Nyquist folds back: a 15.625 kHz tone in
        50-sample block means at 100 kHz becomes a 375 Hz ripple.
    method : {"mean", "pick"}
        Block mean of ``factor`` samples, or the first sample of each block.

    Returns
    -------
    y : ndarray
        Decimated signal (pA), ``n // factor`` points along the last axis (a partial last
        block is dropped).  Times: :func:`decimated_time`.
    fs_new_hz : float
        ``fs_hz / factor``.
    """
    factor = _check_factor(factor, method)
    a = _as_signal(x, -1)
    n_blocks = a.shape[-1] // factor
    if n_blocks == 0:
        raise FilterError(f"the trace ({a.shape[-1]} samples) is shorter than one block of {factor} samples")
    if antialias and factor > 1:
        a = apply_filter(a, fs_hz, antialias_spec(fs_hz, factor))
    a = a[..., : n_blocks * factor]
    if method == "mean":
        y = a.reshape(a.shape[:-1] + (n_blocks, factor)).mean(axis=-1)
    else:
        y = np.ascontiguousarray(a[..., ::factor])
    return y, float(fs_hz) / factor


def decimated_time(t_s, factor: int, method: str = "mean") -> np.ndarray:
    """Times (s) of the points :func:`decimate` returns: block centres ("mean") or picked samples ("pick")."""
    factor = _check_factor(factor, method)
    t = np.asarray(t_s, dtype=np.float64)
    if t.ndim != 1:
        raise FilterError("the time axis must be 1-D")
    n_blocks = t.size // factor
    t = t[: n_blocks * factor]
    return t.reshape(n_blocks, factor).mean(axis=-1) if method == "mean" else t[::factor].copy()


def power_spectrum(x, fs_hz: float, *, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density along the last axis (one-sided, mean removed per segment).

    Parameters
    ----------
    x : array_like
        Signal (pA).
    fs_hz : float
        Sampling rate (Hz).
    nperseg : int, optional
        Segment length (samples); default the power of two giving ~10 Hz resolution, at
        most the trace length.

    Returns
    -------
    f_hz : ndarray
        Frequencies (Hz).
    psd : ndarray
        Power spectral density (pA^2/Hz); its integral over f is the signal variance (pA^2).
    """
    a = _as_signal(x, -1)
    fs = _real(fs_hz, "sampling rate (Hz)")
    if fs <= 0:
        raise FilterError(f"sampling rate must be > 0 Hz, got {_fmt(fs)}")
    n = a.shape[-1]
    if nperseg is None:
        nperseg = min(n, 2 ** max(3, math.ceil(math.log2(fs / 10.0))))
    nperseg = _integer(nperseg, "nperseg")
    if not 1 <= nperseg <= n:
        raise FilterError(f"nperseg must be between 1 and the trace length {n}, got {nperseg}")
    from scipy import signal  # here, not at the top: see the module docstring
    f_hz, psd = signal.welch(a, fs=fs, nperseg=nperseg, axis=-1)
    return f_hz, psd
