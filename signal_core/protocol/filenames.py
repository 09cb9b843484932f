"""What a lab's file names say: file number, set and test level V2.

:func:`parse_filename` reads names like ``20130507_0006_10mVdepol`` or ``0057_0_-100``
into a :class:`FileNameInfo`; :func:`v2_from_filename` gives only the test level (mV).
Used to take V2 from the name when a recording has no voltage channel, and to group
files into sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

__all__ = [
    "FileNameInfo",
    "parse_filename",
    "v2_from_filename",
]


_V_TOKEN = re.compile(r"^(?P<v>[+-]?\d+(?:\.\d+)?)(?P<mv>mv)?(?P<kind>depol|hyperpol|hyp)?$", re.IGNORECASE)


@dataclass(frozen=True)
class FileNameInfo:
    """What a lab's file name says: file number, set and test level V2 (mV), each None when absent."""

    file_number: int | None
    set_id: str | None
    v2_mV: float | None


def parse_filename(name: str) -> FileNameInfo:
    """Read file number, set and V2 from names like ``20130507_0006_10mVdepol`` or ``0057_0_-100``.

    Patterns (DOMAIN.md section 6): ``DATE_NNNN_<V2>mVdepol``, ``DATE_NNNN_<V2>depol``,
    ``DATE_NNNN_S_<V2>mV`` and ``NNNN_S_<V2>``.  A bare number counts as V2
    only as the last of at least three parts after a 4-digit file number,
    so ``202304_0521`` gives no V2.
    """
    stem = PurePath(str(name).replace("\\", "/")).name
    stem = re.sub(r"\.(atf|abf|txt|csv)$", "", stem, flags=re.IGNORECASE)
    parts = [p for p in re.split(r"[_\s]+", stem) if p]
    num_idx = next((i for i, p in enumerate(parts) if re.fullmatch(r"\d{4}", p)), None)
    file_number = int(parts[num_idx]) if num_idx is not None else None
    v2: float | None = None
    v_idx: int | None = None
    for i, p in enumerate(parts):
        m = _V_TOKEN.match(p)
        if m and (m.group("mv") or m.group("kind")):
            v2, v_idx = float(m.group("v")), i
    if v2 is None and num_idx is not None and len(parts) - num_idx >= 3:
        m = _V_TOKEN.match(parts[-1])
        if m:
            v2, v_idx = float(m.group("v")), len(parts) - 1
    set_id = None
    if num_idx is not None and v_idx is not None and v_idx - num_idx == 2:
        set_id = parts[num_idx + 1]
    return FileNameInfo(file_number, set_id, v2)


def v2_from_filename(name: str) -> float | None:
    """The test level V2 (mV) a file name suggests, or None."""
    return parse_filename(name).v2_mV
