"""The recipe form (every AnalysisParams field that matters, units in the labels) and the filter chain.

Each widget's key is seeded from the session's recipe when absent (:func:`_seed`), so the
form shows the recipe again after a page change or a loaded recipe.  The form returns a
validated :class:`AnalysisParams` and stores it; a value out of range shows the reason
and keeps the previous recipe.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from signal_core.analysis.pipeline import find_protocol
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.kinds import FILTER_KINDS, KINDS, filter_kind
from signal_core.filters.specs import FilterSpec
from signal_core.params import CONTROL_SOURCES, TAIL_MODES, AnalysisParams, ParamsError
from signal_core.protocol.steps import Protocol, ProtocolError
from signal_core.protocol.timing import ProtocolTiming
from signal_core.recording import Recording

from . import state, tables
from .ui import md_escape, show_error

__all__ = ["HINT", "filter_chain_editor", "recipe_form"]

#: session key of what the last analysis found (windows, levels, tail points) to pre-fill inputs
HINT = "_hint"

#: the filter kinds' names in the menus (from the kind table)
KIND_LABELS = {k.name: k.title for k in FILTER_KINDS}
SOURCE_LABELS = {"on": "control ON steps", "off": "control OFF returns", "both": "both (ON and OFF)"}
TAIL_LABELS = {
    "constant": "constant: mean of a late window",
    "line": "sloping line fitted to a late window",
    "manual": "line through two points set by hand",
    "none": "none",
}


def _kind_label(kind: str) -> str:
    """A filter kind's name in the menus (its code when the registry has a kind without a label here)."""
    return KIND_LABELS.get(kind, kind)


def _seed(key: str, value: Any) -> str:
    """:func:`app.state.keep`: the widget ``key`` with the value it had (even on another page), else ``value``."""
    return state.keep(key, value)


def _f(x: Any) -> float:
    return float(x)


# ------------------------------------------------------------------ filter chain
def _filter_inputs(row: dict, kind: str, fs_hz: float) -> dict:
    """The kind's fields as widgets (from :data:`signal_core.filters.kinds.FILTER_KINDS`); their values."""
    rid = row["id"]
    entry = filter_kind(kind)
    src = row if row["kind"] == kind else entry.defaults
    cols = st.columns(2)
    out: dict = {}
    for pos, f in enumerate(entry.fields):
        where = cols[pos] if pos < len(cols) else st
        key = f"flt_{rid}_{f.widget_key}"
        value = src.get(f.name, f.default)
        extra = {"help": f.help} if f.help else {}
        if f.widget in ("float", "int"):
            cast = float if f.widget == "float" else int
            bounds = {k: cast(v) for k, v in (("min_value", f.min_value), ("max_value", f.max_value)) if v is not None}
            got = where.number_input(f.label, step=cast(f.step) if f.step is not None else None,
                                     key=_seed(key, cast(value)), **bounds, **extra)
            out[f.name] = cast(got)
        elif f.widget == "select":
            options = [f.auto, *f.choices] if f.auto else list(f.choices)
            got = where.selectbox(f.label, options, key=_seed(key, f.auto if value is None else value), **extra)
            out[f.name] = None if f.auto and got == f.auto else got
        else:  # radio
            out[f.name] = st.radio(f.label, list(f.choices), horizontal=True, key=_seed(key, value), **extra)
    if entry.note is not None:
        st.caption(entry.note(out, fs_hz))
    return out


