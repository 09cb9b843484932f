"""UI glue shared by the Streamlit pages: session state, caches, figures, widgets (no science here)."""
