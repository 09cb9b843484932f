"""The rules of each filter kind: checks, command-line parsing, checks against the sampling rate,
settling time and the function that runs; :mod:`signal_core.filters.kinds` puts them in its table.

Also the kinds' common ground: :class:`FilterError` and the number helpers their messages use.
Frequencies in Hz, times in s, windows in samples.
:mod:`scipy.signal` is imported inside the functions that need it, not at the top: it takes
about 0.4 s to import, which a command-line run without a filter would otherwise pay for nothing.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pywt

from signal_core.errors import SignalCoreError
from signal_core.filters.mains import MAINS_RANGE_HZ
from signal_core.values import finite_number

if TYPE_CHECKING:
    from signal_core.filters.specs import FilterSpec

__all__ = ["SETTLE_TOLERANCE", "WAVELET_AUTO_MAX_LEVEL", "FilterError"]

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
    from scipy import signal  # here, not at the top: see the module docstring
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