def filter_chain_editor(fs_hz: float, n_samples: int) -> tuple[FilterSpec, ...] | None:
    """Edit the session's filter chain (add, remove, reorder, switch off); None when a value is invalid."""
    rows = state.chain_rows()
    if not rows:
        st.caption("No filter: the raw current is analysed. A Butterworth low-pass (e.g. 2000 Hz) removes "
                   "high-frequency interference; the power spectrum shows where it sits.")
    for pos, row in enumerate(rows):
        rid = row["id"]
        with st.container(border=True):
            kind = st.selectbox(f"Filter {pos + 1}", KINDS, format_func=_kind_label,
                                key=_seed(f"flt_{rid}_kind", row["kind"]))
            values = _filter_inputs(row, kind, fs_hz)
            enabled = st.toggle("switched on", key=_seed(f"flt_{rid}_enabled", bool(row.get("enabled", True))),
                                help="Switch this filter off without losing its settings.")
            foot = st.columns(3, gap="small")
            foot[0].button(":material/arrow_upward:", key=f"btn_up_{rid}", on_click=state.move_filter, args=(rid, -1),
                           disabled=pos == 0, help="Apply earlier", width="stretch")
            foot[1].button(":material/arrow_downward:", key=f"btn_down_{rid}", on_click=state.move_filter,
                           args=(rid, 1),
                           disabled=pos == len(rows) - 1, help="Apply later", width="stretch")
            foot[2].button(":material/close:", key=f"btn_rm_{rid}", on_click=state.remove_filter,
                           args=(rid,), help="Remove",
                           width="stretch")
        row.clear()
        row.update({"id": rid, "kind": kind, "enabled": enabled, **values})
    add = st.columns([3, 2], vertical_alignment="bottom")
    new_kind = add[0].selectbox("Add a filter", KINDS, format_func=_kind_label, key="chain_new_kind")
    add[1].button("Add", key="btn_add_filter", on_click=state.add_filter, args=(new_kind,), icon=":material/add:",
                  width="stretch")
    try:
        specs = state.filters_from_rows(rows)
        for k, spec in enumerate(specs, 1):
            try:
                spec.validate(fs_hz, n_samples)
            except FilterError as exc:
                raise FilterError(f"filter {k}: {exc}") from None
    except FilterError as exc:
        show_error(exc, "Filter chain")
        return None
    return specs


# ------------------------------------------------------------------ recipe form
def _window(name: str, what: str, current, hint, default_text: str):
    custom = st.toggle(f"Set the {what} by hand", key=_seed(f"rp_{name}_custom", current is not None),
                       help=f"Off: {default_text} Or box-select a stretch of the purple plot.")
    if not custom:
        return None
    a0, b0 = current or hint or (0.0, 50.0)
    c1, c2 = st.columns(2)
    a = c1.number_input("from (ms after the edge)", min_value=0.0, step=1.0, format="%.2f",
                        key=_seed(f"rp_{name}_a", round(_f(a0), 3)))
    b = c2.number_input("to (ms after the edge)", min_value=0.0, step=1.0, format="%.2f",
                        key=_seed(f"rp_{name}_b", round(_f(b0), 3)))
    return (a, b)


def _manual_side(side: str, pts) -> None:
    label = side.upper()
    (t1, i1), (t2, i2) = pts
    st.markdown(f"**{label}** tail line through two points")
    c = st.columns(4)
    spec = (("t1", "t1 (ms)", t1), ("i1", "I1 (pA)", i1), ("t2", "t2 (ms)", t2), ("i2", "I2 (pA)", i2))
    for col, (suffix, label_text, value) in zip(c, spec):
        col.number_input(label_text, step=1.0, format="%.2f",
                         key=_seed(f"rp_manual_{side}_{suffix}", round(_f(value), 3)),
                         on_change=_manual_changed, args=(side,))


def _manual_changed(side: str) -> None:
    ss = st.session_state
    pts = ((ss[f"rp_manual_{side}_t1"], ss[f"rp_manual_{side}_i1"]),
           (ss[f"rp_manual_{side}_t2"], ss[f"rp_manual_{side}_i2"]))
    state.push_manual(side, pts)


def _tail_section(p0: AnalysisParams, hint: dict) -> dict:
    mode = st.selectbox("Tail baseline", TAIL_MODES, format_func=TAIL_LABELS.get,
                        key=_seed("rp_tail_mode", p0.tail_mode),
                    help="Removed from the purple curves: the level the asymmetric current settles to. "
                         "A line fitted over a short window "
                         "extrapolates badly back to the edge: the constant is the safe default.")
    out: dict = {"tail_mode": mode}
    if mode in ("constant", "line"):
        pct = st.slider("Tail window: the epoch's last (%)", 5, 100, step=5,
                        key=_seed("rp_tail_pct", int(round(p0.tail_fraction * 100))))
        out["tail_fraction"] = pct / 100.0
        out["tail_on_ms"] = _window("tail_on", "ON tail window", p0.tail_on_ms, hint.get("tail_on"),
                                    f"ON: the last {pct} % of the epoch.")
        out["tail_off_ms"] = _window("tail_off", "OFF tail window", p0.tail_off_ms, hint.get("tail_off"),
                                     f"OFF: the last {pct} % of the epoch.")
    if mode == "manual":
        current = state.manual_points()
        seeds = hint.get("tail_seed", {})
        for side in ("on", "off"):
            if current.get(side) is None:
                state.seed_manual(side, seeds.get(side) or ((0.0, 0.0), (50.0, 0.0)))
        current = state.manual_points()
        _manual_side("on", current["on"])
        _manual_side("off", current["off"])
        u, r = st.columns(2)
        u.button("Undo", key="btn_tail_undo", on_click=state.undo, disabled=not state.can_undo(),
                 icon=":material/undo:",
                 width="stretch")
        r.button("Redo", key="btn_tail_redo", on_click=state.redo, disabled=not state.can_redo(),
                 icon=":material/redo:",
                 width="stretch")
        st.caption("Or box-select a stretch of the tail on the purple plot: the line runs through the "
                   "curve's mean at both ends of the box.")
        out["manual_tail_on"] = current["on"]
        out["manual_tail_off"] = current["off"]
    return out


