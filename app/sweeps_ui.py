"""Sweeps on Explore: overlay all or the chosen sweeps, show their average, and analyse that average.

The overlay is display only; "Analyse this average" puts the chosen sweeps into the recipe
(``AnalysisParams.average_sweeps``), so Analyse, the workbooks and the history analyse the
average (:func:`signal_core.analysis.average.average_sweeps`) and say so in the recipe.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from . import state

__all__ = ["padded", "sweep_overlay_picker"]

ALL = "ov_all"
PICK = "ov_pick"
AVG = "ov_avg"


def _analyse_average(sweeps: tuple[int, ...]) -> None:
    state.set_params(state.params().replace(average_sweeps=sweeps), reset_widgets=True)


def _analyse_each() -> None:
    state.set_params(state.params().replace(average_sweeps=()), reset_widgets=True)


def sweep_overlay_picker(n_sweeps: int, sweep: int) -> tuple[list[int], bool]:
    """Draw the overlay choices; returns (the overlaid sweeps, 1-based and sorted; show their average)."""
    if n_sweeps < 2:
        return [], False
    st.subheader("Sweeps")
    every = st.toggle(f"Overlay all {n_sweeps} sweeps", key=state.keep(ALL, False))
    options = list(range(1, n_sweeps + 1))
    key = state.keep(PICK, [])
    st.session_state[key] = [k for k in st.session_state[key] if k in options]  # another file: fewer sweeps
    chosen = st.multiselect("Or overlay these sweeps", options, key=key, disabled=every,
                            placeholder="Pick sweeps to overlay")
    picked = options if every else sorted(int(k) for k in chosen)
    show_avg = st.toggle("Show their average (black)", key=state.keep(AVG, True), disabled=not picked)
    current = state.params().average_sweeps
    if picked:
        st.button("Analyse their average", key="btn_analyse_average",
                  on_click=_analyse_average, args=(tuple(picked),), icon=":material/functions:",
                  width="stretch", disabled=tuple(picked) == current,
                  help="The recipe then analyses their sample-by-sample average instead of one sweep "
                       "(Analyse, the workbooks and the history; it is written into the recipe).")
    if current:
        st.caption(f"The recipe analyses the average of sweeps {', '.join(map(str, current))}.")
        st.button("Analyse each sweep alone again", key="btn_analyse_each", on_click=_analyse_each,
                  icon=":material/undo:", width="stretch")
    else:
        st.caption(f"The sidebar's sweep ({sweep + 1}) is drawn grey on top; the recipe analyses it alone.")
    return picked, show_avg and bool(picked)


def padded(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or NaN-padded to ``n`` samples (sweeps of different lengths share one time axis)."""
    out = np.full(int(n), np.nan)
    y = np.asarray(y, dtype=np.float64)[: int(n)]
    out[: y.size] = y
    return out
