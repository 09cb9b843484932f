"""Session state of one browser session: loaded files, active file and sweep, the recipe.

A ``file_uploader`` forgets its files when the user changes page, so its ``on_change``
(:func:`on_upload`) copies every new file (name, bytes, SHA-256) into a plain session key;
the entry script then reads them (:func:`take_pending`) and keeps each good file in
:func:`files` (insertion order, keyed by :attr:`LoadedFile.key`: SHA-256 and name, so copies
with the same bytes under other names stay files of their own, parsed once) and each bad one
with the reader's message in :func:`errors`, so one bad file never unloads the others.  A file over the
upload limit (:data:`signal_core.io.limits.MAX_UPLOAD_BYTES`, 50 MB, the same number as
``server.maxUploadSize``) is refused in :func:`on_upload` before its bytes are copied, and
again in ``ui.ingest_pending`` for files queued another way.

Widgets that belong to the recipe use keys starting with ``rp_`` (recipe form) or ``flt_``
(filter chain rows); they are seeded from the recipe when absent, so the recipe survives
page changes even though Streamlit drops the state of widgets it did not draw.
"""

from __future__ import annotations

import itertools
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from signal_core.filters.kinds import FILTER_KINDS
from signal_core.filters.specs import FilterSpec
from signal_core.io.limits import MAX_UPLOAD_BYTES
from signal_core.names import clean_name
from signal_core.params import AnalysisParams
from signal_core.recording import sha256_hex

from . import streamlit_fixes

__all__ = [
    "LoadedFile",
    "WINDOW_TARGETS",
    "accept",
    "active",
    "apply_window",
    "chain_rows",
    "errors",
    "files",
    "init",
    "is_too_large",
    "line_points",
    "manual_points",
    "on_upload",
    "params",
    "queue",
    "refuse",
    "reject",
    "remove",
    "remove_all",
    "set_params",
    "step_file",
    "step_sweep",
    "sweep_index",
    "too_large_message",
]

# session keys
FILES = "files"
ERRORS = "file_errors"
NAME_NOTES = "file_name_notes"
PENDING = "pending_files"
SEEN = "seen_upload_ids"
ACTIVE = "active_sha"
SWEEP = "sweep"
PARAMS = "params"
CHAIN = "chain_rows"
MANUAL = "manual_tail"
UPLOADER = "uploader"
WIDGET_PREFIXES = ("rp_", "flt_")

#: what a box selection on the purple plot sets, and the recipe widgets behind it
WINDOW_TARGETS = {
    "integration ON": "int_on",
    "integration OFF": "int_off",
    "tail window ON": "tail_on",
    "tail window OFF": "tail_off",
    "manual tail line ON": "manual_on",
    "manual tail line OFF": "manual_off",
}

_ids = itertools.count(1)


@dataclass(frozen=True)
class LoadedFile:
    """One uploaded (or demo) file: its name as given (untrusted text), bytes and digest."""

    name: str
    data: bytes = field(repr=False)
    sha256: str
    size: int

    @property
    def key(self) -> str:
        """The file's identity in the session: its SHA-256 and its name.

        Copies with the same bytes under different names (``..._-60mVdepol.atf``, ``..._0mVdepol.atf``)
        are files of their own (a Q–V set reads V2 from the name); the caches are keyed on the SHA-256
        alone, so their bytes are parsed and analysed once.  The same name with the same bytes again
        is the same file.
        """
        return f"{self.sha256}/{self.name}"

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> LoadedFile:
        data = bytes(data)
        return cls(name=str(name), data=data, sha256=sha256_hex(data), size=len(data))


def _ss() -> MutableMapping[str, Any]:
    return st.session_state


#: where :func:`keep` remembers a widget's value: ``_kept_<key>``
KEPT_PREFIX = "_kept_"


def keep(key: str, default: Any) -> str:
    """The widget key ``key``, its value carried across pages: the last value it had, else ``default``.

    Streamlit forgets the value of a widget that a run does not draw (another page); a copy under
    ``_kept_<key>`` remembers it, and assigning it back through the Session State API before the
    widget is drawn restores it.  Use as ``st.toggle(..., key=state.keep("ov_all", False))``; a
    value set in ``st.session_state[key]`` by a callback wins, and :func:`forget` drops both.
    """
    ss = _ss()
    kept = KEPT_PREFIX + key
    if key in ss:
        ss[kept] = ss[key]
    ss[key] = ss.get(kept, default)
    return key


