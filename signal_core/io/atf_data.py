"""The data section of an Axon Text File: the columns as float64 arrays, and the checks of the time axis.

The rows after the column titles are parsed once, by Apache Arrow's CSV reader
(:func:`_read_arrow`, about 1.5x faster than pandas on the lab's recording) when the file is
plain (decimal points, no carriage return, no separator ending the rows), else by the C parser
of :func:`pandas.read_csv` (:func:`_read_pandas`).  Arrow's reader is stricter than pandas'
(it refuses ``NA`` words, empty cells, form feeds around numbers, ragged rows); whatever it
refuses, or any non-finite value it gives, goes to the pandas path, so every error is pandas'
path's error and every file pandas read gives the same numbers: both round every decimal to
the nearest float64.  Every check is vectorised.  Only when something is wrong does a slow
line-by-line pass (:func:`_find_problem`) run, to name the line, the column and the offending
text.  The time columns are checked to increase uniformly (:func:`_check_time`) and give the
sampling rate (:func:`_round_rate`).  Problems are :class:`~signal_core.io.atf_header.AtfFormatError`.
"""

from __future__ import annotations

import csv
import io
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from signal_core.io.atf_header import AtfFormatError, _err, _Head, _show

_NUMBER_RE = {
    ".": re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    ",": re.compile(r"[+-]?(?:\d+,?\d*|,\d+)(?:[eE][+-]?\d+)?"),
}
_NOT_FINITE_WORDS = {"nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity",
                     "na", "n/a", "#n/a", "null", "none", "1.#inf", "-1.#inf", "1.#qnan", "-1.#ind"}
_C_SPACE = " \t\n\v\f\r"  # what the C parser skips around a number
_SEP_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon"}


# --------------------------------------------------------------------------- data
#: Arrow's path reads data sections up to this size (bytes): its one block costs ~2.3x the text at the peak
#: (text, parsed cells, columns), no more than pandas' path up to ~8 MB, more beyond (26 MB: +61 MB against +42)
ARROW_MAX_BODY_BYTES = 8 * 2**20
#: and files up to this many columns (10 sweeps of current and voltage and the time): it converts a block
#: column by column, which on wider files (150 columns) costs more than pandas' row-wise parse
ARROW_MAX_COLUMNS = 21


def _read_body(data: bytes, head: _Head) -> list[np.ndarray]:
    """The m data columns as float64 arrays, or an AtfFormatError naming the first bad line."""
    columns = _read_arrow(data, head)
    if columns is None:
        columns = _read_pandas(data, head)
    if len(columns[0]) < 2:
        raise _err(head.first_data_line, f"only {len(columns[0])} data row: a recording needs at least 2 samples")
    return columns


def _read_arrow(data: bytes, head: _Head) -> list[np.ndarray] | None:
    """The m columns parsed by Arrow's CSV reader, or None when pandas' path must read (or refuse) the rows.

    Taken only when every row has m numbers that Arrow reads as finite float64 values; that
    is a subset of what pandas' path reads, with the same values (both parsers round to the
    nearest float64; Arrow trims only spaces and tabs around a number, pandas any whitespace).
    Both end a row at LF, CR LF or a lone CR.  Decimal commas, a separator ending every row
    and a byte-order mark before the rows are left to pandas.
    Large or wide files go to pandas too (:data:`ARROW_MAX_BODY_BYTES`, :data:`ARROW_MAX_COLUMNS`).

    The rows are one block, on the calling thread (a second thread saves ~2 ms of wall time on
    the 2.9 MB recording for ~2 ms more CPU, which a shared 2-core server cannot spare), and in
    the system allocator's memory, which is given back as numpy's is (Arrow's default pool kept
    the parse's peak, 38 MB after a 16 MB file, out of reach of the app's memory governor).
    """
    n_bytes = head.body_end - head.body_start
    if head.decimal != "." or head.trailing or n_bytes > ARROW_MAX_BODY_BYTES or head.m > ARROW_MAX_COLUMNS:
        return None
    body = memoryview(data)[head.body_start: head.body_end]
    if body[:3] == b"\xef\xbb\xbf":
        return None
    names = [str(c) for c in range(head.m)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False, block_size=n_bytes + 1),
            parse_options=pa_csv.ParseOptions(delimiter=head.sep, quote_char=False, double_quote=False,
                                              escape_char=False, newlines_in_values=False,
                                              ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()), null_values=[],
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False),
            memory_pool=pa.system_memory_pool(),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, pa.ArrowCapacityError):
        return None  # refused: pandas' path reads it or names the line
    if any(table.column(c).null_count for c in range(head.m)):
        return None
    columns = [_float64_values(table.column(c)) for c in range(head.m)]
    if not all(np.isfinite(c).all() for c in columns):
        return None  # 'nan' or 'inf' text, or a number beyond float64: pandas' path names the line
    return columns


