"""The app's version (from pyproject.toml), shown in the sidebar and cited with results."""

from __future__ import annotations

import tomllib
from pathlib import Path

__all__ = ["APP_VERSION"]


def _version() -> str:
    try:
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


APP_VERSION = _version()
