"""Help: the method, the vocabulary, the flags, what changed from the old tool, how to cite."""

import pandas as pd
import streamlit as st

from app import figures, state, ui
from app.meta import APP_VERSION

st.title(":material/help: Help")

st.header("The method in short")
st.markdown(
    "Each response is referred to the mean current in a short window just before its own edge "
    "(default 5 ms), ending a guard before the edge (default 1 ms, longer with strong filters). "
    "The control steps (V0 to Vc) are assumed linear; their responses divided by their own signed "
    "step give the **control response per mV**:"
)
st.latex(r"g_{on}(t) = \frac{\langle I_{ctrl,ON}(t)\rangle}{V_c - V_0}, \qquad "
         r"g_{off}(t) = \frac{\langle I_{ctrl,OFF}(t)\rangle}{V_0 - V_c}")
st.markdown("With the signed test step ΔV = V2 − V0, the **asymmetric current** is what the linear part leaves:")
st.latex(r"I_{on}(t) = I_{test,ON}(t) - \Delta V\, g_{on}(t), \qquad "
         r"I_{off}(t) = I_{test,OFF}(t) + \Delta V\, g_{off}(t)")
st.markdown("After the tail level is removed (the mean of the last 20 % by default), the charges are "
            "trapezoid-rule integrals over the integration windows (default: the whole epoch):")
st.latex(r"Q_{on} = \int I_{on}\,dt \;\text{(pC)}, \qquad Q_{off} = \int I_{off}\,dt, \qquad "
         r"Q_{off}/Q_{on} \approx -1 \text{ for gating charge}")
st.markdown("From the averaged control ON transient, with I_ss its steady current and the fit "
            "I(t) = I_ss + (I0 − I_ss) exp(−t/τ):")
st.latex(r"C_{lin} = \frac{\int (I_{ctrl,ON} - I_{ss})\,dt}{V_c - V_0}, \quad R_s = \frac{\Delta V_c}{I_0}, \quad "
         r"R_m = \frac{\Delta V_c}{I_{ss}} - R_s, \quad C_m = \frac{\tau (R_s + R_m)}{R_s R_m}")
st.markdown("C_lin underestimates C_m by (R_m/(R_s+R_m))², so C_lin × (1 + R_s/R_m)² should agree with C_m. "
            "When the steady current has the wrong sign for a leak, R_m is not given and C_m ≈ τ/R_s. "
            "Q_on/C_m is the charge per capacitance in nC/µF (= pC/nF).")

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
