"""The analysis recipe: every parameter of an analysis in one frozen, JSON-serialisable dataclass.

A recipe plus the recording's bytes reproduces a result exactly.  Times are ms
(from the edge of the epoch they belong to, unless the name says otherwise),
levels mV, areas um^2.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, fields, replace
from typing import Any

from signal_core.errors import SignalCoreError
from signal_core.filters.specs import FilterSpec
from signal_core.protocol.steps import MAX_LEVEL_MV, MIN_STEP_MV, Protocol
from signal_core.protocol.timing import ProtocolTiming
from signal_core.recording import CURRENT_UNITS, VOLTAGE_UNITS
from signal_core.values import finite_number

__all__ = ["AnalysisParams", "ParamsError", "CONTROL_SOURCES", "TAIL_MODES"]

RECIPE_VERSION = 1
#: a recipe file is a few KB; larger uploads or files are refused before they are parsed (bytes)
MAX_RECIPE_BYTES = 1_000_000
#: a recipe nests at most 4 levels (protocol -> controls -> step); deeper JSON is refused
MAX_RECIPE_DEPTH = 32
#: an error message quotes at most this many characters of the recipe
MAX_QUOTE_CHARS = 200
#: the two points of a hand-drawn tail line must be at least this far apart (ms): 1 us, a sample at 1 MHz
MIN_POINT_GAP_MS = 1e-3
#: ... and their currents within +/- this (pA): 1 mA, far beyond any whole-cell current
MAX_POINT_PA = 1e9
#: membrane areas outside this range (um^2) are refused: a 30 nm patch to a square metre
AREA_RANGE_UM2 = (1e-3, 1e12)
CONTROL_SOURCES = ("on", "off", "both")
TAIL_MODES = ("constant", "line", "manual", "none")
#: the control response subtracted from the test: the average, or a fit of one or two exponentials plus a level
CONTROL_MODELS = ("average", "exp1", "exp2")
#: where a Q(V) fit puts its points: as the pipette saw them, or corrected for R_s (the membrane's)
QV_FRAMES = ("pipette", "membrane")


def _quote(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (``...`` and the length when cut): a message never repeats the input."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _show(value: Any) -> str:
    """``repr(value)``, at most :data:`MAX_QUOTE_CHARS` characters of it."""
    return _quote(repr(value), MAX_QUOTE_CHARS)


def _too_big(n_bytes: int) -> str:
    return (f"the recipe is {n_bytes:,} bytes, more than the limit of {MAX_RECIPE_BYTES:,} bytes (a recipe is "
            "a few KB): it was not read")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON (1 for a scalar), counted no further than ``limit + 1``."""
    if not isinstance(value, dict | list) or not value:
        return 1
    if limit <= 0:
        return 2
    children = value.values() if isinstance(value, dict) else value
    return 1 + max(_depth(v, limit - 1) for v in children)


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words (for messages)."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "a special file"


class ParamsError(SignalCoreError):
    """A parameter is out of range or a recipe cannot be read."""


Window = tuple[float, float]
TwoPoints = tuple[tuple[float, float], tuple[float, float]]


