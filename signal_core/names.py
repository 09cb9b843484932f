"""File and recording names made safe to show, store and export (issue 16, item 10).

A name comes from the user (an upload's file name, a path on the command line) and ends up on
pages, in sheet names, in CSV cells and in the history.  :func:`clean_name` makes it:

- free of NUL and every other control character (C0, DEL, C1): a NUL gave the app's generic
  error page and left Load unusable;
- free of invisible direction changes: the bidirectional controls (U+202A-U+202E,
  U+2066-U+2069, U+200E, U+200F, U+061C) are *shown escaped* as ``<U+202E>``, so an
  "RTL override" can no longer display ``cod.exe`` as ``exe.doc``, on a page or in a sheet name;
- at most :data:`MAX_NAME_CHARS` (255) characters, as file systems allow, cut in the middle of
  the stem so that the extension stays (a 5,000-character name failed silently in the uploader).

Every change is said in :attr:`CleanName.notes`, one sentence each, for the page or the CLI to show.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["BIDI_CONTROLS", "MAX_NAME_CHARS", "CleanName", "clean_name"]

#: longest name kept (characters), as most file systems allow for one file name
MAX_NAME_CHARS = 255
#: characters that change the direction of the text around them without being seen
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_ELLIPSIS = "…"
_UNNAMED = "unnamed"


@dataclass(frozen=True)
class CleanName:
    """A name safe to show and store, and what was changed to make it so.

    Attributes
    ----------
    name : str
        The name to use (at most :data:`MAX_NAME_CHARS` characters, never empty).
    notes : tuple of str
        One sentence per change (empty when the name was kept as given).
    """

    name: str
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.notes)


def _escape(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def clean_name(name: object) -> CleanName:
    """Return ``name`` without control characters, with direction controls escaped, 255 characters at most.

    Parameters
    ----------
    name : str
        A file or recording name as the user gave it (anything else is turned into text first).

    Returns
    -------
    CleanName
        The cleaned name and the notes that say what changed.

    Examples
    --------
    >>> clean_name("cell\\x00_1.atf")
    CleanName(name='cell_1.atf', notes=('1 control character(s) (such as NUL) were removed from the name',))
    >>> clean_name("report\\u202efdp.atf").name
    'report<U+202E>fdp.atf'
    >>> len(clean_name("x" * 5000 + ".abf").name)
    255
    """
    text = name if isinstance(name, str) else str(name)
    notes: list[str] = []
    out: list[str] = []
    removed = escaped = 0
    for ch in text:
        if ch in BIDI_CONTROLS:
            out.append(_escape(ch))
            escaped += 1
        elif unicodedata.category(ch) == "Cc" or unicodedata.category(ch) == "Cs":
            removed += 1  # NUL, tabs, line ends, DEL, C1 controls, lone surrogates
        else:
            out.append(ch)
    if removed:
        notes.append(f"{removed} control character(s) (such as NUL) were removed from the name")
    if escaped:
        notes.append(f"{escaped} invisible text-direction character(s) are shown as <U+...> in the name")
    cleaned = "".join(out).strip()
    if len(cleaned) > MAX_NAME_CHARS:
        dot = cleaned.rfind(".")
        suffix = cleaned[dot:] if 0 < dot and len(cleaned) - dot <= 16 else ""
        keep = MAX_NAME_CHARS - len(suffix) - len(_ELLIPSIS)
        notes.append(f"the name had {len(cleaned):,} characters; it was shortened to {MAX_NAME_CHARS}")
        cleaned = cleaned[: keep - keep // 2] + _ELLIPSIS + cleaned[len(cleaned) - len(suffix) - keep // 2:]
    if not cleaned:
        notes.append(f"the name was empty once cleaned; it is shown as {_UNNAMED!r}")
        cleaned = _UNNAMED
    return CleanName(cleaned, tuple(notes))
