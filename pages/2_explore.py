"""Explore: the raw trace, a filter chain with live preview, zoom, and the power spectrum."""

import json

import streamlit as st

from app import cache, charts, downloads, figures, recipe_ui, state, sweeps_ui, ui
from signal_core.analysis.average import average_sweeps
from signal_core.analysis.pipeline import find_protocol
from signal_core.filters.specs import chain_to_json

st.title(":material/search: Explore and filter")
lf, rec = ui.need_active_file()
sweep = state.sweep_index()
st.caption(f"{ui.md_escape(rec.name)} · sweep {sweep + 1} of {rec.n_sweeps} · {rec.fs_hz / 1e3:g} kHz")

left, right = st.columns([1.25, 3], gap="large")
with left:
    st.subheader("Filter chain")
    st.caption("Applied in this order to the current, before anything else; the same chain is used on Analyse.")
    specs = recipe_ui.filter_chain_editor(rec.fs_hz, rec.n_samples)
    if specs is not None:
        with ui.guard("Filter chain"):
            state.set_params(state.params().replace(filters=specs))
    overlay, show_avg = sweeps_ui.sweep_overlay_picker(rec.n_sweeps, sweep)

params = state.params()
chain_json = json.dumps(chain_to_json(params.filters))
any_on = any(f.enabled for f in params.filters)
filtered = None
with right, ui.guard("Drawing the trace"):
    raw = rec.current(sweep)
    filtered = cache.filtered_sweep(lf.sha256, sweep, chain_json, lf.data, lf.name) if any_on else None
    try:
        epochs = find_protocol(rec, sweep, params).epochs
    except ValueError:
        epochs = ()
    volt = rec.voltage(sweep) if rec.voltage_channel is not None else rec.command(sweep)  # ABF: the protocol
    n = rec.sweep_length(sweep)  # sweeps of different lengths: overlays cut or padded to this one
    label = f"{overlay[0]}–{overlay[-1]} (light)" if len(overlay) > 1 else f"{overlay[0]} (light)" if overlay else ""
    over = [(label, sweeps_ui.padded(rec.current(k - 1), n)) for k in overlay]
    avg = None
    if show_avg:
        avg = (f"average of {len(overlay)} sweep(s)", sweeps_ui.padded(average_sweeps(rec, overlay).current(0), n))
    trace = dict(raw_pA=raw, filtered_pA=filtered, voltage_mV=volt, epochs=epochs, overlay_pA=over,
                 average_pA=avg)
    stem = f"{downloads.safe_stem(lf.name)}_sweep{sweep + 1}"
    charts.show(figures.trace_figure(rec.sweep_t_s(sweep), selectable=True, **trace), key="explore_trace",
                name=f"{stem}_trace", on_select=lambda: state.on_zoom_select("explore_trace"), selection_mode="box")
    zoom = st.session_state.get(state.ZOOM)
    if zoom is None:
        st.caption("Box-select a stretch of the trace (drag across it) to see it below at full detail.")
    else:
        z1, z2 = st.columns([3, 1], vertical_alignment="center")
        z1.markdown(f"**Zoom: {zoom[0]:.2f} to {zoom[1]:.2f} ms**, every sample when fewer than 5000")
        z2.button("Reset zoom", on_click=state.reset_zoom, icon=":material/zoom_out:", key="btn_reset_zoom",
                  width="stretch")
        charts.show(figures.trace_figure(rec.sweep_t_s(sweep), x_range_ms=zoom, **trace), key="explore_zoom",
                    name=f"{stem}_zoom")
    st.subheader("Power spectrum before and after the filters")
    f_hz, p_raw, p_filt = cache.spectra(lf.sha256, sweep, chain_json, lf.data, lf.name)
    charts.show(figures.spectrum_figure(f_hz, p_raw, p_filt), key="explore_spectrum", name=f"{stem}_spectrum")
    if p_filt is None:
        st.caption("Add a filter to see its effect on the spectrum (red).")

st.divider()
st.markdown("**Downloads**: this sweep's traces, and the analysis with the current recipe")
trace_header = [f"file: {lf.name}", f"sha256: {lf.sha256}", f"sweep: {sweep + 1}",
                "filters: " + ("; ".join(f.label() for f in params.filters) or "none")]
st.download_button(
    "Raw and filtered trace (.csv)",
    data=downloads.logged(lambda: downloads.trace_csv(rec.sweep_t_s(sweep), rec.current(sweep),
                                                      filtered if any_on else None, rec.voltage(sweep),
                                                      header=trace_header), "trace CSV"),
    file_name=f"{downloads.safe_stem(lf.name)}_sweep{sweep + 1}_trace.csv", mime=downloads.CSV_MIME,
    on_click="ignore", key="dl_trace_csv", icon=":material/description:",
    help="Full rate: time (ms), raw and filtered current (pA), voltage (mV).")
ui.download_row(ui.active_analysis(show=False), key="dl_explore")
