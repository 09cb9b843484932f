"""The header of an Axon Text File (ATF 1.0), parsed by hand, and the error every ATF problem raises.

Lines 1 and 2 (``ATF<sep>1.0``; the number n of header records and the number m of data
columns), the n ``"Key=Value"`` records and the line of m quoted column titles are read into
a :class:`_Head`, which also says where the data section starts and ends, which separator
and decimal mark it uses and whether its rows end with a separator.  The data section itself
is read by :mod:`signal_core.io.atf_data`; :func:`signal_core.io.atf.read_atf` puts the two together.

Every problem is an :class:`AtfFormatError` (defined here, imported from here) whose message
starts with the 1-based line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from signal_core.errors import RecordingFormatError
from signal_core.io.quote import quote_start

__all__ = ["MAX_COLUMNS", "MAX_HEADER_BYTES", "MAX_HEADER_RECORDS", "MAX_RECORD_BYTES", "MAX_TITLE_LINE_BYTES",
           "AtfFormatError"]

#: bounded work per byte (issue 16): caps on what the header may ask the reader to do.  Clampfit writes
#: 8-30 records of a few hundred bytes, and 1 + 2 columns per sweep.
#: most header records line 2 may promise
MAX_HEADER_RECORDS = 1_000
#: longest header record (one line, bytes): a Comment, or SweepStartTimesMS / Signals for thousands of sweeps
MAX_RECORD_BYTES = 256 * 1024
#: all header records together (bytes)
MAX_HEADER_BYTES = 4 * 1024 * 1024
#: most data columns (5,000 sweeps of current and voltage plus a time column fit)
MAX_COLUMNS = 10_001
#: longest column-title line (bytes)
MAX_TITLE_LINE_BYTES = 1024 * 1024
#: line 1 (``ATF 1.0``) and line 2 (two numbers) are short: anything longer is not an ATF header
_MAX_SHORT_LINE_BYTES = 1024


class AtfFormatError(RecordingFormatError):
    """An ATF file that cannot be read without guessing; the message starts with ``line N:``."""


def _err(line: int, message: str) -> AtfFormatError:
    return AtfFormatError(f"line {line}: {message}")


# Every pattern matches in linear time: no two adjacent parts can take the same characters (the old
# ``\s*[\t,;]?\s*$`` took a run of tabs in quadratically many ways before failing: 10 s for 20,000 tabs).
# A separator: whitespace around one ',' or ';', or whitespace holding at least one tab (a space alone is not one).
_SEP = r"(?:\s*[,;]\s*|[^\S\t]*\t\s*)"
_SEP_OR_SPACE = r"(?:\s*[,;]\s*|\s+)"
_END = r"\s*(?:[,;]\s*)?$"
_LINE1_RE = re.compile(r'^\s*"?ATF"?' + _SEP_OR_SPACE + r'"?(\d+(?:\.\d*)?)"?' + _END, re.IGNORECASE)
_LINE2_RE = re.compile(r'^\s*"?(\d+)"?' + _SEP_OR_SPACE + r'"?(\d+)"?' + _END)
_RECORD_RE = re.compile(r'^"([^"]*)"((?:' + _SEP + r'"[^"]*")*)' + _END)
_QUOTED_RE = re.compile(r'"([^"]*)"')
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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
    """``"Trace #1 (pA)"`` -> ``("Trace #1", "pA")``; no parentheses -> unit ``""``.

    The unit is the text in the last parentheses, which must end the title and hold no other
    parenthesis (string methods, linear in the title's length).
    """
    text = title.strip()
    if text.endswith(")"):
        opening = text.rfind("(", 0, len(text) - 1)
        inner = text[opening + 1:-1]
        if opening >= 0 and ")" not in inner:
            return text[:opening].strip(), inner.strip()
    return text, ""


def _line_bytes(data: bytes, pos: int) -> int:
    """Length (bytes, without the line end) of the line starting at ``pos``, found without copying it."""
    nl = data.find(b"\n", pos)
    end = len(data) if nl < 0 else nl
    return end - pos - (1 if end > pos and data[end - 1:end] == b"\r" else 0)


def _too_long(what: str, n_bytes: int, limit: int) -> str:
    return (f"{what} is {n_bytes:,} bytes long, more than the limit of {limit:,} bytes: it was not read "
            "(a damaged file, or not an ATF file)")


# --------------------------------------------------------------------------- header
def _parse_head(data: bytes, start: int) -> _Head:
    """The header of ``data`` from byte ``start`` (after a BOM), or an AtfFormatError naming the line."""
    head = _Head()
    short = _line_bytes(data, start) <= _MAX_SHORT_LINE_BYTES
    raw, pos = _next_line(data, start) if short else (b"", start)
    first = _decode(raw or b"")
    match = _LINE1_RE.match(first) if short else None
    if match is None:
        hint = " (it looks like a binary ABF file)" if data[start:start + 3] == b"ABF" else ""
        raise _err(1, f"not an ATF file{hint}: it must start with 'ATF 1.0' but starts with "
                      f"{quote_start(data[start:start + 16])}")
    if float(match.group(1)) != 1.0:
        raise _err(1, f"this is ATF version {match.group(1)}; only ATF 1.0 can be read")
    nul = data.find(b"\x00", start)
    if nul >= 0:
        line = data.count(b"\n", start, nul) + 1
        raise _err(line, "binary data (NUL bytes) inside the text: the file is damaged or not an ATF file")

    if _line_bytes(data, pos) > _MAX_SHORT_LINE_BYTES:
        raise _err(2, _too_long("this line (the number of header records and of data columns)",
                                _line_bytes(data, pos), _MAX_SHORT_LINE_BYTES))
    raw, pos = _next_line(data, pos)
    line2 = _decode(raw) if raw is not None else ""
    match = _LINE2_RE.match(line2)
    if match is None:
        raise _err(2, "expected two whole numbers (the number of header records and the number of data "
                      f"columns, e.g. '8  3') but found {_show(line2)}")
    head.n_records, head.m = int(match.group(1)), int(match.group(2))
    if head.m < 1:
        raise _err(2, "the header says the file has 0 data columns")
    if head.n_records > MAX_HEADER_RECORDS:
        raise _err(2, f"the header says {head.n_records:,} header records, more than the limit of "
                      f"{MAX_HEADER_RECORDS:,}: it was not read (a damaged file, or not an ATF file)")

    line_no = 2
    records_start = pos
    for k in range(1, head.n_records + 1):
        n_bytes = _line_bytes(data, pos)
        if n_bytes > MAX_RECORD_BYTES:
            raise _err(line_no + 1, _too_long(f"header record {k}", n_bytes, MAX_RECORD_BYTES))
        if pos + n_bytes - records_start > MAX_HEADER_BYTES:
            raise _err(line_no + 1, f"the header records reach {pos + n_bytes - records_start:,} bytes by record "
                                    f"{k}, more than the limit of {MAX_HEADER_BYTES:,} bytes for all of them: "
                                    "it was not read")
        raw, pos = _next_line(data, pos)
        line_no += 1
        if raw is None:
            raise _err(line_no, f"the file ends after {k - 1} header records but line 2 promises "
                                f"{head.n_records}")
        if pos == len(data) and not data.endswith((b"\n", b"\r")):
            raise _err(line_no, f"the file ends inside header record {k} of {head.n_records} (no line end after "
                                "it): it looks truncated (cut off while being written or copied)")
        _parse_record(head, _decode(raw), line_no, k)

    line_no += 1
    if _line_bytes(data, pos) > MAX_TITLE_LINE_BYTES:
        raise _err(line_no, _too_long("the column-title line", _line_bytes(data, pos), MAX_TITLE_LINE_BYTES))
    raw, pos = _next_line(data, pos)
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
    if head.m > MAX_COLUMNS:
        raise _err(2, f"the file has {head.m:,} data columns, more than the limit of {MAX_COLUMNS:,}: it was "
                      "not read; export fewer sweeps per file")
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
