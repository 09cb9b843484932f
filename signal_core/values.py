"""Checks and clean-ups of single numbers, shared by the readers, the parameters and the exports.

- :func:`is_real`: a real number (int, float, numpy number), not a bool, a string or None.
- :func:`finite_or_none`: a finite float, or None (for JSON, the exports and the store's columns).
- :func:`finite_number`: a finite float, or the caller's user error naming the parameter.
- :func:`clean_json`: NaN and infinities (not valid JSON) replaced by None, recursively.

Examples
--------
>>> from signal_core.values import clean_json, finite_or_none
>>> finite_or_none(float("nan")), finite_or_none(2), finite_or_none(True)
(None, 2.0, None)
>>> clean_json({"q_on_pC": float("inf"), "flags": [1.5]})
{'q_on_pC': None, 'flags': [1.5]}
"""

from __future__ import annotations

import math
import numbers

__all__ = ["MAX_QUOTE_CHARS", "clean_json", "finite_number", "finite_or_none", "is_real", "quote"]

#: an error message quotes at most this many characters of the value it refuses
MAX_QUOTE_CHARS = 200


def is_real(value: object) -> bool:
    """True for a real number (Python or numpy int or float); False for bools, strings, None and the rest."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_float(value: numbers.Real) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return math.inf if value > 0 else -math.inf


def finite_or_none(value: object) -> float | None:
    """``value`` as a float when it is a finite real number (see :func:`is_real`), else None."""
    if not is_real(value):
        return None
    x = _as_float(value)  # type: ignore[arg-type]
    return x if math.isfinite(x) else None


def finite_number(value: object, what: str, error: type[Exception] = ValueError) -> float:
    """``value`` as a finite float, or ``error`` saying that ``what`` must be one.

    Parameters
    ----------
    value : object
        The number to check (a recipe field, a filter's cutoff, a header value).
    what : str
        How the user knows it, with its unit (``"Butterworth cutoff (Hz)"``).
    error : type of Exception
        The user error to raise (``ParamsError``, ``FilterError``, ``ProtocolError``).

    Raises
    ------
    error
        ``"<what> must be a number, got <value>"`` for a bool, a string, None or another type;
        ``"<what> must be a finite number, got <value>"`` for NaN and infinities (the value quoted
    by :func:`quote`).
    """
    if not is_real(value):
        raise error(f"{what} must be a number, got {quote(value)}")
    x = _as_float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        raise error(f"{what} must be a finite number, got {quote(value)}")
    return x


def quote(value: object, limit: int = MAX_QUOTE_CHARS) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters: a message never repeats a huge input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def clean_json(value: object) -> object:
    """Replace NaN and infinities (not valid JSON) by None, recursively through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value