def _float64_values(column: pa.ChunkedArray) -> np.ndarray:
    """A float64 column without nulls as a numpy array: a read-only view of Arrow's buffer when it is one chunk.

    Read from the buffers directly: Arrow's ``to_numpy`` imports pandas (0.25 s of a command-line
    run's start-up) to look for pandas types.
    """
    parts = [np.frombuffer(chunk.buffers()[1], dtype=np.float64, count=len(chunk), offset=chunk.offset * 8)
             for chunk in column.chunks if len(chunk)]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0)


def _read_pandas(data: bytes, head: _Head) -> list[np.ndarray]:
    """The m columns parsed by pandas' C parser (every row length, or an AtfFormatError naming the first bad line)."""
    import pandas as pd  # here, not at the top: 0.25 s of start-up that Arrow's path does not need
    buf = io.BytesIO(data if head.body_end == len(data) else data[: head.body_end])
    buf.seek(head.body_start)
    try:
        frame = pd.read_csv(buf, sep=head.sep, header=None, engine="c", dtype=np.float64,
                            decimal=head.decimal, na_filter=head.trailing, skip_blank_lines=False,
                            quoting=csv.QUOTE_NONE, skipinitialspace=head.trailing)
    except (ValueError, OverflowError, IndexError, TypeError) as exc:  # pandas ParserError is a ValueError
        raise _find_problem(data, head, str(exc)) from None
    expected = head.m + 1 if head.trailing else head.m
    if frame.shape[1] != expected:
        raise _find_problem(data, head, f"{frame.shape[1]} columns")
    if head.trailing and not np.isnan(frame[head.m].to_numpy()).all():
        raise _find_problem(data, head, "values after the trailing separator")
    columns = [frame[i].to_numpy() for i in range(head.m)]
    if not all(np.isfinite(c).all() for c in columns):
        raise _find_problem(data, head, "a value that is not a finite number")
    return columns


def _find_problem(data: bytes, head: _Head, detail: str) -> AtfFormatError:
    """Slow path, run only on bad files: the first line, column and text that are wrong."""
    lines = data[head.body_start: head.body_end].split(b"\n")
    if lines and not lines[-1].strip(b"\r"):
        lines.pop()
    number = _NUMBER_RE[head.decimal]
    sep, m = head.sep, head.m
    for i, raw in enumerate(lines):
        line_no = head.first_data_line + i
        text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if not text.strip():
            return _err(line_no, "is empty: blank lines are not allowed between data rows")
        if "\r" in text:
            return _err(line_no, "has a stray carriage return (CR) inside the row")
        fields = text.split(sep)
        if len(fields) == m + 1 and not fields[-1].strip(_C_SPACE):
            if fields[-1].strip(" "):
                return _err(line_no, f"has a stray whitespace character after the last {_SEP_NAMES[sep]}")
            if not head.trailing:
                return _err(line_no, f"ends with an extra {_SEP_NAMES[sep]} that the first data row "
                                     f"(line {head.first_data_line}) does not have")
            fields.pop()
        if len(fields) != m:
            if len(fields) < m and i == len(lines) - 1:
                return _err(line_no, f"the last row has only {len(fields)} of {m} values: the file looks "
                                     "truncated (cut off while being written or copied)")
            hint = (" (decimal commas cannot be used when commas also separate the values)"
                    if sep == "," and len(fields) > m else "")
            values = "value" if len(fields) == 1 else "values"
            return _err(line_no, f"has {len(fields)} {values} but line 2 says {m} data columns{hint}")
        for c, cell in enumerate(fields):
            where = f"column {c + 1} ({head.titles[c]!r})"
            cell = cell.strip(_C_SPACE)
            if not cell:
                return _err(line_no, f"{where} is empty")
            if not number.fullmatch(cell):
                if cell.lower() in _NOT_FINITE_WORDS:
                    return _err(line_no, f"{where}: {_show(cell)} is not a finite number; every sample "
                                         "must be a number")
                hint = ""
                if head.decimal == "," and "." in cell:
                    hint = " (this file uses decimal commas elsewhere: it mixes decimal points and commas)"
                return _err(line_no, f"{where}: {_show(cell)} is not a number{hint}")
            if not math.isfinite(float(cell.replace(",", "."))):
                return _err(line_no, f"{where}: {_show(cell)} is too large to be a sample value")
    return _err(head.first_data_line, f"the data rows could not be read as numbers ({detail[:200]})")


# --------------------------------------------------------------------------- last row
#: rows before an unterminated last row whose number format it must match
_FORMAT_SAMPLE_ROWS = 20


def _cells(line: bytes, head: _Head) -> list[str] | None:
    """The m cells of one data row as text, or None when the row does not have m of them."""
    try:
        text = line.rstrip(b"\r").decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = [f.strip(_C_SPACE) for f in text.split(head.sep)]
    if head.trailing and len(fields) == head.m + 1 and not fields[-1]:
        fields.pop()
    return fields if len(fields) == head.m else None


