"""Analyse: the recipe on the left; the numbers, a flags summary and the named curves on the right.

One 1366 x 768 laptop screen holds the Q_on/Q_off cards, the purple plot and the recipe controls
that matter most (windows, tail, filters, levels): a number changes in view while a window is edited.
"""

import streamlit as st

from app import analyse_ui, charts, downloads, figures, history, recipe_ui, state, ui

lf, rec = ui.need_active_file(title=":material/show_chart: Analyse")
sweep = state.sweep_index()
avg = state.params().average_sweeps
which = f"average of sweeps {', '.join(map(str, avg))}" if avg else f"sweep {sweep + 1} of {rec.n_sweeps}"

# the columns start at the top (the title sits over the recipe): the cards, the flags line and the
# purple plot then fit one 1366 x 768 screen beside the recipe's main controls
left, right = st.columns([1, 2.5], gap="medium")
with left:
    st.title(":material/show_chart: Analyse")
    st.caption(f"{ui.md_escape(rec.name)} · {which}")
    params = recipe_ui.recipe_form(rec)
    with st.expander("Load a recipe (.json)", icon=":material/upload_file:"):
        ui.recipe_upload()

with right:
    result = ui.active_analysis(params)
    if result is not None:
        analyse_ui.remember(result)
        ui.result_cards(result, details=False, border=False)
        analyse_ui.flags_summary(result)
        stem = f"{downloads.safe_stem(lf.name)}_sweep{result.sweep + 1}"
        # on_change="rerun": only the open tab's figure is built and sent (lazy tabs), which
        # halves the server's work per analysis and spares the browser three hidden Plotly plots
        purple, control, transient, sweep_tab = st.tabs(
            list(analyse_ui.TABS), key=analyse_ui.TAB, on_change="rerun")
        if purple.open:
            with purple, ui.guard("Drawing the asymmetric current"):
                analyse_ui.purple_tab(result, st.session_state.get(analyse_ui.SMOOTH, True), lf.name)
                c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
                with c1:
                    analyse_ui.target_picker()
                with c2:
                    analyse_ui.smooth_toggle()
        if control.open:
            with control, ui.guard("Drawing the control responses"):
                smooth = analyse_ui.smooth_toggle()
                charts.show(figures.control_figure(result, smooth_curves=smooth), key="control_chart",
                            name=f"{stem}_controls")
        if transient.open:
            with transient, ui.guard("Drawing the transient"):
                smooth = analyse_ui.smooth_toggle()
                charts.show(figures.transient_figure(result, smooth_curves=smooth), key="transient_chart",
                            name=f"{stem}_transient")
        if sweep_tab.open:
            with sweep_tab, ui.guard("Drawing the sweep"):
                charts.show(figures.trace_figure(
                    rec.sweep_t_s(sweep), raw_pA=rec.current(sweep), raw_visible="legendonly",
                    orange=(result.t_orange_s, result.i_orange_pA),
                    voltage_mV=rec.voltage(sweep) if rec.voltage_channel is not None else rec.command(sweep),
                    epochs=result.protocol.epochs), key="sweep_chart", name=f"{stem}_sweep")
                st.caption("Raw current (grey) is listed in the legend: click it to show it.")
    history.save_panel(lf, result)
    st.divider()
    ui.download_row(result, key="dl_analyse", params=params)