def forget(key: str) -> None:
    """Drop a :func:`keep` widget's value, so that it starts again from its default."""
    ss = _ss()
    ss.pop(key, None)
    ss.pop(KEPT_PREFIX + key, None)


def init() -> None:
    """Create every session key once (call at the top of the entry script)."""
    ss = _ss()
    ss.setdefault(FILES, {})
    ss.setdefault(ERRORS, {})
    ss.setdefault(NAME_NOTES, {})
    ss.setdefault(PENDING, [])
    ss.setdefault(SEEN, set())
    ss.setdefault(PARAMS, AnalysisParams())
    if CHAIN not in ss:
        ss[CHAIN] = _rows_from_filters(ss[PARAMS].filters)
    ss.setdefault(MANUAL, {"history": [{"on": None, "off": None}], "pos": 0})


# ------------------------------------------------------------------ files
def files() -> dict[str, LoadedFile]:
    return _ss()[FILES]


def errors() -> dict[str, tuple[str, str]]:
    """File key (:attr:`LoadedFile.key`) -> (file name, the reader's message) for files that could not be read."""
    return _ss()[ERRORS]


def too_large_message(name: str, size: int) -> str:
    """The refusal of a file over the upload limit; it starts with the file's name (see ``files_ui``)."""
    mb = 2**20
    return (f"{name} is {size / mb:.1f} MB; the limit is {MAX_UPLOAD_BYTES // mb} MB per file. "
            "It was not loaded: split the recording into smaller files (e.g. fewer sweeps per file).")


def is_too_large(size: int) -> bool:
    """More bytes than the upload limit (``server.maxUploadSize``, :data:`MAX_UPLOAD_BYTES`)."""
    return int(size) > MAX_UPLOAD_BYTES


def refuse(key: str, name: str, message: str) -> None:
    """Remember a file that is not kept (e.g. over the upload limit) under ``key``, with the reason."""
    _ss()[ERRORS][key] = (str(name), message)


def queue(name: str, data: bytes) -> LoadedFile:
    """Put a file in line to be read on this run (the uploader, the demo button, tests)."""
    lf = LoadedFile.from_bytes(name, data)
    _ss()[PENDING].append(lf)
    return lf


def on_upload() -> None:
    """``on_change`` of the uploader: copy every file not seen before into the session."""
    ss = _ss()
    uploaded = ss.get(UPLOADER) or []
    if not isinstance(uploaded, list):
        uploaded = [uploaded]
    for up in uploaded:
        if not hasattr(up, "getvalue"):  # a DeletedFile: the upload never reached the server (refused, cut)
            continue
        file_id = getattr(up, "file_id", None) or f"{up.name}:{up.size}"
        if file_id in ss[SEEN]:
            continue
        ss[SEEN].add(file_id)
        # no control characters, direction controls shown as <U+...>, 255 characters at most (issue 16)
        cleaned = clean_name(streamlit_fixes.upload_name(getattr(up, "file_id", None), up.name))
        if cleaned.changed:
            ss[NAME_NOTES][cleaned.name] = cleaned.notes
        # Streamlit refuses bigger files (browser and upload route); this holds whatever the config says,
        # before the bytes are copied
        size = getattr(up, "size", None)
        if size is not None and is_too_large(size):
            refuse(f"too-large:{file_id}", cleaned.name, too_large_message(cleaned.name, size))
            continue
        queue(cleaned.name, up.getvalue())


def name_notes() -> dict[str, tuple[str, ...]]:
    """Cleaned file name -> what was changed in the name as uploaded (see ``signal_core.names``)."""
    return _ss().setdefault(NAME_NOTES, {})


def take_pending() -> list[LoadedFile]:
    ss = _ss()
    pending, ss[PENDING] = ss[PENDING], []
    return pending


def accept(lf: LoadedFile) -> None:
    """Keep a file that was read; it becomes the active file."""
    ss = _ss()
    ss[FILES][lf.key] = lf
    ss[ERRORS].pop(lf.key, None)
    ss[ACTIVE] = lf.key
    ss[SWEEP] = 1


