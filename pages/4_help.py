"""Help: the method, the vocabulary, the flags, what changed from the old tool, how to cite."""

import pandas as pd
import streamlit as st

from app import docs, figures, state, ui
from app.meta import APP_VERSION

st.title(":material/help: Help")

st.header("The method")
# docs/method.md, read on every run: the page and the file cannot drift
st.markdown(docs.method_markdown())

st.header("Vocabulary and colours")
vocab = pd.DataFrame([
    ("raw", "grey", figures.COLORS["raw"], "the current as recorded"),
    ("filtered", "red", figures.COLORS["filtered"], "after the filter chain"),
    ("decimated", "orange", figures.COLORS["orange"], "low-pass, then one point per block (ms per point in the recipe)"),
    ("control response per mV", "dark blue", figures.COLORS["dark_blue"], "each control step's response / its own signed step"),
    ("averaged control response per mV", "magenta", figures.COLORS["magenta"], "the average subtracted, scaled by ΔV"),
    ("asymmetric current ON / OFF", "purple", figures.COLORS["purple"], "test response minus the scaled control"),
], columns=["curve", "colour", "hex", "meaning"])
st.table(vocab.set_index("curve"))

st.header("Units")
st.markdown("Time **ms** on screen (stored in s), current **pA**, voltage **mV**, charge **pC** (1 pA × 1 s), "
            "capacitance **nF** (1 pC / 1 mV), resistance **MΩ** (written MOhm; mV / nA), "
            "time constants **ms** (MΩ × nF), normalised charge **nC/µF**, specific capacitance **µF/cm²**.")

st.header("Reading the quality flags")
st.table(pd.DataFrame([
    ("q_ratio", "Q_off/Q_on is outside −0.8 to −1.2: ionic current, a drifting baseline or a poor tail window."),
    ("tail_slope_ON / tail_slope_OFF", "The purple curve still slopes at its end; over the epoch that is worth "
     "more than 10 % of the charge. Try a later or longer tail window, or check the baseline."),
    ("tail_line_short_ON / _OFF", "A sloping tail line fitted over a short window is extrapolated back to the "
     "edge and can flip the charge's sign. Prefer the constant tail."),
    ("passive_model", "R_m cannot be estimated (steady current with the wrong sign, or R_m not ≫ R_s); "
     "C_m is given as τ/R_s and R_m shows '—'."),
    ("fast_transient", "The capacitive transient is too fast for the sampling (τ under 5 samples, or gone before "
     "the fit starts): C_m, R_s and τ are unreliable."),
    ("poor_transient_fit", "The exponential fits the transient poorly (R² < 0.9): τ, R_s and C_m are unreliable."),
    ("slow_clamp", "5 τ is longer than the control step: the transient has not settled, steady current and "
     "C_lin are biased."),
    ("controls_disagree", "The control steps' capacitances differ by more than 10 %: the cell or seal changed."),
    ("test_longer_than_control", "The test pulse is longer than the controls: the purple curve covers only "
     "the control's length."),
    ("no_voltage_channel", "The protocol comes from the timing parameters, not from the recording."),
    ("v2_name_mismatch", "The file name suggests another V2 than the recording; the recording wins."),
    ("protocol_note", "A remark made while finding the protocol (e.g. levels set by hand)."),
], columns=["flag", "what it means and what to do"]).set_index("flag"))
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