def _levels_section(p0: AnalysisParams, hint: dict) -> dict:
    """The toggle for V0, Vc, V2 set by hand, and their inputs when on."""
    out: dict = {"v_hold_mV": None, "v_control_mV": None, "v_test_mV": None}
    levels = hint.get("levels") or (-80.0, -100.0, -20.0)
    if st.toggle("Levels V0, Vc, V2 by hand", key=_seed("rp_levels_custom", p0.v_hold_mV is not None),
                 help="Replace the detected levels; the edges stay where they were found."):
        c = st.columns(3)
        out["v_hold_mV"] = c[0].number_input("V0 (mV)", step=1.0, format="%.2f",
                                             key=_seed("rp_v_hold_mV", round(_f(p0.v_hold_mV or levels[0]), 3)))
        out["v_control_mV"] = c[1].number_input("Vc (mV)", step=1.0, format="%.2f",
                                                key=_seed("rp_v_control_mV",
                                                          round(_f(p0.v_control_mV or levels[1]), 3)))
        out["v_test_mV"] = c[2].number_input("V2 (mV)", step=1.0, format="%.2f",
                                             key=_seed("rp_v_test_mV", round(_f(p0.v_test_mV or levels[2]), 3)))
    return out


def _protocol_section(rec: Recording, p0: AnalysisParams, hint: dict, levels: dict) -> dict:
    out: dict = {"protocol": None}
    out["edge_threshold_mV"] = st.number_input(
        "Edge threshold (mV)", min_value=0.1, step=0.5, key=_seed("rp_edge_threshold_mV", p0.edge_threshold_mV),
        help="A change of the recorded command by more than this is an edge.")
    if rec.voltage_channel is None and rec.command_channel is not None:
        st.info("This file records no voltage: the protocol comes from its command waveform (the ABF header's "
                "epoch table), not from a measurement. Set the levels or the epochs by hand below to change it.",
                icon=":material/info:")
    if rec.voltage_channel is None and rec.command_channel is None:
        st.info("This file has no voltage channel: give the protocol's timings and levels.", icon=":material/info:")
        t0 = p0.timing or ProtocolTiming()
        c1, c2 = st.columns(2)
        timing = {
            "t0_ms": c1.number_input("first control step at (ms)", min_value=0.0, step=1.0,
                                     key=_seed("rp_timing_t0_ms", _f(t0.t0_ms))),
            "control_ms": c2.number_input("control step (ms)", min_value=0.01, step=1.0,
                                          key=_seed("rp_timing_control_ms", _f(t0.control_ms))),
            "control_off_ms": c1.number_input("return after each control (ms)", min_value=0.01, step=1.0,
                                              key=_seed("rp_timing_control_off_ms", _f(t0.control_off_ms))),
            "n_control": int(c2.number_input("number of control steps", min_value=1, step=1,
                                             key=_seed("rp_timing_n_control", int(t0.n_control)))),
            "test_start_ms": c1.number_input("test pulse at (ms, empty = after the controls)", min_value=0.0,
                                             step=1.0, value=None,
                                             key=_seed("rp_timing_test_start_ms", t0.test_start_ms)),
            "test_ms": c2.number_input("test pulse (ms)", min_value=0.01, step=1.0,
                                       key=_seed("rp_timing_test_ms", _f(t0.test_ms))),
            "v_hold_mV": c1.number_input("V0 holding (mV)", step=1.0,
                                         key=_seed("rp_timing_v_hold_mV", _f(t0.v_hold_mV))),
            "v_control_mV": c2.number_input("Vc control (mV)", step=1.0,
                                            key=_seed("rp_timing_v_control_mV", _f(t0.v_control_mV))),
            "v_test_mV": c1.number_input("V2 test (mV)", step=1.0, key=_seed("rp_timing_v_test_mV", _f(t0.v_test_mV))),
        }
        out["timing"] = ProtocolTiming(**timing)
    if st.toggle("Edit the epochs by hand", key=_seed("rp_protocol_custom", p0.protocol is not None),
                 help="Start, end (ms) and level (mV) of every epoch; the role column is fixed."):
        out["protocol"] = _epoch_editor(rec, p0, levels)
    return out


