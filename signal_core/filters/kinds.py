"""The filter kinds, one entry each: fields, defaults, parsing, checks, label, settle time and what runs.

:data:`FILTER_KINDS` is the one table of the kinds a :class:`~signal_core.filters.specs.FilterSpec`
can be; everything else derives from it: the spec's validation, its command-line form
(:meth:`~signal_core.filters.specs.FilterSpec.parse`, the usage text and the CLI's ``--filter``
help), its label, the settling time that widens the guards around edges, the function
:func:`~signal_core.filters.chain.apply_filter` runs, and the app's recipe form (a widget per
:class:`FilterField`, the menu title, the defaults of a new filter).

Adding a kind is one :class:`FilterKind` entry here (plus a field on ``FilterSpec`` if it needs a
new one, with a default) and its test.  Frequencies in Hz, times in s, windows in samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pywt
from scipy import signal

from signal_core.errors import SignalCoreError
from signal_core.filters.mains import MAINS_RANGE_HZ
from signal_core.values import finite_number

if TYPE_CHECKING:
    from signal_core.filters.specs import FilterSpec

__all__ = ["FILTER_KINDS", "KINDS", "SETTLE_TOLERANCE", "WAVELET_AUTO_MAX_LEVEL", "FilterError",
           "FilterField",
           "FilterKind", "filter_help", "filter_kind", "usage"]

#: a step edge counts as settled once within this fraction of the step height
SETTLE_TOLERANCE = 0.01
#: automatic wavelet level: pywt.dwt_max_level capped here (6 -> 64-sample scale, 0.64 ms at 100 kHz)
WAVELET_AUTO_MAX_LEVEL = 6
_MAX_BUTTER_ORDER = 12
# a Butterworth or notch filter may spread an edge over at most this many trace lengths (or samples)
_MAX_SETTLE_TRACES = 10
_MAX_SETTLE_SAMPLES = 100_000


class FilterError(SignalCoreError):
    """A filter specification or its input cannot be used (message says why and how to fix it)."""


# ------------------------------------------------------------------------------ helpers
def _fmt(v: float) -> str:
    return f"{v:g}"


def _real(value: Any, what: str) -> float:
    return finite_number(value, what, FilterError)


def _integer(value: Any, what: str) -> int:
    v = _real(value, what)
    if v != int(v):
        raise FilterError(f"{what} must be a whole number, got {value!r}")
    return int(v)


def _hz(kind: str, s: str, what: str, example: str) -> float:
    """A frequency from the command line: ``2000``, ``2000Hz`` or ``2kHz`` (Hz)."""
    m = re.fullmatch(r"([-+0-9.eE]+)\s*(k?hz)?", s, flags=re.IGNORECASE)
    try:
        value = float(m.group(1)) if m else float("nan")
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise FilterError(f"{kind} {what} must be a number in Hz, got {s!r} (e.g. {example})")
    return value * (1000.0 if m and m.group(2) and m.group(2).lower() == "khz" else 1.0)


def _whole(kind: str, s: str, what: str, example: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", s):
        raise FilterError(f"{kind} {what} must be a whole number, got {s!r} (e.g. {example})")
    return int(s)


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


def _too_slow(spec: FilterSpec, what: str, fs: float, n: int | None) -> None:
    """Butterworth and notch: refuse one that spreads an edge over more than ten traces (bounded padding)."""
    if n is None or not spec.enabled:
        return
    if spec.settle_s(fs) * fs > max(_MAX_SETTLE_TRACES * n, _MAX_SETTLE_SAMPLES):
        raise FilterError(
            f"{what} far too low for a {n}-sample trace: the filter spreads an edge over "
            f"{_fmt(spec.settle_s(fs))} s, more than {_MAX_SETTLE_TRACES} times the whole trace "
            f"({_fmt(n / fs)} s)"
        )


# ------------------------------------------------------------------------------ the table's types
@dataclass(frozen=True)
class FilterField:
    """One setting of a kind as the recipe form shows it.

    ``widget`` is ``"float"`` or ``"int"`` (a number box), ``"select"`` or ``"radio"`` (one of
    ``choices``); ``auto`` names the choice that stands for None (``"auto"`` wavelet level).
    ``min_value``/``max_value`` are only for bounds that can never be valid (an order below 1):
    limits that depend on the file are left to :meth:`FilterSpec.validate`, which names them.
    ``key`` names the widget when two kinds share a field whose widgets differ (``freq_hz``:
    the notch's number box, the mains' 50/60 menu); by default the field's name.
    """

    name: str
    label: str
    widget: str
    default: Any
    help: str = ""
    step: float | None = None
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple = ()
    auto: str | None = None
    key: str | None = None

    @property
    def widget_key(self) -> str:
        """The suffix of the form widget's session key."""
        return self.key or self.name


