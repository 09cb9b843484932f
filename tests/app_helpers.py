"""Helpers for the AppTest tests of the Streamlit app.

AppTest (Streamlit 1.67) resets ``PagesManager.uses_pages_directory`` before every run; with
a ``pages/`` folder beside the entry script it then takes the old multipage route and, after
the first run, executes the page script alone, skipping the entry script (its sidebar and
file intake).  The real server computes the flag once and ``st.navigation`` clears it on the
first run, so every later run executes the entry script.  :func:`new_app` makes AppTest do
the same (see the report in the app's issue).
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit.testing.v1.app_test as _app_test
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
ENTRY = str(ROOT / "streamlit_app.py")


class _NavigationPagesManager(PagesManager):
    """A PagesManager that behaves as after the first ``st.navigation`` call of a real server."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def new_app(timeout: float = 60) -> AppTest:
    """AppTest of the entry script, run once (the Load page)."""
    _app_test.PagesManager = _NavigationPagesManager
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    return at.run()


def click(at: AppTest, label_part: str) -> AppTest:
    """Click the first button whose label contains ``label_part`` and rerun."""
    for b in at.button:
        if label_part.lower() in b.label.lower():
            return b.click().run()
    raise AssertionError(f"no button with {label_part!r} in {[b.label for b in at.button]}")


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    """Upload files through the Load page's uploader (name, bytes) and rerun."""
    at.file_uploader(key="uploader").set_value([(n, b, "text/plain") for n, b in files])
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def number(text: str) -> float:
    """The number at the start of a card's value ("−3.55 pC" -> -3.55)."""
    return float(text.split()[0].replace("−", "-"))


def figures(at: AppTest) -> list[dict]:
    """Every Plotly chart on the page as its JSON figure."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def array(value) -> list:
    """A Plotly JSON array: a plain list, or a typed array ``{"dtype", "bdata"}`` (base64)."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return list(value or [])


def traces(fig: dict) -> dict[str, int]:
    """Trace name -> number of points."""
    return {d.get("name"): len(array(d.get("x"))) for d in fig["data"]}