def _epoch_editor(rec: Recording, p0: AnalysisParams, levels: dict) -> dict | None:
    """The epoch table; every edit is folded into the kept table (``rp_epoch_base``) at once.

    The editor gets a new key after each edit, so what it shows is always the kept table,
    also after a page change (an editor's pending edits cannot be carried over).
    """
    ss = st.session_state
    if "rp_epoch_base" not in ss:
        try:
            if p0.protocol is not None:
                prot = Protocol.from_dict(p0.protocol)
            else:
                probe = p0.replace(protocol=None, **{k: v for k, v in levels.items() if k.startswith("v_")})
                prot = find_protocol(rec, state.sweep_index(), probe)
        except (ProtocolError, ParamsError) as exc:
            show_error(exc, "Protocol")
            return p0.protocol
        ss["rp_epoch_base"] = tables.epoch_frame(prot)
    ss["epoch_version"] = ss.get("epoch_version", 0)
    key = f"epoch_editor_{ss['epoch_version']}"
    st.data_editor(
        ss["rp_epoch_base"], key=key, hide_index=True, num_rows="fixed", disabled=["epoch"], width="stretch",
        on_change=_fold_epoch_edits, args=(key,),
        column_config={
            "start (ms)": st.column_config.NumberColumn(format="%.3f"),
            "end (ms)": st.column_config.NumberColumn(format="%.3f"),
            "level (mV)": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.button("Reset the table to the detected epochs", key="btn_epoch_reset", on_click=_reset_epochs)
    try:
        return tables.protocol_from_frame(ss["rp_epoch_base"], rec.duration_s * 1e3)
    except ProtocolError as exc:
        show_error(exc, "Epoch table")
        return p0.protocol


def _fold_epoch_edits(key: str) -> None:
    ss = st.session_state
    edits = (ss.get(key) or {}).get("edited_rows", {})
    ss["rp_epoch_base"] = tables.apply_edits(ss["rp_epoch_base"], edits)
    ss["epoch_version"] = ss.get("epoch_version", 0) + 1


def _reset_epochs() -> None:
    st.session_state.pop("rp_epoch_base", None)
    st.session_state["epoch_version"] = st.session_state.get("epoch_version", 0) + 1


def _average_section(rec: Recording, p0: AnalysisParams) -> tuple[int, ...]:
    """'Analyse the average of the chosen sweeps' (the recipe's ``average_sweeps``, 1-based)."""
    options = list(range(1, rec.n_sweeps + 1))
    ss = st.session_state
    _seed("rp_average_sweeps", list(p0.average_sweeps))
    missing = [k for k in ss["rp_average_sweeps"] if k not in options]
    if missing:
        st.warning(f"This file has {rec.n_sweeps} sweep(s): sweep(s) {', '.join(map(str, missing))} of the "
                   "recipe's average are left out.", icon=":material/warning:")
        ss["rp_average_sweeps"] = [k for k in ss["rp_average_sweeps"] if k in options]
    chosen = st.multiselect("Analyse the average of these sweeps", options, key="rp_average_sweeps",
                            disabled=rec.n_sweeps < 2, placeholder="none: each sweep alone",
                            help="Their sample-by-sample average is analysed instead of the sidebar's sweep "
                                 "(repeated runs of one protocol: less noise). Explore overlays them.")
    return tuple(sorted(int(k) for k in chosen))


def recipe_form(rec: Recording) -> AnalysisParams:
    """Draw the recipe's widgets and return the recipe they describe (stored in the session)."""
    p0 = state.params()
    hint = st.session_state.get(HINT, {})
    fields: dict = {}
    # the controls that matter most first, open (one laptop screen with the cards and the purple plot);
    # the rarely used ones folded below
    with st.container(border=True, key="recipe_windows"):
        fields["integrate_on_ms"] = _window("int_on", "ON integration window", p0.integrate_on_ms,
                                            hint.get("int_on"), "ON integrates the whole epoch.")
        fields["integrate_off_ms"] = _window("int_off", "OFF integration window", p0.integrate_off_ms,
                                             hint.get("int_off"), "OFF integrates the whole epoch.")
        fields.update(_tail_section(p0, hint))
    on = [f.label() for f in p0.filters if f.enabled]
    title = f"Filters: {'; '.join(on)}" if on else "Filters: none (raw current)"
    with st.expander(md_escape(title), expanded=False, icon=":material/tune:"):
        st.caption("Applied first, in this order.")
        specs = filter_chain_editor(rec.fs_hz, rec.n_samples)
        fields["filters"] = p0.filters if specs is None else specs
    levels = _levels_section(p0, hint)
    fields.update(levels)
    with st.expander("Baselines, guards and controls", expanded=False, icon=":material/straighten:"):
        c1, c2 = st.columns(2)
        fields["baseline_ms"] = c1.number_input(
            "Pre-edge baseline (ms)", min_value=0.01, step=0.5, key=_seed("rp_baseline_ms", p0.baseline_ms),
            help="Each response's zero is the mean current over this window just before its edge.")
        fields["guard_ms"] = c2.number_input(
            "Guard at edges (ms)", min_value=0.0, step=0.1, key=_seed("rp_guard_ms", p0.guard_ms),
            help="Every window keeps this gap from an edge; it grows with the filters' own spread.")
        fields["control_on_source"] = c1.selectbox(
            "Control for the test ON", CONTROL_SOURCES, format_func=SOURCE_LABELS.get,
            key=_seed("rp_control_on_source", p0.control_on_source))
        fields["control_off_source"] = c2.selectbox(
            "Control for the test OFF", CONTROL_SOURCES, format_func=SOURCE_LABELS.get,
            key=_seed("rp_control_off_source", p0.control_off_source))
    with st.expander("Capacitive transient", expanded=False, icon=":material/bolt:"):
        c1, c2 = st.columns(2)
        fields["fit_start_ms"] = c1.number_input(
            "Fit starts after the edge (ms)", min_value=0.0, step=0.1, format="%.2f",
            key=_seed("rp_fit_start_ms", p0.fit_start_ms),
            help="The exponential is fitted from here (or after the guard, if later).")
        fields["steady_ms"] = c2.number_input(
            "Steady current: last (ms) of the step", min_value=0.01, step=1.0,
            key=_seed("rp_steady_ms", p0.steady_ms))
    with st.expander("Protocol: edges, timings and epochs", expanded=False, icon=":material/explore:"):
        fields.update(_protocol_section(rec, p0, hint, levels))
    with st.expander("Sweeps, cell and display", expanded=False, icon=":material/biotech:"):
        fields["average_sweeps"] = _average_section(rec, p0)
        c1, c2 = st.columns(2)
        fields["area_um2"] = c1.number_input(
            "Membrane area (µm²)", min_value=0.0, step=100.0, value=None, placeholder="not given",
            key=_seed("rp_area_um2", p0.area_um2), help="For the specific capacitance in µF/cm².") or None
        fields["temperature_C"] = c2.number_input(
            "Temperature (°C)", step=1.0, key=_seed("rp_temperature_C", p0.temperature_C),
            help="For the effective valence z = (RT/F)/k of a Q(V) fit.")
        fields["decimate_ms"] = c1.number_input(
            "Decimated (orange) curve: ms per point", min_value=0.01, step=0.1, format="%.2f",
            key=_seed("rp_decimate_ms", p0.decimate_ms),
            help="Low-pass then one point per block (the old tool used 0.5 ms).")
    try:
        p = p0.replace(**fields)
    except (ParamsError, ProtocolError, FilterError) as exc:
        st.error(f"This parameter set is not valid, the previous one is kept: {md_escape(exc)}",
                 icon=":material/error:")
        return p0
    state.set_params(p)
    return p