def _sweep_numbers(value: Any) -> tuple[int, ...]:
    """``average_sweeps`` as sorted distinct 1-based sweep numbers; ParamsError naming what does not fit."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParamsError(f"average_sweeps must be a list of sweep numbers (1, 2, ...), got {value!r}")
    out = set()
    for k in value:
        if isinstance(k, bool) or not hasattr(k, "__index__") or int(k) < 1:
            raise ParamsError(f"average_sweeps must hold sweep numbers from 1 on, got {k!r}")
        out.add(int(k))
    return tuple(sorted(out))


def _number(value: Any, label: str) -> float:
    """A finite float, or a ParamsError naming the parameter (bools, strings, None, NaN, inf refused)."""
    return finite_number(value, label, ParamsError)


def _window(value: Any, label: str) -> Window | None:
    if value is None:
        return None
    try:
        a, b = value
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"{label} must be two numbers (start, end) in ms, got {_show(value)}") from exc
    a, b = _number(a, f"{label} start"), _number(b, f"{label} end")
    if not b > a:
        raise ParamsError(f"{label} must end after it starts: {a:g} to {b:g} ms")
    if a < 0:
        raise ParamsError(f"{label} cannot start before the edge: {a:g} ms")
    return (a, b)


def _points(value: Any, label: str) -> TwoPoints | None:
    if value is None:
        return None
    try:
        (t1, y1), (t2, y2) = value
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"{label} must be two points (t_ms, I_pA), got {_show(value)}") from exc
    t1, y1, t2, y2 = (_number(v, f"{label} point") for v in (t1, y1, t2, y2))
    if max(abs(y1), abs(y2)) > MAX_POINT_PA:
        raise ParamsError(f"{label}: the currents must lie within +/-{MAX_POINT_PA:g} pA, got {y1:g} and {y2:g} pA")
    if abs(t2 - t1) < MIN_POINT_GAP_MS:
        raise ParamsError(f"{label}: the two points must be at least {MIN_POINT_GAP_MS:g} ms apart "
                          f"(they are at {t1:g} and {t2:g} ms)")
    return ((t1, y1), (t2, y2))


@dataclass(frozen=True)
class AnalysisParams:
    """Everything an analysis depends on (the "recipe").

    Parameters
    ----------
    filters : tuple of FilterSpec
        Filter chain applied to the current, in this order, before anything else. Also
        accepted: the command line's spec strings (``"butter:2000"``) and
        :meth:`FilterSpec.to_dict` dicts, converted to FilterSpec on construction.
    baseline_ms : float
        Length of the window just before each edge whose mean current is that
        response's zero (ms).
    guard_ms : float
        Least gap kept between a window and an edge (ms); grows automatically
        with the filters' own spread of an edge.
    control_on_source, control_off_source : {"on", "off", "both"}
        Which control responses give the per-mV response subtracted from the
        test ON and from the test OFF response.
    tail_mode : {"constant", "line", "manual", "none"}
        How the level the asymmetric current settles to is removed.
    tail_fraction : float
        Default tail window: this last fraction of the epoch.
    tail_on_ms, tail_off_ms : (float, float), optional
        Tail windows (ms from the edge), overriding ``tail_fraction``.
    manual_tail_on, manual_tail_off : ((t_ms, I_pA), (t_ms, I_pA)), optional
        Two points of a hand-drawn tail line, for ``tail_mode="manual"``.
    integrate_on_ms, integrate_off_ms : (float, float), optional
        Integration windows (ms from the edge); default the whole epoch.
    fit_start_ms : float
        The exponential fit of the control transient starts this long after the
        edge, or after the guard if that is later (ms).
    steady_ms : float
        Steady-state current = mean of the last ``steady_ms`` of the control step (ms).
    decimate_ms : float
        Resolution of the decimated ("orange") curve (ms per point).
    v_hold_mV, v_control_mV, v_test_mV : float, optional
        Levels set by hand, replacing the detected ones (mV).
    protocol : dict, optional
        A whole protocol set by hand (:meth:`Protocol.to_dict` form, ms and mV).
    timing : ProtocolTiming, optional
        Timings for recordings without a voltage channel.
    edge_threshold_mV : float
        A change of the recorded command by more than this is an edge (mV).
    area_um2 : float, optional
        Membrane area for the specific capacitance (um^2).
    temperature_C : float
        Temperature for the effective valence z = (RT/F)/k (deg C).
    current_unit : {"pA", "nA", "A"}, optional
        What the current channel really holds when the file labels it wrongly (e.g. pA-sized
        values labelled A); None (default) trusts the file.  Applied before anything else
        (:func:`signal_core.recording.reinterpret_units`) and recorded in the results' flags.
    voltage_unit : {"mV", "V"}, optional
        Likewise for the recorded voltage channel.
    pool_controls : bool
        Average the control responses per mV of every sweep of the recording whose controls
        agree within their errors, instead of each sweep's own (quieter charges).
    control_model : {"average", "exp1", "exp2"}
        Subtract the average control response, or a fit of one or two exponentials plus a
        steady level to it (from the end of the filter's spread on).
    qv_frame : {"pipette", "membrane"}
        Q(V) fits of the charges as the pipette saw them (default), or corrected for R_s:
        Q (R_s + R_m) / R_m against V_m = V_test - I R_s.
    qv_exclude_flagged : bool
        Q(V) fits leave out the points that carry a warning.
    qv_joint : bool
        Q(V) fits Q_on and -Q_off together.
    average_sweeps : tuple of int
        Analyse the sample-by-sample average of these sweeps (1-based, as the app and the
        workbooks number them) instead of one sweep
        (:func:`signal_core.analysis.average.average_sweeps`); empty (the default) analyses
        each sweep on its own.

    Examples
    --------
    A 2 kHz Butterworth low-pass and a 5 ms baseline window; the recipe survives JSON:

    >>> import signal_core as sc
    >>> recipe = sc.AnalysisParams(filters=["butter:2000"], baseline_ms=5.0)
    >>> recipe.filters[0].cutoff_hz
    2000.0
    >>> sc.AnalysisParams.from_json(recipe.to_json()) == recipe
    True
    >>> recipe.replace(tail_mode="line").tail_mode
    'line'
    """

    filters: tuple[FilterSpec, ...] = ()
    baseline_ms: float = 5.0
    guard_ms: float = 1.0
    control_on_source: str = "on"
    control_off_source: str = "off"
    tail_mode: str = "constant"
    tail_fraction: float = 0.2
    tail_on_ms: Window | None = None
    tail_off_ms: Window | None = None
    manual_tail_on: TwoPoints | None = None
    manual_tail_off: TwoPoints | None = None
    integrate_on_ms: Window | None = None
    integrate_off_ms: Window | None = None
    fit_start_ms: float = 0.5
    steady_ms: float = 10.0
    decimate_ms: float = 0.5
    v_hold_mV: float | None = None
    v_control_mV: float | None = None
    v_test_mV: float | None = None
    protocol: dict | None = None
    timing: ProtocolTiming | None = None
    edge_threshold_mV: float = 5.0
    area_um2: float | None = None
    temperature_C: float = 22.0
    current_unit: str | None = None
    voltage_unit: str | None = None
    pool_controls: bool = False
    control_model: str = "average"
    qv_frame: str = "pipette"
    qv_exclude_flagged: bool = False
    qv_joint: bool = False
    average_sweeps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "average_sweeps", _sweep_numbers(self.average_sweeps))
        for name in ("pool_controls", "qv_exclude_flagged", "qv_joint"):
            if not isinstance(getattr(self, name), bool):
                raise ParamsError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.control_model not in CONTROL_MODELS:
            raise ParamsError(f"control_model must be one of {', '.join(CONTROL_MODELS)}, got {self.control_model!r}")
        if self.qv_frame not in QV_FRAMES:
            raise ParamsError(f"qv_frame must be one of {', '.join(QV_FRAMES)}, got {self.qv_frame!r}")
        set_(self, "filters", tuple(f if isinstance(f, FilterSpec)
                                    else FilterSpec.parse(f) if isinstance(f, str)
                                    else FilterSpec.from_dict(f) for f in self.filters))
        for name in ("baseline_ms", "steady_ms", "decimate_ms", "edge_threshold_mV"):
            value = _number(getattr(self, name), name)
            if not value > 0:
                raise ParamsError(f"{name} must be positive, got {value:g}")
            set_(self, name, value)
        for name in ("guard_ms", "fit_start_ms"):
            value = _number(getattr(self, name), name)
            if not value >= 0:
                raise ParamsError(f"{name} cannot be negative, got {value:g}")
            set_(self, name, value)
        fraction = _number(self.tail_fraction, "tail_fraction")
        if not 0 < fraction <= 1:
            raise ParamsError(f"tail_fraction must be in (0, 1], got {fraction:g}")
        set_(self, "tail_fraction", fraction)
        for name in ("v_hold_mV", "v_control_mV", "v_test_mV"):
            if getattr(self, name) is not None:
                value = _number(getattr(self, name), name)
                if abs(value) > MAX_LEVEL_MV:
                    raise ParamsError(f"{name} must lie within +/-{MAX_LEVEL_MV:g} mV, got {value:g}")
                set_(self, name, value)
        for name, which in (("v_control_mV", "control level"), ("v_test_mV", "test level")):
            value = getattr(self, name)
            if self.v_hold_mV is not None and value is not None and abs(value - self.v_hold_mV) < MIN_STEP_MV:
                raise ParamsError(
                    f"the {which} equals the holding level ({self.v_hold_mV:g} mV): that step has zero amplitude"
                )
        temperature = _number(self.temperature_C, "temperature_C")
        if not temperature > -273.15:
            raise ParamsError(f"temperature_C must be above absolute zero (-273.15 C), got {temperature:g}")
        set_(self, "temperature_C", temperature)
        for name in ("control_on_source", "control_off_source"):
            if getattr(self, name) not in CONTROL_SOURCES:
                raise ParamsError(f"{name} must be one of {', '.join(CONTROL_SOURCES)}, "
                                  f"got {_show(getattr(self, name))}")
        if self.tail_mode not in TAIL_MODES:
            raise ParamsError(f"tail_mode must be one of {', '.join(TAIL_MODES)}, got {_show(self.tail_mode)}")
        for name in ("tail_on_ms", "tail_off_ms", "integrate_on_ms", "integrate_off_ms"):
            set_(self, name, _window(getattr(self, name), name))
        for name in ("manual_tail_on", "manual_tail_off"):
            set_(self, name, _points(getattr(self, name), name))
        if self.tail_mode == "manual" and (self.manual_tail_on is None or self.manual_tail_off is None):
            raise ParamsError("tail_mode 'manual' needs two points for both the ON and the OFF tail")
        if self.area_um2 is not None:
            area = _number(self.area_um2, "the membrane area (um^2)")
            if not area > 0:
                raise ParamsError(f"the membrane area must be positive (um^2), got {self.area_um2}")
            if not AREA_RANGE_UM2[0] <= area <= AREA_RANGE_UM2[1]:
                raise ParamsError(f"the membrane area must be {AREA_RANGE_UM2[0]:g} to {AREA_RANGE_UM2[1]:g} um^2, "
                                  f"got {area:g}")
            set_(self, "area_um2", area)
        for name, allowed in (("current_unit", CURRENT_UNITS), ("voltage_unit", VOLTAGE_UNITS)):
            if getattr(self, name) is not None and getattr(self, name) not in allowed:
                raise ParamsError(f"{name} must be one of {', '.join(allowed)} (or none: the file's unit), "
                                  f"got {getattr(self, name)!r}")
        if isinstance(self.timing, dict):
            set_(self, "timing", ProtocolTiming.from_dict(self.timing))
        if self.timing is not None and not isinstance(self.timing, ProtocolTiming):
            raise ParamsError(f"timing must be protocol timings (a JSON object), got {_show(self.timing)}")
        if self.protocol is not None:
            if not isinstance(self.protocol, dict):
                raise ParamsError(f"protocol must be a protocol table (a JSON object), got {_show(self.protocol)}")
            Protocol.from_dict(self.protocol)  # validates; raises ProtocolError

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a version tag."""
        out: dict[str, Any] = {"recipe_version": RECIPE_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "filters":
                value = [s.to_dict() for s in value]
            elif f.name == "timing" and value is not None:
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = json.loads(json.dumps(value))  # tuples -> lists
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalysisParams:
        """Inverse of :meth:`to_dict`; unknown keys are refused by name."""
        if not isinstance(d, dict):
            raise ParamsError("a recipe must be a JSON object")
        d = dict(d)
        version = d.pop("recipe_version", RECIPE_VERSION)
        if version != RECIPE_VERSION:
            raise ParamsError(f"recipe version {_show(version)} is not understood "
                              f"(this version reads {RECIPE_VERSION})")
        names = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            shown = _quote(", ".join(map(str, unknown[:20])) + (", ..." if len(unknown) > 20 else ""),
                           MAX_QUOTE_CHARS)
            raise ParamsError(f"{len(unknown):,} unknown recipe key(s): {shown}")
        if "filters" in d:
            d["filters"] = tuple(FilterSpec.from_dict(x) for x in d["filters"] or ())
        if isinstance(d.get("average_sweeps"), list):
            d["average_sweeps"] = tuple(d["average_sweeps"])
        for key in ("tail_on_ms", "tail_off_ms", "integrate_on_ms", "integrate_off_ms"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        for key in ("manual_tail_on", "manual_tail_off"):
            if d.get(key) is not None:
                d[key] = tuple(tuple(p) for p in d[key])
        try:
            return cls(**d)
        except TypeError as exc:
            raise ParamsError(f"recipe does not fit: {exc}") from exc

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> AnalysisParams:
        """Read a recipe (JSON text, or its UTF-8 bytes as uploaded); the one loader of the CLI and the app.

        Raises
        ------
        ParamsError
            Over :data:`MAX_RECIPE_BYTES`, not UTF-8, not JSON, an integer of more than 4,300
            digits, nested deeper than :data:`MAX_RECIPE_DEPTH`, unknown keys, values out of
            range.  Every message (also of the FilterError and ProtocolError a recipe's filters
            and protocol raise) quotes at most :data:`MAX_QUOTE_CHARS` characters of the recipe.
        """
        if isinstance(text, bytes | bytearray | memoryview):
            raw = bytes(text)
            if len(raw) > MAX_RECIPE_BYTES:
                raise ParamsError(_too_big(len(raw)))
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ParamsError(f"the recipe is not UTF-8 text (byte {exc.start:,} is 0x{raw[exc.start]:02x}): "
                                  "a recipe is the JSON file the app or the CLI saved") from None
        if not isinstance(text, str):
            raise ParamsError(f"a recipe is JSON text, got {type(text).__name__}")
        if len(text) > MAX_RECIPE_BYTES:
            raise ParamsError(_too_big(len(text.encode("utf-8"))))
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParamsError(f"the recipe is not valid JSON: line {exc.lineno}, column {exc.colno}: "
                              f"{_quote(exc.msg, MAX_QUOTE_CHARS)}") from None
        except RecursionError:
            raise ParamsError(f"the recipe nests its brackets too deeply to be read (a recipe nests at most "
                              f"{MAX_RECIPE_DEPTH} levels)") from None
        except ValueError as exc:  # Python refuses integers of more than 4,300 digits (int_max_str_digits)
            raise ParamsError(f"the recipe holds a number too long to read (more than 4,300 digits): "
                              f"{_quote(str(exc), MAX_QUOTE_CHARS)}") from None
        depth = _depth(d, MAX_RECIPE_DEPTH)
        if depth > MAX_RECIPE_DEPTH:
            raise ParamsError(f"the recipe nests more than {MAX_RECIPE_DEPTH} levels of brackets: not a recipe")
        try:
            return cls.from_dict(d)
        except SignalCoreError as exc:  # a filter's or protocol's message may repeat a long value
            message = str(exc)
            if len(message) <= MAX_QUOTE_CHARS + 100:
                raise
            raise type(exc)(_quote(message, MAX_QUOTE_CHARS)) from None

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> AnalysisParams:
        """Read a recipe file: a regular file of at most :data:`MAX_RECIPE_BYTES`, read no further than that.

        Raises
        ------
        ParamsError
            As :meth:`from_json`, and for a path that is not a regular file (a directory, a FIFO, a device).
        OSError
            The file cannot be opened.
        """
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ParamsError(f"the recipe {_quote(os.fspath(path), MAX_QUOTE_CHARS)} is "
                                  f"{_file_kind(mode)}, not a regular file: it was not read")
            raw = handle.read(MAX_RECIPE_BYTES + 1)
            if len(raw) > MAX_RECIPE_BYTES:  # the rest is never read
                raise ParamsError(_too_big(max(os.fstat(fd).st_size, len(raw))))
        return cls.from_json(raw)

    def replace(self, **changes: Any) -> AnalysisParams:
        """A copy with some parameters changed (validated)."""
        return replace(self, **changes)
