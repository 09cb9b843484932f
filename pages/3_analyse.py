"""Analyse: the recipe on the left, the numbers, flags and named curves on the right."""

import streamlit as st

from app import analyse_ui, figures, history, recipe_ui, state, ui

st.title(":material/show_chart: Analyse")
lf, rec = ui.need_active_file()
sweep = state.sweep_index()
st.caption(f"{ui.md_escape(rec.name)} · sweep {sweep + 1} of {rec.n_sweeps} · results follow every change of the recipe")

numbers = st.container()
left, right = st.columns([1, 2.3], gap="large")
with left:
    st.subheader("Recipe")
    params = recipe_ui.recipe_form(rec)
    ui.recipe_upload()

with numbers:
    result = ui.active_analysis(params)
    if result is not None:
        analyse_ui.remember(result)
        ui.result_cards(result)
        with st.expander(f"Quality flags ({len(result.flags)})", expanded=bool(result.flags)):
            ui.flags(result)
    history.save_panel(lf, result)

with right:
    if result is not None:
        smooth = analyse_ui.smooth_toggle()
        # on_change="rerun": only the open tab's figure is built and sent (lazy tabs), which
        # halves the server's work per analysis and spares the browser three hidden Plotly plots
        purple, control, transient, sweep_tab = st.tabs(
            list(analyse_ui.TABS), key=analyse_ui.TAB, on_change="rerun")
        if purple.open:
            with purple, ui.guard("Drawing the asymmetric current"):
                analyse_ui.purple_tab(result, smooth)
        if control.open:
            with control, ui.guard("Drawing the control responses"):
                st.plotly_chart(figures.control_figure(result, smooth_curves=smooth), key="control_chart")
        if transient.open:
            with transient, ui.guard("Drawing the transient"):
                st.plotly_chart(figures.transient_figure(result, smooth_curves=smooth), key="transient_chart")
        if sweep_tab.open:
            with sweep_tab, ui.guard("Drawing the sweep"):
                st.plotly_chart(figures.trace_figure(
                    rec.sweep_t_s(sweep), raw_pA=rec.current(sweep), raw_visible="legendonly",
                    orange=(result.t_orange_s, result.i_orange_pA), voltage_mV=rec.voltage(sweep),
                    epochs=result.protocol.epochs), key="sweep_chart")
                st.caption("Raw current (grey) is listed in the legend: click it to show it.")
    st.divider()
    ui.download_row(result, key="dl_analyse", params=params)
