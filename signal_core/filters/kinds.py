"""The filter kinds, one entry each: fields, defaults, parsing, checks, label, settle time and what runs.

:data:`FILTER_KINDS` is the one table of the kinds a :class:`~signal_core.filters.specs.FilterSpec`
can be; everything else derives from it: the spec's validation, its command-line form
(:meth:`~signal_core.filters.specs.FilterSpec.parse`, the usage text and the CLI's ``--filter``
help), its label, the settling time that widens the guards around edges, the function
:func:`~signal_core.filters.chain.apply_filter` runs, and the app's recipe form (a widget per
:class:`FilterField`, the menu title, the defaults of a new filter).

Adding a kind is one :class:`FilterKind` entry here, with its rules (check, parse, validate,
settle, run) in :mod:`signal_core.filters.kind_rules` (plus a field on ``FilterSpec`` if it needs
a new one, with a default), and its test.  Frequencies in Hz, times in s, windows in samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pywt

from signal_core.filters.kind_rules import (
    _MAX_BUTTER_ORDER,
    FilterError,
    _butter_check,
    _butter_parse,
    _butter_run,
    _butter_settle,
    _butter_validate,
    _fmt,
    _mains_check,
    _mains_parse,
    _mains_run,
    _mains_validate,
    _notch_check,
    _notch_parse,
    _notch_run,
    _notch_settle,
    _notch_validate,
    _savgol_check,
    _savgol_parse,
    _savgol_run,
    _savgol_validate,
    _wavelet_check,
    _wavelet_label,
    _wavelet_parse,
    _wavelet_run,
    _wavelet_settle,
    _wavelet_validate,
)

__all__ = ["FILTER_KINDS", "KINDS", "FilterField", "FilterKind", "filter_help", "filter_kind", "usage"]


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
