"""Fewer points for display: MinMaxLTTB (tsdownsample) with a numpy min/max fallback.

A browser draws ~5000 points per trace quickly; a 110k-sample sweep sent whole costs
~10 MB per rerun.  Downsampling keeps the visual envelope (every bucket's extremes), so
spikes and the interference band stay visible.  Zooming re-downsamples the window only,
so a short window is shown at full detail.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["MAX_POINTS", "downsample", "minmax_indices", "window"]

MAX_POINTS = 5000

logger = logging.getLogger(__name__)

try:  # optional at run time: the numpy fallback gives the same envelope
    from tsdownsample import MinMaxLTTBDownsampler as _MinMaxLTTB
except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
    _MinMaxLTTB = None


def minmax_indices(y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of the minimum and maximum of each of ``n_out // 2`` equal buckets, sorted.

    The first and last samples are always kept.  At most ``n_out`` indices.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n <= n_out:
        return np.arange(n)
    n_buckets = max(1, (n_out - 2) // 2)
    edges = np.linspace(0, n, n_buckets + 1).astype(np.int64)
    idx = [0, n - 1]
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        seg = y[a:b]
        idx.append(a + int(np.argmin(seg)))
        idx.append(a + int(np.argmax(seg)))
    return np.unique(np.asarray(idx, dtype=np.int64))


def _indices(x: np.ndarray, y: np.ndarray, n_out: int, use_tsdownsample: bool) -> np.ndarray:
    if y.size <= n_out:
        return np.arange(y.size)
    if use_tsdownsample and _MinMaxLTTB is not None and n_out >= 4:
        try:
            idx = _MinMaxLTTB().downsample(x, y, n_out=n_out)
            return np.asarray(idx, dtype=np.int64)
        except (ValueError, TypeError, RuntimeError):  # e.g. non-monotonic x: fall back, say why in the log
            logger.warning("tsdownsample refused the trace; using the numpy min/max fallback", exc_info=True)
    return minmax_indices(y, n_out)


def downsample(
    x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS, *, use_tsdownsample: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n_out`` points of ``(x, y)`` that keep the trace's shape.

    Non-finite samples (NaN, as in a fit defined on part of a curve) are dropped first.

    Parameters
    ----------
    x, y : ndarray
        Monotonic x (any unit) and the values, same length.
    n_out : int
        Most points to return.
    use_tsdownsample : bool
        False forces the numpy min/max fallback.

    Returns
    -------
    (ndarray, ndarray)
        The kept x and y, in order.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    finite = np.isfinite(y) & np.isfinite(x)
    if not finite.all():
        x, y = np.ascontiguousarray(x[finite]), np.ascontiguousarray(y[finite])
    idx = _indices(x, y, int(n_out), use_tsdownsample)
    return x[idx], y[idx]


def window(x: np.ndarray, lo: float, hi: float) -> slice:
    """The slice of a sorted ``x`` that lies in ``[lo, hi]`` (empty when outside)."""
    a = int(np.searchsorted(x, lo, side="left"))
    b = int(np.searchsorted(x, hi, side="right"))
    return slice(a, max(a, b))
