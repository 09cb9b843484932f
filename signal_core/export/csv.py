"""CSV exports (UTF-8, comma-separated, ``\\n`` line ends, a header row with units).

Numbers are written with full precision (``repr``), missing values (None, NaN) as
empty fields.  Text from files (names, channel names) that starts with ``= + - @``,
a tab or a carriage return is prefixed with an apostrophe, so that a spreadsheet
opening the file shows it as text instead of running it as a formula (CSV
injection); pass ``excel_safe=False`` to write it unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from signal_core.analysis.batch import ROW_KEYS
from signal_core.analysis.pipeline import SweepFailure
from signal_core.export.data import ExportEntry, Failure, entry_curves, normalise_failures
from signal_core.quantities import QUANTITIES, QUANTITY_BY_KEY
from signal_core.recording import Recording
from signal_core.values import finite_or_none

if TYPE_CHECKING:
    from signal_core.sets import QvPoint

__all__ = ["FORMULA_START", "QV_TABLE_QUANTITIES", "curves_csv", "excel_text", "qv_table_csv", "raw_csv",
           "results_csv", "results_long_csv", "trace_csv"]

#: text starting with one of these is run as a formula by spreadsheets (CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNIT = {q.key: q for q in QUANTITIES}


def excel_text(value: object) -> str:
    """``value`` as text a spreadsheet shows as text: an apostrophe before a leading ``= + - @``, tab or CR.

    The guard of every CSV export against formula injection through untrusted text (file names,
    channel names, set names, notes); None becomes ``""``.

    Examples
    --------
    >>> excel_text("=HYPERLINK(1)"), excel_text("cell_0006.atf"), excel_text(None)
    ("'=HYPERLINK(1)", 'cell_0006.atf', '')
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _text(value: object, excel_safe: bool) -> str:
    return excel_text(value) if excel_safe else ("" if value is None else str(value))


def _num(value: object) -> str:
    x = finite_or_none(value)
    return "" if x is None else repr(x)


