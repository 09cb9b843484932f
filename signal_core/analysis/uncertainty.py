"""Standard errors of one sweep's numbers, from the noise of the sweep itself (DOMAIN.md section 8).

Every charge and capacitance of the analysis is, to first order, a weighted sum of the
samples of the (filtered) current: ``Q = sum_n w_n i_n``.  The weights follow the pipeline
exactly: the integration window (trapezoid), the pre-edge baselines, the control responses
scaled by ``dV / dVc`` and averaged over the ``n_ctrl`` steps (the ``sqrt(1 + r^2 / n_ctrl)``
term), the tail level removed and, for the passive numbers, the exponential fit (linearised:
its influence function).  The variance of such a sum is ``w^T C w`` for the noise covariance
``C``, that is::

    Var(sum w_n i_n) = integral over f of S(f) |W(f)|^2  +  sum over lines of A^2 / 2 |W(f_line)|^2

``S`` is the continuous noise spectrum, estimated by Welch's method on the quiet stretches of
the sweep (holding, and the late part of every control epoch, where the transient has died
out), so filtered, correlated noise is handled as it is; narrow interference lines (the lab's
15.6 kHz tone, mains hum and its harmonics) are found in that spectrum, their frequency
refined to a fraction of a hertz and their amplitude fitted, and they enter with their exact
frequency, since a tone's effect on a windowed sum depends on where it falls between the
window's spectral zeros.  The integral is evaluated without a sweep-long FFT: ``S`` is linear
between its Welch frequencies, so its autocovariance is known exactly (``sinc^2(k / m) r_m(k)``,
taken as zero past a few Welch segments, where it is negligible); most weight vectors are
constant between a few breakpoints (windows, baselines, tail levels), and their variance is a
small double sum over the breakpoints of the variances of boxcar sums
(:meth:`NoiseSpectrum.boxcar_variances`); the others (the fit's influence) are cut into
pieces farther apart than the autocovariance reaches and each distinct piece goes through a
short FFT.  A line's ``W(f_line)`` is summed directly at its frequency.  Units: current pA,
charge pC, time s unless a name says ms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sp_fft
from scipy.ndimage import median_filter

__all__ = [
    "LINE_RATIO",
    "NoiseSpectrum",
    "WeightBook",
    "blackman_harris",
    "estimate_noise",
    "fit_influence",
    "quiet_segments",
]

#: a spectral bin this many times above the median of its neighbourhood is an interference line, not noise
LINE_RATIO = 30.0
#: bins either side of a line (Blackman-Harris window: main lobe +-4 bins) treated as the line's
_LINE_HALF_BINS = 6
#: the lowest bins, biased by the detrending of each Welch segment, take the level of the next few
_LOW_BINS = 5
#: at most this many lines are modelled (the strongest)
_MAX_LINES = 12
#: length of a Welch segment (s): one 50 Hz period, so that hum is resolved at 100 kHz
_SEGMENT_S = 0.02
#: a weight row with at most this many breakpoints (constant runs) is summed from boxcar variances, not its spectrum
_MAX_BREAKPOINTS = 256
#: the continuous part's autocovariance is taken as zero past this many Welch segments' lags (see boxcar_variances)
_MAX_LAG_SEGMENTS = 4
#: zero padding of a row's FFT, in Welch segments: the circular wrap then meets only the negligible long lags
_ALIAS_GUARD = 2


@dataclass(frozen=True)
class NoiseSpectrum:
    """The noise of one sweep: a continuous spectrum plus interference lines.

    Attributes
    ----------
    fs_hz : float
        Sampling rate (Hz).
    nu : ndarray
        Frequencies of ``psd`` in cycles per sample (0 to 0.5).
    psd : ndarray
        One-sided spectral density of the continuous part, pA^2 per (cycle/sample): its
        integral over ``nu`` is the continuous part's variance.
    lines : tuple of (float, float)
        Interference lines as (frequency in cycles per sample, amplitude in pA).
    n_samples : int
        Quiet samples the estimate rests on.
    """

    fs_hz: float
    nu: np.ndarray
    psd: np.ndarray
    lines: tuple[tuple[float, float], ...]
    n_samples: int

    @property
    def variance_pA2(self) -> float:
        """Variance of one sample (pA^2): continuous part plus lines."""
        cont = float(np.trapezoid(self.psd, self.nu))
        return cont + sum(a * a / 2.0 for _, a in self.lines)

    @property
    def line_hz(self) -> tuple[float, ...]:
        """Frequencies of the interference lines (Hz)."""
        return tuple(nu * self.fs_hz for nu, _ in self.lines)

    def variances(self, weights: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Variance of ``sum_n w_n i_n`` for each row of ``weights`` (rows of length <= the sweep), pA^2 x w^2.

        ``weights`` is a 2-D array or a sequence of 1-D rows.  A row that is constant between a few
        breakpoints (windows, baselines, tail levels: most rows) is summed exactly from the
        variances of boxcars (:meth:`boxcar_variances`), its lines from the closed-form sum of each
        constant run.  Any other row is cut where it is zero for longer than the autocovariance
        reaches (:data:`_MAX_LAG_SEGMENTS`), each piece's continuous part taken from its spectrum
        (the noise is stationary: pieces of equal weights, e.g. the same response under every
        control step, share one FFT), the lines from a direct sum over the whole row at their frequency.
        """
        if isinstance(weights, np.ndarray):
            rows = list(np.atleast_2d(np.asarray(weights, dtype=np.float64)))
        else:
            rows = [np.asarray(r, dtype=np.float64) for r in weights]
        out = np.zeros(len(rows))
        stepped: list[tuple[int, np.ndarray, np.ndarray]] = []
        smooth: list[tuple[int, np.ndarray, np.ndarray]] = []
        for k, row in enumerate(rows):
            nonzero = row != 0
            first = int(nonzero.argmax())
            if not nonzero[first]:
                continue
            seg = row[first:row.size - int(nonzero[::-1].argmax())]
            change = seg[1:] != seg[:-1]
            if np.count_nonzero(change) + 2 <= _MAX_BREAKPOINTS:
                # the constant runs: the row is cumsum(d) over them
                at = np.concatenate([[0], np.flatnonzero(change) + 1, [seg.size]])
                stepped.append((k, at, np.diff(seg[at[:-1]], prepend=0.0, append=0.0)))
            else:
                smooth.append((k, seg, nonzero[first:first + seg.size]))
        if stepped:
            lags = [np.abs(at[:, None] - at[None, :]) for _, at, _ in stepped]
            box = self.boxcar_variances(np.concatenate([lag.ravel() for lag in lags]))
            used = 0
            for (k, at, d), lag in zip(stepped, lags, strict=True):
                # sum_n w_n x_n = sum_p d_p T_p with T_p the sum of x from p on; as sum_p d_p = 0,
                # Var = -1/2 sum_pq d_p d_q V(|p - q|), V the variance of a boxcar sum
                v = box[used:used + lag.size].reshape(lag.shape)
                used += lag.size
                out[k] = -0.5 * float(np.einsum("i,ij,j->", d, v, d))
                # a line: sum_n w_n e^{-2 pi i nu n} = sum_p d_p e^{-2 pi i nu p} / (1 - e^{-2 pi i nu})
                for nu0, amp in self.lines:
                    z = complex(np.exp(-2j * np.pi * nu0 * at) @ d)
                    out[k] += amp * amp / 2.0 * (z.real**2 + z.imag**2) / (4.0 * math.sin(math.pi * nu0) ** 2)
        if smooth:
            out += self._smooth_variances(smooth, len(rows))
        return out

    def _smooth_variances(self, smooth: list[tuple[int, np.ndarray, np.ndarray]], n_rows: int) -> np.ndarray:
        """Variances of the rows ``smooth`` ((row index, row cropped to where it is not zero, its ``!= 0`` mask))."""
        m = 2 * (self.nu.size - 1)
        pieces: list[np.ndarray] = []  # the distinct pieces
        where: list[tuple[int, int, int]] = []  # (row, piece, offset in the row) of every piece of every row
        for k, seg, nonzero in smooth:
            # runs alternate nonzero, zero, ..., nonzero; a zero run as long as the covariance reaches is a cut
            edge = np.concatenate([[0], np.flatnonzero(nonzero[1:] != nonzero[:-1]) + 1, [seg.size]])
            long_gap = np.flatnonzero(edge[2:-1:2] - edge[1:-1:2] >= _MAX_LAG_SEGMENTS * m)
            starts = np.concatenate([[0], edge[2 + 2 * long_gap]])
            stops = np.concatenate([edge[1 + 2 * long_gap], [seg.size]])
            for a, b in zip(starts, stops, strict=True):
                piece = seg[a:b]
                j = next((j for j, q in enumerate(pieces) if q.size == piece.size and np.array_equal(q, piece)), None)
                if j is None:
                    pieces.append(piece)
                    j = len(pieces) - 1
                where.append((k, j, int(a)))
        var = np.zeros(len(pieces))
        groups: dict[int, list[int]] = {}
        for j, piece in enumerate(pieces):
            groups.setdefault(sp_fft.next_fast_len(piece.size + _ALIAS_GUARD * m, real=True), []).append(j)
        for nfft, members in groups.items():
            var[members] = self._spectral_variances([pieces[j] for j in members], nfft)
        out = np.zeros(n_rows)
        for k, j, _ in where:
            out[k] += var[j]
        if self.lines:  # a line is coherent over the whole row: its pieces' sums add with their phases
            nu = np.array([nu0 for nu0, _ in self.lines])
            amp = np.array([a for _, a in self.lines])
            blocks = _Blocks(pieces, [0] * len(pieces), 128)
            z_piece = np.add.reduceat(blocks.sums(nu), blocks.first, axis=0)
            z = np.zeros((n_rows, nu.size), dtype=complex)
            for k, j, a in where:
                z[k] += z_piece[j] * np.exp(-2j * np.pi * nu * a)
            out += (z.real**2 + z.imag**2) @ (amp * amp / 2.0)
        return out

    def boxcar_variances(self, lengths: np.ndarray) -> np.ndarray:
        """Variance of the continuous part's sum over ``L`` consecutive samples, for each ``L`` of ``lengths`` (pA^2).

        The spectrum is linear between its Welch frequencies ``j / m`` (``m`` the Welch segment's
        length), so its autocovariance is exactly ``r(k) = sinc^2(k / m) r_m(k)``, with ``r_m`` the
        inverse DFT of the ``m`` spectral values, and ``V(L) = sum over |k| < L of (L - |k|) r(k)``.
        Beyond :data:`_MAX_LAG_SEGMENTS` segments ``r`` is taken as zero (the sinc^2 tail meets
        ``r_m`` near its zeros there: on the lab's recording it moves an SE by less than 1e-6).
        """
        lengths = np.asarray(lengths)
        m = 2 * (self.nu.size - 1)
        r_m = sp_fft.irfft(self.psd / 2.0, n=m)  # the two-sided density's m-point inverse DFT
        n_lag = max(min(int(lengths.max(initial=0)), _MAX_LAG_SEGMENTS * m), 2)
        r = np.resize(np.sin(np.pi * np.arange(m) / m) ** 2 * r_m, n_lag)  # sin^2(pi k / m) r_m(k): period m
        k = np.arange(n_lag, dtype=np.float64)
        r[1:] /= (np.pi * k[1:] / m) ** 2
        r[0] = r_m[0]
        c1 = np.zeros(n_lag + 1)  # c1[L] = sum of r(k), c2[L] = sum of k r(k), over 1 <= k < L
        c2 = np.zeros(n_lag + 1)
        np.cumsum(r[1:], out=c1[2:])
        np.cumsum(k[1:] * r[1:], out=c2[2:])
        short = np.minimum(lengths, n_lag)
        # past the last lag V grows by the whole covariance sum per sample
        return short * r[0] + 2.0 * (short * c1[short] - c2[short]) + (lengths - short) * (r[0] + 2.0 * c1[n_lag])

    def _spectral_variances(self, segs: list[np.ndarray], nfft: int) -> np.ndarray:
        """Continuous part's variances of rows (each shorter than ``nfft`` by the alias guard) through their spectra."""
        block = np.zeros((len(segs), nfft), dtype=np.float32)
        for j, seg in enumerate(segs):
            block[j, :seg.size] = seg
        # single precision for the spectrum: an SE needs ~1e-3, and it is three times faster than float64
        spec = sp_fft.rfft(block, axis=1, workers=1)
        v = spec.view(np.float32).reshape(len(segs), -1, 2)
        power = np.einsum("ijk,ijk->ij", v, v)
        nu = np.arange(spec.shape[1]) / nfft
        s = np.interp(nu, self.nu, self.psd)  # one-sided: twice the two-sided density
        s[0] /= 2.0
        if nfft % 2 == 0:
            s[-1] /= 2.0
        return np.einsum("ij,j->i", power, s / nfft)


