"""Help's "how to use each page": a few steps per page, with a screenshot the browser tests take.

``tests/test_browser_layout.py`` saves the screenshots into ``docs/img/howto_<page>.jpg`` on every run,
so they show the app as it is; a missing one is named, not an error.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

__all__ = ["HOWTO", "IMG_DIR", "image_path", "show"]

IMG_DIR = Path(__file__).resolve().parents[1] / "docs" / "img"

#: (page title, screenshot stem, the steps in Markdown)
HOWTO: tuple[tuple[str, str, str], ...] = (
    ("Load", "load",
     "Drop ATF or ABF files on the box (or press **Load the demo recording**). Each file gets a row: format, "
     "sweeps, channels, sampling rate, the protocol found in sweep 1, and its SHA-256. A file that cannot be "
     "read gets a red box with the reason; **Remove** or **Remove all files** unload them. The sidebar picks "
     "the active file and sweep (buttons step through them, also with Tab and Enter)."),
    ("Explore", "explore",
     "The sweep (grey) with its command voltage and the protocol's epochs. Build a filter chain on the left "
     "(its effect shows at once, red, and in the power spectrum). Drag across the trace to zoom: the stretch "
     "is drawn below at full detail. With several sweeps, overlay all or some and show their average; "
     "**Analyse their average** puts it into the recipe."),
    ("Analyse", "analyse",
     "The recipe on the left, the numbers on the right: Q_on, Q_off, Q_off/Q_on, C_lin, C_m, R_s, R_m, tau. "
     "Set the integration and tail windows by hand or drag across the purple plot; the cards change as you "
     "type. The flags line says what to check and opens for the explanations. Download the workbook, the "
     "CSVs and the recipe below; **Save to history** keeps the analysis."),
    ("Q–V sets", "sets",
     "Every loaded recording, every sweep, analysed with the current recipe: Q against V2, one Boltzmann per "
     "set (from the file names, or typed in the table). Tick **exclude** to leave a point out; type a V2 to "
     "analyse that sweep with it. The fit table gives Q_max, V_half, k and z with their standard errors."),
    ("History", "history",
     "The analyses you saved: search, sort, open one again on Analyse (recording, recipe and sweep), rename, "
     "delete, or export several into one workbook. Keep the workspace link to come back from any browser."),
)


def image_path(stem: str) -> Path:
    """Where the browser tests save the screenshot of one page (``docs/img/howto_<stem>.jpg``)."""
    return IMG_DIR / f"howto_{stem}.jpg"


def show() -> None:
    """One short section per page: the steps, then its screenshot (when the browser tests have made it)."""
    for title, stem, steps in HOWTO:
        with st.expander(title, expanded=False):
            st.markdown(steps)
            path = image_path(stem)
            if path.exists():
                st.image(str(path), caption=f"The {title} page (screenshot taken by the browser tests)")
            else:
                st.caption(f"No screenshot yet: tests/test_browser_layout.py saves it as docs/img/{path.name}.")
