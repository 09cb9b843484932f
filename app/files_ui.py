"""The Load page's parts: demo button, error boxes for bad files, the summary table, removal."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from signal_core.analysis.pipeline import find_protocol, with_unit_override
from signal_core.flags import AnalysisError
from signal_core.params import ParamsError
from signal_core.protocol.steps import ProtocolError
from signal_core.recording import CURRENT_UNITS, VOLTAGE_UNITS

from . import cache, downloads, state, tables
from .ui import md_escape

__all__ = ["all_files_downloads", "file_errors", "file_table", "load_demo", "unit_override", "widget_key", "workflow"]

#: the workflow, in the menu's words: (page script, label, icon)
WORKFLOW = (
    ("pages/1_load.py", "Load", ":material/folder_open:"),
    ("pages/2_explore.py", "Explore", ":material/search:"),
    ("pages/3_analyse.py", "Analyse", ":material/show_chart:"),
    ("pages/6_sets.py", "Q–V sets", ":material/scatter_plot:"),
    ("pages/5_history.py", "History", ":material/history:"),
)


def workflow() -> None:
    """The workflow in one line of links (it wraps on a phone): load, look, analyse, compare, keep."""
    with st.container(horizontal=True, wrap=True, gap="small", key="workflow"):
        for k, (page, label, icon) in enumerate(WORKFLOW, 1):
            st.page_link(page, label=f"{k}. {label}", icon=icon, disabled=page == "pages/1_load.py",
                         width="content")
    st.caption("Load recordings (or the demo) → Explore the trace and filter it → Analyse one sweep with a "
               "recipe → fit Q–V sets across files → keep analyses in History.")


def widget_key(prefix: str, file_key: str) -> str:
    """A widget key for one file: ``prefix`` and a digest of the file's key (whose name is untrusted text)."""
    return f"{prefix}_{hashlib.sha256(file_key.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def load_demo() -> None:
    """``on_click`` of the demo button: queue the simulated recording, written as an ATF file."""
    name, data = cache.demo_file()
    state.queue(name, data)


def file_errors() -> None:
    """One error box per file that could not be read, with the reader's message and a dismiss button.

    Above them, a note per loaded or refused file whose name had to be changed (``signal_core.names``).
    """
    shown = {lf.name for lf in state.files().values()} | {name for name, _ in state.errors().values()}
    for name, notes in state.name_notes().items():
        if name in shown:
            st.info(f"**{md_escape(name)}**: the file name was changed: {md_escape('; '.join(notes))}.",
                    icon=":material/info:")
    for key, (name, message) in list(state.errors().items()):
        box, btn = st.columns([12, 1], vertical_alignment="center")
        if message.startswith(f"{name} is "):  # a size refusal names the file itself
            text = f"**{md_escape(name)}**{md_escape(message[len(name):])}"
        else:
            text = f"**{md_escape(name)}** could not be read: {md_escape(message)}"
        box.error(text + ("  \nIts chip may stay in the upload box: the file was not loaded; "
                                  "the table below lists what is." if not message.startswith(f"{name} is ") else ""),
                  icon=":material/error:")
        btn.button(":material/close:", key=widget_key("btn_dismiss", key), on_click=state.remove, args=(key,),
                   help="Dismiss")


def _rows() -> list[dict]:
    rows = []
    params = state.params()
    for lf in state.files().values():
        rec = cache.recording(lf.sha256, lf.data, lf.name)
        prot, err = None, None
        try:
            rec = with_unit_override(rec, params)
            prot = find_protocol(rec, 0, params)
        except (ProtocolError, ParamsError, AnalysisError) as exc:
            err = str(exc)
        rows.append(tables.file_summary(rec, lf.size, prot, err))
    return rows