def quiet_segments(edges: list[int], skip: list[int], n: int, guard: int, settle: int) -> list[slice]:
    """Stretches of a sweep that hold only noise.

    Parameters
    ----------
    edges : list of int
        Every edge of the protocol (samples), sorted.
    skip : list of int
        Edges whose following epoch holds more than the linear response (the test ON and OFF
        epochs: charge movement, ionic current); they are left out.
    n : int
        Samples in the sweep.
    guard : int
        Samples kept clear before every edge (the filter's spread).
    settle : int
        Samples after an edge before the transient has died out (about 8 time constants);
        at most half of each epoch is given up to it.

    Returns
    -------
    list of slice
    """
    out: list[slice] = []
    if edges and edges[0] - guard > 16:
        out.append(slice(0, edges[0] - guard))
    bounds = [*edges, n + guard]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if a in skip:
            continue
        start = a + max(guard, min(settle, (b - a) // 2))
        stop = min(b - guard, n)
        if stop - start > 16:
            out.append(slice(start, stop))
    return out


def _segment_len(fs_hz: float, longest: int) -> int:
    target = max(64, min(int(fs_hz * _SEGMENT_S), longest))
    return 1 << (target.bit_length() - 1)


def estimate_noise(i_pA: np.ndarray, segments: list[slice], fs_hz: float) -> NoiseSpectrum | None:
    """The sweep's noise spectrum from its quiet segments; None when they are too short to tell.

    Welch's spectrum over the windows of every segment (Blackman-Harris window, half overlap,
    each window's straight line removed; one FFT for them all); lines standing
    :data:`LINE_RATIO` times above the local median are taken out of the continuous part and
    refined on the quiet samples (frequency to a fraction of a Welch bin, then amplitude by
    least squares at that frequency).
    """
    segs = [s for s in segments if s.stop - s.start >= 64]
    if not segs:
        return None
    nper = _segment_len(fs_hz, max(s.stop - s.start for s in segs))
    segs = [s for s in segs if s.stop - s.start >= nper]
    total = sum(s.stop - s.start for s in segs)
    if total < 2 * nper:
        return None
    psd = _welch(i_pA, segs, nper)
    nu = sp_fft.rfftfreq(nper)
    med = median_filter(psd, size=4 * _LINE_HALF_BINS + 1, mode="nearest")
    cand = np.flatnonzero((psd > LINE_RATIO * med) & (np.arange(psd.size) > _LOW_BINS))
    peaks: list[int] = []
    for b in cand[np.argsort(-psd[cand])]:
        if all(abs(b - q) > _LINE_HALF_BINS for q in peaks):
            peaks.append(int(b))
        if len(peaks) >= _MAX_LINES:
            break
    cont = psd.copy()
    for b in peaks:
        lo, hi = max(0, b - _LINE_HALF_BINS), min(psd.size, b + _LINE_HALF_BINS + 1)
        side = np.r_[psd[max(0, lo - 3 * _LINE_HALF_BINS):lo], psd[hi:hi + 3 * _LINE_HALF_BINS]]
        cont[lo:hi] = float(np.median(side)) if side.size else float(med[b])
    # the lowest bins (biased by each window's detrending) take the mean level of the next 2 x _LOW_BINS: the
    # windowed sums of a charge weigh mostly these frequencies, and a mean of many bins is a steadier estimate
    cont[:_LOW_BINS] = float(np.mean(cont[_LOW_BINS:3 * _LOW_BINS]))
    lines = _refine_lines(i_pA, segs, [nu[b] for b in peaks], 1.0 / nper) if peaks else ()
    return NoiseSpectrum(fs_hz=float(fs_hz), nu=nu, psd=cont, lines=lines, n_samples=int(total))


#: coefficients of the 4-term Blackman-Harris window (scipy.signal.windows.blackmanharris)
_BLACKMAN_HARRIS = (0.35875, 0.48829, 0.14128, 0.01168)


def blackman_harris(n: int) -> np.ndarray:
    """The periodic 4-term Blackman-Harris window of ``n`` points, as ``scipy.signal.get_window("blackmanharris", n)``.

    Written out (the same arithmetic, bit for bit) so that the analysis does not import
    :mod:`scipy.signal`, half a second of a command-line run that uses no filter.
    """
    if n == 1:
        return np.ones(1)
    phase = np.linspace(-np.pi, np.pi, n + 1)[:-1]
    w = np.zeros(n)
    for k, a in enumerate(_BLACKMAN_HARRIS):
        w += a * np.cos(k * phase)
    return w


def _welch(i_pA: np.ndarray, segs: list[slice], nper: int) -> np.ndarray:
    """One-sided spectral density (pA^2 per cycle/sample) averaged over the half-overlapping windows of every segment.

    What :func:`scipy.signal.welch` gives per segment (``window="blackmanharris"``, ``noverlap=nper // 2``,
    ``detrend=_detrend_line``, ``scaling="density"``), averaged by the segments' numbers of windows,
    with all the windows in one FFT.
    """
    hop = nper // 2
    frames = np.concatenate([
        sliding_window_view(np.asarray(i_pA[s], dtype=np.float64), nper)[::hop][:1 + (s.stop - s.start - nper) // hop]
        for s in segs])
    win = blackman_harris(nper)
    spec = sp_fft.rfft(_detrend_line(frames) * win, axis=1, workers=1)
    psd = (spec.real**2 + spec.imag**2).mean(axis=0) / float(win @ win)
    psd[1:-1 if nper % 2 == 0 else None] *= 2.0
    return psd


def _detrend_line(x: np.ndarray) -> np.ndarray:
    """``x`` less its least-squares straight line along the last axis (closed form: no BLAS, whose threads stall
    on a busy machine)."""
    t = np.arange(x.shape[-1]) - (x.shape[-1] - 1) / 2.0
    mean = x.mean(axis=-1, keepdims=True)
    slope = (x * t).sum(axis=-1, keepdims=True) / (t * t).sum()
    return x - mean - slope * t


def _refine_lines(i_pA: np.ndarray, segs: list[slice], nus: list[float], bin_nu: float
                  ) -> tuple[tuple[float, float], ...]:
    """Frequency (cycles/sample) and amplitude (pA) of each line, fitted on the quiet samples.

    Complex demodulation at the Welch bin's frequency: the phase of block sums drifts at the
    offset to the true frequency.  Its slope within each segment (no gaps, no phase ambiguity)
    gives a first correction; the phases of whole segments, demodulated again, then line up
    across the sweep and give the rest, to a small fraction of 1 / (the sweep's length).
    The amplitude is the least-squares sinusoid at that frequency.  Every sum over the samples
    is a sum of block sums (:class:`_Blocks`), for all lines at once: no sine or cosine of every sample.
    """
    block = max(4, int(0.05 / bin_nu))
    bl = _Blocks([np.asarray(i_pA[s], dtype=np.float64) - np.mean(i_pA[s]) for s in segs],
                 [s.start for s in segs], block)
    nu = np.array(nus, dtype=np.float64)
    size = np.array([float(s.stop - s.start) for s in segs])
    centre = np.array([s.start for s in segs]) + (size - 1) / 2.0
    # 1: slope of the phase within each segment, over its whole blocks (segments of >= 3 of them); unwrapped
    # across the segments, each segment's phases are off by a multiple of 2 pi, which its mean removes
    nb = bl.whole[bl.segment]
    use = bl.is_whole & (nb >= 3)
    if use.any():
        ph = np.unwrap(np.angle(bl.sums(nu)[use]), axis=0)
        seg, nb, tc = bl.segment[use], nb[use], (bl.index[use] - (nb[use] - 1) / 2) * block
        mean = np.zeros((len(segs), nu.size))
        np.add.at(mean, seg, ph)
        mean /= np.maximum(bl.whole, 1)[:, None]
        nu = nu + ((tc * nb) @ (ph - mean[seg])) / float((tc * tc) @ nb) / (2 * np.pi)
    # 2: phase of each whole segment against its centre, across the sweep
    if len(segs) > 1:
        ph = np.unwrap(np.angle(np.add.reduceat(bl.sums(nu), bl.first, axis=0)), axis=0)
        tm = (centre * size).sum() / size.sum()
        ph_mean = (size @ ph) / size.sum()
        nu = nu + (((centre - tm) * size) @ (ph - ph_mean)) / float(((centre - tm) ** 2) @ size) / (2 * np.pi)
    # amplitude: least-squares cos + sin at nu over every quiet sample; with z = sum x e^{-i phi} and
    # z2 = sum e^{2 i phi}: sum x cos = Re z, sum x sin = -Im z, sum cos^2 = (N + Re z2) / 2,
    # sum cos sin = Im z2 / 2
    z1 = bl.sums(nu).sum(axis=0)
    out = []
    for nu_k, z in zip(nu, z1, strict=True):
        z2 = _sum_exp(4 * np.pi * float(nu_k), segs)
        m = 0.5 * np.array([[size.sum() + z2.real, z2.imag], [z2.imag, size.sum() - z2.real]])
        ab = np.linalg.lstsq(m, np.array([z.real, -z.imag]), rcond=None)[0]
        out.append((float(nu_k), float(math.hypot(*ab))))
    return tuple(out)


def _sum_exp(theta: float, segs: list[slice]) -> complex:
    """``sum of exp(i theta n)`` over the samples ``n`` of ``segs``: geometric series (directly where degenerate)."""
    step = complex(np.exp(1j * theta))
    if abs(1.0 - step) < 1e-6:
        return complex(sum(np.exp(1j * theta * np.arange(s.start, s.stop)).sum() for s in segs))
    return sum(complex(np.exp(1j * theta * s.start)) * (1.0 - step ** (s.stop - s.start)) / (1.0 - step) for s in segs)


class _Blocks:
    """Segments of a sweep cut into blocks of ``b`` samples (the last of each zero-padded), for sums at frequencies.

    ``sums(nu)`` gives ``sum over the block of x[n] exp(-2 pi i nu n)`` (``n`` the sweep's sample) for
    every block (rows) and frequency (columns): the phase splits as ``e^{-2 pi i nu n_block} e^{-2 pi i nu r}``,
    so it costs ``b`` + (number of blocks) complex exponentials per frequency and one pass of real
    multiply-adds over the samples.
    """

    def __init__(self, xs: list[np.ndarray], starts: list[int], b: int):
        counts = np.array([-(-x.size // b) for x in xs])
        self.b = b
        self.first = np.cumsum(np.r_[0, counts[:-1]])  # each segment's first block
        self.whole = np.array([x.size // b for x in xs])  # and its number of whole blocks
        self.segment = np.repeat(np.arange(len(xs)), counts)  # each block's segment
        self.index = np.arange(counts.sum()) - self.first[self.segment]  # and place in it
        self.is_whole = self.index < self.whole[self.segment]
        self.data = np.zeros((int(counts.sum()), b))
        flat = self.data.reshape(-1)
        for a, x in zip(self.first, xs, strict=True):
            flat[a * b:a * b + x.size] = x
        self.n0 = (np.array(starts)[self.segment] + b * self.index).astype(np.float64)

    def sums(self, nu: np.ndarray) -> np.ndarray:
        inner = np.empty((self.data.shape[0], nu.size), dtype=complex)
        r = np.arange(self.b)
        for k, f in enumerate(nu):  # einsum, not BLAS: its threads stall on a busy machine
            inner[:, k] = np.einsum("qb,b->q", self.data, np.cos(2 * np.pi * f * r)) - 1j * np.einsum(
                "qb,b->q", self.data, np.sin(2 * np.pi * f * r))
        return inner * np.exp(-2j * np.pi * np.outer(self.n0, nu))


def fit_influence(t: np.ndarray, amplitude: float, tau: float, offset: float) -> np.ndarray:
    """Rows: d(amplitude, tau, offset) / d(data) of a least-squares fit of offset + amplitude exp(-t/tau).

    The linearised fit (the Gauss-Newton step at the optimum): ``(J^T J)^-1 J^T``, shape (3, len(t)).
    """
    e = np.exp(-t / tau)
    jac = np.column_stack([e, amplitude * t / tau**2 * e, np.ones_like(t)])
    return np.linalg.pinv(jac.T @ jac) @ jac.T  # 3 x 3: the pseudo-inverse keeps a degenerate fit finite


@dataclass(frozen=True)
class Span:
    """A weight vector over a sweep's samples that is zero outside ``start`` to ``start + len(w)``."""

    start: int
    w: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + self.w.size


def combine(*terms: tuple[float, Span]) -> Span:
    """``sum of c * span`` over the ``(c, span)`` terms, on the union of their extents."""
    lo = min(sp.start for _, sp in terms)
    out = np.zeros(max(sp.stop for _, sp in terms) - lo)
    for c, sp in terms:
        out[sp.start - lo:sp.stop - lo] += c * sp.w
    return Span(lo, out)


class WeightBook:
    """Weight vectors over one sweep's samples, built from the pipeline's responses.

    ``place`` gives the weights ``u`` of a response curve starting at sample ``pos`` as a
    :class:`Span` of the sweep, the baseline subtraction included (each baseline sample gets
    ``-sum(u) / n_base``); ``add`` puts the same into a sweep-long vector.
    """

    def __init__(self, n: int):
        self.n = n

    def place(self, pos: int, base: slice, u: np.ndarray) -> Span:
        return self.place_all([(1.0, pos, base, u)])

    def place_all(self, terms: list[tuple[float, int, slice, np.ndarray]]) -> Span:
        """``sum of c * place(pos, base, u)`` over the ``(c, pos, base, u)`` terms, in one vector."""
        ext = []
        for _, pos, base, u in terms:
            ext.append((pos, pos + min(u.size, self.n - pos)))
            if base.stop > base.start:
                ext.append((base.start, base.stop))
        lo = min(a for a, _ in ext)
        w = np.zeros(max(b for _, b in ext) - lo)
        for c, pos, base, u in terms:
            m = min(u.size, self.n - pos)
            w[pos - lo:pos - lo + m] += u[:m] if c == 1.0 else c * u[:m]
            nb = base.stop - base.start
            if nb > 0:
                w[base.start - lo:base.stop - lo] -= c * (u[:m].sum() / nb)
        return Span(lo, w)

    def add(self, w: np.ndarray, pos: int, base: slice, u: np.ndarray) -> None:
        sp = self.place(pos, base, u)
        w[sp.start:sp.stop] += sp.w

    def zeros(self) -> np.ndarray:
        return np.zeros(self.n)


# ---------------------------------------------------------------------------- one sweep
#: a statistical flag fires when the difference it tests exceeds this many standard errors
N_SIGMA = 3.0


@dataclass(frozen=True)
class SweepUncertainty:
    """Standard errors of one sweep's numbers and the statistics the quality flags test.

    SEs in the unit of their quantity (pC, nF, ms, MOhm, mV); None where the quantity is not
    reported or the noise could not be estimated.  ``q_sum_se_pC`` is the SE of Q_on + Q_off
    (their correlation included), ``ctrl_diff`` the largest difference between two control
    steps' C_lin with its SE (nF), ``fit_chi2`` the mean squared residual of the transient fit
    over the mean squared noise expected for it (1 for a perfect model), ``fit_misfit`` the rms
    residual over the transient's amplitude |I0 - I_ss|.
    """

    noise_rms_pA: float
    line_hz: tuple[float, ...]
    q_on_se_pC: float
    q_off_se_pC: float
    q_sum_se_pC: float
    c_lin_se_nF: float | None
    c_m_se_nF: float | None
    tau_se_ms: float | None
    r_s_se_MOhm: float | None
    r_m_se_MOhm: float | None
    i_ss_se_pA: float | None
    ctrl_diff_nF: float | None
    ctrl_diff_se_nF: float | None
    fit_chi2: float | None
    fit_misfit: float | None
    q_on_corr_se_pC: float | None = None
    q_off_corr_se_pC: float | None = None
    v_test_m_se_mV: float | None = None


def _resp(sw, start_s: float, prev_edge_s: float | None) -> tuple[int, slice]:
    """Position and baseline window of a response, as :meth:`SweepIndex.response` takes them."""
    a = sw.idx(start_s)
    lo_limit = 0 if prev_edge_s is None else sw.idx(prev_edge_s) + sw.guard
    base_end = a - sw.guard
    return a, slice(max(lo_limit, base_end - sw.nbase), base_end)


def response_positions(sw, prot) -> dict:
    """Positions and baselines of every response of the pipeline: test ON/OFF and each control's ON/OFF."""
    all_steps = sorted((*prot.controls, prot.test), key=lambda s: s.on_start_s)

    def prev_of(step):
        pos = all_steps.index(step)
        prev = all_steps[pos - 1].off_end_s if pos > 0 else None
        return prev if prev is not None and prev < step.on_start_s else None

    return {
        "test_on": _resp(sw, prot.test.on_start_s, prev_of(prot.test)),
        "test_off": _resp(sw, prot.test.on_end_s, prot.test.on_start_s),
        "ctrl_on": [_resp(sw, c.on_start_s, prev_of(c)) for c in prot.controls],
        "ctrl_off": [_resp(sw, c.on_end_s, c.on_start_s) for c in prot.controls],
    }


def tail_weights(u: np.ndarray, mode: str, tail_sl: slice, fs: float) -> np.ndarray:
    """Weights of a purple curve's samples once its tail level is removed (``u``: weights of the integral)."""
    u = u.copy()
    if mode == "constant":
        m = tail_sl.stop - tail_sl.start
        u[tail_sl] -= u.sum() / m
    elif mode == "line":
        t = np.arange(u.size) / fs * 1e3
        x_all = np.column_stack([t, np.ones_like(t)])
        x_t = x_all[tail_sl]
        u[tail_sl] -= x_t @ np.linalg.solve(x_t.T @ x_t, x_all.T @ u)
    return u


def purple_to_sweep(book: WeightBook, u: np.ndarray, side: str, pos: dict, dv: float, steps: list[float],
                    on_source: str, off_source: str, *, controls: bool = True) -> Span:
    """The weights of a purple curve's samples (``u``) over the sweep, through the test and control responses.

    ``controls=False`` leaves out the sweep's own controls (a pooled control response is subtracted instead).
    """
    test = pos["test_on"] if side == "on" else pos["test_off"]
    terms = [(1.0, test[0], test[1], u)]
    if controls:
        source = on_source if side == "on" else off_source
        sign = 1.0 if side == "on" else -1.0
        rows = []
        if source in ("on", "both"):
            rows += [(p, 1.0 / s) for p, s in zip(pos["ctrl_on"], steps, strict=True)]
        if source in ("off", "both"):
            rows += [(p, -1.0 / s) for p, s in zip(pos["ctrl_off"], steps, strict=True)]
        terms += [(-sign * dv * per_mV / len(rows), a, base, u) for (a, base), per_mV in rows]
    return book.place_all(terms)


def _se(var: float | np.floating) -> float:
    return float(math.sqrt(max(float(var), 0.0)))


@dataclass(frozen=True)
class PassiveInputs:
    """What the passive step produced, as the uncertainty needs it (pA, ms, mV, MOhm, nF).

    ``length`` samples of the averaged control ON response were used; the exponential was
    fitted to its last ``t_fit_ms.size`` samples, at times ``t_fit_ms`` (ms from the edge);
    ``i_ss_pA`` is the fit's asymptote when it
    equals ``offset_pA``, else the mean of the last ``n_ss`` samples.  ``r_m_MOhm`` is None when
    the passive model does not hold (C_m = tau / R_s then).  ``gain`` is what the filter chain does to
    the exponential's amplitude: I0 = I_ss + amplitude / gain.
    """

    mean_on_pA: np.ndarray
    t_fit_ms: np.ndarray
    amplitude_pA: float
    tau_ms: float
    offset_pA: float
    i_ss_pA: float
    n_ss: int
    dv_ctrl_mV: float
    r_s_MOhm: float
    r_m_MOhm: float | None
    c_m_nF: float
    gain: float = 1.0


@dataclass(frozen=True)
class MembraneFrame:
    """The test pulse as the membrane saw it: charges scaled by (R_s + R_m) / R_m (pC), V_m = V_cmd - I R_s (mV)."""

    q_on_corr_pC: float | None
    q_off_corr_pC: float | None
    v_test_m_mV: float | None


def sweep_uncertainty(
    i_pA: np.ndarray, sw, prot, *, tail_mode: str, on_source: str, off_source: str,
    u_on: np.ndarray, u_off: np.ndarray, tail_on_sl: slice, tail_off_sl: slice,
    q_on_pC: float, q_off_pC: float, passive: PassiveInputs, settle: int, tail_on_level_pA: float,
    pooled=None, sweep: int = 0, tail_off_mode: str | None = None,
) -> tuple[SweepUncertainty | None, MembraneFrame]:
    """Standard errors of a sweep's numbers, the statistics of its flags, and its membrane frame.

    Parameters
    ----------
    i_pA : ndarray
        The sweep's current as analysed (filtered), pA.
    sw : SweepIndex
        The pipeline's index arithmetic (edges to samples, guard, baseline length).
    prot : Protocol
        The sweep's protocol.
    tail_mode, on_source, off_source : str
        The recipe's choices.
    u_on, u_off : ndarray
        Trapezoid weights (s) of the integration windows over the purple ON and OFF curves.
    tail_on_sl, tail_off_sl : slice
        Tail windows over the purple curves.
    q_on_pC, q_off_pC : float
        The charges.
    passive : PassiveInputs
        The passive step's values.
    settle : int
        Samples after an edge before a control transient has died out.
    tail_on_level_pA : float
        The level removed from the purple ON curve (its steady non-linear current), pA.
    pooled : PooledControls, optional
        The control response subtracted when it is pooled or modelled
        (:mod:`signal_core.analysis.pooling`); its own variance replaces that of the sweep's controls.
    sweep : int
        This sweep's index (0-based): its own rows in the pool share its noise with its test response.
    tail_off_mode : str, optional
        The OFF curve's tail mode when it differs from the ON's (default ``tail_mode``).

    Returns
    -------
    (SweepUncertainty or None, MembraneFrame)
        None when the sweep has too little quiet baseline to estimate its noise.
    """
    fs = sw.fs
    n = i_pA.size
    pos = response_positions(sw, prot)
    edges = sorted({sw.idx(t) for s in (*prot.controls, prot.test) for t in (s.on_start_s, s.on_end_s)})
    quiet = quiet_segments(edges, [sw.idx(prot.test.on_start_s), sw.idx(prot.test.on_end_s)], n, sw.guard,
                           settle)
    noise = estimate_noise(i_pA, quiet, fs)
    off_mode = tail_mode if tail_off_mode is None else tail_off_mode
    rows, frame, ctrl_pair = sweep_weights(i_pA, sw, prot, pos, tail_mode=tail_mode, tail_off_mode=off_mode,
                                           on_source=on_source,
                                           off_source=off_source, u_on=u_on, u_off=u_off, tail_on_sl=tail_on_sl,
                                           tail_off_sl=tail_off_sl, q_on_pC=q_on_pC, q_off_pC=q_off_pC,
                                           passive=passive, tail_on_level_pA=tail_on_level_pA,
                                           controls=pooled is None)
    if noise is None:
        return None, frame
    extra: dict[str, float] = {}
    if pooled is not None:
        dv = prot.test_step_mV
        ut_on = tail_weights(u_on, tail_mode, tail_on_sl, fs)
        ut_off = tail_weights(u_off, off_mode, tail_off_sl, fs)
        own_on = -dv * pooled.sweep_weights(ut_on, "on").get(sweep, np.zeros(n))
        own_off = dv * pooled.sweep_weights(ut_off, "off").get(sweep, np.zeros(n))
        rows["q_on"] = combine((1.0, rows["q_on"]), (1.0, Span(0, own_on)))
        rows["q_off"] = combine((1.0, rows["q_off"]), (1.0, Span(0, own_off)))
        rows["q_sum"] = combine((1.0, rows["q_on"]), (1.0, rows["q_off"]))
        v_on = dv * dv * pooled.variance(ut_on, "on", skip=sweep)
        v_off = dv * dv * pooled.variance(ut_off, "off", skip=sweep)
        extra = {"q_on": v_on, "q_off": v_off, "q_sum": v_on + v_off}
        if frame.q_on_corr_pC is not None and q_on_pC != 0:
            factor = frame.q_on_corr_pC / q_on_pC
            rows["q_on_corr"] = combine((1.0, rows["q_on_corr"]), (factor, Span(0, own_on)))
            rows["q_off_corr"] = combine((1.0, rows["q_off_corr"]), (factor, Span(0, own_off)))
            extra.update(q_on_corr=factor**2 * v_on, q_off_corr=factor**2 * v_off)
    return _summarise(noise, rows, frame, ctrl_pair, passive, pos, extra)


def sweep_weights(
    i_pA: np.ndarray, sw, prot, pos: dict, *, tail_mode: str, tail_off_mode: str, on_source: str, off_source: str,
    u_on: np.ndarray, u_off: np.ndarray, tail_on_sl: slice, tail_off_sl: slice,
    q_on_pC: float, q_off_pC: float, passive: PassiveInputs, tail_on_level_pA: float, controls: bool = True,
) -> tuple[dict[str, Span], MembraneFrame, tuple[float, Span] | None]:
    """The weight vector over the sweep of every number (linearised), the membrane frame, and the
    largest control-to-control difference of C_lin with its weights; see :func:`sweep_uncertainty`.

    Each vector is a :class:`Span`: only the samples between its first and last response.
    """
    fs = sw.fs
    n = i_pA.size
    book = WeightBook(n)
    dv = prot.test_step_mV
    steps = [c.step_mV for c in prot.controls]

    # the charges: integral weights, less the tail level, through the test and scaled control responses
    w_on = purple_to_sweep(book, tail_weights(u_on, tail_mode, tail_on_sl, fs), "on", pos, dv, steps,
                           on_source, off_source, controls=controls)
    w_off = purple_to_sweep(book, tail_weights(u_off, tail_off_mode, tail_off_sl, fs), "off", pos, dv, steps,
                            on_source, off_source, controls=controls)

    # the passive numbers: gradients over the averaged control ON response, then over the sweep
    p = passive
    length = p.mean_on_pA.size
    start = length - p.t_fit_ms.size
    infl = np.zeros((3, length))
    infl[:, start:] = fit_influence(p.t_fit_ms, p.amplitude_pA, p.tau_ms, p.offset_pA)
    g_amp, g_tau, g_off = infl
    g_i0 = g_amp / p.gain + g_off
    i0 = p.amplitude_pA / p.gain + p.offset_pA
    if abs(p.i_ss_pA - p.offset_pA) <= 1e-9 * (1.0 + abs(p.offset_pA)):
        g_iss = g_off
    else:
        g_iss = np.zeros(length)
        g_iss[length - p.n_ss:] = 1.0 / p.n_ss
    trap = np.full(length, 1.0 / fs)  # the midpoint rule of responses.integral_pC: every sample a full interval
    g_clin = (trap - trap.sum() * g_iss) / p.dv_ctrl_mV
    g_rs = -p.dv_ctrl_mV * 1e3 / i0**2 * g_i0
    grads = {"c_lin": g_clin, "tau": g_tau, "r_s": g_rs, "i_ss": g_iss}
    if p.r_m_MOhm is not None:
        r_in = p.r_s_MOhm + p.r_m_MOhm
        g_rin = -p.dv_ctrl_mV * 1e3 / p.i_ss_pA**2 * g_iss
        g_rm = g_rin - g_rs
        grads["r_m"] = g_rm
        grads["c_m"] = p.c_m_nF * (g_tau / p.tau_ms + g_rin / r_in - g_rs / p.r_s_MOhm - g_rm / p.r_m_MOhm)
    else:
        grads["c_m"] = p.c_m_nF * (g_tau / p.tau_ms - g_rs / p.r_s_MOhm)
    n_ctrl = len(pos["ctrl_on"])
    sweep_w = {key: book.place_all([(1.0, a, base, g / n_ctrl) for a, base in pos["ctrl_on"]])
               for key, g in grads.items()}

    # control steps one by one (C_lin of each, end level from its last n_ss samples) for controls_disagree
    per_step = []
    tail_mask = np.zeros(length)
    tail_mask[length - p.n_ss:] = 1.0 / p.n_ss
    g_step = trap - trap.sum() * tail_mask
    for (a, base), s in zip(pos["ctrl_on"], steps, strict=True):
        per_step.append(book.place(a, base, g_step / s))
    ctrl_pair = None
    if len(per_step) > 1:
        vals = _sums_of_products(per_step, i_pA)
        hi, lo = int(np.argmax(vals)), int(np.argmin(vals))
        ctrl_pair = (float(vals[hi] - vals[lo]), combine((1.0, per_step[hi]), (-1.0, per_step[lo])))

    # the membrane frame: Q (R_s + R_m) / R_m and V_m = V_cmd - I R_s, with I the holding current plus the
    # steady current of the test step (linear part from the control steps, plus the non-linear tail level)
    frame = MembraneFrame(None, None, None)
    rows: dict[str, Span] = {"q_on": w_on, "q_off": w_off, "q_sum": combine((1.0, w_on), (1.0, w_off)), **sweep_w}
    if ctrl_pair is not None:
        rows["ctrl_diff"] = ctrl_pair[1]
    if p.r_m_MOhm is not None and p.r_m_MOhm > 0:
        r_s, r_m = p.r_s_MOhm, p.r_m_MOhm
        factor = (r_s + r_m) / r_m
        w_factor = combine((1.0 / r_m, sweep_w["r_s"]), (-r_s / r_m**2, sweep_w["r_m"]))
        a, base = pos["test_on"]
        w_hold = Span(base.start, np.full(base.stop - base.start, 1.0 / (base.stop - base.start)))
        i_hold = float(_sums_of_products([w_hold], i_pA)[0])
        u_tail = np.zeros(u_on.size)
        if tail_mode == "constant":
            u_tail[tail_on_sl] = 1.0 / (tail_on_sl.stop - tail_on_sl.start)
        w_tail = purple_to_sweep(book, u_tail, "on", pos, dv, steps, on_source, off_source, controls=controls)
        i_test = i_hold + dv / p.dv_ctrl_mV * p.i_ss_pA + tail_on_level_pA
        w_i = combine((1.0, w_hold), (dv / p.dv_ctrl_mV, sweep_w["i_ss"]), (1.0, w_tail))
        frame = MembraneFrame(q_on_pC * factor, q_off_pC * factor, prot.v_test_mV - i_test * r_s * 1e-3)
        rows["q_on_corr"] = combine((factor, w_on), (q_on_pC, w_factor))
        rows["q_off_corr"] = combine((factor, w_off), (q_off_pC, w_factor))
        rows["v_m"] = combine((-1e-3 * r_s, w_i), (-1e-3 * i_test, sweep_w["r_s"]))
    return rows, frame, ctrl_pair


def _sums_of_products(ws: list[Span], x: np.ndarray) -> np.ndarray:
    """``sum(w * x)`` over all of ``x`` for each ``w``: bit for bit what numpy sums for the sweep-long products."""
    prod = np.zeros(x.size)
    out = np.empty(len(ws))
    for k, w in enumerate(ws):
        np.multiply(w.w, x[w.start:w.stop], out=prod[w.start:w.stop])
        out[k] = prod.sum()
        prod[w.start:w.stop] = 0.0
    return out


def _summarise(noise: NoiseSpectrum, rows: dict[str, Span], frame: MembraneFrame,
               ctrl_pair: tuple[float, Span] | None, p: PassiveInputs, pos: dict, extra: dict[str, float],
               ) -> tuple[SweepUncertainty, MembraneFrame]:
    names = list(rows)
    var = noise.variances([rows[k].w for k in names])
    se = {k: _se(v + extra.get(k, 0.0)) for k, v in zip(names, var, strict=True)}

    # the transient fit against the noise floor: mean squared residual over the noise expected in it
    start = p.mean_on_pA.size - p.t_fit_ms.size
    n_ctrl = len(pos["ctrl_on"])
    resid = p.mean_on_pA[start:] - (p.offset_pA + p.amplitude_pA * np.exp(-p.t_fit_ms / p.tau_ms))
    cont = float(np.trapezoid(noise.psd, noise.nu)) / n_ctrl
    starts = np.array([a for a, _ in pos["ctrl_on"]])
    lines = sum(amp * amp / 2.0 * abs(np.mean(np.exp(-2j * np.pi * nu0 * starts))) ** 2
                for nu0, amp in noise.lines)
    expected = (cont + lines) * max(resid.size - 3, 1) / resid.size
    chi2 = float(np.mean(resid**2) / expected) if expected > 0 else None
    scale = abs(p.amplitude_pA / p.gain)
    misfit = float(np.sqrt(np.mean(resid**2)) / scale) if scale > 0 else None

    unc = SweepUncertainty(
        noise_rms_pA=math.sqrt(noise.variance_pA2),
        line_hz=noise.line_hz,
        q_on_se_pC=se["q_on"], q_off_se_pC=se["q_off"], q_sum_se_pC=se["q_sum"],
        c_lin_se_nF=se["c_lin"], c_m_se_nF=se["c_m"], tau_se_ms=se["tau"], r_s_se_MOhm=se["r_s"],
        r_m_se_MOhm=se.get("r_m"), i_ss_se_pA=se["i_ss"],
        ctrl_diff_nF=None if ctrl_pair is None else ctrl_pair[0], ctrl_diff_se_nF=se.get("ctrl_diff"),
        fit_chi2=chi2, fit_misfit=misfit,
        q_on_corr_se_pC=se.get("q_on_corr"), q_off_corr_se_pC=se.get("q_off_corr"), v_test_m_se_mV=se.get("v_m"),
    )
    return unc, frame


# ---------------------------------------------------------------------------- the pipeline's hook
def _integral_weights(length: int, window: tuple[float, float], fs: float) -> np.ndarray:
    """Weights (s) of the midpoint-rule integral over a window given in ms from the edge."""
    u = np.zeros(length)
    a, b = int(round(window[0] * 1e-3 * fs)), int(round(window[1] * 1e-3 * fs))
    u[max(0, a):min(length, b)] = 1.0 / fs
    return u


def from_steps(i_pA: np.ndarray, sw, prot, params, pas, on, off, *, pooled=None, sweep: int = 0,
               ) -> tuple[SweepUncertainty | None, MembraneFrame]:
    """:func:`sweep_uncertainty` from the pipeline's steps (passive result ``pas``, charge steps ``on``/``off``).

    The tail level is taken as removed over its window (constant or line) or not at all (mode
    "none", a hand-drawn line, or an epoch too short to settle); the few samples of a filter's
    spread before the test edge are left out of the weights (their share of the variance is that
    of ``n_pre`` samples against the whole window).
    """
    fs = sw.fs
    mode = params.tail_mode
    tails = []
    for step in (on, off):
        level = np.asarray(step.tail.level_pA)
        removed = mode in ("constant", "line") and not step.tail.unsettled and bool(np.any(level != 0))
        tails.append(mode if removed else "none")
    fit = pas.fit
    length = pas.mean_on_pA.size
    t_fit = (np.arange(length - fit.n_points, length) + 0.5) / fs * 1e3
    amp, offset = float(fit.params["amplitude"]), float(fit.params["offset"])
    gain = amp / (pas.i0_pA - pas.i_ss_pA) if pas.i0_pA != pas.i_ss_pA else 1.0
    n_ss = max(2, int(round(params.steady_ms * 1e-3 * fs)))
    passive = PassiveInputs(
        mean_on_pA=np.asarray(pas.mean_on_pA), t_fit_ms=t_fit, amplitude_pA=amp, gain=gain, tau_ms=pas.tau_ms,
        offset_pA=offset, i_ss_pA=pas.i_ss_pA, n_ss=n_ss if n_ss < length // 2 else max(2, length // 4),
        dv_ctrl_mV=float(np.mean([c.step_mV for c in prot.controls])), r_s_MOhm=pas.r_s_MOhm,
        r_m_MOhm=pas.r_m_MOhm, c_m_nF=pas.c_m_nF)
    u_on = _integral_weights(on.purple_pA.size, on.integrate_ms, fs)
    u_off = _integral_weights(off.purple_pA.size, off.integrate_ms, fs)
    q_off = off.q_pC
    level_on = float(np.mean(on.tail.level_pA)) if tails[0] != "none" else 0.0
    unc, frame = sweep_uncertainty(
        i_pA, sw, prot, tail_mode=tails[0], on_source=params.control_on_source,
        off_source=params.control_off_source, u_on=u_on, u_off=u_off, tail_on_sl=on.tail.window,
        tail_off_sl=off.tail.window, q_on_pC=on.q_pC, q_off_pC=q_off, passive=passive,
        settle=int(SETTLE_TAUS_NOISE * pas.tau_ms * 1e-3 * fs), tail_on_level_pA=level_on, pooled=pooled, sweep=sweep,
        tail_off_mode=tails[1])
    return unc, frame


#: the noise is read this many clamp time constants after an edge, where the transient has gone (e^-8: 0.03 %)
SETTLE_TAUS_NOISE = 8.0


def statistical_flags(flags: tuple, unc: SweepUncertainty | None, q_on_pC: float, q_off_pC: float | None) -> tuple:
    """The flags with ``q_ratio``, ``controls_disagree`` and ``poor_transient_fit`` made statistical tests.

    With the sweep's noise known: ``q_ratio`` stays only when Q_on + Q_off also differs from 0 by
    more than :data:`~signal_core.flags.SIGNIFICANCE_SE` of its standard error; ``controls_disagree``
    only when the control steps' difference also exceeds that many SE; and the transient fit is
    judged by its residuals against the noise floor (``poor_transient_fit`` when their mean square
    exceeds :data:`~signal_core.flags.FIT_CHI2_MAX` times the noise's, and the misfit is worth
    :data:`~signal_core.flags.FIT_MISFIT_MIN` of the transient) instead of R^2.  Without a
    noise estimate the plain rules stand, and a ``noise_unknown`` remark says so.
    """
    from signal_core.flags import FIT_CHI2_MAX, FIT_MISFIT_MIN, SIGNIFICANCE_SE, make_flag

    if unc is None:
        return (*flags, make_flag("noise_unknown", "The sweep has too little quiet baseline to estimate its "
                                                   "noise: no standard errors, and the flags use plain thresholds."))
    out = []
    fast = any(f.code == "fast_transient" for f in flags)
    for f in flags:
        if f.code == "q_ratio" and q_off_pC is not None:
            s = q_on_pC + q_off_pC
            if not abs(s) > SIGNIFICANCE_SE * unc.q_sum_se_pC:
                continue
            f = make_flag("q_ratio", f"{f.message} Q_on + Q_off = {s:+.3f} +- {unc.q_sum_se_pC:.3f} pC, "
                                     f"{abs(s) / unc.q_sum_se_pC:.1f} standard errors from 0.")
        elif f.code == "controls_disagree" and unc.ctrl_diff_se_nF is not None and unc.ctrl_diff_nF is not None:
            if not abs(unc.ctrl_diff_nF) > SIGNIFICANCE_SE * unc.ctrl_diff_se_nF:
                continue
            f = make_flag("controls_disagree", f"{f.message} Their difference, {unc.ctrl_diff_nF:.4f} nF, is "
                                               f"{abs(unc.ctrl_diff_nF) / unc.ctrl_diff_se_nF:.1f} standard errors.")
        elif f.code == "poor_transient_fit":
            continue
        out.append(f)
    if (not fast and unc.fit_chi2 is not None and unc.fit_chi2 > FIT_CHI2_MAX and unc.fit_misfit is not None
            and unc.fit_misfit > FIT_MISFIT_MIN):
        out.append(make_flag(
            "poor_transient_fit",
            f"The exponential fits the capacitive transient poorly: its residuals are {math.sqrt(unc.fit_chi2):.1f} "
            "times the noise (rms), so the transient is not a single exponential (or the cell changed); "
            "tau, R_s and C_m are unreliable."))
    return tuple(out)
