"""Typed analysis errors and the quality flags shown next to every result."""

from __future__ import annotations

from dataclasses import dataclass

from signal_core.errors import SignalCoreError

__all__ = ["AnalysisError", "Flag"]


class AnalysisError(SignalCoreError):
    """The analysis cannot be done with these data and parameters (the message says why)."""


@dataclass(frozen=True)
class Flag:
    """A quality remark: a short code, a severity ("info" or "warning") and a plain-language text."""

    code: str
    severity: str
    message: str

    def __str__(self) -> str:
        return self.message
