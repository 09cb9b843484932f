"""The Analyse page's parts: the purple plot's box selection, the hint for the form, the figure tabs."""

from __future__ import annotations

import streamlit as st

from signal_core.analysis.pipeline import ChargeResult

from . import charts, downloads, figures, state, ui
from .recipe_ui import HINT
from .ui import active_analysis

__all__ = ["PURPLE_CHART", "TAB", "TABS", "TARGET", "flags_summary", "on_purple_select", "remember",
           "target_picker"]

PURPLE_CHART = "purple_chart"
TARGET = "box_target"
TAB = "analyse_tab"
#: the Analyse page's figure tabs, in order; only the open one is drawn.  Short labels: all four fit
#: the right column of a 1366 px laptop screen and a phone without being cut
TABS = ("Asymmetric", "Controls", "Transient", "Sweep")
#: height (px) of the purple plot on Analyse: with the cards, it fits a 1366 x 768 screen
PURPLE_HEIGHT = 375


def remember(result: ChargeResult) -> None:
    """Keep what this analysis found, to pre-fill windows, levels and tail points in the form."""
    seed = {}
    for side in ("on", "off"):
        t = getattr(result, f"t_{side}_ms")
        a, b = getattr(result, f"tail_{side}_ms")
        seed[side] = state.line_points(t, getattr(result, f"purple_{side}_raw_pA"), a, b)
    st.session_state[HINT] = {
        "int_on": result.integrate_on_ms, "int_off": result.integrate_off_ms,
        "tail_on": result.tail_on_ms, "tail_off": result.tail_off_ms,
        "levels": (result.v_hold_mV, result.v_control_mV, result.v_test_mV),
        "tail_seed": seed,
    }


def on_purple_select() -> None:
    """``on_select`` of the purple plot: the box's time range sets the window the radio names."""
    x = state.box_x(st.session_state.get(PURPLE_CHART))
    target = st.session_state.get(TARGET, "integration ON")
    if x is None or target not in state.WINDOW_TARGETS:
        return
    curve = None
    if target.startswith("manual"):
        result = active_analysis(show=False)
        if result is None:
            return
        side = "on" if target.endswith("ON") else "off"
        curve = (getattr(result, f"t_{side}_ms"), getattr(result, f"purple_{side}_raw_pA"))
    state.apply_window(target, *x, curve=curve)


def target_picker() -> None:
    st.selectbox("A box dragged on the plot sets the", list(state.WINDOW_TARGETS), key=TARGET,
                 help="Drag across the purple plot to select a time range from the edge.")


SMOOTH = "smooth_curves"


def smooth_toggle() -> bool:
    """Display option (not part of the recipe): draw curves at the decimated resolution."""
    st.session_state[SMOOTH] = st.session_state.get(SMOOTH, True)
    return st.toggle("Smoothed curves", key=SMOOTH,
                     help="Display only: the numbers always come from the full-rate curves. Off shows every "
                          "sample (downsampled to 5000 points with their extremes kept).")


def flags_summary(result: ChargeResult) -> None:
    """The quality flags folded into one line that says how many and which; open for the explanations."""
    warnings = [f.code for f in result.flags if f.severity == "warning"]
    remarks = [f.code for f in result.flags if f.severity != "warning"]
    if not result.flags:
        label, icon = "No quality flag raised", ":material/check_circle:"
    else:
        parts = []
        if warnings:
            parts.append(f"{len(warnings)} warning(s): {', '.join(warnings)}")
        if remarks:
            parts.append(f"{len(remarks)} remark(s): {', '.join(remarks)}")
        label, icon = "Quality flags: " + "; ".join(parts), ":material/warning:" if warnings else ":material/info:"
    with st.expander(ui.md_escape(label), expanded=False, icon=icon):
        ui.flags(result)
        ui.result_details(result)


def purple_tab(result: ChargeResult, smooth_curves: bool, name: str) -> None:
    charts.show(figures.purple_figure(result, smooth_curves=smooth_curves, height=PURPLE_HEIGHT), key=PURPLE_CHART,
                name=f"{downloads.safe_stem(name)}_sweep{result.sweep + 1}_purple", on_select=on_purple_select,
                selection_mode="box")
    st.caption(f"Integration ON {result.integrate_on_ms[0]:.2f}–{result.integrate_on_ms[1]:.2f} ms, "
               f"OFF {result.integrate_off_ms[0]:.2f}–{result.integrate_off_ms[1]:.2f} ms; "
               f"tail windows ON {result.tail_on_ms[0]:.2f}–{result.tail_on_ms[1]:.2f} ms, "
               f"OFF {result.tail_off_ms[0]:.2f}–{result.tail_off_ms[1]:.2f} ms (from each edge).")
