"""Load: the workflow in one line, the demo one click away, upload recordings and see what each file holds."""

import streamlit as st

from app import files_ui, state, ui

st.title(":material/folder_open: Load recordings")
files_ui.workflow()

up, demo = st.columns([3, 1], vertical_alignment="center")
up.file_uploader("Recordings (drag and drop one or many)", type=["atf", "abf", "txt"], accept_multiple_files=True,
                 key=state.UPLOADER, on_change=state.on_upload,
                 help="Axon Text Files (.atf, .txt) and ABF binaries (.abf), up to 50 MB each. The table below "
                      "lists what is loaded; the chips in this box are only what was dropped.")
demo.button("Load the demo recording", on_click=files_ui.load_demo, icon=":material/science:", width="stretch",
            key="btn_demo",
            help="A simulated cell like the lab's sample recording: -80 mV holding, two control steps to "
                 "-100 mV, a test pulse to -20 mV, 100 kHz, with the rig's 15.6 kHz interference.")
st.caption("Files stay loaded while you move between pages; pick the active file and sweep in the sidebar. "
           "Each upload is a file of its own, also a renamed copy of another.")

files_ui.file_errors()
files_ui.file_table()
if state.files():
    files_ui.unit_override()

if state.files():
    st.divider()
    st.markdown("**Active analysis** (the file and sweep chosen in the sidebar, the current recipe)")
    ui.download_row(ui.active_analysis(show=False), key="dl_load")
    files_ui.all_files_downloads()
