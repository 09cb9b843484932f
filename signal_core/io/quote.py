"""A file's first bytes quoted as text in an error message (never a Python byte-string repr)."""

from __future__ import annotations

__all__ = ["quote_start"]


def quote_start(raw: bytes) -> str:
    """``raw`` as a person reads it, in quotes: UTF-8 (undecodable bytes as U+FFFD), control characters
    as spaces, e.g. ``b"hello, I"`` gives ``'hello, I'`` and ``b"\\x00\\x01AB"`` gives ``'  AB'``.
    """
    text = bytes(raw).decode("utf-8", errors="replace")
    return "'" + "".join(c if c.isprintable() else " " for c in text) + "'"
