"""The History page's parts: workspace link, search and sort, the table, open / rename / delete / export.

The table is an ``st.dataframe`` with multi-row selection; its key carries a digest of
the rows shown, so a selection never outlives the rows it pointed at (after a search, a
sort or a delete the selection starts empty).  File names, labels and notes are shown in
the dataframe (text only) and escaped where Markdown is rendered.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from signal_core.store import AnalysisSummary, Store, StoreError

from . import cache, downloads, history
from .ui import USER_ERRORS, md_escape

__all__ = ["SORTS", "actions", "export_workbook", "history_table", "search_and_sort", "workspace_box"]

logger = logging.getLogger("signal_analyzer.app")

#: sort choice shown -> Store.list_analyses(order_by=...)
SORTS = {
    "saved": "created_at",
    "file": "file_name",
    "V2": "v_test_mV",
    "Q_on": "q_on_pC",
    "Q_off": "q_off_pC",
    "C_m": "c_m_nF",
    "label": "label",
}
DIRECTIONS = ("descending", "ascending")
CONFIRM = "hist_confirm_delete"
TABLE_PREFIX = "hist_table_"
LIMIT = 500


def _seed(key: str, value) -> str:
    ss = st.session_state
    ss[key] = ss[key] if key in ss else value  # keeps the choice across page changes
    return key


def workspace_box(key: str) -> None:
    """The link that reopens this workspace (st.code has a copy button)."""
    st.markdown("**Copy link**: open this address in another browser or on another computer to reach "
                "this workspace and its saved analyses.")
    st.code(history.workspace_link(key), language=None)
    st.caption("Anyone with the link can see, change and delete this workspace's analyses: share it like "
               "a key. Keep it (e.g. bookmark it): there is no other way back to the workspace.")


def search_and_sort() -> tuple[str, str, bool]:
    """The search text, the ``order_by`` column and whether descending."""
    cols = st.columns([3, 1.5, 1.5], vertical_alignment="bottom")
    search = cols[0].text_input("Search file names, labels and notes", key=_seed("hist_search", ""),
                                placeholder="e.g. cell 3")
    sort = cols[1].selectbox("Sort by", list(SORTS), key=_seed("hist_sort", "saved"))
    direction = cols[2].radio("Order", DIRECTIONS, key=_seed("hist_order", "descending"), horizontal=True)
    return search, SORTS[sort], direction == "descending"


def _zone() -> tuple[ZoneInfo | None, str]:
    name = st.context.timezone
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return None, "UTC"


def frame(rows: Sequence[AnalysisSummary], key: str) -> pd.DataFrame:
    """The table shown: one row per analysis, numbers as numbers, times in the browser's zone."""
    zone, _ = _zone()
    base = history.base_url()

    def local(t: datetime) -> datetime:
        return (t.astimezone(zone) if zone else t).replace(tzinfo=None)

    return pd.DataFrame({
        "#": [r.id for r in rows],
        "saved": [local(r.created_at) for r in rows],
        "file": [r.file_name for r in rows],
        "V2 (mV)": [r.v_test_mV for r in rows],
        "Q_on (pC)": [r.q_on_pC for r in rows],
        "Q_off (pC)": [r.q_off_pC for r in rows],
        "C_m (nF)": [r.c_m_nF for r in rows],
        "label": [r.label for r in rows],
        "note": [r.note for r in rows],
        "link": [history.analysis_link(key, r.id, base) for r in rows],
    }, columns=["#", "saved", "file", "V2 (mV)", "Q_on (pC)", "Q_off (pC)", "C_m (nF)", "label", "note", "link"])


def table_key(rows: Sequence[AnalysisSummary]) -> str:
    """The dataframe's key: changes with the rows shown (their ids, in order), so a selection never goes stale."""
    text = ",".join(str(r.id) for r in rows)
    return TABLE_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def history_table(rows: Sequence[AnalysisSummary], key: str) -> list[AnalysisSummary]:
    """Draw the table; the rows the user selected, in table order."""
    _, zone_name = _zone()
    event = st.dataframe(
        frame(rows, key), key=table_key(rows), on_select="rerun", selection_mode="multi-row", hide_index=True,
        width="stretch",
        column_config={
            "#": st.column_config.NumberColumn(help="The analysis number in this workspace's history.",
                                               width="small"),
            "saved": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss",
                                                     help=f"When it was saved ({zone_name})."),
            "V2 (mV)": st.column_config.NumberColumn(format="%.1f", help="Test pulse level V2."),
            "Q_on (pC)": st.column_config.NumberColumn(format="%.4g"),
            "Q_off (pC)": st.column_config.NumberColumn(format="%.4g"),
            "C_m (nF)": st.column_config.NumberColumn(format="%.4g"),
            "link": st.column_config.LinkColumn(display_text="open ↗",
                                                help="Reopens this analysis on the Analyse page (new tab)."),
        },
    )
    picked = sorted({i for i in event.selection.rows if 0 <= i < len(rows)})
    return [rows[i] for i in picked]


