"""Axon Text Files (ATF 1.0): a fast, strict reader and a Clampfit-style writer.

Layout (DOMAIN.md section 7): line 1 ``ATF<sep>1.0``; line 2 the number n of header
records and the number m of data columns; n records ``"Key=Value"``; one line of m
quoted column titles (``"Time (s)"``, ``"Trace #k (unit)"``); rows of m numbers.

The small header is parsed by hand; the data section goes to the C parser of
:func:`pandas.read_csv` once, and every check on it is vectorised.  Only when
something is wrong does a slow line-by-line pass run, to name the line, the column
and the offending text.  Every problem is an :class:`AtfFormatError` whose message
starts with the 1-based line number, as a text editor counts lines.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from signal_core.atf_writer import write_atf
from signal_core.limits import check_recording_values, estimate_rows
from signal_core.recording import Recording, canonical_unit, classify_unit, sha256_hex

__all__ = ["FILE_FORMAT", "AtfFormatError", "read_atf", "write_atf"]

FILE_FORMAT = "ATF 1.0"


class AtfFormatError(ValueError):
    """An ATF file that cannot be read without guessing; the message starts with ``line N:``."""


def _err(line: int, message: str) -> AtfFormatError:
    return AtfFormatError(f"line {line}: {message}")


_LINE1_RE = re.compile(r'^\s*"?ATF"?\s*[\t ,;]\s*"?(\d+(?:\.\d*)?)"?\s*[\t,;]?\s*$', re.IGNORECASE)
_LINE2_RE = re.compile(r'^\s*"?(\d+)"?\s*[\t ,;]\s*"?(\d+)"?\s*[\t,;]?\s*$')
_RECORD_RE = re.compile(r'^"([^"]*)"((?:\s*[\t,;]\s*"[^"]*")*)\s*[\t,;]?\s*$')
_QUOTED_RE = re.compile(r'"([^"]*)"')
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TITLE_RE = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")
_TRACE_RE = re.compile(r"^trace\s*#\s*(\d+)$", re.IGNORECASE)
_NUMBER_RE = {
    ".": re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    ",": re.compile(r"[+-]?(?:\d+,?\d*|,\d+)(?:[eE][+-]?\d+)?"),
}
_NOT_FINITE_WORDS = {"nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity",
                     "na", "n/a", "#n/a", "null", "none", "1.#inf", "-1.#inf", "1.#qnan", "-1.#ind"}
_C_SPACE = " \t\n\v\f\r"  # what the C parser skips around a number
_SEP_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon"}
_HASH_IN_THREAD_BYTES = 1 << 20
_SIZE_SAMPLE_BYTES = 1 << 16  # bytes at each end of the data section that measure a row's length
_PRECHECK_PATH_BYTES = 8 << 20  # files on disk larger than this are size-checked before being read
_PRECHECK_HEAD_BYTES = 1 << 20


@dataclass
class _Head:
    """What the hand-parsed header says (internal)."""

    n_records: int = 0
    m: int = 0
    records: list[tuple[str, str]] = field(default_factory=list)
    record_lines: dict[str, int] = field(default_factory=dict)
    signals: list[str] | None = None
    exported: list[str] | None = None
    titles: list[str] = field(default_factory=list)
    title_line: int = 0
    first_data_line: int = 0
    body_start: int = 0
    body_end: int = 0
    sep: str = "\t"
    decimal: str = "."
    trailing: bool = False


class _Hasher:
    """SHA-256 of the file's bytes, computed beside the parser for big files (hashlib releases the GIL)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._value: str | None = None
        self._thread: threading.Thread | None = None
        if len(data) >= _HASH_IN_THREAD_BYTES:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        self._value = sha256_hex(self._data)

    def result(self) -> str:
        if self._thread is not None:
            self._thread.join()
        if self._value is None:
            self._value = sha256_hex(self._data)
        return self._value