@dataclass(frozen=True)
class FilterKind:
    """One filter kind: how it is written, checked, described, how far it spreads an edge and what runs.

    Parameters
    ----------
    name : str
        The ``kind`` of a spec and the first word of the command-line form (``"butter"``).
    title : str
        The name in menus.
    usage : str
        The command-line form (``"butter:CUTOFF_HZ[:ORDER]"``).
    description : str
        What it does and its defaults, for ``--filter`` help.
    fields : tuple of FilterField
        The :class:`FilterSpec` fields it uses, with their form widgets and defaults.
    max_args : int
        Most ``:``-separated values after the name.
    parse : callable
        ``parse(args) -> dict`` of field values from the command-line values (strings).
    check : callable
        ``check(values)``: validates and normalises the field values in place (FilterError).
    label : callable
        ``label(spec) -> str``, with units.
    validate : callable
        ``validate(spec, fs_hz, n_samples or None)``: the checks that need the sampling rate.
    settle : callable
        ``settle(spec, fs_hz) -> s``: how far it spreads a step edge on each side.
    run : callable
        ``run(x, fs_hz, spec) -> ndarray``: the filter along the last axis (pA in, pA out).
    note : callable, optional
        ``note(values, fs_hz) -> str``: a line the form shows under the fields (or None).
    """

    name: str
    title: str
    usage: str
    description: str
    fields: tuple[FilterField, ...]
    max_args: int
    parse: Callable[[list[str]], dict]
    check: Callable[[dict], None]
    label: Callable[[Any], str]
    validate: Callable[[Any, float, int | None], None]
    settle: Callable[[Any, float], float]
    run: Callable[[np.ndarray, float, Any], np.ndarray]
    note: Callable[[dict, float], str] | None = None
    field_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", tuple(f.name for f in self.fields))

    @property
    def defaults(self) -> dict[str, Any]:
        """The field values of a new filter of this kind (the form's starting values)."""
        return {f.name: f.default for f in self.fields}


# ------------------------------------------------------------------------------ butter
def _butter_parse(args: list[str]) -> dict:
    if not args:
        raise FilterError("butter needs a cutoff in Hz, e.g. butter:2000")
    kw: dict[str, Any] = {"cutoff_hz": _hz("butter", args[0], "cutoff", "butter:2000")}
    if len(args) > 1:
        kw["order"] = _whole("butter", args[1], "order", "butter:2000:4")
    return kw


def _butter_check(values: dict) -> None:
    if values["cutoff_hz"] is None:
        raise FilterError("butter needs a cutoff in Hz, e.g. butter:2000")
    values["cutoff_hz"] = _real(values["cutoff_hz"], "Butterworth cutoff (Hz)")
    if values["cutoff_hz"] <= 0:
        raise FilterError(f"Butterworth cutoff must be > 0 Hz, got {_fmt(values['cutoff_hz'])}")
    values["order"] = _integer(values["order"], "Butterworth order")
    if not 1 <= values["order"] <= _MAX_BUTTER_ORDER:
        raise FilterError(f"Butterworth order must be 1 to {_MAX_BUTTER_ORDER}, got {values['order']}")


def _butter_validate(spec: FilterSpec, fs: float, n: int | None) -> None:
    nyq = fs / 2
    if spec.cutoff_hz >= nyq:
        raise FilterError(
            f"Butterworth cutoff {_fmt(spec.cutoff_hz)} Hz must be below the Nyquist frequency "
            f"{_fmt(nyq)} Hz (half the {_fmt(fs)} Hz sampling rate)"
        )
    _too_slow(spec, f"Butterworth cutoff {_fmt(spec.cutoff_hz)} Hz is", fs, n)


def _butter_settle(spec: FilterSpec, fs: float) -> float:
    # a Python float: a subnormal cutoff gives inf (refused by validate), not a numpy overflow warning
    return float(_butter_settle_s(spec.order, spec.cutoff_hz / fs)) / spec.cutoff_hz


def _butter_run(x: np.ndarray, fs: float, spec: FilterSpec) -> np.ndarray:
    from signal_core.filters.chain import butter_lowpass  # chain imports the specs: import it when run

    return butter_lowpass(x, fs, spec.cutoff_hz, spec.order)