def file_table() -> None:
    """Summary of every loaded file, its header records, and a remove button per file."""
    files = state.files()
    if not files:
        st.info("No file loaded yet: drop ATF or ABF files above, or load the demo recording.",
                icon=":material/folder_open:")
        return
    head, btn = st.columns([4, 1], vertical_alignment="bottom")
    head.subheader(f"{len(files)} file(s) loaded")
    btn.button("Remove all files", key="btn_remove_all", on_click=state.remove_all, icon=":material/delete_sweep:",
               width="stretch", help="Unload every file (and forget the refused ones)")
    df = pd.DataFrame(_rows())
    st.dataframe(
        df, hide_index=True, width="stretch",
        column_config={
            "file": st.column_config.TextColumn(width="large", pinned=True),
            "sampling rate (kHz)": st.column_config.NumberColumn(format="%.4g"),
            "duration (ms)": st.column_config.NumberColumn(format="%.1f"),
            "size (kB)": st.column_config.NumberColumn(format="%.0f"),
            "SHA-256": st.column_config.TextColumn(width="small"),
        },
    )
    for lf in list(files.values()):
        rec = cache.recording(lf.sha256, lf.data, lf.name)
        name_col, head_col, btn_col = st.columns([4, 4, 1.3], vertical_alignment="top")
        name_col.text(f"{lf.name}  ·  SHA-256 {lf.sha256[:12]}…")
        with head_col.expander("Header records"):
            st.dataframe(tables.header_frame(rec), hide_index=True, width="stretch")
        btn_col.button("Remove", key=widget_key("btn_remove", lf.key), on_click=state.remove, args=(lf.key,),
                       icon=":material/delete:", help="Unload this file", width="stretch")


#: the unit selectors' choice that keeps the file's own label
AS_IN_FILE = "as the file says"


def _set_unit(key: str, field: str) -> None:
    """``on_change`` of a unit selector: the recipe's ``current_unit`` / ``voltage_unit``."""
    value = st.session_state[key]
    state.set_params(state.params().replace(**{field: None if value == AS_IN_FILE else value}))


def unit_override() -> None:
    """Two selectors that say what the current and the voltage channel really hold, when a file's label
    is wrong (e.g. pA-sized values labelled A); they set the recipe, which the workbook records."""
    params = state.params()
    ss = st.session_state
    cols = st.columns([1, 1, 2])
    for col, key, field, options, label in (
            (cols[0], "rp_current_unit", "current_unit", CURRENT_UNITS, "Current channel's real unit"),
            (cols[1], "rp_voltage_unit", "voltage_unit", VOLTAGE_UNITS, "Voltage channel's real unit")):
        ss[key] = getattr(params, field) or AS_IN_FILE  # the recipe is the truth (a loaded recipe included)
        col.selectbox(label, (AS_IN_FILE, *options), key=key, on_change=_set_unit, args=(key, field),
                      help="Only when the file labels the channel wrongly: its values are read in this unit "
                           "instead (every file; recorded in the recipe and the workbook).")


def all_files_downloads() -> None:
    """Every sweep of every loaded file, analysed with the current recipe, in one workbook or CSV."""
    files = list(state.files().values())
    exp = downloads.export
    if not files:
        return
    params = state.params()

    def workbook() -> bytes:
        entries, failures = downloads.batch(files, params)
        return exp.analysis_workbook(entries, failures=failures)

    def csv() -> bytes:
        entries, failures = downloads.batch(files, params)
        return exp.results_csv(entries, failures=failures)

    st.markdown("**All loaded files** (every sweep, the current recipe)")
    c1, c2, _ = st.columns([1, 1, 2])
    c1.download_button("Workbook of all files (.xlsx)", data=downloads.logged(workbook, "batch workbook"),
                       file_name="all_files_analysis.xlsx", mime=downloads.XLSX_MIME, on_click="ignore",
                       key="dl_all_xlsx", icon=":material/table_view:")
    c2.download_button("Results of all files (.csv)", data=downloads.logged(csv, "batch CSV"),
                       file_name="all_files_results.csv", mime=downloads.CSV_MIME, on_click="ignore",
                       key="dl_all_csv", icon=":material/description:")