def _load(source: bytes | str | os.PathLike, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or ""
    path = Path(os.fspath(source))
    size = path.stat().st_size
    if size > _PRECHECK_PATH_BYTES:  # a big file: check the memory budget on its ends before reading it all
        with path.open("rb") as handle:
            first = handle.read(_PRECHECK_HEAD_BYTES)
            handle.seek(max(0, size - _SIZE_SAMPLE_BYTES))
            last = handle.read()
        _precheck(first, last, size)
    return path.read_bytes(), path.name if name is None else name


def _precheck(first: bytes, last: bytes, size: int) -> None:
    """The memory budget of a file known by its first and last bytes (a header that cannot be read: no check)."""
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16: checked once decoded
    start = 3 if first.startswith(b"\xef\xbb\xbf") else 0
    try:
        head = _parse_head(first, start)
    except AtfFormatError:
        return  # the full read names the problem
    _check_budget(head.m, first[head.body_start: head.body_start + _SIZE_SAMPLE_BYTES], last,
                  size - head.body_start)


def _check_budget(m: int, first_rows: bytes, last_rows: bytes, body_bytes: int) -> None:
    """Refuse (RecordingTooLargeError) a data section whose float64 values would exceed the budget."""
    rows = estimate_rows(first_rows, last_rows, body_bytes)
    check_recording_values(rows * m, f"about {rows:,} rows x {m:,} columns, estimated from the header "
                                     "and the length of the first and last rows")


def _decode(raw: bytes) -> str:
    """Header text: UTF-8, else Windows cp1252, else Latin-1 (which decodes anything)."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _next_line(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """The line starting at ``pos`` (without its line end) and where the next one starts."""
    if pos >= len(data):
        return None, pos
    nl = data.find(b"\n", pos)
    if nl < 0:
        return data[pos:].rstrip(b"\r"), len(data)
    return data[pos:nl].rstrip(b"\r"), nl + 1


def _show(text: str, limit: int = 40) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _split_title(title: str) -> tuple[str, str]:
    """``"Trace #1 (pA)"`` -> ``("Trace #1", "pA")``; no parentheses -> unit ``""``."""
    match = _TITLE_RE.match(title.strip())
    if match:
        return match.group(1).strip(), match.group(2).strip()
    return title.strip(), ""


def _positive_number(value: object) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- header
def _parse_head(data: bytes, start: int) -> _Head:
    head = _Head()
    raw, pos = _next_line(data, start)
    first = _decode(raw or b"")
    match = _LINE1_RE.match(first)
    if match is None:
        hint = " (it looks like a binary ABF file)" if data[start:start + 3] == b"ABF" else ""
        raise _err(1, f"not an ATF file{hint}: it must start with 'ATF 1.0' but starts with "
                      f"{data[start:start + 16]!r}")
    if float(match.group(1)) != 1.0:
        raise _err(1, f"this is ATF version {match.group(1)}; only ATF 1.0 can be read")
    nul = data.find(b"\x00", start)
    if nul >= 0:
        line = data.count(b"\n", start, nul) + 1
        raise _err(line, "binary data (NUL bytes) inside the text: the file is damaged or not an ATF file")

    raw, pos = _next_line(data, pos)
    line2 = _decode(raw) if raw is not None else ""
    match = _LINE2_RE.match(line2)
    if match is None:
        raise _err(2, "expected two whole numbers (the number of header records and the number of data "
                      f"columns, e.g. '8  3') but found {_show(line2)}")
    head.n_records, head.m = int(match.group(1)), int(match.group(2))
    if head.m < 1:
        raise _err(2, "the header says the file has 0 data columns")

    line_no = 2
    for k in range(1, head.n_records + 1):
        raw, pos = _next_line(data, pos)
        line_no += 1
        if raw is None:
            raise _err(line_no, f"the file ends after {k - 1} header records but line 2 promises "
                                f"{head.n_records}")
        if pos == len(data) and not data.endswith((b"\n", b"\r")):
            raise _err(line_no, f"the file ends inside header record {k} of {head.n_records} (no line end after "
                                "it): it looks truncated (cut off while being written or copied)")
        _parse_record(head, _decode(raw), line_no, k)

    raw, pos = _next_line(data, pos)
    line_no += 1
    head.title_line = line_no
    if raw is None:
        raise _err(line_no, "the file ends before the column-title line (e.g. '\"Time (s)\" \"Trace #1 (pA)\"')")
    title_text = _decode(raw)
    if _CONTROL_RE.search(title_text):
        raise _err(line_no, "control characters in the column-title line: not an ATF text file")
    titles = _QUOTED_RE.findall(title_text) if '"' in title_text else None

    head.body_start = pos
    head.first_data_line = line_no + 1
    raw, _ = _next_line(data, pos)
    if raw is not None and not raw.strip() and data[pos:].strip():
        raise _err(line_no + 1, "is empty: blank lines are not allowed between the titles and the data")
    if raw is None or not raw.strip():
        raise _err(line_no + 1, f"no data rows after the column titles (line {line_no}): a recording "
                                "needs at least 2 samples")
    row = raw.decode("latin-1")
    head.sep = "\t" if "\t" in row else ";" if ";" in row else ","
    if titles is None:
        titles = title_text.split(head.sep)
    titles = [t.strip() for t in titles]
    if len(titles) == head.m + 1 and titles[-1] == "":
        titles.pop()
    if titles and "=" in titles[0]:
        raise _err(line_no, f"expected the column titles but found another header record ({_show(titles[0])}); "
                            f"line 2 promises only {head.n_records} header records")
    if len(titles) != head.m:
        raise _err(2, f"the header says {head.m} data columns but the column-title line (line {line_no}) "
                      f"has {len(titles)}")
    head.titles = titles
    head.trailing = row.rstrip(" \r").endswith(head.sep) and head.m > 0
    if head.sep != "," and data.find(b",", pos) >= 0:
        head.decimal = ","
    head.body_end = _content_end(data, pos)
    return head


def _parse_record(head: _Head, text: str, line_no: int, k: int) -> None:
    if _CONTROL_RE.search(text):
        raise _err(line_no, "control characters in a header record: not an ATF text file")
    stripped = text.strip()
    rest: list[str] = []
    match = _RECORD_RE.match(stripped)
    if match:
        first = match.group(1)
        rest = _QUOTED_RE.findall(match.group(2))
    elif stripped.startswith('"'):
        first = stripped[1:-1] if stripped.endswith('"') and len(stripped) > 1 else stripped[1:]
    else:
        first = stripped
    if "=" not in first:
        looks = "it looks like the column titles" if "(" in first or "Time" in first else f"found {_show(text)}"
        raise _err(line_no, f"line 2 promises {head.n_records} header records but this line is not a "
                            f"\"Key=Value\" record ({looks}), so the file has only {k - 1}")
    key, _, value = first.partition("=")
    key = key.strip()
    listed = ([value] if value else []) + rest if rest else value.split(",")
    if rest:
        value = ",".join(listed)
    head.records.append((key, value))
    head.record_lines[key] = line_no
    if key == "Signals":
        head.signals = [s.strip() for s in listed if s.strip()]
    elif key == "SignalsExported":
        head.exported = [s.strip() for s in value.split(",") if s.strip()]


def _content_end(data: bytes, start: int) -> int:
    """End of the data section without trailing blank lines (a separator ending the last row stays)."""
    tail_from = max(start, len(data) - 4096)
    tail = data[tail_from:]
    stripped = tail.rstrip(b" \t\r\n")
    if not stripped and tail_from > start:
        stripped = data[start:].rstrip(b" \t\r\n")
        tail_from = start
    last = tail_from + len(stripped)
    nl = data.find(b"\n", last)
    return len(data) if nl < 0 else nl + 1


# --------------------------------------------------------------------------- data
def _read_body(data: bytes, head: _Head) -> list[np.ndarray]:
    """The m data columns as float64 arrays, or an AtfFormatError naming the first bad line."""
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
    if len(frame) < 2:
        raise _err(head.first_data_line, f"only {len(frame)} data row: a recording needs at least 2 samples")
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


# --------------------------------------------------------------------------- layout
def _periodic(seq: list, period: int) -> bool:
    return len(seq) % period == 0 and all(seq[i] == seq[i % period] for i in range(len(seq)))


def _smallest_period(seq: list) -> int:
    return next(p for p in range(1, len(seq) + 1) if _periodic(seq, p))


def _layout(head: _Head, data_cols: list[int], segment: int | None) -> tuple[list[list[int]], list[str]]:
    """Group the data columns into sweeps (lists of column indices) and name the signals."""
    parsed = [_split_title(head.titles[c]) for c in data_cols]
    traces = [_TRACE_RE.match(name) for name, _ in parsed]
    n = len(data_cols)
    sweeps: list[list[int]]
    if all(traces):
        order: dict[int, list[int]] = {}
        for c, match in zip(data_cols, traces, strict=True):
            order.setdefault(int(match.group(1)), []).append(c)
        sweeps = list(order.values())
        if len({len(s) for s in sweeps}) != 1:
            raise _err(head.title_line, "the sweeps do not all have the same number of columns "
                                        "('Trace #1 (pA)', 'Trace #1 (mV)', 'Trace #2 (pA)', ... expected)")
        p = len(sweeps[0])
    else:
        if segment is not None:
            p = segment
        else:
            p = 0
            reduced = _smallest_period(head.signals) if head.signals else 0
            for names in (head.exported, head.signals[:reduced] if head.signals else None):
                if names and n % len(names) == 0:
                    p = len(names)
                    break
            if not p:
                p = _smallest_period([(name, canonical_unit(unit)[0]) for name, unit in parsed])
        sweeps = [data_cols[i:i + p] for i in range(0, n, p)]
    names: list[str] | None = None
    for candidate in (head.exported, head.signals):
        if candidate and len(candidate) % p == 0 and _periodic(candidate, p):
            names = candidate[:p]
            break
    if names is None:
        names = []
        for c in sweeps[0]:
            name, unit = _split_title(head.titles[c])
            kind = classify_unit(unit)
            names.append(kind if _TRACE_RE.match(name) or not name else name)
            names[-1] = names[-1] or unit or f"signal {len(names)}"
    unique: list[str] = []
    for name in names:
        unique.append(name if name not in unique else f"{name} {unique.count(name) + 2}")
    return sweeps, unique


def read_atf(source: bytes | str | os.PathLike, *, name: str | None = None,
             fs_hz: float | None = None) -> Recording:
    """Read an Axon Text File (ATF 1.0) into a :class:`~signal_core.recording.Recording`.

    Parameters
    ----------
    source : bytes or str or os.PathLike
        The file's bytes (e.g. from an upload) or its path.
    name : str, optional
        Display name; default the file name of ``source`` ("" for bytes).
    fs_hz : float, optional
        Sampling rate (Hz), needed only when the file has no time column; ignored when it
        has one (the file's own time wins).

    Returns
    -------
    Recording
        ``data`` of shape (n_sweeps, n_signals, n_samples); currents in pA, voltages in mV,
        time in s; header records as (key, value) pairs split at the first ``=``;
        ``sweep_start_s`` from ``SweepStartTimesMS`` (ms -> s) when present.

    Raises
    ------
    AtfFormatError
        Whenever the file cannot be read without guessing; the message names the line.
    RecordingTooLargeError
        The parsed recording would exceed the memory budget (:mod:`signal_core.limits`),
        estimated from the header before the data are parsed.
    """
    data, name = _load(source, name)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data_text = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise _err(1, "not an ATF file: it starts like UTF-16 text but cannot be decoded") from None
        hasher = _Hasher(data)
        data = data_text
    else:
        hasher = _Hasher(data)
    if not data[:4096].strip() and not data.strip():
        raise _err(1, "not an ATF file: the file is empty")
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    limit = start + (1 << 16)
    first_nl = data.find(b"\n", start, limit)
    if b"\r" in data[start: first_nl if first_nl >= 0 else limit].rstrip(b"\r"):
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # old Mac line ends (CR only)

    head = _parse_head(data, start)
    if not data[:head.body_end].rstrip(b" \t").endswith((b"\n", b"\r")):
        last = head.first_data_line + data.count(b"\n", head.body_start, head.body_end)
        raise _err(last, "the file ends inside this row (no line end after it): it looks truncated (cut off "
                         "while being written or copied), so its last value may be cut short; if the row is "
                         "complete, end the file with a line end")
    _check_budget(head.m, data[head.body_start: min(head.body_end, head.body_start + _SIZE_SAMPLE_BYTES)],
                  data[max(head.body_start, head.body_end - _SIZE_SAMPLE_BYTES): head.body_end],
                  head.body_end - head.body_start)
    units = [_split_title(t)[1] for t in head.titles]
    time_cols = [c for c, u in enumerate(units) if canonical_unit(u)[0] == "s"]
    for c, title in enumerate(head.titles):
        if _split_title(title)[0].lower() == "time" and c not in time_cols:
            raise _err(head.title_line, f"column {c + 1} {title!r} is a time column without a time unit: "
                                        "write 'Time (s)' or 'Time (ms)'")
    data_cols = [c for c in range(head.m) if c not in time_cols]
    if not data_cols:
        raise _err(head.title_line, "the file has a time column but no signal column")
    segment = None
    if time_cols:
        step = time_cols[1] - time_cols[0] if len(time_cols) > 1 else head.m
        if time_cols[0] != 0 or step < 2 or time_cols != list(range(0, head.m, step)) or head.m % step:
            raise _err(head.title_line, "the time columns must come first and, when there is one per sweep, "
                                        "before each sweep's signals, with the same number of signals each")
        segment = step - 1 if len(time_cols) > 1 else None
    if not time_cols and fs_hz is None:
        raise _err(head.title_line, "the file has no time column ('Time (s)'), so its sampling rate is unknown: "
                                    "give the sampling rate (fs_hz)")
    if not time_cols and not _positive_number(fs_hz):
        raise _err(head.title_line, "the file has no time column ('Time (s)') and the sampling rate given "
                                    f"({fs_hz!r}) is not a positive number of Hz")
    sweeps, names = _layout(head, data_cols, segment)
    if segment is not None and any(len({c // (segment + 1) for c in s}) > 1 for s in sweeps):
        raise _err(head.title_line, "a sweep's columns are spread over several time columns")

    columns = _read_body(data, head)
    n_samples = len(columns[0])
    t0_s = 0.0
    starts: list[float] = []
    if time_cols:
        intervals = []
        worst = 0.0
        for c in time_cols:
            factor = canonical_unit(units[c])[1]
            dt, w = _check_time(columns[c], factor, units[c], head.titles[c], head.first_data_line)
            intervals.append(dt)
            worst = max(worst, w)
            starts.append(float(columns[c][0]) * factor)
        for c, dt in zip(time_cols, intervals, strict=True):
            if abs(dt - intervals[0]) * (n_samples - 1) > 0.5 * intervals[0]:
                raise _err(head.title_line, f"the time column {c + 1} steps by {dt:g} s but column 1 by "
                                            f"{intervals[0]:g} s: the sweeps disagree on the sampling rate")
        span = intervals[0] * (n_samples - 1)
        fs = _round_rate(1.0 / intervals[0], min(max(2.0 * worst / span, 1e-9), 1e-4))
        if not (math.isfinite(fs) and fs > 0):
            raise _err(head.first_data_line, f"the time step ({intervals[0]:g} s) does not give a usable "
                                             "sampling rate")
        t0_s = starts[0] if len(set(starts)) == 1 else 0.0  # offsets that differ are sweep starts
    else:
        fs = float(fs_hz)

    n_sweeps, n_signals = len(sweeps), len(sweeps[0])
    out = np.empty((n_sweeps, n_signals, n_samples), dtype=np.float64)
    out_units: list[str] = []
    for j in range(n_signals):
        stored = {canonical_unit(units[s[j]])[0] for s in sweeps}
        if len(stored) > 1:
            raise _err(head.title_line, f"signal {j + 1} ({names[j]}) changes unit between sweeps "
                                        f"({', '.join(sorted(stored))})")
        out_units.append(stored.pop())
    with np.errstate(all="ignore"):
        for i, sweep in enumerate(sweeps):
            for j, c in enumerate(sweep):
                factor = canonical_unit(units[c])[1]
                if factor == 1.0:
                    out[i, j] = columns[c]
                else:
                    np.multiply(columns[c], factor, out=out[i, j])
                    if not np.isfinite(out[i, j]).all():
                        k = int(np.argmin(np.isfinite(out[i, j])))
                        raise _err(head.first_data_line + k, f"column {c + 1} ({head.titles[c]!r}): "
                                   f"{columns[c][k]:g} {units[c]} is too large to convert to {out_units[j]}")
    out.setflags(write=False)  # Recording keeps a read-only array as is (no second copy)

    if "SweepStartTimesMS" in head.record_lines:
        starts = _sweep_starts(head, n_sweeps)
    elif len(time_cols) > 1 and len(set(starts)) > 1:
        starts = [starts[sweep[0] // (segment + 1)] for sweep in sweeps]  # each sweep's own time column
    else:
        starts = []
    kinds = [classify_unit(u) for u in out_units]
    return Recording(
        data=out, fs_hz=fs, channel_names=tuple(names), channel_units=tuple(out_units),
        current_channel=kinds.index("current") if "current" in kinds else None,
        voltage_channel=kinds.index("voltage") if "voltage" in kinds else None,
        t0_s=t0_s, sweep_start_s=tuple(starts), header=tuple(head.records), name=name,
        file_format=FILE_FORMAT, sha256=hasher.result(),
    )


def _sweep_starts(head: _Head, n_sweeps: int) -> list[float]:
    line = head.record_lines["SweepStartTimesMS"]
    value = dict(head.records)["SweepStartTimesMS"]
    parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
    if head.decimal == "," and len(parts) == 2 * n_sweeps:
        parts = [f"{a}.{b}" for a, b in zip(parts[::2], parts[1::2], strict=True)]
    try:
        values = [float(p) * 1e-3 for p in parts]
    except ValueError:
        raise _err(line, f"SweepStartTimesMS {_show(value)} is not a list of times in ms") from None
    if len(values) != n_sweeps or not all(math.isfinite(v) for v in values):
        raise _err(line, f"SweepStartTimesMS lists {len(values)} start times but the file has {n_sweeps} "
                         "sweep(s)")
    return values