def _write(rows: Iterable[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def results_csv(entries: Sequence[ExportEntry], failures: Sequence[Failure | SweepFailure] = (), *,
                excel_safe: bool = True) -> bytes:
    """Wide results: one row per file and sweep, the columns of :data:`signal_core.analysis.batch.ROW_KEYS`.

    Columns (the unit is part of each name, as in the command line's JSON):
    ``file``; ``sweep`` (1-based); ``fs_hz``; ``v_hold_mV``, ``v_control_mV``,
    ``v_test_mV``; ``q_on_pC``, ``q_off_pC``; ``q_off_over_on`` (dimensionless);
    ``c_lin_nF``, ``c_lin_corrected_nF`` (C_lin x (1 + R_s/R_m)^2), ``c_m_nF``;
    ``tau_ms``; ``r_s_MOhm``, ``r_m_MOhm``, ``r_in_MOhm`` (empty when the passive model
    fails); ``i0_pA``, ``i_ss_pA``; ``q_on_per_c_m_nC_per_uF``; ``c_specific_uF_per_cm2``
    (empty without a membrane area); ``flags`` (the flag messages joined by ``"; "``);
    ``flag_codes`` (their stable codes, same order, from :data:`signal_core.flags.FLAG_KINDS`);
    ``error`` (empty for analysed sweeps).  Entries come first, in order, then the
    failures, whose numbers are empty and whose ``sweep`` is empty for a whole file.

    Returns UTF-8 bytes; ``pandas.read_csv`` reads them back to the same numbers.

    Examples
    --------
    >>> import io, zipfile
    >>> import signal_core as sc
    >>> demo = sc.demo_recording()
    >>> entry = sc.ExportEntry("demo.atf", "0" * 64, 0, sc.analyze_sweep(demo.recording))
    >>> import csv
    >>> (row,) = csv.DictReader(io.StringIO(sc.results_csv([entry]).decode("utf-8")))
    >>> row["file"], row["sweep"], round(float(row["r_s_MOhm"])), row["error"]
    ('demo.atf', '1', 14, '')
    """
    rows: list[list[str]] = [list(ROW_KEYS)]
    for e in entries:
        values = {"file": e.file_name, "sweep": e.sweep_number, **e.result.scalars(),
                  "flags": "; ".join(f.message for f in e.result.flags),
                  "flag_codes": "; ".join(f.code for f in e.result.flags), "error": ""}
        rows.append([_text(values[k], excel_safe) if k in ("file", "flags", "flag_codes", "error")
                     else str(values[k]) if k == "sweep" else _num(values[k]) for k in ROW_KEYS])
    for name, sweep, error in normalise_failures(failures):
        row = [""] * len(ROW_KEYS)
        row[ROW_KEYS.index("file")] = _text(name, excel_safe)
        row[ROW_KEYS.index("sweep")] = "" if sweep is None else str(sweep)
        row[ROW_KEYS.index("error")] = _text(error, excel_safe)
        rows.append(row)
    return _write(rows)


def results_long_csv(entries: Sequence[ExportEntry], failures: Sequence[Failure | SweepFailure] = (), *,
                     excel_safe: bool = True) -> bytes:
    """Tidy results: one row per file, sweep and quantity.

    Columns: ``file``, ``sweep`` (1-based), ``quantity`` (the ``name`` of each entry of
    :data:`signal_core.quantities.QUANTITIES`, in its order: ``fs``, ``v_hold``, ...,
    ``q_on``, ``q_off``, ``c_m``, ...), ``value`` (empty when it does not exist), ``unit``
    (mV, pC, nF, MOhm, ms, nC/uF, uF/cm^2, pA, Hz; empty for a ratio) and ``note``:
    each flag is a row with quantity ``flag`` and the note ``"<code>: <message>"``; each
    failure a row with quantity ``error`` and the error as note.
    """
    rows: list[list[str]] = [["file", "sweep", "quantity", "value", "unit", "note"]]
    for e in entries:
        file, sweep = _text(e.file_name, excel_safe), str(e.sweep_number)
        scalars = e.result.scalars()
        for q in QUANTITIES:
            rows.append([file, sweep, q.name, _num(scalars[q.key]), q.unit, ""])
        for f in e.result.flags:
            rows.append([file, sweep, "flag", "", "", _text(f"{f.code}: {f.message}", excel_safe)])
    for name, sweep, error in normalise_failures(failures):
        rows.append([_text(name, excel_safe), "" if sweep is None else str(sweep), "error", "", "",
                     _text(error, excel_safe)])
    return _write(rows)


def curves_csv(entries: Sequence[ExportEntry], *, max_points: int | None = None, excel_safe: bool = True) -> bytes:
    """Every curve of every entry in long form: ``file, sweep, curve, t_ms, value, unit``.

    Curves: ``purple_on``, ``purple_off`` (asymmetric current, pA); ``magenta_on``,
    ``magenta_off`` (averaged control response per mV, pA/mV); ``dark_blue_on_k``,
    ``dark_blue_off_k`` (control step k per mV, pA/mV, k = 1..n); ``orange`` (the
    decimated current, pA).  ``t_ms`` runs from the curve's own edge (test ON edge, test
    return edge, each control edge), except for ``orange``: time in the sweep.  Full rate
    by default; ``max_points`` reduces each curve by block means (as the workbook does).

    Examples
    --------
    >>> import io, zipfile
    >>> import signal_core as sc
    >>> demo = sc.demo_recording()
    >>> entry = sc.ExportEntry("demo.atf", "0" * 64, 0, sc.analyze_sweep(demo.recording))
    >>> lines = sc.curves_csv([entry], max_points=100).decode("utf-8").splitlines()
    >>> lines[0]
    'file,sweep,curve,t_ms,value,unit'
    >>> {"purple_on", "purple_off", "magenta_on", "orange"} <= {line.split(",")[2] for line in lines[1:]}
    True
    """
    out = io.StringIO()
    out.write("file,sweep,curve,t_ms,value,unit\n")
    for e in entries:
        file = _text(e.file_name, excel_safe)
        for c in entry_curves(e.result, max_points, max_points):
            head = _write([[file, str(e.sweep_number), c.key]]).decode("utf-8").rstrip("\n")
            tail = _write([[c.unit]]).decode("utf-8")
            if np.all(np.isfinite(c.t_ms)) and np.all(np.isfinite(c.values)):
                out.write("".join([f"{head},{t!r},{v!r},{tail}" for t, v in zip(c.t_ms.tolist(), c.values.tolist())]))
            else:
                out.write("".join([f"{head},{_num(t)},{_num(v)},{tail}"
                                   for t, v in zip(c.t_ms.tolist(), c.values.tolist())]))
    return out.getvalue().encode("utf-8")


def raw_csv(recording: Recording, sweep: int | None = None, *, excel_safe: bool = True) -> bytes:
    """Full-rate traces (opt-in; large): ``t_ms`` then one column per channel and sweep.

    Column names are ``"<channel> (<unit>) sweep <n>"`` (n 1-based), e.g.
    ``"Im (pA) sweep 1"``; ``t_ms`` is the time in the sweep.  ``sweep`` is a 0-based
    index (as :meth:`Recording.channel`) to write only that sweep; None writes all.
    Values keep 10 significant digits (the files themselves carry at most 7).
    """
    sweeps = range(recording.n_sweeps) if sweep is None else [int(sweep)]
    for s in sweeps:
        if not 0 <= s < recording.n_sweeps:
            raise IndexError(f"sweep {s + 1} does not exist: the file has {recording.n_sweeps} sweep(s)")
    header = ["t_ms"] + [
        _text(f"{recording.channel_names[c]} ({recording.channel_units[c]}) sweep {s + 1}", excel_safe)
        for s in sweeps for c in range(recording.n_channels)
    ]
    n = max(recording.sweep_lengths[s] for s in sweeps)  # sweeps of different lengths: shorter ones end empty
    table = np.empty((n, len(header)), dtype=np.float64)
    table[:, 0] = recording.t_s[:n] * 1e3
    table[:, 1:] = recording.data[list(sweeps), :, :n].transpose(2, 0, 1).reshape(n, -1)
    body = io.BytesIO()
    np.savetxt(body, table, fmt="%.10g", delimiter=",", newline="\n")
    data = body.getvalue()
    if not np.all(np.isfinite(table)):  # missing samples as empty fields, as everywhere else
        data = re.sub(rb"(?<![0-9.eE+-])[+-]?(?:nan|inf)", b"", data)
    return _write([header]) + data


def trace_csv(t_s: np.ndarray, raw_pA: np.ndarray, filtered_pA: np.ndarray | None = None,
              voltage_mV: np.ndarray | None = None, *, header: Sequence[str] = ()) -> bytes:
    """One sweep at full rate: ``t_ms``, ``i_raw_pA``, then ``i_filtered_pA`` and ``v_mV`` when given.

    Parameters
    ----------
    t_s : ndarray
        Time of each sample (s); written in ms with 6 decimals (1 ns).
    raw_pA, filtered_pA, voltage_mV : ndarray
        The recorded current (pA), the current after the filter chain (pA) and the voltage (mV),
        one value per sample; each written with 6 significant digits.
    header : sequence of str
        Lines written first as ``# ...`` comments (file, SHA-256, filter chain); line breaks
        inside a line become spaces, so each stays one comment line.

    Returns
    -------
    bytes
        UTF-8 CSV, ``\\n`` line ends.

    Examples
    --------
    >>> import numpy as np
    >>> text = trace_csv(np.array([0.0, 1e-5]), np.array([1.0, 2.5]), header=["file: demo.atf"]).decode()
    >>> text.splitlines()
    ['# file: demo.atf', 't_ms,i_raw_pA', '0.000000,1', '0.010000,2.5']
    """
    cols = [np.asarray(t_s, dtype=np.float64) * 1e3, np.asarray(raw_pA, dtype=np.float64)]
    names = ["t_ms", "i_raw_pA"]
    if filtered_pA is not None:
        cols.append(np.asarray(filtered_pA, dtype=np.float64))
        names.append("i_filtered_pA")
    if voltage_mV is not None:
        cols.append(np.asarray(voltage_mV, dtype=np.float64))
        names.append("v_mV")
    buf = io.StringIO()
    for line in header:
        buf.write("# " + " ".join(str(line).split()) + "\n")
    buf.write(",".join(names) + "\n")
    np.savetxt(buf, np.column_stack(cols), delimiter=",", fmt=["%.6f"] + ["%.6g"] * (len(cols) - 1))
    return buf.getvalue().encode("utf-8")


#: the numbers of a Q-V point in the Q-V table, by quantity key (headers from the quantity table)
QV_TABLE_QUANTITIES = ("q_on_pC", "q_off_pC", "q_off_over_on", "c_m_nF", "q_on_per_c_m_nC_per_uF")


def qv_table_csv(points: Sequence[QvPoint], *, names: Mapping[str, str] | None = None,
                 sha256: Mapping[str, str] | None = None,
                 flag_codes: Mapping[tuple[str, int], Sequence[str]] | None = None,
                 excel_safe: bool = True) -> bytes:
    """The Q-V table of a set page: one row per point (file and sweep), as the app shows it.

    Columns: ``exclude`` (``true``/``false``), ``file``, ``sweep`` (1-based), ``set``, ``V2 (mV)``,
    ``V2 from`` (where V2 came from), ``Q_on (pC)``, ``Q_off (pC)``, ``Q_off/Q_on``, ``C_m (nF)``,
    ``Q_on/C_m (nC/µF)`` (headers from :data:`signal_core.quantities.QUANTITIES`), ``note``,
    ``flags`` (codes, ``", "``-joined), ``flag messages`` (``"; "``-joined) and ``SHA-256``.

    Parameters
    ----------
    points : sequence of QvPoint
        The points (:func:`signal_core.sets.qv_points`), in the table's order.
    names : mapping, optional
        The name to show for each ``QvPoint.file`` (default: ``file`` itself).
    sha256 : mapping, optional
        SHA-256 of each ``QvPoint.file``'s bytes (default: empty).
    flag_codes : mapping, optional
        The flag codes of each ``(file, sweep)`` (default: none).
    excel_safe : bool
        Text from files (names, sets, notes) that a spreadsheet would run as a formula gets an
        apostrophe (:func:`excel_text`).

    Returns
    -------
    bytes
        UTF-8 CSV; missing numbers are empty fields, the others full precision (``repr``).
    """
    names, sha256, flag_codes = names or {}, sha256 or {}, flag_codes or {}
    number_heads = [QUANTITY_BY_KEY[k].card_title for k in QV_TABLE_QUANTITIES]
    rows: list[list[str]] = [["exclude", "file", "sweep", "set", "V2 (mV)", "V2 from", *number_heads, "note",
                              "flags", "flag messages", "SHA-256"]]
    for p in points:
        rows.append([
            "true" if p.excluded else "false", _text(names.get(p.file, p.file), excel_safe), str(int(p.sweep)),
            _text(p.set_id, excel_safe), _num(p.v_test_mV), _text(p.v_source, excel_safe),
            *(_num(getattr(p, k)) for k in QV_TABLE_QUANTITIES), _text(p.note, excel_safe),
            _text(", ".join(flag_codes.get((p.file, p.sweep), ())), excel_safe),
            _text("; ".join(p.flags), excel_safe), _text(sha256.get(p.file, ""), excel_safe),
        ])
    return _write(rows)
