"""Signal Analyzer: the entry script builds the navigation and the shared sidebar, then runs a page."""

import streamlit as st

from app import nav, state, ui

st.set_page_config(page_title="Signal Analyzer", page_icon="⚡", layout="wide")
state.init()
page = st.navigation(nav.pages())
ui.ingest_pending()
ui.sidebar()
page.run()
