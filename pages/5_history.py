"""History: this workspace's saved analyses; search, sort, open, rename, delete, export."""

import streamlit as st

from app import history, history_ui
from signal_core.store import StoreError

st.title(":material/history: History")
key = history.current_key()
store, reason = history.get_store()
if store is None:
    history.unavailable(reason)
    history_ui.workspace_box(key)
    st.stop()

try:
    total = store.count(key)
    if total == 0:
        st.info("**History** keeps the analyses you save: the recording, the recipe and the numbers, in a "
                "database, so they outlive this browser tab. Press **Save to history** on the Analyse page "
                "(or switch on auto-save there); saved analyses appear here to search, sort, reopen in one "
                "click, rename, delete or export into one workbook. They belong to this workspace: keep its "
                "link below to come back from any browser.", icon=":material/history:")
        history_ui.workspace_box(key)
        st.stop()
    search, order_by, descending = history_ui.search_and_sort()
    rows = store.list_analyses(key, search=search, order_by=order_by, descending=descending,
                               limit=history_ui.LIMIT)
except StoreError as exc:
    history.unavailable(str(exc))
    st.stop()

shown = f"{len(rows)} of {total}" if len(rows) != total else f"{total}"
st.caption(f"{shown} saved analysis(es) in this workspace" + (" match the search" if search.strip() else ""))
if rows:
    picked = history_ui.history_table(rows, key)
    history_ui.actions(store, key, picked)
else:
    st.info("No saved analysis matches the search.", icon=":material/search_off:")
st.divider()
history_ui.workspace_box(key)
