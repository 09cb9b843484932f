"""Signal Analyzer: the entry script builds the navigation and the shared sidebar, then runs a page."""

import streamlit as st

from app import heap, history, nav, state, streamlit_fixes, ui

streamlit_fixes.keep_deferred_downloads()  # once per process: downloads survive other sessions' reruns
streamlit_fixes.guard_locked_sessions()  # once per process: no uploads before the password gate
streamlit_fixes.keep_odd_upload_names()  # once per process: NUL and very long names reach the app
heap.freeze_startup_heap()  # once per process: the GC after every run skips the imported modules

st.set_page_config(page_title="Signal Analyzer", page_icon=nav.PAGE_ICON, layout="wide")
state.init()
if not history.unlocked():  # APP_PASSWORD set and not typed yet: only the password form
    st.stop()
workspace = history.workspace()  # ?ws=<key> in the URL
page = st.navigation(nav.pages())
history.open_from_link(workspace)  # ?analysis=<id>: load it and switch to Analyse
ui.ingest_pending()
history.show_flash()
ui.sidebar()
page.run()
