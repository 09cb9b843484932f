"""Filters for membrane-current traces: a serialisable chain of specs plus the functions.

Every filter is zero-phase (or symmetric), so it never shifts a transient in time, but it
does spread each step edge a little on *both* sides; :meth:`FilterSpec.settle_s` and
:func:`chain_settle_s` say how far, so the analysis can keep its baseline and integration
windows a guard away from every edge.  Signals are in pA, times in s, frequencies in Hz.
All functions work on 1-D arrays or along one axis (default the last) of N-D arrays
(sweeps x samples) and return new float64 arrays.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
import pywt
from scipy import signal

__all__ = [
    "ANTIALIAS_ORDER",
    "KINDS",
    "SETTLE_TOLERANCE",
    "WAVELET_AUTO_MAX_LEVEL",
    "FilterChain",
    "FilterError",
    "FilterSpec",
    "antialias_spec",
    "apply_chain",
    "apply_filter",
    "butter_lowpass",
    "chain_from_json",
    "chain_settle_s",
    "chain_to_json",
    "decimate",
    "decimated_time",
    "notch",
    "parse_chain",
    "power_spectrum",
    "savgol",
    "wavelet_denoise",
]

KINDS = ("butter", "savgol", "wavelet", "notch")
#: a step edge counts as settled once within this fraction of the step height
SETTLE_TOLERANCE = 0.01
#: automatic wavelet level: pywt.dwt_max_level capped here (6 -> 64-sample scale, 0.64 ms at 100 kHz)
WAVELET_AUTO_MAX_LEVEL = 6
#: Butterworth order of the anti-alias low-pass used by :func:`decimate` (-60 dB at the new Nyquist)
ANTIALIAS_ORDER = 8
_MAX_BUTTER_ORDER = 12
# a Butterworth or notch filter may spread an edge over at most this many trace lengths (or samples)
_MAX_SETTLE_TRACES = 10
_MAX_SETTLE_SAMPLES = 100_000

# fields each kind uses (besides kind and enabled)
_RELEVANT = {
    "butter": ("cutoff_hz", "order"),
    "savgol": ("window", "polyorder"),
    "wavelet": ("wavelet", "level", "threshold"),
    "notch": ("freq_hz", "q"),
}
_USAGE = "butter:CUTOFF_HZ[:ORDER], savgol:WINDOW[:POLYORDER], wavelet:NAME[:LEVEL[:soft|hard]] or notch:FREQ_HZ[:Q]"


class FilterError(ValueError):
    """A filter specification or its input cannot be used (message says why and how to fix it)."""


def _fmt(v: float) -> str:
    return f"{v:g}"


def _real(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise FilterError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise FilterError(f"{what} must be finite, got {value!r}")
    return v


def _integer(value: Any, what: str) -> int:
    v = _real(value, what)
    if v != int(v):
        raise FilterError(f"{what} must be a whole number, got {value!r}")
    return int(v)


@dataclass(frozen=True)
class FilterSpec:
    """One filter of a chain, as the user set it.

    Only the fields of its ``kind`` matter; the others are reset to their defaults on
    construction, so two specs that filter identically compare (and hash) equal and survive
    a :meth:`to_dict` / :meth:`from_dict` round trip.  Values are checked on construction
    (:class:`FilterError`); checks that need the sampling rate are in :meth:`validate`.

    Attributes
    ----------
    kind : {"butter", "savgol", "wavelet", "notch"}
    cutoff_hz : float
        Butterworth -3 dB frequency of one pass (Hz).
    order : int
        Butterworth order of one pass (zero-phase doubles the effective order).
    window, polyorder : int
        Savitzky-Golay window (samples, odd) and polynomial order.
    wavelet, level, threshold
        Wavelet name (PyWavelets), decomposition level (None = automatic) and
        "soft" or "hard" universal thresholding.
    freq_hz, q : float
        Notch centre (Hz) and quality factor (centre / -3 dB bandwidth).
    enabled : bool
        A disabled filter passes its input through unchanged.
    """

    kind: str
    cutoff_hz: float | None = None
    order: int = 4
    window: int = 11
    polyorder: int = 3
    wavelet: str = "db4"
    level: int | None = None
    threshold: str = "soft"
    freq_hz: float | None = None
    q: float = 30.0
    enabled: bool = True

    def __post_init__(self) -> None:
        kind = self.kind.strip().lower() if isinstance(self.kind, str) else self.kind
        if kind not in KINDS:
            raise FilterError(f"unknown filter kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if not isinstance(self.enabled, bool | np.bool_):
            raise FilterError(f"enabled must be true or false, got {self.enabled!r}")
        defaults = {f.name: f.default for f in fields(self)}
        values = {
            name: (getattr(self, name) if name in _RELEVANT[kind] else defaults[name]) for name in defaults
        }
        values["kind"] = kind
        values["enabled"] = bool(self.enabled)
        if kind == "butter":
            if values["cutoff_hz"] is None:
                raise FilterError("butter needs a cutoff in Hz, e.g. butter:2000")
            values["cutoff_hz"] = _real(values["cutoff_hz"], "Butterworth cutoff (Hz)")
            if values["cutoff_hz"] <= 0:
                raise FilterError(f"Butterworth cutoff must be > 0 Hz, got {_fmt(values['cutoff_hz'])}")
            values["order"] = _integer(values["order"], "Butterworth order")
            if not 1 <= values["order"] <= _MAX_BUTTER_ORDER:
                raise FilterError(
                    f"Butterworth order must be 1 to {_MAX_BUTTER_ORDER}, got {values['order']}"
                )
        elif kind == "savgol":
            window = values["window"] = _integer(values["window"], "Savitzky-Golay window (samples)")
            poly = values["polyorder"] = _integer(values["polyorder"], "Savitzky-Golay polyorder")
            if window < 3 or window % 2 == 0:
                raise FilterError(
                    f"Savitzky-Golay window must be an odd number of samples >= 3, got {window}"
                )
            if not 0 <= poly < window:
                raise FilterError(
                    f"Savitzky-Golay polyorder must be >= 0 and < the window ({window}), got {poly}"
                )
        elif kind == "wavelet":
            name = values["wavelet"]
            if not isinstance(name, str) or name.strip().lower() not in pywt.wavelist(kind="discrete"):
                raise FilterError(
                    f"unknown wavelet {name!r}; use a discrete PyWavelets name such as db4, sym8, coif3"
                )
            values["wavelet"] = name.strip().lower()
            if values["level"] is not None:
                values["level"] = _integer(values["level"], "wavelet level")
                if values["level"] < 1:
                    raise FilterError(f"wavelet level must be >= 1 (or automatic), got {values['level']}")
            thr = values["threshold"]
            if not isinstance(thr, str) or thr.strip().lower() not in ("soft", "hard"):
                raise FilterError(f"wavelet threshold must be 'soft' or 'hard', got {thr!r}")
            values["threshold"] = thr.strip().lower()
        else:  # notch
            if values["freq_hz"] is None:
                raise FilterError("notch needs a centre frequency in Hz, e.g. notch:15600")
            values["freq_hz"] = _real(values["freq_hz"], "notch frequency (Hz)")
            values["q"] = _real(values["q"], "notch Q")
            if values["freq_hz"] <= 0 or values["q"] <= 0:
                raise FilterError("notch frequency and Q must both be > 0")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # --- serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-serialisable dict: ``kind``, ``enabled`` and the fields this kind uses."""
        d: dict[str, Any] = {"kind": self.kind, "enabled": self.enabled}
        d.update({name: getattr(self, name) for name in _RELEVANT[self.kind]})
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FilterSpec:
        """Build and validate a spec from :meth:`to_dict` output (unknown keys are refused)."""
        if not isinstance(d, Mapping):
            raise FilterError(f"a filter must be a JSON object, got {type(d).__name__}")
        if "kind" not in d:
            raise FilterError("a filter needs a 'kind' (butter, savgol, wavelet or notch)")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FilterError(f"unknown filter field(s) {', '.join(map(repr, unknown))}")
        return cls(**dict(d))

    @classmethod
    def parse(cls, text: str) -> FilterSpec:
        """Parse the command-line form.

        ``butter:CUTOFF_HZ[:ORDER]``, ``savgol:WINDOW[:POLYORDER]`` (window in samples),
        ``wavelet[:NAME[:LEVEL[:soft|hard]]]`` (LEVEL may be ``auto``) and
        ``notch:FREQ_HZ[:Q]``.  Frequencies may carry ``Hz`` or ``kHz``: ``butter:2kHz``.
        """
        if not isinstance(text, str) or not text.strip():
            raise FilterError(f"empty filter; use {_USAGE}")
        parts = [p.strip() for p in text.strip().split(":")]
        kind, args = parts[0].lower(), parts[1:]
        if kind not in KINDS:
            raise FilterError(f"unknown filter {parts[0]!r} in {text!r}; use {_USAGE}")
        max_args = {"butter": 2, "savgol": 2, "wavelet": 3, "notch": 2}[kind]
        if len(args) > max_args or any(a == "" for a in args):
            raise FilterError(f"cannot read {text!r}; use {_USAGE}")

        def hz(s: str, what: str, example: str) -> float:
            m = re.fullmatch(r"([-+0-9.eE]+)\s*(k?hz)?", s, flags=re.IGNORECASE)
            try:
                value = float(m.group(1)) if m else float("nan")
            except ValueError:
                value = float("nan")
            if not math.isfinite(value):
                raise FilterError(f"{kind} {what} must be a number in Hz, got {s!r} (e.g. {example})")
            return value * (1000.0 if m and m.group(2) and m.group(2).lower() == "khz" else 1.0)

        def whole(s: str, what: str, example: str) -> int:
            if not re.fullmatch(r"[+-]?\d+", s):
                raise FilterError(f"{kind} {what} must be a whole number, got {s!r} (e.g. {example})")
            return int(s)

        if kind == "butter":
            if not args:
                raise FilterError("butter needs a cutoff in Hz, e.g. butter:2000")
            kw: dict[str, Any] = {"cutoff_hz": hz(args[0], "cutoff", "butter:2000")}
            if len(args) > 1:
                kw["order"] = whole(args[1], "order", "butter:2000:4")
        elif kind == "savgol":
            if not args:
                raise FilterError("savgol needs a window in samples (odd), e.g. savgol:11")
            kw = {"window": whole(args[0], "window (samples)", "savgol:11")}
            if len(args) > 1:
                kw["polyorder"] = whole(args[1], "polyorder", "savgol:11:3")
        elif kind == "wavelet":
            kw = {}
            if args:
                kw["wavelet"] = args[0]
            if len(args) > 1 and args[1].lower() != "auto":
                kw["level"] = whole(args[1], "level", "wavelet:db4:5")
            if len(args) > 2:
                kw["threshold"] = args[2]
        else:
            if not args:
                raise FilterError("notch needs a centre frequency in Hz, e.g. notch:15600")
            kw = {"freq_hz": hz(args[0], "frequency", "notch:15600")}
            if len(args) > 1:
                try:
                    kw["q"] = float(args[1])
                except ValueError:
                    raise FilterError(
                        f"notch Q must be a number, got {args[1]!r} (e.g. notch:15600:30)"
                    ) from None
        return cls(kind=kind, **kw)

    # --- description and checks -------------------------------------------------------
    def label(self) -> str:
        """Human-readable description with units, e.g. ``"Butterworth low-pass 2000 Hz, order 4"``."""
        if self.kind == "butter":
            text = f"Butterworth low-pass {_fmt(self.cutoff_hz)} Hz, order {self.order}"
        elif self.kind == "savgol":
            text = f"Savitzky-Golay {self.window} samples, polyorder {self.polyorder}"
        elif self.kind == "wavelet":
            level = "auto" if self.level is None else str(self.level)
            text = f"Wavelet denoising {self.wavelet}, level {level}, {self.threshold} threshold"
        else:
            text = f"Notch {_fmt(self.freq_hz)} Hz, Q {_fmt(self.q)}"
        return text if self.enabled else f"{text} (off)"

    def validate(self, fs_hz: float, n_samples: int | None = None) -> None:
        """Check the spec against a sampling rate (Hz) and, if given, a trace length (samples).

        Raises
        ------
        FilterError
            Cutoff or notch frequency (or the notch's bandwidth, frequency / Q) not below the
            Nyquist frequency fs/2; with ``n_samples`` also: Savitzky-Golay window longer than
            the trace, wavelet level too deep for it, a Butterworth or notch filter so narrow
            that it spreads an edge over more than ten trace lengths, a notch below one cycle
            per trace.
        """
        fs = _real(fs_hz, "sampling rate (Hz)")
        if fs <= 0:
            raise FilterError(f"sampling rate must be > 0 Hz, got {_fmt(fs)}")
        nyq = fs / 2
        if self.kind == "butter" and self.cutoff_hz >= nyq:
            raise FilterError(
                f"Butterworth cutoff {_fmt(self.cutoff_hz)} Hz must be below the Nyquist frequency "
                f"{_fmt(nyq)} Hz (half the {_fmt(fs)} Hz sampling rate)"
            )
        if self.kind == "notch" and self.freq_hz >= nyq:
            raise FilterError(
                f"notch frequency {_fmt(self.freq_hz)} Hz must be below the Nyquist frequency {_fmt(nyq)} Hz"
            )
        if self.kind == "notch" and self.freq_hz / self.q >= nyq:
            # scipy's iirnotch puts its poles outside the unit circle then: the filter blows up
            raise FilterError(
                f"notch bandwidth {_fmt(self.freq_hz / self.q)} Hz (frequency / Q) must be below the Nyquist "
                f"frequency {_fmt(nyq)} Hz: raise Q above {_fmt(self.freq_hz / nyq)}"
            )
        if self.kind == "savgol" and (self.window % 2 == 0 or self.polyorder >= self.window):
            raise FilterError("Savitzky-Golay window must be odd and larger than polyorder")
        if n_samples is not None:
            if self.kind in ("butter", "notch") and self.enabled \
                    and self.settle_s(fs) * fs > max(_MAX_SETTLE_TRACES * n_samples, _MAX_SETTLE_SAMPLES):
                # the zero-phase padding is as long as the settling: bounded, so memory is too
                what = (f"Butterworth cutoff {_fmt(self.cutoff_hz)} Hz is" if self.kind == "butter"
                        else f"notch at {_fmt(self.freq_hz)} Hz with Q {_fmt(self.q)} is")
                raise FilterError(
                    f"{what} far too low for a {n_samples}-sample trace: the filter spreads an edge over "
                    f"{_fmt(self.settle_s(fs))} s, more than {_MAX_SETTLE_TRACES} times the whole trace "
                    f"({_fmt(n_samples / fs)} s)"
                )
            if self.kind == "notch" and self.enabled and self.freq_hz * n_samples < fs:
                raise FilterError(
                    f"notch frequency {_fmt(self.freq_hz)} Hz is below one cycle per trace ({_fmt(fs / n_samples)} Hz "
                    f"for {n_samples} samples): there is no interference at that frequency to remove"
                )
            if self.kind == "savgol" and self.window > n_samples:
                raise FilterError(
                    f"Savitzky-Golay window ({self.window} samples) is longer than the trace ({n_samples} samples)"
                )
            if self.kind == "wavelet":
                _wavelet_level(n_samples, self.wavelet, self.level)

    def settle_s(self, fs_hz: float) -> float:
        """How far (s) this filter spreads a step edge on EACH side.

        Butterworth: measured from the zero-phase step response (the time after which it
        stays within 1 % of the step; 0.6 ms for 2 kHz, order 4, about 1.2 / cutoff).
        Savitzky-Golay: half the window.  Wavelet: filter length * 2**level / fs / 2 (the
        automatic level counts as :data:`WAVELET_AUTO_MAX_LEVEL`).  Notch: the ringing time
        constant Q / (pi f0), longer for broad notches (Q < 50) whose ringing starts above 1 %.
        Returns 0 for a disabled filter.
        """
        if not self.enabled:
            return 0.0
        self.validate(fs_hz)
        fs = float(fs_hz)
        if self.kind == "butter":
            # a Python float: a subnormal cutoff gives inf (refused by validate), not a numpy overflow warning
            return float(_butter_settle_s(self.order, self.cutoff_hz / fs)) / self.cutoff_hz
        if self.kind == "savgol":
            return (self.window // 2) / fs
        if self.kind == "wavelet":
            level = WAVELET_AUTO_MAX_LEVEL if self.level is None else self.level
            return pywt.Wavelet(self.wavelet).dec_len * 2**level / fs / 2
        tau = self.q / (math.pi * self.freq_hz)
        return tau * max(1.0, math.log(0.5 / self.q / SETTLE_TOLERANCE))


FilterChain = tuple[FilterSpec, ...]


@lru_cache(maxsize=256)
def _butter_settle_s(order: int, ratio: float) -> float:
    """Settling time in units of 1/cutoff, measured on sosfiltfilt's step response.

    ``ratio`` is cutoff/fs; below 1e-3 the continuous-time limit is reached, so it is measured there.
    """
    r = max(ratio, 1e-3)
    half = int(math.ceil(2.5 * order / r)) + 64
    sos = signal.butter(order, 2 * r, output="sos")
    step = np.r_[np.zeros(half), np.ones(half)]
    err = np.abs(signal.sosfiltfilt(sos, step, padtype=None) - step)
    bad = np.flatnonzero(err > SETTLE_TOLERANCE)
    samples = max(half - bad.min(), bad.max() + 1 - half) if bad.size else 0
    return samples * r


def chain_to_json(chain: Sequence[FilterSpec]) -> list[dict]:
    """The chain as a JSON-serialisable list of dicts, in order."""
    return [spec.to_dict() for spec in chain]


def chain_from_json(items: Any) -> FilterChain:
    """Rebuild a chain from :func:`chain_to_json` output; errors name the item."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise FilterError("a filter chain must be a list of filters")
    chain = []
    for i, item in enumerate(items, 1):
        try:
            chain.append(FilterSpec.from_dict(item))
        except FilterError as exc:
            raise FilterError(f"filter {i}: {exc}") from None
    return tuple(chain)


def parse_chain(texts: Sequence[str]) -> FilterChain:
    """Parse command-line filter texts (see :meth:`FilterSpec.parse`) into a chain, in order."""
    if isinstance(texts, str):
        texts = [texts]
    chain = []
    for i, text in enumerate(texts, 1):
        try:
            chain.append(FilterSpec.parse(text))
        except FilterError as exc:
            raise FilterError(f"filter {i} ({text!r}): {exc}") from None
    return tuple(chain)


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
    y = signal.savgol_filter(a, spec.window, spec.polyorder, axis=-1, mode="interp")
    return np.moveaxis(y, -1, axis)


def _wavelet_level(n: int, wavelet: str, level: int | None) -> int:
    max_level = pywt.dwt_max_level(n, pywt.Wavelet(wavelet).dec_len)
    if max_level < 1:
        raise FilterError(f"the trace ({n} samples) is too short for wavelet denoising with {wavelet}")
    if level is None:
        return min(max_level, WAVELET_AUTO_MAX_LEVEL)
    if level > max_level:
        raise FilterError(
            f"wavelet level {level} is too deep for a {n}-sample trace with {wavelet} (at most {max_level})"
        )
    return level


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
    if spec.kind == "butter":
        return butter_lowpass(a, fs_hz, spec.cutoff_hz, spec.order)
    if spec.kind == "savgol":
        return savgol(a, spec.window, spec.polyorder)
    if spec.kind == "wavelet":
        return wavelet_denoise(a, spec.wavelet, spec.level, spec.threshold)
    return notch(a, fs_hz, spec.freq_hz, spec.q)


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
    f_hz, psd = signal.welch(a, fs=fs, nperseg=nperseg, axis=-1)
    return f_hz, psd