# ------------------------------------------------------------------------------ savgol
def _savgol_parse(args: list[str]) -> dict:
    if not args:
        raise FilterError("savgol needs a window in samples (odd), e.g. savgol:11")
    kw: dict[str, Any] = {"window": _whole("savgol", args[0], "window (samples)", "savgol:11")}
    if len(args) > 1:
        kw["polyorder"] = _whole("savgol", args[1], "polyorder", "savgol:11:3")
    return kw


def _savgol_check(values: dict) -> None:
    window = values["window"] = _integer(values["window"], "Savitzky-Golay window (samples)")
    poly = values["polyorder"] = _integer(values["polyorder"], "Savitzky-Golay polyorder")
    if window < 3 or window % 2 == 0:
        raise FilterError(f"Savitzky-Golay window must be an odd number of samples >= 3, got {window}")
    if not 0 <= poly < window:
        raise FilterError(f"Savitzky-Golay polyorder must be >= 0 and < the window ({window}), got {poly}")


def _savgol_validate(spec: FilterSpec, fs: float, n: int | None) -> None:
    if spec.window % 2 == 0 or spec.polyorder >= spec.window:
        raise FilterError("Savitzky-Golay window must be odd and larger than polyorder")
    if n is not None and spec.window > n:
        raise FilterError(
            f"Savitzky-Golay window ({spec.window} samples) is longer than the trace ({n} samples)")


def _savgol_run(x: np.ndarray, fs: float, spec: FilterSpec) -> np.ndarray:
    from signal_core.filters.chain import savgol

    return savgol(x, spec.window, spec.polyorder)


# ------------------------------------------------------------------------------ wavelet
def _wavelet_parse(args: list[str]) -> dict:
    kw: dict[str, Any] = {}
    if args:
        kw["wavelet"] = args[0]
    if len(args) > 1 and args[1].lower() != "auto":
        kw["level"] = _whole("wavelet", args[1], "level", "wavelet:db4:5")
    if len(args) > 2:
        kw["threshold"] = args[2]
    return kw


def _wavelet_check(values: dict) -> None:
    name = values["wavelet"]
    if not isinstance(name, str) or name.strip().lower() not in pywt.wavelist(kind="discrete"):
        raise FilterError(
            f"unknown wavelet {name!r}; use a discrete PyWavelets name such as db4, sym8, coif3")
    values["wavelet"] = name.strip().lower()
    if values["level"] is not None:
        values["level"] = _integer(values["level"], "wavelet level")
        if values["level"] < 1:
            raise FilterError(f"wavelet level must be >= 1 (or automatic), got {values['level']}")
    thr = values["threshold"]
    if not isinstance(thr, str) or thr.strip().lower() not in ("soft", "hard"):
        raise FilterError(f"wavelet threshold must be 'soft' or 'hard', got {thr!r}")
    values["threshold"] = thr.strip().lower()


def _wavelet_label(spec: FilterSpec) -> str:
    level = "auto" if spec.level is None else str(spec.level)
    return f"Wavelet denoising {spec.wavelet}, level {level}, {spec.threshold} threshold"


def _wavelet_validate(spec: FilterSpec, fs: float, n: int | None) -> None:
    if n is not None:
        _wavelet_level(n, spec.wavelet, spec.level)


def _wavelet_settle(spec: FilterSpec, fs: float) -> float:
    level = WAVELET_AUTO_MAX_LEVEL if spec.level is None else spec.level
    return pywt.Wavelet(spec.wavelet).dec_len * 2**level / fs / 2


def _wavelet_run(x: np.ndarray, fs: float, spec: FilterSpec) -> np.ndarray:
    from signal_core.filters.chain import wavelet_denoise

    return wavelet_denoise(x, spec.wavelet, spec.level, spec.threshold)


# ------------------------------------------------------------------------------ notch
def _notch_parse(args: list[str]) -> dict:
    if not args:
        raise FilterError("notch needs a centre frequency in Hz, e.g. notch:15600")
    kw: dict[str, Any] = {"freq_hz": _hz("notch", args[0], "frequency", "notch:15600")}
    if len(args) > 1:
        try:
            kw["q"] = float(args[1])
        except ValueError:
            raise FilterError(f"notch Q must be a number, got {args[1]!r} (e.g. notch:15600:30)") from None
    return kw


