"""Filter specifications: what a user asked for, checked, described and serialised.

A :class:`FilterSpec` is one filter of a chain (Butterworth low-pass, Savitzky-Golay,
wavelet denoising or notch) with its settings; it validates itself, labels itself with
units, says how far it spreads a step edge (:meth:`FilterSpec.settle_s`) and round-trips
through JSON (the recipe) and the command-line form (``butter:2kHz``).  A chain is a
tuple of specs (:data:`FilterChain`), kept in the user's order: :func:`chain_to_json`,
:func:`chain_from_json` and :func:`parse_chain`.  :class:`FilterError` carries every
message a user can cause.  The functions that run the filters are in
:mod:`signal_core.filters.chain`, which re-exports everything here.
Frequencies in Hz, times in s, windows in samples.
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

from signal_core.errors import SignalCoreError
from signal_core.filters.mains import MAINS_RANGE_HZ
from signal_core.values import finite_number

__all__ = [
    "KINDS",
    "SETTLE_TOLERANCE",
    "WAVELET_AUTO_MAX_LEVEL",
    "FilterChain",
    "FilterError",
    "FilterSpec",
    "chain_from_json",
    "chain_to_json",
    "parse_chain",
]

KINDS = ("butter", "savgol", "wavelet", "notch", "mains")
#: a step edge counts as settled once within this fraction of the step height
SETTLE_TOLERANCE = 0.01
#: automatic wavelet level: pywt.dwt_max_level capped here (6 -> 64-sample scale, 0.64 ms at 100 kHz)
WAVELET_AUTO_MAX_LEVEL = 6
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
    "mains": ("freq_hz",),
}
_USAGE = ("butter:CUTOFF_HZ[:ORDER], savgol:WINDOW[:POLYORDER], wavelet:NAME[:LEVEL[:soft|hard]], notch:FREQ_HZ[:Q] "
          "or mains:50|60")


class FilterError(SignalCoreError):
    """A filter specification or its input cannot be used (message says why and how to fix it)."""


def _fmt(v: float) -> str:
    return f"{v:g}"


def _real(value: Any, what: str) -> float:
    return finite_number(value, what, FilterError)


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
    kind : {"butter", "savgol", "wavelet", "notch", "mains"}
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
        Notch centre (Hz) and quality factor (centre / -3 dB bandwidth); for ``mains`` the mains
        frequency (50 or 60 Hz), whose sinusoid and harmonics are fitted and subtracted
        (:mod:`signal_core.filters.mains`).
    enabled : bool
        A disabled filter passes its input through unchanged.

    Examples
    --------
    The command line's ``--filter`` syntax, or the fields (Hz, samples):

    >>> import signal_core as sc
    >>> spec = sc.FilterSpec.parse("butter:2000:4")
    >>> spec.kind, spec.cutoff_hz, spec.order
    ('butter', 2000.0, 4)
    >>> spec == sc.FilterSpec(kind="butter", cutoff_hz=2000.0)
    True
    >>> sc.FilterSpec.parse("notch:50").freq_hz
    50.0
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
        elif kind == "mains":
            if values["freq_hz"] is None:
                raise FilterError("mains needs the mains frequency in Hz: mains:50 or mains:60")
            values["freq_hz"] = _real(values["freq_hz"], "mains frequency (Hz)")
            if not MAINS_RANGE_HZ[0] <= values["freq_hz"] <= MAINS_RANGE_HZ[1]:
                raise FilterError(f"mains frequency must be {_fmt(MAINS_RANGE_HZ[0])} to {_fmt(MAINS_RANGE_HZ[1])} Hz "
                                  f"(50 or 60), got {_fmt(values['freq_hz'])}")
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
        max_args = {"butter": 2, "savgol": 2, "wavelet": 3, "notch": 2, "mains": 1}[kind]
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
        elif kind == "mains":
            if not args:
                raise FilterError("mains needs the mains frequency in Hz: mains:50 or mains:60")
            kw = {"freq_hz": hz(args[0], "frequency", "mains:50")}
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
        elif self.kind == "mains":
            text = f"Mains hum {_fmt(self.freq_hz)} Hz removed (fitted sinusoid and harmonics)"
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
        if self.kind == "mains" and self.enabled and n_samples is not None and self.freq_hz * n_samples < fs:
            raise FilterError(
                f"the trace ({_fmt(n_samples / fs * 1e3)} ms) is shorter than one mains period "
                f"({_fmt(1e3 / self.freq_hz)} ms): the hum cannot be fitted"
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
        if self.kind == "mains":
            return 0.0  # a sweep-long sinusoid is subtracted: no edge is spread
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