def reject(lf: LoadedFile, message: str) -> None:
    """Remember a file that could not be read, with the reader's message."""
    _ss()[ERRORS][lf.key] = (lf.name, message)


def remove(key: str) -> None:
    """Unload a file (an on_click callback) by its :attr:`LoadedFile.key`; the next one becomes active."""
    ss = _ss()
    ss[FILES].pop(key, None)
    ss[ERRORS].pop(key, None)
    if ss.get(ACTIVE) == key:
        rest = list(ss[FILES])
        if rest:
            ss[ACTIVE] = rest[-1]
            ss[SWEEP] = 1
        else:
            ss.pop(ACTIVE, None)


def remove_all() -> None:
    """Unload every file and forget every refused one (an on_click callback)."""
    ss = _ss()
    ss[FILES].clear()
    ss[ERRORS].clear()
    ss.pop(ACTIVE, None)
    ss[SWEEP] = 1


def step_file(delta: int) -> None:
    """Make the previous (``-1``) or next (``+1``) loaded file active, wrapping round (an on_click callback)."""
    ss = _ss()
    keys = list(ss[FILES])
    if not keys:
        return
    cur = keys.index(ss[ACTIVE]) if ss.get(ACTIVE) in keys else len(keys) - 1
    ss[ACTIVE] = keys[(cur + int(delta)) % len(keys)]
    ss[SWEEP] = 1


def step_sweep(delta: int, n_sweeps: int) -> None:
    """Move the sweep (1-based in the session) by ``delta`` within 1..n_sweeps (an on_click callback)."""
    ss = _ss()
    ss[SWEEP] = min(max(1, int(ss.get(SWEEP, 1) or 1) + int(delta)), max(1, int(n_sweeps)))


def active() -> LoadedFile | None:
    ss = _ss()
    sha = ss.get(ACTIVE)
    fs = ss.get(FILES, {})
    if sha in fs:
        return fs[sha]
    return next(reversed(fs.values()), None) if fs else None


def sweep_index() -> int:
    """The chosen sweep, 0-based (the sidebar shows it 1-based)."""
    return max(0, int(_ss().get(SWEEP, 1) or 1) - 1)


# ------------------------------------------------------------------ recipe
def params() -> AnalysisParams:
    return _ss()[PARAMS]


def set_params(p: AnalysisParams, *, reset_widgets: bool = False) -> None:
    """Make ``p`` the session's recipe; with ``reset_widgets`` every recipe widget re-reads it."""
    ss = _ss()
    ss[PARAMS] = p
    if reset_widgets:
        for key in [k for k in ss if isinstance(k, str) and k.startswith(WIDGET_PREFIXES)]:
            forget(key)
        for key in [k for k in ss if isinstance(k, str) and k.startswith(KEPT_PREFIX)
                    and k[len(KEPT_PREFIX):].startswith(WIDGET_PREFIXES)]:
            del ss[key]
        ss[CHAIN] = _rows_from_filters(p.filters)
        ss[MANUAL] = {"history": [{"on": p.manual_tail_on, "off": p.manual_tail_off}], "pos": 0}


# ------------------------------------------------------------------ filter chain rows
#: the field values of a new filter of each kind (from signal_core.filters.kinds)
DEFAULT_FILTERS = {k.name: k.defaults for k in FILTER_KINDS}


def _rows_from_filters(filters) -> list[dict]:
    return [{"id": next(_ids), **spec.to_dict()} for spec in filters]


def chain_rows() -> list[dict]:
    """The filter chain as editable rows (dicts with a stable ``id`` for widget keys)."""
    return _ss()[CHAIN]


def add_filter(kind: str = "butter") -> None:
    chain_rows().append({"id": next(_ids), "kind": kind, "enabled": True, **DEFAULT_FILTERS[kind]})


def remove_filter(row_id: int) -> None:
    _ss()[CHAIN] = [r for r in chain_rows() if r["id"] != row_id]


def move_filter(row_id: int, delta: int) -> None:
    rows = chain_rows()
    i = next(k for k, r in enumerate(rows) if r["id"] == row_id)
    j = i + delta
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]


