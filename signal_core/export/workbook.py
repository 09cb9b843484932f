"""The analysis workbook: Summary, Parameters, Curves, Charts, Provenance, Recipe and an optional Raw sheet.

See :func:`analysis_workbook`; the building blocks are in :mod:`signal_core.export.xlsx`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from signal_core.analysis.pipeline import SweepFailure
from signal_core.export.data import (
    ORANGE_POINTS,
    WORKBOOK_CURVE_POINTS,
    ExportEntry,
    Failure,
    entry_curves,
    file_rows,
    flags_text,
    has_area,
    normalise_failures,
    param_rows,
    provenance_rows,
    recipe_groups,
)
from signal_core.export.xlsx import (
    BlockSheets,
    CurveRef,
    Sheets,
    close_workbook,
    control_chart,
    entries_v_range,
    new_workbook,
    purple_chart,
    put_column,
    put_headers,
    put_num,
    put_text,
    qv_chart,
    write_curve_block,
    write_fit_line,
    write_fit_table,
)
from signal_core.filters.chain import decimate, decimated_time
from signal_core.params import AnalysisParams
from signal_core.quantities import QUANTITIES
from signal_core.qv import QvFit
from signal_core.recording import Recording

__all__ = ["MAX_CHARTED_ENTRIES", "MAX_RAW_ROWS", "analysis_workbook"]

#: Entries beyond this many get no charts of their own (their curves are still on the Curves sheet).
MAX_CHARTED_ENTRIES = 60
#: The optional Raw sheet keeps at most this many rows per sweep.
MAX_RAW_ROWS = 20_000
_CHART_ROWS = 18  # rows one chart takes on the Charts sheet


def _summary(ws, sh: Sheets, entries: Sequence[ExportEntry], failures: Sequence[Failure], fit: QvFit | None
             ) -> tuple[int, int]:
    """Write the Summary sheet; return the columns of V_test and Q_on."""
    quantities = [q for q in QUANTITIES if q.key != "c_specific_uF_per_cm2" or has_area(entries)]
    headers = ["file", "sweep", *(q.header for q in quantities), "flags", "flag codes", "error"]
    put_headers(ws, 0, 0, headers, sh.header)
    n_q = len(quantities)
    sweep_fmt = sh.num("0")
    fmts = [sh.num(q.num_format) for q in quantities]
    row = 1
    for e in entries:
        put_text(ws, row, 0, e.file_name)
        ws.write_number(row, 1, e.sweep_number, sweep_fmt)
        values = e.result.scalars()
        for j, q in enumerate(quantities):
            put_num(ws, row, 2 + j, values[q.key], fmts[j])
        put_text(ws, row, 2 + n_q, flags_text(e.result))
        put_text(ws, row, 3 + n_q, "; ".join(f.code for f in e.result.flags))
        row += 1
    for name, sweep, error in failures:
        put_text(ws, row, 0, name)
        put_num(ws, row, 1, sweep, sweep_fmt)
        put_text(ws, row, 4 + n_q, error)
        row += 1
    ws.autofilter(0, 0, max(row - 1, 1), len(headers) - 1)
    ws.freeze_panes(1, 1)
    ws.set_row(0, 45)
    ws.set_column(0, 0, 32)
    ws.set_column(1, 1, 6)
    ws.set_column(2, 1 + n_q, 11)
    ws.set_column(2 + n_q, 3 + n_q, 60)
    if not entries and not failures:
        put_text(ws, 1, 0, "(nothing was analysed)", sh.note)
    if fit is not None:
        row += 2
        write_fit_table(ws, row, fit, sh)
    v_col = 2 + [q.key for q in quantities].index("v_test_mV")
    q_col = 2 + [q.key for q in quantities].index("q_on_pC")
    return v_col, q_col


def _parameters(ws, sh: Sheets, entries: Sequence[ExportEntry], groups: list) -> None:
    row = 0
    if not groups:
        put_text(ws, 0, 0, "No sweep was analysed: there are no parameters to show.", sh.note)
        return
    for k, (params, idx) in enumerate(groups, 1):
        title = "Analysis parameters (the recipe; the Recipe sheet holds it as loadable JSON)"
        if len(groups) > 1:
            title = f"Recipe {k} of {len(groups)}, used by: " + "; ".join(entries[i].title for i in idx)
        put_text(ws, row, 0, title, sh.title)
        put_headers(ws, row + 1, 0, ["parameter", "value", "unit", "meaning"], sh.header)
        row += 2
        for name, value, unit, meaning in param_rows(params):
            put_text(ws, row, 0, name)
            if isinstance(value, float):
                put_num(ws, row, 1, value, sh.num("General"))
            else:
                put_text(ws, row, 1, value)
            put_text(ws, row, 2, unit)
            put_text(ws, row, 3, meaning)
            row += 1
        row += 1
        put_text(ws, row, 0, "Filter chain, applied to the current in this order", sh.bold)
        put_headers(ws, row + 1, 0, ["step", "filter", "enabled", "settings (JSON)"], sh.header)
        row += 2
        if not params.filters:
            put_text(ws, row, 0, "(no filter)", sh.note)
            row += 1
        for i, spec in enumerate(params.filters, 1):
            ws.write_number(row, 0, i)
            put_text(ws, row, 1, spec.label())
            put_text(ws, row, 2, "yes" if spec.enabled else "no")
            put_text(ws, row, 3, json.dumps(spec.to_dict()))
            row += 1
        row += 1
    put_text(ws, row, 0, "Epochs used per file and sweep (times from the start of the sweep)", sh.bold)
    put_headers(ws, row + 1, 0, ["file", "sweep", "protocol from", "role", "start (ms)", "end (ms)", "level (mV)"],
                sh.header)
    row += 2
    ms, mv = sh.num("0.000"), sh.num("0.00")
    for e in entries:
        prot = e.result.protocol
        for ep in prot.epochs:
            put_text(ws, row, 0, e.file_name)
            ws.write_number(row, 1, e.sweep_number)
            put_text(ws, row, 2, prot.source)
            put_text(ws, row, 3, ep.role)
            put_num(ws, row, 4, ep.start_s * 1e3, ms)
            put_num(ws, row, 5, ep.end_s * 1e3, ms)
            put_num(ws, row, 6, ep.level_mV, mv)
            row += 1
    row += 1
    put_text(ws, row, 0, "Windows used per file and sweep (ms from each edge)", sh.bold)
    headers = ["file", "sweep", "guard (ms)", "integration ON start (ms)", "integration ON end (ms)",
               "integration OFF start (ms)", "integration OFF end (ms)", "tail ON start (ms)", "tail ON end (ms)",
               "tail OFF start (ms)", "tail OFF end (ms)", "fs (Hz)"]
    if len(groups) > 1:
        headers.append("recipe")
    put_headers(ws, row + 1, 0, headers, sh.header)
    row += 2
    recipe_of = {i: k for k, (_p, idx) in enumerate(groups, 1) for i in idx}
    for i, e in enumerate(entries):
        r = e.result
        put_text(ws, row, 0, e.file_name)
        ws.write_number(row, 1, e.sweep_number)
        values = [r.guard_ms, *r.integrate_on_ms, *r.integrate_off_ms, *r.tail_on_ms, *r.tail_off_ms]
        for j, v in enumerate(values, 2):
            put_num(ws, row, j, v, ms)
        put_num(ws, row, 2 + len(values), r.fs_hz, sh.num("0"))
        if len(groups) > 1:
            ws.write_number(row, 3 + len(values), recipe_of[i])
        row += 1
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 16)
    ws.set_column(2, 2, 14)
    ws.set_column(3, 3, 40)
    ws.set_column(4, 12, 12)


def _provenance(ws, sh: Sheets, entries: Sequence[ExportEntry], failures: Sequence[Failure],
                when: datetime) -> None:
    put_text(ws, 0, 0, "Provenance", sh.title)
    row = 1
    for key, value in provenance_rows(when):
        put_text(ws, row, 0, key, sh.bold)
        put_text(ws, row, 1, value)
        row += 1
    row += 1
    put_text(ws, row, 0, "Files", sh.bold)
    put_headers(ws, row + 1, 0, ["file", "SHA-256", "size (bytes)", "status"], sh.header)
    row += 2
    for name, sha, size, status in file_rows(entries, failures):
        put_text(ws, row, 0, name)
        put_text(ws, row, 1, sha, sh.mono)
        put_num(ws, row, 2, size, sh.num("#,##0"))
        put_text(ws, row, 3, status)
        row += 1
    ws.set_column(0, 0, 32)
    ws.set_column(1, 1, 70)
    ws.set_column(2, 2, 14)
    ws.set_column(3, 3, 40)


def _recipes(sh: Sheets, entries: Sequence[ExportEntry], groups: list) -> None:
    for k, (params, idx) in enumerate(groups, 1):
        ws = sh.add("Recipe" if k == 1 else f"Recipe {k}")
        lines = params.to_json(indent=2).splitlines()
        for i, line in enumerate(lines):
            put_text(ws, i, 0, line, sh.mono)
        put_text(ws, 0, 2, f"Copy A1:A{len(lines)} into a .json file to reuse this recipe "
                          "(app: load recipe; command line: --recipe FILE).", sh.note)
        if idx:
            put_text(ws, 1, 2, "Used by: " + "; ".join(entries[i].title for i in idx), sh.note)
        ws.set_column(0, 0, 60)


def _charts(ws, sh: Sheets, entries: Sequence[ExportEntry], refs: list[dict[str, CurveRef]],
            titles: list[tuple[str, int, int]], qv: tuple | None) -> None:
    row = 0
    if qv is not None:
        ws.insert_chart(row, 0, qv_chart(sh.wb, *qv, title="Q_on against V_test"))
        row += _CHART_ROWS + 2
    shown = min(len(entries), MAX_CHARTED_ENTRIES)
    if shown < len(entries):
        put_text(ws, row, 0, f"Charts of the first {shown} of {len(entries)} sweeps; the curves of all are on "
                             "the Curves sheet(s).", sh.note)
        row += 1
    for i in range(shown):
        ws.insert_chart(row, 0, purple_chart(sh.wb, refs[i], titles[i]))
        ws.insert_chart(row, 10, control_chart(sh.wb, refs[i], titles[i]))
        row += _CHART_ROWS
    if not entries:
        put_text(ws, 0, 0, "(no curves: nothing was analysed)", sh.note)


def _raw(sh: Sheets, raw: Sequence[tuple[ExportEntry, Recording]]) -> None:
    blocks = BlockSheets(sh, "Raw (decimated)")
    for entry, rec in raw:
        sweep = entry.result.sweep
        n = rec.sweep_length(sweep)  # the sweep's own length (sweeps may differ)
        factor = max(1, math.ceil(n / MAX_RAW_ROWS))
        data = rec.samples_f64(sweep, slice(None), n)  # one sweep, float64 (ABF samples are float32)
        if factor > 1:
            y, _ = decimate(data, rec.fs_hz, factor, antialias=True, method="mean")
            t = decimated_time(rec.sweep_t_s(sweep), factor)
            how = f"anti-alias low-pass, then means of {factor} samples"
        else:
            y, t, how = data, rec.sweep_t_s(sweep), "every sample"
        ws, col = blocks.place(1 + rec.n_channels)
        put_text(ws, 0, col, f"{entry.title} | raw (grey), {how}", sh.bold)
        ws.write_string(1, col, "t in sweep (ms)", sh.header)
        put_column(ws, 2, col, np.asarray(t) * 1e3, sh.num("0.000"))
        for c in range(rec.n_channels):
            put_text(ws, 1, col + 1 + c, f"{rec.channel_names[c]} ({rec.channel_units[c]})", sh.header)
            put_column(ws, 2, col + 1 + c, y[c], sh.num("0.00"))
        ws.set_column(col, col + rec.n_channels, 12)


def analysis_workbook(
    entries: Sequence[ExportEntry],
    *,
    failures: Sequence[Failure | SweepFailure] = (),
    fit: QvFit | None = None,
    raw: Sequence[tuple[ExportEntry, Recording]] = (),
    exported_at: datetime | None = None,
    max_curve_points: int | None = WORKBOOK_CURVE_POINTS,
    max_orange_points: int | None = ORANGE_POINTS,
    params: AnalysisParams | None = None,
) -> bytes:
    """The workbook of one or many analyses, as .xlsx bytes.

    Sheets
    ------
    Summary
        One row per file and sweep (``entries`` in order, then ``failures`` with their
        error): file, sweep (1-based), V_hold, V_control, V_test (mV), Q_on, Q_off (pC),
        Q_off/Q_on, C_lin, C_m (nF), R_s, R_m, R_in (MOhm), tau (ms), Q_on/C_m (nC/uF),
        C_m/area (uF/cm^2, only when an area was given), C_lin corrected (nF), I0, I_ss
        (pA), fs (Hz), flags (messages joined by "; "), flag codes (their stable codes, same
        order), error.  Numbers are numbers with a display format; values that do not exist
        (R_m of a non-passive cell, NaN) are blank.
        With ``fit``: the Boltzmann parameters and standard errors below the table.
    Parameters
        Every recipe parameter with unit and meaning, the filter chain in order, the
        epochs used per file and sweep (role, start, end in ms, level in mV) and the
        windows used (guard, integration and tail windows, ms from each edge).
    Curves
        One column block per entry, headed by ``"<file> | sweep <n>"``: purple ON and OFF,
        magenta ON/OFF and dark blue per control (pA/mV), each with its time from its edge
        (ms), and the orange trace (time in the sweep, ms).  For size and speed each curve
        is reduced by block means to at most ``max_curve_points`` points (default 1000:
        0.1 ms per point over a 100 ms epoch; orange: ``max_orange_points``, default 10,000;
        None keeps every point); the charges were computed at full
        rate, and :func:`signal_core.export.curves_csv` gives the full-rate curves.  A
        block that would pass Excel's last column starts a sheet "Curves (2)".  With a fit,
        the first block is the fitted Q-V line.
    Charts
        Native Excel charts on the Curves cells: purple ON/OFF and the control response
        (dark blue per step, magenta averaged) per entry, for the first
        :data:`MAX_CHARTED_ENTRIES` entries; with two or more entries, Q_on against V_test
        (from the Summary cells) with the fitted line when ``fit`` is given.
    Provenance
        App and version, export time (UTC, ISO 8601), Python and library versions, and
        every file with its SHA-256, size and what became of its sweeps.
    Recipe
        The recipe as JSON, one line per row in column A (copy A1:An to a .json file);
        one sheet per distinct recipe when entries were analysed with different ones.
    Raw (decimated)
        Only with ``raw`` (pairs of an entry and its recording): the entry's sweep, every
        channel, anti-alias filtered and block-averaged to at most :data:`MAX_RAW_ROWS`
        rows (:func:`signal_core.filters.chain.decimate`).  Full-rate traces belong in
        :func:`signal_core.export.raw_csv`.

    Parameters
    ----------
    entries : sequence of ExportEntry
        The analysed sweeps, in the order to show them.
    failures : sequence of (file, sweep 1-based or None, error) or SweepFailure
        Sweeps or files that could not be analysed.
    fit : QvFit, optional
        A Boltzmann fit of these entries' Q_on against V_test.
    raw : sequence of (ExportEntry, Recording)
        Opt-in raw traces.
    exported_at : datetime, optional
        Export time (default now); naive datetimes are taken as UTC.
    max_curve_points, max_orange_points : int or None
        Block-mean limits of the curves written (see Curves).
    params : AnalysisParams, optional
        The recipe to show when no entry carries one (every sweep failed).

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
    >>> xlsx = sc.analysis_workbook([entry], params=entry.result.params)
    >>> sheets = zipfile.ZipFile(io.BytesIO(xlsx)).read("xl/workbook.xml")
    >>> all(f'name="{s}"'.encode() in sheets for s in ("Summary", "Parameters", "Curves", "Provenance"))
    True
    """
    entries = list(entries)
    fails = normalise_failures(failures)
    when = exported_at or datetime.now(UTC)
    wb, buf = new_workbook(when, "Signal Analyzer: charge movement and linear capacitance")
    sh = Sheets(wb)
    ws_summary = sh.add("Summary")
    ws_params = sh.add("Parameters")
    ws_curves = sh.add("Curves")
    ws_curves.freeze_panes(2, 0)
    ws_charts = sh.add("Charts")
    ws_prov = sh.add("Provenance")

    v_col, q_col = _summary(ws_summary, sh, entries, fails, fit)
    groups = recipe_groups(entries)
    if not groups and params is not None:
        groups = [(params, [])]
    _parameters(ws_params, sh, entries, groups)

    blocks = BlockSheets(sh, "Curves", ws_curves)
    fit_ref = None
    if fit is not None and entries:
        _ws, col = blocks.place(2)
        fit_ref = write_fit_line(_ws, 0, col, fit, *entries_v_range(entries), sh)
    t_fmt = sh.num("0.000")
    y_fmt = {"pA": sh.num("0.00"), "pA/mV": sh.num("0.0000")}
    refs, titles = [], []
    for e in entries:
        curves = entry_curves(e.result, max_curve_points, max_orange_points)
        r, title_ref = write_curve_block(blocks, e.title, curves, sh, t_fmt, y_fmt)
        refs.append(r)
        titles.append(title_ref)
    if not entries:
        put_text(ws_curves, 0, 0, "(no curves: nothing was analysed)", sh.note)

    qv = None
    if len(entries) >= 2:
        qv = (ws_summary.name, 1, len(entries), v_col, q_col, fit_ref)
    _charts(ws_charts, sh, entries, refs, titles, qv)
    _provenance(ws_prov, sh, entries, fails, when)
    _recipes(sh, entries, groups)
    if raw:
        _raw(sh, raw)
    return close_workbook(wb, buf)
