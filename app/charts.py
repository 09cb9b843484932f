"""Every Plotly chart of the app goes through :func:`show`: its toolbar saves the figure for a talk or a paper.

The camera button of a chart's toolbar saves it at publication size (``figures.chart_config``), as
SVG or PNG: the choice sits in the sidebar (:func:`format_picker`) and holds for every chart.  Plotly
draws the image in the browser, so no server-side image engine is needed.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from .figures import FIGURE_FORMATS, chart_config

__all__ = ["FORMAT", "figure_format", "format_picker", "show"]

#: session key of the sidebar's choice of format for the toolbar's camera button
FORMAT = "figure_format"
_LABELS = {"svg": "SVG (vector)", "png": "PNG (2100 × 1200)"}


def figure_format() -> str:
    """The format the camera button saves: "svg" (the default) or "png"."""
    fmt = st.session_state.get(FORMAT)
    return fmt if fmt in FIGURE_FORMATS else "svg"


def format_picker() -> None:
    """The sidebar's choice of what a chart's camera button saves (kept across pages)."""
    st.session_state[FORMAT] = figure_format()  # a widget not drawn on a page forgets its value
    st.radio("Figures save as", FIGURE_FORMATS, format_func=_LABELS.get, key=FORMAT, horizontal=True,
             help="The camera button in each figure's toolbar saves it at publication size "
                  "(1050 × 600 px; PNG at 2× scale, 7 × 4 in at 300 dpi).")


def show(fig, *, key: str, name: str, **kwargs: Any):
    """``st.plotly_chart(fig, key=key, ...)`` whose camera button saves ``name``.svg/.png at publication size."""
    return st.plotly_chart(fig, key=key, config=chart_config(name, figure_format()), **kwargs)
