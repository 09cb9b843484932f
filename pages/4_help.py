"""Help: the method, the vocabulary, the flags, what changed from the old tool, how to cite."""

import pandas as pd
import streamlit as st

from app import docs, figures, howto, state, ui
from app.meta import APP_VERSION
from signal_core.flags import flag_table

st.title(":material/help: Help")

st.header("How to use each page")
st.caption("Load → Explore → Analyse → Q–V sets → History: open a page for its steps and a screenshot.")
howto.show()

st.header("The method")
# docs/method.md, read on every run: the page and the file cannot drift
st.markdown(docs.method_markdown())

st.header("Vocabulary and colours")
vocab = pd.DataFrame([
    ("raw", "grey", figures.COLORS["raw"], "the current as recorded"),
    ("filtered", "red", figures.COLORS["filtered"], "after the filter chain"),
    ("decimated", "orange", figures.COLORS["orange"],
     "low-pass, then one point per block (ms per point in the recipe)"),
    ("control response per mV", "dark blue", figures.COLORS["dark_blue"],
     "each control step's response / its own signed step"),
    ("averaged control response per mV", "magenta", figures.COLORS["magenta"], "the average subtracted, scaled by ΔV"),
    ("asymmetric current ON / OFF", "purple", figures.COLORS["purple"], "test response minus the scaled control"),
], columns=["curve", "colour", "hex", "meaning"])
st.table(vocab.set_index("curve"))

st.header("Units")
st.markdown("Time **ms** on screen (stored in s), current **pA**, voltage **mV**, charge **pC** (1 pA × 1 s), "
            "capacitance **nF** (1 pC / 1 mV), resistance **MΩ** (written MOhm; mV / nA), "
            "time constants **ms** (MΩ × nF), normalised charge **nC/µF**, specific capacitance **µF/cm²**.")

st.header("Reading the quality flags")
# rendered from signal_core.flags.FLAG_KINDS: the thresholds shown are the ones the code tests
st.table(pd.DataFrame(flag_table(), columns=["flag", "severity", "what it means and what to do"]).set_index("flag"))
st.caption("Warnings are yellow, remarks blue. A flag never changes a number: it tells how far to trust it.")

st.header("What changed compared with the old desktop tool")
st.markdown(
    "The old tool worked on fixed sample indices (a starting point on the decimated curve, 200-point "
    "segments) that fit one sampling rate and one timing, normalised by a hard-coded ±20 mV and by |V2 − V0| "
    "instead of the signed step, averaged ON and OFF controls together against the holding baseline (a DC "
    "offset on the purple curves), block-averaged without an anti-alias filter (the 15.6 kHz interference "
    "became a 375 Hz ripple), erased the first point of every transient, ignored the file's time column, read "
    "only the first sweep, and replaced errors by plausible-looking numbers."
)
st.markdown(
    "Its integrals labelled pC were sometimes pA × ms (× 1000) or halved, and its 'capacitance' was "
    "|Q_off − Q_on| / ΔV, not a capacitance. Expect different numbers: charges here are true pC with each "
    "response referred to its own pre-edge level, C_lin and C_m are real capacitances in nF, windows are in ms, "
    "and anything doubtful is flagged instead of hidden."
)

st.header("How to cite the numbers")
st.markdown(
    f"Give the app version (**Signal Analyzer {APP_VERSION}**), the file's **SHA-256** (on the Load page, "
    "and in every workbook), and the **recipe JSON** (download below, or from any page): together they "
    "reproduce every number exactly, in the app or with `python -m signal_core analyze FILE --recipe recipe.json`."
)
if state.active() is not None:
    ui.download_row(ui.active_analysis(show=False), key="dl_help")