def _number_format(cell: str, head: _Head) -> tuple[int, bool] | None:
    """(digits after the decimal mark, has an exponent) of one printed number; None when it is not one."""
    if not _NUMBER_RE[head.decimal].fullmatch(cell):
        return None
    mantissa, _, exponent = cell.lower().partition("e")
    _, mark, decimals = mantissa.partition(head.decimal)
    return (len(decimals) if mark else 0), bool(exponent)


def last_row_is_complete(data: bytes, head: _Head) -> bool:
    """Whether a last data row without a line end was written whole (pyABF's ATF writer ends files so).

    The row is complete when it has every column, each cell parses as a number, and each
    value is printed with the same number of decimals (and the same use of an exponent) as
    the same column in the rows before it, which must agree among themselves.  A row cut
    while being written fails one of these checks: a missing column, a value such as
    ``1.2`` where the column prints ``1.2345``, or ``1.2e`` that does not parse.

    Parameters
    ----------
    data : bytes
        The file (line ends normalised to LF).
    head : _Head
        The parsed header; ``body_start`` and ``body_end`` delimit the data rows.

    Returns
    -------
    bool
        False also when there is no earlier row to compare with.
    """
    body = data[head.body_start: head.body_end].rstrip(b" \t")
    cut = body.rfind(b"\n")
    if cut < 0:
        return False
    last = _cells(body[cut + 1:], head)
    if last is None:
        return False
    formats = [_number_format(c, head) for c in last]
    if any(f is None for f in formats):
        return False
    earlier = body[:cut].split(b"\n")[-_FORMAT_SAMPLE_ROWS:]
    seen: list[set] = [set() for _ in range(head.m)]
    for line in earlier:
        cells = _cells(line, head)
        if cells is None:
            return False
        for c, cell in enumerate(cells):
            seen[c].add(_number_format(cell, head))
    return all(s == {f} for s, f in zip(seen, formats, strict=True))


# --------------------------------------------------------------------------- time
def _check_time(raw: np.ndarray, factor: float, unit: str, title: str, first_line: int) -> tuple[float, float]:
    """Check one time column is strictly increasing and uniform.

    Returns
    -------
    (float, float)
        Sampling interval (s, from the first and last samples) and the largest deviation
        of any sample from the uniform grid (s).
    """
    with np.errstate(all="ignore"):
        t = raw if factor == 1.0 else raw * factor
        step = t[1:] - t[:-1]
        if step.min() <= 0:
            k = int(np.argmax(step <= 0))
            what = "repeats the previous row's time" if step[k] == 0 else \
                f"goes backwards (after {raw[k]:g} {unit})"
            raise _err(first_line + k + 1, f"time {raw[k + 1]:g} {unit} in {title!r} {what}: time must "
                                           "increase by one sampling interval per row")
        n = len(t)
        dt = float((t[-1] - t[0]) / (n - 1))
        step -= dt
        np.abs(step, out=step)
        grid = np.arange(n, dtype=np.float64)  # uniform grid minus the file's time, in place
        grid *= dt
        grid += t[0]
        grid -= t
        worst = float(max(grid.max(), -grid.min()))
        if not (math.isfinite(dt) and dt > 0 and math.isfinite(worst)):
            raise _err(first_line, f"the time column {title!r} does not give a usable sampling interval")
        if step.max() > 0.5 * dt or worst > 0.5 * dt:
            raise _non_uniform(raw, t, grid, dt, factor, unit, title, first_line)
    return dt, worst


def _non_uniform(raw, t, grid, dt, factor, unit, title, first_line) -> AtfFormatError:
    """Error path: name the first step that differs from the usual (median) step."""
    step = np.diff(t)
    usual = float(np.median(step))
    bad = np.abs(step - usual) > 0.5 * usual
    if bad.any():
        k = int(np.argmax(bad)) + 1
        return _err(first_line + k, f"the time column {title!r} jumps from {raw[k - 1]:g} to {raw[k]:g} "
                                    f"{unit}, but it steps by {usual / factor:g} {unit} elsewhere: samples "
                                    "are missing or the time is not uniform")
    k = int(np.argmax(np.abs(grid) > 0.5 * dt))
    return _err(first_line + k, f"the time column {title!r} drifts away from a uniform sampling grid here "
                                f"({raw[k]:g} {unit}): the sampling interval is not constant")


def _round_rate(fs: float, rel_tol: float) -> float:
    """The sampling rate with the fewest significant digits within ``rel_tol`` of ``fs``."""
    for digits in range(1, 16):
        candidate = float(f"{fs:.{digits}g}")
        if abs(candidate - fs) <= rel_tol * fs:
            return candidate
    return fs
