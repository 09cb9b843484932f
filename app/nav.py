"""The app's pages, in menu order: add later pages (History, Q–V sets) to PAGES, nowhere else."""

from __future__ import annotations

import streamlit as st

__all__ = ["PAGES", "pages"]

#: (script, title, emoji icon); the first is the default page.  Emoji only: a ``:material/…:``
#: icon makes the browser fetch a font from the internet.
PAGES: list[tuple[str, str, str]] = [
    ("pages/1_load.py", "Load", "📂"),
    ("pages/2_explore.py", "Explore", "🔍"),
    ("pages/3_analyse.py", "Analyse", "📈"),
    ("pages/4_help.py", "Help", "❓"),
    ("pages/5_history.py", "History", "🗂️"),
    ("pages/6_sets.py", "Q–V sets", "📉"),
]


def pages() -> list:
    return [st.Page(path, title=title, icon=icon, default=(k == 0)) for k, (path, title, icon) in enumerate(PAGES)]
