"""Axon Text Files (ATF 1.0): a fast, strict reader and a Clampfit-style writer.

Layout (DOMAIN.md section 7): line 1 ``ATF<sep>1.0``; line 2 the number n of header
records and the number m of data columns; n records ``"Key=Value"``; one line of m
quoted column titles (``"Time (s)"``, ``"Trace #k (unit)"``); rows of m numbers.

The small header is parsed by hand; the data section is parsed once (Arrow's CSV
reader for plain files, else the C parser of :func:`pandas.read_csv`), and every check
on it is vectorised.  Only when something is wrong does a slow line-by-line pass run,
to name the line, the column and the offending text.  Every problem is an :class:`AtfFormatError` whose message
starts with the 1-based line number, as a text editor counts lines.

The header is parsed in :mod:`signal_core.io.atf_header` and the data section read and
checked in :mod:`signal_core.io.atf_data`; this module loads the bytes (size prechecks,
SHA-256), groups the columns into sweeps and signals, and builds the recording.
"""

from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path

import numpy as np

from signal_core.io.atf_data import _check_time, _read_body, _round_rate, last_row_is_complete
from signal_core.io.atf_header import (
    MAX_HEADER_BYTES,
    MAX_TITLE_LINE_BYTES,
    AtfFormatError,
    _err,
    _Head,
    _parse_head,
    _show,
    _split_title,
)
from signal_core.io.limits import MAX_UPLOAD_BYTES, check_recording_values, estimate_rows
from signal_core.recording import Recording, canonical_unit, classify_unit, sha256_hex
from signal_core.values import finite_or_none

__all__ = ["FILE_FORMAT", "read_atf"]

FILE_FORMAT = "ATF 1.0"

_TRACE_RE = re.compile(r"^trace\s*#\s*(\d+)$", re.IGNORECASE)
_HASH_IN_THREAD_BYTES = 1 << 20
_SIZE_SAMPLE_BYTES = 1 << 16  # bytes at each end of the data section that measure a row's length
_PRECHECK_PATH_BYTES = 8 << 20  # files on disk larger than this are size-checked before being read
#: the whole header always fits in this head (its caps: records, title line, lines 1-2) with 64 KB of data rows
_PRECHECK_HEAD_BYTES = MAX_HEADER_BYTES + MAX_TITLE_LINE_BYTES + (66 << 10)
#: a file on disk whose header is refused from its head is still read whole (for the exact message) up to this
_READ_WHOLE_FOR_MESSAGE_BYTES = 2 * MAX_UPLOAD_BYTES


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
        if size <= _READ_WHOLE_FOR_MESSAGE_BYTES or len(first) < _PRECHECK_HEAD_BYTES:
            return  # the full read names the problem
        raise  # a header the caps refuse is refused from its head, not after reading gigabytes
    _check_budget(head.m, first[head.body_start: head.body_start + _SIZE_SAMPLE_BYTES], last,
                  size - head.body_start)


def _check_budget(m: int, first_rows: bytes, last_rows: bytes, body_bytes: int) -> None:
    """Refuse (RecordingTooLargeError) a data section whose float64 values would exceed the budget."""
    rows = estimate_rows(first_rows, last_rows, body_bytes)
    check_recording_values(rows * m, f"about {rows:,} rows x {m:,} columns, estimated from the header "
                                     "and the length of the first and last rows")


def _positive_number(value: object) -> bool:
    x = finite_or_none(value)
    return x is not None and x > 0


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
    return sweeps, _unique_names(names)


def _unique_names(names: list[str]) -> list[str]:
    """``a, a, a`` -> ``a, a 2, a 3``; linear in the number of names (a set, a counter per name)."""
    used: set[str] = set()
    counters: dict[str, int] = {}
    unique: list[str] = []
    for name in names:
        candidate = name
        if candidate in used:
            k = counters.get(name, 2)
            while f"{name} {k}" in used:
                k += 1
            counters[name] = k + 1
            candidate = f"{name} {k}"
        used.add(candidate)
        unique.append(candidate)
    return unique


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
        The parsed recording would exceed the memory budget (:mod:`signal_core.io.limits`),
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
    if (not data[:head.body_end].rstrip(b" \t").endswith((b"\n", b"\r"))
            and not last_row_is_complete(data, head)):
        last = head.first_data_line + data.count(b"\n", head.body_start, head.body_end)
        raise _err(last, "the file ends inside this row (no line end after it): it looks truncated (cut off "
                         "while being written or copied), so its last value may be cut short; if the row is "
                         "complete, end the file with a line end")
    _check_budget(head.m, data[head.body_start: min(head.body_end, head.body_start + _SIZE_SAMPLE_BYTES)],
                  data[max(head.body_start, head.body_end - _SIZE_SAMPLE_BYTES): head.body_end],
                  head.body_end - head.body_start)
    units = [_split_title(t)[1] for t in head.titles]
    time_cols = [c for c, u in enumerate(units) if canonical_unit(u)[0] == "s"]
    time_set = set(time_cols)  # membership in O(1): a list made these loops quadratic in the columns
    for c, title in enumerate(head.titles):
        if _split_title(title)[0].lower() == "time" and c not in time_set:
            raise _err(head.title_line, f"column {c + 1} {title!r} is a time column without a time unit: "
                                        "write 'Time (s)' or 'Time (ms)'")
    data_cols = [c for c in range(head.m) if c not in time_set]
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
        file_format=FILE_FORMAT, sha256=hasher.result(), file_units=tuple(units[c] for c in sweeps[0]),
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
