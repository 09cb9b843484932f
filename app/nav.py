"""The app's pages, in menu order: add later pages (History, Q–V sets) to PAGES, nowhere else."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

__all__ = ["PAGES", "PAGE_ICON", "pages"]

#: (script, title, Material Symbols icon); the first is the default page.  The icon font
#: (``MaterialSymbols-Rounded.woff2``) ships in Streamlit's static files and renders offline, in
#: menus, titles, buttons and Markdown; emoji show as empty boxes on a Linux without an emoji font.
PAGES: list[tuple[str, str, str]] = [
    ("pages/1_load.py", "Load", ":material/folder_open:"),
    ("pages/2_explore.py", "Explore", ":material/search:"),
    ("pages/3_analyse.py", "Analyse", ":material/show_chart:"),
    ("pages/4_help.py", "Help", ":material/help:"),
    ("pages/5_history.py", "History", ":material/history:"),
    ("pages/6_sets.py", "Q–V sets", ":material/scatter_plot:"),
]


#: The browser tab's icon: a local SVG (a ``:material/…:`` page icon is fetched from fonts.gstatic.com,
#: an emoji one is drawn with the system's emoji font).
PAGE_ICON = str(Path(__file__).with_name("icon.svg"))


def pages() -> list:
    return [st.Page(path, title=title, icon=icon, default=(k == 0)) for k, (path, title, icon) in enumerate(PAGES)]