# ------------------------------------------------------------------ callbacks (run before the script)
def _rename(store: Store, key: str, aid: int) -> None:
    ss = st.session_state
    try:
        ok = store.rename(key, aid, ss.get(f"rn_label_{aid}", ""), ss.get(f"rn_note_{aid}", ""))
    except (StoreError, ValueError) as exc:
        history.flash("error", f"Not renamed: {md_escape(exc)}")
        return
    history.flash("success" if ok else "info",
                  f"Analysis #{aid} renamed." if ok else f"Analysis #{aid} is no longer in this workspace.")


def _ask_delete(ids: list[int]) -> None:
    st.session_state[CONFIRM] = list(ids)


def _cancel_delete() -> None:
    st.session_state.pop(CONFIRM, None)


def _delete(store: Store, key: str) -> None:
    ids = st.session_state.pop(CONFIRM, [])
    try:
        n = store.delete(key, ids)
    except StoreError as exc:
        history.flash("error", f"Nothing was deleted: {md_escape(exc)}")
        return
    history.flash("success", f"Deleted {n} analysis(es).")


# ------------------------------------------------------------------ export
def export_workbook(store: Store, key: str, ids: Sequence[int]) -> bytes:
    """One workbook of the saved analyses ``ids`` of the workspace, re-analysed from the stored
    recordings with the stored recipes (through the app's cache, so a recent analysis is not redone).

    Analyses that cannot be redone are listed as failures in the workbook.  Uses no Streamlit
    element: it runs when the download button is clicked.
    """
    exp = downloads.export
    entries, failures = [], []
    for saved in store.get_analyses(key, ids):
        sweep = history.sweep_of(saved)
        data = store.get_recording_bytes(key, saved.sha256)
        if data is None:
            failures.append((saved.file_name, sweep + 1, "the recording is no longer stored"))
            continue
        try:
            result = cache.analysis(saved.sha256, sweep, history.params_json(saved), data, saved.file_name)
        except USER_ERRORS as exc:
            failures.append((saved.file_name, sweep + 1, str(exc)))
            continue
        entries.append(exp.ExportEntry(saved.file_name, saved.sha256, saved.size_bytes, result))
    return exp.analysis_workbook(entries, failures=failures)


def _builder(store: Store, key: str, ids: list[int]) -> Callable[[], bytes]:
    return downloads.logged(lambda: export_workbook(store, key, ids), "history workbook")


# ------------------------------------------------------------------ actions on the selection
def actions(store: Store, key: str, picked: Sequence[AnalysisSummary]) -> None:
    """Open (one row), rename (one row), delete (with a confirmation step), export (the selection)."""
    ids = [r.id for r in picked]
    if not picked:
        st.caption("Select rows (the boxes at the left of the table) to open, rename, delete or export them.")
    cols = st.columns(4)
    open_clicked = cols[0].button("Open on Analyse", key="btn_hist_open", icon=":material/show_chart:",
                                  disabled=len(picked) != 1,
                                  width="stretch", help="Load the recording, recipe and sweep of one analysis.")
    cols[1].button(f"Delete selected ({len(ids)})", key="btn_hist_delete", icon=":material/delete:", disabled=not ids,
                   on_click=_ask_delete, args=(ids,), width="stretch")
    cols[2].download_button(
        f"Export selected (.xlsx, {len(ids)})", data=_builder(store, key, ids), disabled=not ids,
        file_name="history_export.xlsx", mime=downloads.XLSX_MIME, on_click="ignore", key="dl_hist_xlsx",
        icon=":material/table_view:", width="stretch",
        help="One workbook of the selected analyses, each redone from its stored recording and recipe.")
    if open_clicked and len(picked) == 1:
        try:
            history.reopen(store, key, picked[0].id)
        except StoreError as exc:
            history.flash("error", f"Not opened: {md_escape(exc)}")
        st.rerun()  # show why it did not open (a successful reopen has switched page already)

    confirm = st.session_state.get(CONFIRM)
    if confirm:
        with st.container(border=True):
            st.warning(f"Delete {len(confirm)} analysis(es) (#{', #'.join(map(str, confirm))}) from this "
                       "workspace? This cannot be undone.", icon=":material/delete:")
            c = st.columns(2)
            c[0].button("Yes, delete", key="btn_hist_delete_yes", type="primary", on_click=_delete,
                        args=(store, key), width="stretch")
            c[1].button("Cancel", key="btn_hist_delete_no", on_click=_cancel_delete, width="stretch")

    if len(picked) == 1:
        row = picked[0]
        with st.expander(f"Label and note of analysis #{row.id}", expanded=True, icon=":material/edit:"):
            with st.form(f"rename_{row.id}", border=False):
                st.text_input("Label", value=row.label, max_chars=200, key=f"rn_label_{row.id}")
                st.text_area("Note", value=row.note, key=f"rn_note_{row.id}", height=80)
                st.form_submit_button("Save label and note", on_click=_rename, args=(store, key, row.id))