def _notch_check(values: dict) -> None:
    if values["freq_hz"] is None:
        raise FilterError("notch needs a centre frequency in Hz, e.g. notch:15600")
    values["freq_hz"] = _real(values["freq_hz"], "notch frequency (Hz)")
    values["q"] = _real(values["q"], "notch Q")
    if values["freq_hz"] <= 0 or values["q"] <= 0:
        raise FilterError("notch frequency and Q must both be > 0")


def _notch_validate(spec: FilterSpec, fs: float, n: int | None) -> None:
    nyq = fs / 2
    if spec.freq_hz >= nyq:
        raise FilterError(
            f"notch frequency {_fmt(spec.freq_hz)} Hz must be below the Nyquist frequency {_fmt(nyq)} Hz")
    if spec.freq_hz / spec.q >= nyq:
        # scipy's iirnotch puts its poles outside the unit circle then: the filter blows up
        raise FilterError(
            f"notch bandwidth {_fmt(spec.freq_hz / spec.q)} Hz (frequency / Q) must be below the Nyquist "
            f"frequency {_fmt(nyq)} Hz: raise Q above {_fmt(spec.freq_hz / nyq)}"
        )
    _too_slow(spec, f"notch at {_fmt(spec.freq_hz)} Hz with Q {_fmt(spec.q)} is", fs, n)
    if n is not None and spec.enabled and spec.freq_hz * n < fs:
        raise FilterError(
            f"notch frequency {_fmt(spec.freq_hz)} Hz is below one cycle per trace ({_fmt(fs / n)} Hz "
            f"for {n} samples): there is no interference at that frequency to remove"
        )


def _notch_settle(spec: FilterSpec, fs: float) -> float:
    tau = spec.q / (math.pi * spec.freq_hz)
    return tau * max(1.0, math.log(0.5 / spec.q / SETTLE_TOLERANCE))


def _notch_run(x: np.ndarray, fs: float, spec: FilterSpec) -> np.ndarray:
    from signal_core.filters.chain import notch

    return notch(x, fs, spec.freq_hz, spec.q)


# ------------------------------------------------------------------------------ mains
def _mains_parse(args: list[str]) -> dict:
    if not args:
        raise FilterError("mains needs the mains frequency in Hz: mains:50 or mains:60")
    return {"freq_hz": _hz("mains", args[0], "frequency", "mains:50")}


def _mains_check(values: dict) -> None:
    if values["freq_hz"] is None:
        raise FilterError("mains needs the mains frequency in Hz: mains:50 or mains:60")
    values["freq_hz"] = _real(values["freq_hz"], "mains frequency (Hz)")
    if not MAINS_RANGE_HZ[0] <= values["freq_hz"] <= MAINS_RANGE_HZ[1]:
        lo, hi = MAINS_RANGE_HZ
        raise FilterError(f"mains frequency must be {_fmt(lo)} to {_fmt(hi)} Hz (50 or 60), "
                          f"got {_fmt(values['freq_hz'])}")


def _mains_validate(spec: FilterSpec, fs: float, n: int | None) -> None:
    if spec.enabled and n is not None and spec.freq_hz * n < fs:
        raise FilterError(
            f"the trace ({_fmt(n / fs * 1e3)} ms) is shorter than one mains period "
            f"({_fmt(1e3 / spec.freq_hz)} ms): the hum cannot be fitted"
        )


def _mains_run(x: np.ndarray, fs: float, spec: FilterSpec) -> np.ndarray:
    from signal_core.filters.mains import remove_mains

    return remove_mains(x, fs, spec.freq_hz)


