"""UI glue shared by the Streamlit pages: session state, caches, figures, widgets (no science here).

Imported first in the first run of a server process, it makes that run start at the entry script
(:func:`app.streamlit_fixes.main_script_first`: a page asked for by URL would otherwise run without
the password gate).
"""

from app.streamlit_fixes import main_script_first

main_script_first()
