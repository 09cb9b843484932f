"""Excel building blocks shared by the analysis workbook and the set workbook (xlsxwriter, in memory).

Rules every writer here follows: text that came from a file (names, channel names)
goes through ``write_string``, never ``write``, so ``=cmd|...`` stays text; numbers
are stored as numbers with a number format; NaN, infinities and None are left blank;
chart titles that show file names point at the cell holding the name instead of
passing the name to xlsxwriter (which would read ``Sheet!A1``-like text as a reference).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import xlsxwriter
from xlsxwriter.utility import quote_sheetname
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from signal_core.export.data import AXIS_HEADERS, Curve, ExportEntry, boltzmann_line, fit_rows, utc_iso

__all__ = ["CurveRef", "Sheets", "safe_sheet_name"]

MAX_COLS = 16384
MAX_SHEET_CHARS = 31
PURPLE, MAGENTA, DARK_BLUE, ORANGE, GREY = "#800080", "#FF00FF", "#00008B", "#FF8C00", "#808080"

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")
_EDGE_JUNK = re.compile(r"^[\s']+|[\s']+$")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that is at most ``limit`` UTF-16 units (Excel counts those)."""
    if _utf16_len(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > limit:
            break
        out.append(ch)
        used += w
    return "".join(out)


def safe_sheet_name(name: str, used: set[str]) -> str:
    """A valid, unused Excel sheet name made from ``name``; the result is added to ``used``.

    Excel's rules: at most 31 characters (UTF-16 units), none of ``[ ] : * ? / \\``
    (replaced by ``_``; control characters too), not blank (``"Sheet"``), not
    ``History`` (reserved: ``"History_"``), no apostrophe at either end (stripped, with
    surrounding spaces).  Names are unique ignoring case: a taken name gets ``" (2)"``,
    ``" (3)"``... with the stem shortened to keep 31 characters.
    """
    text = _BAD_SHEET_CHARS.sub("_", str(name))
    text = _EDGE_JUNK.sub("", _EDGE_JUNK.sub("", text)[:200])
    text = _EDGE_JUNK.sub("", _cut(text, MAX_SHEET_CHARS))
    if not text:
        text = "Sheet"
    if text.casefold() == "history":
        text = text + "_"
    taken = {u.casefold() for u in used}
    candidate, k = text, 2
    while candidate.casefold() in taken:
        suffix = f" ({k})"
        stem = _EDGE_JUNK.sub("", _cut(text, MAX_SHEET_CHARS - len(suffix)))
        candidate = f"{stem}{suffix}" if stem else f"Sheet{suffix}"
        k += 1
    used.add(candidate)
    return candidate


# ------------------------------------------------------------------------------ workbook
def new_workbook(when: datetime, title: str) -> tuple[Workbook, io.BytesIO]:
    """An in-memory workbook stamped with the export time ``when`` and its buffer."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "nan_inf_to_errors": True})
    naive_utc = when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when
    wb.set_properties({"title": title, "comments": f"exported {utc_iso(when)} by signal_core",
                       "created": naive_utc})
    return wb, buf


def close_workbook(wb: Workbook, buf: io.BytesIO) -> bytes:
    wb.close()
    return buf.getvalue()


class Sheets:
    """Sheet-name bookkeeping and the formats of one workbook."""

    def __init__(self, wb: Workbook):
        self.wb = wb
        self.used: set[str] = set()
        self._num: dict[str, object] = {}
        self.bold = wb.add_format({"bold": True})
        self.header = wb.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
        self.title = wb.add_format({"bold": True, "font_size": 12})
        self.text = wb.add_format({"valign": "top"})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self.mono = wb.add_format({"font_name": "Consolas"})
        self.note = wb.add_format({"italic": True, "font_color": "#555555"})

    def add(self, name: str) -> Worksheet:
        return self.wb.add_worksheet(safe_sheet_name(name, self.used))

    def num(self, fmt: str):
        if fmt not in self._num:
            self._num[fmt] = self.wb.add_format({"num_format": fmt})
        return self._num[fmt]


def put_text(ws: Worksheet, row: int, col: int, text: object, fmt=None) -> None:
    """Write text as text (never a formula, a number or a URL)."""
    ws.write_string(row, col, "" if text is None else str(text), fmt)


def put_num(ws: Worksheet, row: int, col: int, value: object, fmt=None) -> None:
    """Write a number; None, NaN and infinities stay blank."""
    if value is None:
        return
    x = float(value)  # type: ignore[arg-type]
    if math.isfinite(x):
        ws.write_number(row, col, x, fmt)


def put_column(ws: Worksheet, row: int, col: int, values: np.ndarray, fmt=None) -> None:
    """Write a column of numbers from ``row`` down; non-finite values stay blank."""
    write = ws.write_number
    arr = np.asarray(values, dtype=np.float64)
    if np.all(np.isfinite(arr)):
        for r, v in enumerate(arr.tolist(), row):
            write(r, col, v, fmt)
    else:
        for r, v in enumerate(arr.tolist(), row):
            if math.isfinite(v):
                write(r, col, v, fmt)


def put_headers(ws: Worksheet, row: int, col: int, headers: Sequence[str], fmt) -> None:
    for j, h in enumerate(headers):
        ws.write_string(row, col + j, h, fmt)


# ------------------------------------------------------------------------------ curve blocks
@dataclass(frozen=True)
class CurveRef:
    """Where a curve sits: sheet, first and last data row, time column, value column (0-based)."""

    sheet: str
    first_row: int
    last_row: int
    t_col: int
    v_col: int
    legend: str

    def x(self) -> list:
        return [self.sheet, self.first_row, self.t_col, self.last_row, self.t_col]

    def y(self) -> list:
        return [self.sheet, self.first_row, self.v_col, self.last_row, self.v_col]


class BlockSheets:
    """Column blocks side by side on ``base`` sheets, starting a new sheet ("Curves (2)") when one is full."""

    def __init__(self, sheets: Sheets, base: str, first: Worksheet | None = None):
        self.sheets = sheets
        self.base = base
        self.ws = first
        self.col = 0

    def place(self, width: int) -> tuple[Worksheet, int]:
        if width > MAX_COLS:
            raise ValueError(f"a block of {width} columns does not fit on one sheet")
        if self.ws is None or self.col + width > MAX_COLS:
            self.ws = self.sheets.add(self.base)
            self.ws.freeze_panes(2, 0)
            self.col = 0
        col = self.col
        self.col += width + 1
        return self.ws, col


def curve_groups(curves: Sequence[Curve]) -> list[list[Curve]]:
    """Curves grouped by shared time axis (one time column per group), in first-seen order."""
    groups: dict[tuple[str, int], list[Curve]] = {}
    for c in curves:
        groups.setdefault((c.axis, c.t_ms.size), []).append(c)
    return list(groups.values())


def write_curve_block(blocks: BlockSheets, title: str, curves: Sequence[Curve], sh: Sheets,
                      t_fmt, y_fmt: dict[str, object]) -> tuple[dict[str, CurveRef], tuple[str, int, int]]:
    """One entry's curves as a column block: row 0 the title, row 1 headers with units, data from row 2.

    Returns the references of every curve by key and ``(sheet, row, col)`` of the title cell.
    """
    groups = curve_groups(curves)
    width = sum(1 + len(g) for g in groups)
    ws, col0 = blocks.place(width)
    put_text(ws, 0, col0, title, sh.bold)
    refs: dict[str, CurveRef] = {}
    col = col0
    for g in groups:
        t = g[0].t_ms
        ws.write_string(1, col, AXIS_HEADERS[g[0].axis], sh.header)
        put_column(ws, 2, col, t, t_fmt)
        for j, c in enumerate(g, 1):
            ws.write_string(1, col + j, c.header, sh.header)
            put_column(ws, 2, col + j, c.values, y_fmt.get(c.unit))
            refs[c.key] = CurveRef(ws.name, 2, 1 + max(1, c.values.size), col, col + j, c.legend)
        ws.set_column(col, col + len(g), 12)
        col += 1 + len(g)
    return refs, (ws.name, 0, col0)


# ------------------------------------------------------------------------------ charts
def _line(colour: str, dash: bool = False, width: float = 1.25) -> dict:
    d = {"color": colour, "width": width}
    if dash:
        d["dash_type"] = "dash"
    return d


def _scatter_chart(wb: Workbook, title_ref: tuple[str, int, int] | None, x_name: str, y_name: str):
    chart = wb.add_chart({"type": "scatter", "subtype": "straight"})
    if title_ref is not None:
        chart.set_title({"name": list(title_ref), "name_font": {"size": 10, "bold": True}})
    chart.set_x_axis({"name": x_name, "major_gridlines": {"visible": False}})
    chart.set_y_axis({"name": y_name, "major_gridlines": {"visible": True, "line": {"color": "#DDDDDD"}}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 620, "height": 330})
    return chart


def _add(chart, ref: CurveRef, colour: str, dash: bool = False, width: float = 1.25) -> None:
    chart.add_series({"name": ref.legend, "categories": ref.x(), "values": ref.y(),
                      "line": _line(colour, dash, width), "marker": {"type": "none"}})


def purple_chart(wb: Workbook, refs: dict[str, CurveRef], title_ref: tuple[str, int, int] | None):
    """Asymmetric current ON (solid) and OFF (dashed), purple, against time from each edge."""
    chart = _scatter_chart(wb, title_ref, "t from edge (ms)", "asymmetric current (pA)")
    _add(chart, refs["purple_on"], PURPLE)
    _add(chart, refs["purple_off"], PURPLE, dash=True)
    return chart


def control_chart(wb: Workbook, refs: dict[str, CurveRef], title_ref: tuple[str, int, int] | None):
    """Control responses per mV: dark blue per step (thin), magenta averages (thick); OFF dashed."""
    chart = _scatter_chart(wb, title_ref, "t from control edge (ms)", "control response (pA/mV)")
    for key, ref in refs.items():
        if key.startswith("dark_blue_"):
            _add(chart, ref, DARK_BLUE, dash="_off_" in key, width=0.75)
    _add(chart, refs["magenta_on"], MAGENTA, width=2.0)
    _add(chart, refs["magenta_off"], MAGENTA, dash=True, width=2.0)
    return chart


def write_fit_table(ws: Worksheet, row: int, fit, sh: Sheets) -> int:
    """The Boltzmann fit's parameters with standard errors and units from ``row``; returns the rows used."""
    put_text(ws, row, 0, "Boltzmann fit of Q_on against V_test: Q = Q_max / (1 + exp(-(V - V_half)/k))", sh.bold)
    put_headers(ws, row + 1, 0, ["parameter", "value", "standard error", "unit"], sh.header)
    rows = fit_rows(fit)
    for i, (label, value, se, unit) in enumerate(rows, row + 2):
        put_text(ws, i, 0, label)
        put_num(ws, i, 1, value, sh.num("0.000"))
        put_num(ws, i, 2, se, sh.num("0.000"))
        put_text(ws, i, 3, unit)
    return 2 + len(rows)


def write_fit_line(ws: Worksheet, row: int, col: int, fit, v_min: float, v_max: float, sh: Sheets) -> CurveRef:
    """The fitted Boltzmann on a fine grid (two columns with a title row and headers); its reference."""
    pad = max(5.0, 0.1 * (v_max - v_min))
    v, q = boltzmann_line(fit, v_min - pad, v_max + pad)
    ws.write_string(row, col, "Q-V: Boltzmann fit", sh.bold)
    ws.write_string(row + 1, col, "V (mV)", sh.header)
    ws.write_string(row + 1, col + 1, "Q_on fit (pC)", sh.header)
    put_column(ws, row + 2, col, v, sh.num("0.00"))
    put_column(ws, row + 2, col + 1, q, sh.num("0.000"))
    return CurveRef(ws.name, row + 2, row + 1 + v.size, col, col + 1, "Boltzmann fit")


def qv_chart(wb: Workbook, sheet: str, first_row: int, last_row: int, v_col: int, q_col: int,
             fit_ref: CurveRef | None, title: str):
    """Q_on against V_test (markers) with the fitted Boltzmann line when there is one."""
    chart = wb.add_chart({"type": "scatter"})
    chart.set_title({"name": title, "name_font": {"size": 11, "bold": True}})
    chart.add_series({
        "name": "Q_on (pC)",
        "categories": [sheet, first_row, v_col, last_row, v_col],
        "values": [sheet, first_row, q_col, last_row, q_col],
        "marker": {"type": "circle", "size": 6, "fill": {"color": PURPLE}, "border": {"color": PURPLE}},
    })
    if fit_ref is not None:
        chart.add_series({"name": "Boltzmann fit", "categories": fit_ref.x(), "values": fit_ref.y(),
                          "line": _line("#000000", width=1.5), "marker": {"type": "none"}})
    chart.set_x_axis({"name": "V_test (mV)", "major_gridlines": {"visible": False}})
    chart.set_y_axis({"name": "Q_on (pC)", "major_gridlines": {"visible": True, "line": {"color": "#DDDDDD"}}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 620, "height": 360})
    return chart


def internal_link(ws: Worksheet, row: int, col: int, sheet: str, text: str, fmt=None) -> None:
    """A link to cell A1 of ``sheet`` showing ``text`` (written as a string link, never a formula)."""
    ws.write_url(row, col, f"internal:{quote_sheetname(sheet)}!A1", fmt, string=text)


def entries_v_range(entries: Sequence[ExportEntry]) -> tuple[float, float]:
    vs = [e.result.v_test_mV for e in entries if math.isfinite(e.result.v_test_mV)]
    return (min(vs), max(vs)) if vs else (-100.0, 40.0)