# ------------------------------------------------------------------------------ the table
#: Every filter kind, in the order of the menus.
FILTER_KINDS: tuple[FilterKind, ...] = (
    FilterKind(
        name="butter", title="Butterworth low-pass (zero-phase)", usage="butter:CUTOFF_HZ[:ORDER]",
        description="zero-phase Butterworth low-pass, cutoff in Hz, order default 4",
        fields=(
            # no min/max on the cutoff: Streamlit would silently replace an out-of-range value (a
            # recipe's, or one fine for the previous file) by the bound; FilterSpec.validate names
            # the limit instead (issue 16)
            FilterField("cutoff_hz", "cutoff (Hz)", "float", 2000.0, step=100.0,
                        help="-3 dB frequency of one pass; applied forward and backward (no delay)."),
            FilterField("order", "order", "int", 4, step=1, min_value=1, max_value=_MAX_BUTTER_ORDER),
        ),
        max_args=2, parse=_butter_parse, check=_butter_check,
        label=lambda s: f"Butterworth low-pass {_fmt(s.cutoff_hz)} Hz, order {s.order}",
        validate=_butter_validate, settle=_butter_settle, run=_butter_run,
    ),
    FilterKind(
        name="savgol", title="Savitzky-Golay smoothing", usage="savgol:WINDOW[:POLYORDER]",
        description="Savitzky-Golay, window in samples, odd; polyorder default 3",
        fields=(
            FilterField("window", "window (samples, odd)", "int", 11, step=2, min_value=3,
                        help="Length of the local polynomial fit, in samples."),
            FilterField("polyorder", "polynomial order", "int", 3, step=1, min_value=0, max_value=10),
        ),
        max_args=2, parse=_savgol_parse, check=_savgol_check,
        label=lambda s: f"Savitzky-Golay {s.window} samples, polyorder {s.polyorder}",
        validate=_savgol_validate, settle=lambda s, fs: (s.window // 2) / fs, run=_savgol_run,
        note=lambda v, fs: f"window = {v['window'] / fs * 1e3:.3g} ms at {fs / 1e3:g} kHz",
    ),
    FilterKind(
        name="wavelet", title="Wavelet denoising", usage="wavelet:NAME[:LEVEL[:soft|hard]]",
        description="wavelet denoising, e.g. wavelet:db4:6; LEVEL auto by default, soft threshold",
        fields=(
            FilterField("wavelet", "wavelet", "select", "db4", choices=tuple(pywt.wavelist(kind="discrete"))),
            FilterField("level", "level", "select", None, choices=tuple(range(1, 13)), auto="auto",
                        help="Decomposition depth; auto = as deep as the trace allows, at most 6."),
            FilterField("threshold", "threshold", "radio", "soft", choices=("soft", "hard")),
        ),
        max_args=3, parse=_wavelet_parse, check=_wavelet_check, label=_wavelet_label,
        validate=_wavelet_validate, settle=_wavelet_settle, run=_wavelet_run,
    ),
    FilterKind(
        name="notch", title="Notch (interference)", usage="notch:FREQ_HZ[:Q]",
        description="notch at FREQ_HZ in Hz, quality factor default 30",
        fields=(
            FilterField("freq_hz", "centre (Hz)", "float", 15625.0, step=10.0,  # no min/max: see the cutoff
                        help="The sample recording's interference sits at ~15.6 kHz."),
            FilterField("q", "Q (centre / bandwidth)", "float", 30.0, step=5.0, min_value=0.1),
        ),
        max_args=2, parse=_notch_parse, check=_notch_check,
        label=lambda s: f"Notch {_fmt(s.freq_hz)} Hz, Q {_fmt(s.q)}",
        validate=_notch_validate, settle=_notch_settle, run=_notch_run,
    ),
    FilterKind(
        name="mains", title="Mains hum removal (50/60 Hz, fitted)", usage="mains:50|60",
        description="mains hum: the sinusoid and its harmonics fitted to the sweep and subtracted",
        fields=(
            FilterField("freq_hz", "mains frequency (Hz)", "select", 50.0, choices=(50.0, 60.0),
                        key="mains_hz",
                        help="The sinusoid and its harmonics are fitted to the sweep and subtracted."),
        ),
        max_args=1, parse=_mains_parse, check=_mains_check,
        label=lambda s: f"Mains hum {_fmt(s.freq_hz)} Hz removed (fitted sinusoid and harmonics)",
        # a sweep-long sinusoid is subtracted: no edge is spread
        validate=_mains_validate, settle=lambda s, fs: 0.0,
        run=_mains_run,
    ),
)

#: The kinds' names, in the order of the menus.
KINDS: tuple[str, ...] = tuple(k.name for k in FILTER_KINDS)
_BY_NAME: Mapping[str, FilterKind] = {k.name: k for k in FILTER_KINDS}


def filter_kind(name: str) -> FilterKind:
    """The entry of kind ``name``; a FilterError lists the kinds."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise FilterError(f"unknown filter kind {name!r}; use one of {', '.join(KINDS)}") from None


def usage() -> str:
    """Every kind's command-line form: ``"butter:CUTOFF_HZ[:ORDER], ..., or mains:50|60"``."""
    forms = [k.usage for k in FILTER_KINDS]
    return ", ".join(forms[:-1]) + f" or {forms[-1]}" if len(forms) > 1 else forms[0]


def filter_help() -> str:
    """The command line's ``--filter`` help: every kind's form and what it does."""
    return ("a filter applied to the current before the analysis; repeat to chain them, applied in the order "
            "given: " + ", ".join(f"{k.usage} ({k.description})" for k in FILTER_KINDS))
