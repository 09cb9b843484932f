"""The app's version (signal_core.__version__, its one source), shown in the sidebar and cited with results."""

from __future__ import annotations

from signal_core import __version__ as APP_VERSION

__all__ = ["APP_VERSION"]
