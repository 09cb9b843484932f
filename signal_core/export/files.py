"""File names and bundles of exports: a safe stem from an untrusted name, the zip of set workbooks."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable

__all__ = ["safe_stem", "set_workbook_name", "sets_zip"]

#: longest stem :func:`safe_stem` returns (characters)
MAX_STEM_CHARS = 80


def safe_stem(name: str, default: str = "recording") -> str:
    """A file-name stem of letters, digits and ``._-`` only, from a name the user gave (untrusted).

    A recording's extension (``.atf``, ``.abf``, ``.txt``) is dropped, every run of other
    characters becomes ``_``, leading and trailing dots and underscores go, and the stem is cut
    to :data:`MAX_STEM_CHARS`; nothing left gives ``default``.

    Examples
    --------
    >>> safe_stem("../../etc/pa ss*wd.ATF"), safe_stem("***"), safe_stem("", "unnamed")
    ('etc_pa_ss_wd', 'recording', 'unnamed')
    """
    stem = re.sub(r"\.(atf|abf|txt)$", "", str(name), flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return stem[:MAX_STEM_CHARS] or default


def set_workbook_name(set_id: str) -> str:
    """``"set_<id>_qv.xlsx"``: the file name of a set's workbook (``unnamed`` for the set without a name).

    Examples
    --------
    >>> set_workbook_name("B"), set_workbook_name("")
    ('set_B_qv.xlsx', 'set_unnamed_qv.xlsx')
    """
    return f"set_{safe_stem(set_id, 'unnamed')}_qv.xlsx"


def sets_zip(books: Iterable[tuple[str, bytes]]) -> bytes:
    """One zip (deflated) of set workbooks: ``(set id, bytes)`` each, named by :func:`set_workbook_name`.

    Two sets whose names make the same file name (``"a b"`` and ``"a_b"``) are kept apart with a
    numbered suffix (``set_a_b_qv-2.xlsx``), so no workbook is lost.

    Examples
    --------
    >>> import io, zipfile
    >>> data = sets_zip([("A", b"one"), ("a b", b"two"), ("a_b", b"three")])
    >>> zipfile.ZipFile(io.BytesIO(data)).namelist()
    ['set_A_qv.xlsx', 'set_a_b_qv.xlsx', 'set_a_b_qv-2.xlsx']
    """
    buf = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for set_id, data in books:
            name = set_workbook_name(set_id)
            k = 1
            while name.lower() in used:
                k += 1
                name = f"{set_workbook_name(set_id)[:-len('.xlsx')]}-{k}.xlsx"
            used.add(name.lower())
            z.writestr(name, data)
    return buf.getvalue()
