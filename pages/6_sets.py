"""Q–V sets: many recordings, Q against the test potential V2, one Boltzmann per set."""

import streamlit as st

from app import charts, qv_results, sets_ui, state, ui
from app.figures_qv import qv_figure
from signal_core.sets import fit_sets

st.title(":material/scatter_plot: Q–V sets")
st.caption("Every sweep of the picked recordings is analysed with the current recipe (as on **Analyse**); "
           "Q is plotted against V2 and a two-state Boltzmann is fitted per set. Edit the set, V2 or exclude "
           "points in the table below.")

files = state.files()
if not files:
    st.info("No recording loaded yet. Load the recordings of a set (one file per test potential, e.g. "
            "`20130507_0006_10mVdepol.atf`, or files with one sweep per V2) on **Load**.",
            icon=":material/folder_open:")
    st.page_link("pages/1_load.py", label="Go to Load", icon=":material/folder_open:")
    st.stop()

picked = sets_ui.pick_files(files)
if not picked:
    st.info("Pick at least one recording above.", icon=":material/arrow_upward:")
    st.stop()

params = state.params()
if params.v_test_mV is not None or params.protocol is not None:
    st.warning("The recipe sets V2 (or the whole protocol) by hand, so every recording is analysed with the "
               "same V2. Switch it off on **Analyse** for a Q–V relation, or set each V2 in the table.",
               icon=":material/warning:")
an = sets_ui.analyse(picked, params)
if an.no_timing:
    st.warning(f"{len(an.no_timing)} recording(s) have no voltage channel: give the protocol timings on **Analyse** "
               "with one of them as the active file (the timings apply to every file); V2 is then taken from "
               "each file name.", icon=":material/warning:")
    st.page_link("pages/3_analyse.py", label="Set the timings on Analyse", icon=":material/show_chart:")
pts = sets_ui.points(an, params)

plot_col, options_col = st.columns([3, 1], gap="large")
with options_col:
    quantity, with_offset = qv_results.fit_options(params)
    hygiene = qv_results.hygiene_options(params)
fit_quantity = "joint" if hygiene["joint"] and quantity != "q_on_per_c_m" else quantity
fits = fit_sets(pts, quantity=fit_quantity, with_offset=with_offset, temperature_C=params.temperature_C,
                frame=hygiene["frame"] if quantity != "q_on_per_c_m" else "pipette",
                exclude_flagged=hygiene["exclude_flagged"])
with plot_col, ui.guard("Drawing the Q–V plot"):
    shown = qv_results.frame_points(pts, hygiene["frame"] if quantity != "q_on_per_c_m" else "pipette")
    charts.show(qv_figure(shown, fits, quantity=quantity, names=an.names), key="qv_chart", name=f"qv_{quantity}")
    if hygiene["frame"] == "membrane" and quantity != "q_on_per_c_m":
        st.caption("Membrane frame: x is the membrane potential V_m = V2 − I R_s, y the charge × (R_s + R_m) / R_m.")

st.subheader("Boltzmann fit per set")
qv_results.fit_results(fits, pts, quantity, with_offset)
qv_results.fit_warnings(fits)

st.subheader(f"Recordings ({len(pts)} point(s))")
df = sets_ui.edit_table(pts, an)
st.caption("Tick **exclude** to leave a point out of the fit, type a **set** to regroup, or a **V2** to analyse "
           "that sweep again with it (clear the cell to go back). V2 comes from the voltage channel when the "
           "file has one, else from the file name.")
if sets_ui.has_edits():
    st.button("Undo every edit of the table", on_click=sets_ui.reset_edits, icon=":material/undo:", key="qv_reset")
sets_ui.flag_details(pts, an)

st.divider()
qv_results.download_row(an, pts, df, params, with_offset)
