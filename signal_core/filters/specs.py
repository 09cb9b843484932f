"""Filter specifications: what a user asked for, checked, described and serialised.

A :class:`FilterSpec` is one filter of a chain (Butterworth low-pass, Savitzky-Golay,
wavelet denoising or notch) with its settings; it validates itself, labels itself with
units, says how far it spreads a step edge (:meth:`FilterSpec.settle_s`) and round-trips
through JSON (the recipe) and the command-line form (``butter:2kHz``).  A chain is a
tuple of specs (:data:`FilterChain`), kept in the user's order: :func:`chain_to_json`,
:func:`chain_from_json` and :func:`parse_chain`.  :class:`~signal_core.filters.kind_rules.FilterError`
carries every message a user can cause.  The functions that run the filters are in
:mod:`signal_core.filters.chain`.
Frequencies in Hz, times in s, windows in samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from signal_core.filters.kind_rules import FilterError, _fmt, _real
from signal_core.filters.kinds import FILTER_KINDS, KINDS, filter_kind, usage

__all__ = [
    "FilterChain",
    "FilterSpec",
    "chain_from_json",
    "chain_to_json",
    "parse_chain",
]

# the kinds, their fields, checks, labels and settling: signal_core.filters.kinds (one entry per kind)
_RELEVANT = {k.name: k.field_names for k in FILTER_KINDS}


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
        spec_kind = filter_kind(kind)
        if not isinstance(self.enabled, bool | np.bool_):
            raise FilterError(f"enabled must be true or false, got {self.enabled!r}")
        defaults = {f.name: f.default for f in fields(self)}
        values = {
            name: (getattr(self, name) if name in _RELEVANT[kind] else defaults[name]) for name in defaults
        }
        values["kind"] = kind
        values["enabled"] = bool(self.enabled)
        spec_kind.check(values)
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
            raise FilterError(f"a filter needs a 'kind' ({', '.join(KINDS)})")
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
            raise FilterError(f"empty filter; use {usage()}")
        parts = [p.strip() for p in text.strip().split(":")]
        kind, args = parts[0].lower(), parts[1:]
        if kind not in KINDS:
            raise FilterError(f"unknown filter {parts[0]!r} in {text!r}; use {usage()}")
        spec_kind = filter_kind(kind)
        if len(args) > spec_kind.max_args or any(a == "" for a in args):
            raise FilterError(f"cannot read {text!r}; use {usage()}")
        return cls(kind=kind, **spec_kind.parse(args))

    # --- description and checks -------------------------------------------------------
    def label(self) -> str:
        """Human-readable description with units, e.g. ``"Butterworth low-pass 2000 Hz, order 4"``."""
        text = filter_kind(self.kind).label(self)
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
        filter_kind(self.kind).validate(self, fs, n_samples)

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
        return float(filter_kind(self.kind).settle(self, float(fs_hz)))


FilterChain = tuple[FilterSpec, ...]


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