def filters_from_rows(rows: list[dict]) -> tuple[FilterSpec, ...]:
    """FilterSpecs of the rows, in order (raises FilterError naming the bad value)."""
    out = []
    for r in rows:
        d = {k: v for k, v in r.items() if k != "id"}
        out.append(FilterSpec.from_dict(d))
    return tuple(out)


# ------------------------------------------------------------------ manual tail line with undo/redo
def manual_points() -> dict:
    """The current manual tail points: ``{"on": ((t, I), (t, I)) or None, "off": ...}``."""
    m = _ss()[MANUAL]
    return m["history"][m["pos"]]


def push_manual(side: str, pts) -> None:
    """Set one side's two points; the previous state goes on the undo stack."""
    m = _ss()[MANUAL]
    new = dict(m["history"][m["pos"]])
    new[side] = None if pts is None else tuple((float(t), float(i)) for t, i in pts)
    if new == m["history"][m["pos"]]:
        return
    m["history"] = [*m["history"][: m["pos"] + 1], new][-50:]
    m["pos"] = len(m["history"]) - 1
    _forget_manual_widgets()


def seed_manual(side: str, pts) -> None:
    """Fill a missing side of the current state without making an undo step."""
    m = _ss()[MANUAL]
    cur = dict(m["history"][m["pos"]])
    cur[side] = tuple((float(t), float(i)) for t, i in pts)
    m["history"][m["pos"]] = cur


def can_undo() -> bool:
    return _ss()[MANUAL]["pos"] > 0


def can_redo() -> bool:
    m = _ss()[MANUAL]
    return m["pos"] < len(m["history"]) - 1


def undo() -> None:
    m = _ss()[MANUAL]
    m["pos"] = max(0, m["pos"] - 1)
    _forget_manual_widgets()


def redo() -> None:
    m = _ss()[MANUAL]
    m["pos"] = min(len(m["history"]) - 1, m["pos"] + 1)
    _forget_manual_widgets()


def _forget_manual_widgets() -> None:
    ss = _ss()
    for key in [k for k in ss if isinstance(k, str) and k.startswith("rp_manual_")]:
        del ss[key]


def line_points(t_ms: np.ndarray, y: np.ndarray, x0: float, x1: float, half_ms: float = 0.5):
    """Two points of a tail line at ``x0`` and ``x1`` (ms), each at the curve's mean within ±half_ms."""
    t = np.asarray(t_ms, dtype=np.float64)
    v = np.asarray(y, dtype=np.float64)
    out = []
    for x in (x0, x1):
        near = np.abs(t - x) <= half_ms
        level = float(np.mean(v[near])) if near.any() else float(np.interp(x, t, v))
        out.append((float(x), level))
    return tuple(out)


def apply_window(target: str, x0: float, x1: float, *, curve: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """Apply a box selection (ms from the edge) to the target window; False when it is empty.

    ``curve`` (t_ms, uncorrected purple pA) is needed for the manual tail line targets.
    """
    lo, hi = sorted((max(0.0, float(x0)), max(0.0, float(x1))))
    if not hi > lo:
        return False
    name = WINDOW_TARGETS[target]
    ss = _ss()
    if name.startswith("manual_"):
        if curve is None:
            return False
        push_manual(name.removeprefix("manual_"), line_points(curve[0], curve[1], lo, hi))
        ss["rp_tail_mode"] = "manual"
        return True
    ss[f"rp_{name}_custom"] = True
    ss[f"rp_{name}_a"] = round(lo, 3)
    ss[f"rp_{name}_b"] = round(hi, 3)
    return True


def box_x(selection_state: Any) -> tuple[float, float] | None:
    """The x range (ms) of the first box of a plotly chart's selection state, None without one."""
    try:
        boxes = selection_state["selection"]["box"]
        x = boxes[0]["x"]
        lo, hi = sorted((float(x[0]), float(x[-1])))
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return (lo, hi) if hi > lo else None


ZOOM = "zoom_ms"


def on_zoom_select(chart_key: str) -> None:
    """``on_select`` of the Explore trace: the box's time window becomes the zoom window."""
    x = box_x(_ss().get(chart_key))
    if x is not None:
        _ss()[ZOOM] = x


def reset_zoom() -> None:
    _ss().pop(ZOOM, None)
