"""The set workbook, as the lab kept it with its old tool: a summary sheet and one sheet per file.

See :func:`set_workbook` and :func:`sets_from_names`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePath

from signal_core.analysis.pipeline import SweepFailure
from signal_core.export.data import (
    WORKBOOK_CURVE_POINTS,
    ExportEntry,
    Failure,
    block_mean,
    flags_text,
    normalise_failures,
    utc_iso,
)
from signal_core.export.xlsx import (
    CurveRef,
    Sheets,
    close_workbook,
    entries_v_range,
    internal_link,
    new_workbook,
    purple_chart,
    put_column,
    put_headers,
    put_num,
    put_text,
    qv_chart,
    safe_sheet_name,
    write_fit_line,
    write_fit_table,
)
from signal_core.protocol.filenames import parse_filename
from signal_core.qv import QvFit

__all__ = ["SUMMARY_SHEET", "file_sheet_stem", "set_workbook", "sets_from_names"]

SUMMARY_SHEET = "Set summary"
_CURVE_ROW = 11  # header row of the curves on a file sheet


def sets_from_names(names: Sequence[str]) -> dict[str, list[str]]:
    """Group file names by the set their names carry (:func:`signal_core.protocol.filenames.parse_filename`).

    ``0057_0_-100`` and ``0058_0_-80`` share set ``"0"``; a name without a set (such as
    ``20130507_0006_10mVdepol``) goes to the ``""`` group.  Sets and names keep the
    order in which they first appear.
    """
    out: dict[str, list[str]] = {}
    for name in names:
        set_id = parse_filename(name).set_id
        out.setdefault(set_id or "", []).append(name)
    return out


def file_sheet_stem(file_name: str) -> str:
    """What a file's sheet is named after: its 4-digit file number as written (``"0006"``), else the name's stem."""
    number = parse_filename(file_name).file_number
    if number is not None:
        return f"{number:04d}"
    stem = PurePath(str(file_name).replace("\\", "/")).name
    return PurePath(stem).stem or stem


def _file_sheet(sh: Sheets, entry: ExportEntry, name: str, max_points: int | None) -> None:
    ws = sh.wb.add_worksheet(name)
    r = entry.result
    rows = [
        ("file", entry.file_name, None),
        ("sweep", entry.sweep_number, "0"),
        ("V2 = V_test (mV)", r.v_test_mV, "0.00"),
        ("Q_on (pC)", r.q_on_pC, "0.000"),
        ("Q_off (pC)", r.q_off_pC, "0.000"),
        ("Q_off/Q_on", r.q_off_over_on, "0.000"),
        ("C_m (nF)", r.c_m_nF, "0.0000"),
        ("Q_on/C_m (nC/uF)", r.q_on_per_c_m_nC_per_uF, "0.00"),
        ("flags", flags_text(r), None),
    ]
    for i, (label, value, fmt) in enumerate(rows):
        put_text(ws, i, 0, label, sh.bold)
        if fmt is None:
            put_text(ws, i, 1, value)
        else:
            put_num(ws, i, 1, value, sh.num(fmt))
    internal_link(ws, len(rows), 0, SUMMARY_SHEET, "back to the set summary")
    t_on, y_on = block_mean(r.t_on_ms, r.purple_on_pA, max_points)
    t_off, y_off = block_mean(r.t_off_ms, r.purple_off_pA, max_points)
    put_headers(ws, _CURVE_ROW, 0, ["t from test ON edge (ms)", "asymmetric current ON, purple (pA)",
                                    "t from test OFF edge (ms)", "asymmetric current OFF, purple (pA)"], sh.header)
    first = _CURVE_ROW + 1
    t_fmt, y_fmt = sh.num("0.000"), sh.num("0.00")
    put_column(ws, first, 0, t_on, t_fmt)
    put_column(ws, first, 1, y_on, y_fmt)
    put_column(ws, first, 2, t_off, t_fmt)
    put_column(ws, first, 3, y_off, y_fmt)
    refs = {
        "purple_on": CurveRef(name, first, first + max(1, t_on.size) - 1, 0, 1, "asymmetric current ON (purple)"),
        "purple_off": CurveRef(name, first, first + max(1, t_off.size) - 1, 2, 3, "asymmetric current OFF (purple)"),
    }
    ws.insert_chart(1, 5, purple_chart(sh.wb, refs, (name, 0, 1)))
    ws.set_column(0, 0, 20)
    ws.set_column(1, 3, 14)
    ws.freeze_panes(_CURVE_ROW + 1, 0)


def set_workbook(
    entries: Sequence[ExportEntry],
    *,
    fit: QvFit | None = None,
    set_name: str = "set",
    failures: Sequence[Failure | SweepFailure] = (),
    exported_at: datetime | None = None,
    max_curve_points: int | None = WORKBOOK_CURVE_POINTS,
) -> bytes:
    """One workbook per set, the lab's habit: a "Set summary" sheet and one sheet per file.

    Sheet names: the file number as written in the name, 4 digits (``20130507_0006_10mVdepol.atf``
    gives sheet ``"0006"``); names without a number use the name's stem.  A file with
    several sweeps gets one sheet per sweep (``"0006 s2"``); clashes get ``" (2)"``
    (:func:`~signal_core.export.xlsx.safe_sheet_name`).

    Set summary
        Set name, export time, then one row per entry: file, sheet (a link), sweep,
        V_test (mV), Q_on, Q_off (pC), Q_off/Q_on, C_lin, C_m (nF), Q_on/C_m (nC/uF),
        flags; failures below with their error; with ``fit`` the Boltzmann parameters
        with standard errors and the fitted line (V in mV, Q in pC); a Q_on against
        V_test chart (with the fitted line when there is one).
    File sheets
        File name, sweep, V2 (mV), Q_on, Q_off (pC), Q_off/Q_on, C_m (nF), Q_on/C_m, flags;
        from row 12 the purple ON and OFF curves (ms, pA; block means of at most
        ``max_curve_points`` points, None keeps all) and a purple chart of them.

    Returns
    -------
    bytes
        The .xlsx file.

    Examples
    --------
    >>> import io, zipfile
    >>> import signal_core as sc
    >>> demo = sc.demo_recording()
    >>> entry = sc.ExportEntry("demo.atf", "0" * 64, 0, sc.analyze_sweep(demo.recording))
    >>> xlsx = sc.set_workbook([entry], set_name="cell 3")
    >>> b'name="Set summary"' in zipfile.ZipFile(io.BytesIO(xlsx)).read("xl/workbook.xml")
    True
    """
    entries = list(entries)
    fails = normalise_failures(failures)
    when = exported_at or datetime.now(UTC)
    wb, buf = new_workbook(when, f"Signal Analyzer set: {set_name}")
    sh = Sheets(wb)
    ws = sh.add(SUMMARY_SHEET)
    per_file = Counter(e.file_name for e in entries)
    names = []
    for e in entries:
        stem = file_sheet_stem(e.file_name)
        if per_file[e.file_name] > 1:
            stem = f"{stem} s{e.sweep_number}"
        names.append(safe_sheet_name(stem, sh.used))

    put_text(ws, 0, 0, "set", sh.bold)
    put_text(ws, 0, 1, set_name, sh.title)
    put_text(ws, 1, 0, "exported (UTC)", sh.bold)
    put_text(ws, 1, 1, utc_iso(when))
    headers = ["file", "sheet", "sweep", "V_test (mV)", "Q_on (pC)", "Q_off (pC)", "Q_off/Q_on", "C_lin (nF)",
               "C_m (nF)", "Q_on/C_m (nC/uF)", "flags", "error"]
    put_headers(ws, 3, 0, headers, sh.header)
    fmts = [sh.num(f) for f in ("0.00", "0.000", "0.000", "0.000", "0.0000", "0.0000", "0.00")]
    row = 4
    for e, name in zip(entries, names):
        r = e.result
        put_text(ws, row, 0, e.file_name)
        internal_link(ws, row, 1, name, name)
        ws.write_number(row, 2, e.sweep_number)
        values = (r.v_test_mV, r.q_on_pC, r.q_off_pC, r.q_off_over_on, r.c_lin_nF, r.c_m_nF,
                  r.q_on_per_c_m_nC_per_uF)
        for j, (v, f) in enumerate(zip(values, fmts), 3):
            put_num(ws, row, j, v, f)
        put_text(ws, row, 10, flags_text(r))
        row += 1
    for file, sweep, error in fails:
        put_text(ws, row, 0, file)
        put_num(ws, row, 2, sweep)
        put_text(ws, row, 11, error)
        row += 1
    if not entries and not fails:
        put_text(ws, row, 0, "(no file in this set)", sh.note)
        row += 1
    row += 1
    fit_ref = None
    if fit is not None:
        row += 1 + write_fit_table(ws, row, fit, sh)
        for warning in fit.warnings:  # the fit's own warnings (signal_core.qv.fit_warnings)
            put_text(ws, row, 0, f"Warning: {warning}", sh.note)
            row += 1
        fit_ref = write_fit_line(ws, 3, 14, fit, *entries_v_range(entries), sh)
    if len(entries) >= 1:
        ws.insert_chart(row + 1, 0, qv_chart(wb, ws.name, 4, 3 + len(entries), 3, 4, fit_ref,
                                             title="Q_on against V_test"))
    ws.set_column(0, 0, 32)
    ws.set_column(1, 1, 10)
    ws.set_column(2, 9, 11)
    ws.set_column(10, 11, 50)
    ws.freeze_panes(4, 1)
    for e, name in zip(entries, names):
        _file_sheet(sh, e, name, max_curve_points)
    return close_workbook(wb, buf)
