"""Typed analysis errors, the quality flags shown next to every result, and their one catalogue.

:data:`FLAG_KINDS` is the single list of flags the analysis can raise: a stable code, a severity,
the threshold constant the code tests (with its unit) and a help text written from that
threshold.  The analysis builds its flags with :func:`make_flag` (unknown codes are refused), the
Help page renders its table from :func:`flag_table`, and ``analyze --json``, the CSV and the
workbook carry the codes next to the messages.  Every threshold is the size of the error the flag
warns about, not a round number picked for its look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from signal_core.errors import SignalCoreError

__all__ = [
    "CHARGE_SETTLING_MAX_BIAS",
    "CONTROLS_DISAGREE_FRACTION",
    "FAST_TRANSIENT_MAX_ERROR",
    "FIT_CHI2_MAX",
    "FIT_MISFIT_MIN",
    "SIGNIFICANCE_SE",
    "FLAG_KINDS",
    "FLAG_KIND_BY_CODE",
    "HUM_MAX_BIAS",
    "OFF_INVALID_FRACTION",
    "POOR_FIT_R2",
    "Q_RATIO_TOLERANCE",
    "SETTLE_TAUS",
    "SLOW_CLAMP_MAX_BIAS",
    "TAIL_DRIFT_MAX_FRACTION",
    "AnalysisError",
    "Flag",
    "FlagKind",
    "fast_transient_min_samples",
    "flag_table",
    "make_flag",
]


class AnalysisError(SignalCoreError):
    """The analysis cannot be done with these data and parameters (the message says why)."""


@dataclass(frozen=True)
class Flag:
    """A quality remark: a short code, a severity ("info" or "warning") and a plain-language text."""

    code: str
    severity: str
    message: str

    def __str__(self) -> str:
        return self.message


# ----------------------------------------------------------------------------- thresholds
#: |1 + Q_off/Q_on| beyond this is flagged: pure gating charge returns what it moved (Q_off = -Q_on)
Q_RATIO_TOLERANCE = 0.2
#: charge_unsettled fires when the charge current still decaying in the tail window (the test's own transient, slowed
#: by the charge's capacitance) makes Q err by more than this fraction: the bound the accuracy bench holds Q to
CHARGE_SETTLING_MAX_BIAS = 0.05
#: a tail that still drifts is flagged when the drift makes the charge uncertain by more than this fraction
TAIL_DRIFT_MAX_FRACTION = 0.05
#: the accepted error of R_s and C_m caused by the sampling (fraction); sets :func:`fast_transient_min_samples`
FAST_TRANSIENT_MAX_ERROR = 0.02
#: below this R^2 the exponential does not describe the control transient
POOR_FIT_R2 = 0.5
#: the clamp's charge current, (Q / tau)(t / tau) exp(-t / tau), is below 0.3 % of its scale after this many tau:
#: a tail window starting there holds less than 2 % of the charge of a 100 ms epoch
SETTLE_TAUS = 8.0
#: slow_clamp fires when the unsettled transient may bias C_lin, I_ss or the charges by more than this fraction
SLOW_CLAMP_MAX_BIAS = 0.02
#: control steps whose transient integrals differ by more than this fraction are flagged
CONTROLS_DISAGREE_FRACTION = 0.1
#: mains_hum fires when 50/60 Hz hum can move C_lin (hum amplitude x control epoch / (|dVc| C_lin)) by more than this
HUM_MAX_BIAS = 0.03
#: Q_off is withheld when the test's unsettled ON transient leaves more than this fraction of Q_on in the OFF
OFF_INVALID_FRACTION = 0.05
#: q_ratio and controls_disagree fire only when the difference they test exceeds this many standard errors
#: (from the sweep's own noise): 3 SE is passed by noise alone once in 370 sweeps
SIGNIFICANCE_SE = 3.0
#: poor_transient_fit fires when the fit's mean squared residual exceeds this many times the noise's: the misfit
#: is then at least as large as the noise (rms), a systematic error in tau, R_s and C_m rather than scatter
FIT_CHI2_MAX = 2.0
#: ... and the misfit (rms residual) exceeds this fraction of the transient's amplitude: a smaller one moves tau
#: and I0 by well under the 2 % that the other flags accept (a noise-free trace otherwise fails on rounding)
FIT_MISFIT_MIN = 0.002


def fast_transient_min_samples(max_error: float = FAST_TRANSIENT_MAX_ERROR) -> float:
    """Fewest samples per tau at which the edge's position within a sample errs R_s by at most ``max_error``.

    The command steps somewhere between two samples; the analysis puts the edge half a sample
    before the first sample of the new level, so the edge is off by at most dt/2 and I0
    (hence R_s, and C_m through it) by at most exp(dt / (2 tau)) - 1.
    """
    return 1.0 / (2.0 * math.log1p(max_error))


@dataclass(frozen=True)
class FlagKind:
    """One entry of the catalogue.

    Parameters
    ----------
    code : str
        Stable code, the key of ``flag_codes`` in the JSON, CSV and workbook.
    severity : {"warning", "info"}
        A warning says a number may be wrong; an info is a remark.
    threshold : float or None
        The constant the analysis tests (None for flags without one).
    unit : str
        The threshold's unit ("" for fractions and ratios).
    help : str
        What it means and what to do; ``{threshold}`` is replaced by the threshold.
    """

    code: str
    severity: str
    threshold: float | None
    unit: str
    help: str

    def help_text(self) -> str:
        """The help text with the threshold written in."""
        return self.help.format(threshold=self.threshold, pct=(self.threshold or 0.0) * 100)


def _k(code: str, severity: str, threshold: float | None, unit: str, help: str) -> FlagKind:
    return FlagKind(code, severity, threshold, unit, help)


#: Every flag the analysis raises, in the order of the Help page.
FLAG_KINDS: tuple[FlagKind, ...] = (
    _k("q_ratio", "warning", Q_RATIO_TOLERANCE, "",
       "Q_off/Q_on is outside -(1 - {threshold:g}) to -(1 + {threshold:g}) and Q_on + Q_off differs from 0 by more "
       f"than {SIGNIFICANCE_SE:g} standard errors (so not by noise alone): ionic current, a drifting baseline "
       "or a poor tail window."),
    _k("tail_slope_on", "warning", TAIL_DRIFT_MAX_FRACTION, "",
       "The purple ON curve still slopes where it has settled; with the constant tail level that makes Q_on "
       "uncertain by more than {pct:.0f} % (the message gives the estimate in pC). Check the baseline, or use "
       "a tail line over a long window."),
    _k("tail_slope_off", "warning", TAIL_DRIFT_MAX_FRACTION, "",
       "As tail_slope_on, for the purple OFF curve and Q_off."),
    _k("charge_unsettled_on", "warning", CHARGE_SETTLING_MAX_BIAS, "",
       "The test pulse's own transient decays more slowly than the controls' (the moving charge adds its "
       "capacitance to the membrane's), so the purple ON curve has not settled in the tail window: part of the "
       "charge current is removed as the steady level and Q_on is too small in size by more than {pct:.0f} % "
       "(the message gives the estimate in pC, from the decay fitted with the test's own time constant). "
       "Longer test pulses settle it."),
    _k("charge_unsettled_off", "warning", CHARGE_SETTLING_MAX_BIAS, "",
       "As charge_unsettled_on, for the purple OFF curve and Q_off."),
    _k("tail_line_short_on", "warning", None, "",
       "A sloping ON tail line fitted over a short window (under 30 ms or 30 % of the epoch) is extrapolated "
       "back to the edge and can flip the charge's sign. Prefer the constant tail."),
    _k("tail_line_short_off", "warning", None, "", "As tail_line_short_on, for the OFF tail."),
    _k("slow_clamp", "warning", SLOW_CLAMP_MAX_BIAS, "",
       "The clamp time constant is long for the epochs: no part of an epoch has settled for "
       f"{SETTLE_TAUS:g} τ, so no tail level is removed there, or the control step ends before its "
       "transient has gone (I_ss and C_lin then rest on the fitted exponential). Fires when the bias this "
       "can leave exceeds {pct:.0f} %; the message states it."),
    _k("off_invalid", "warning", OFF_INVALID_FRACTION, "",
       "The test pulse is too short for its transient to settle (about 7 τ) and differs from the controls: "
       "the OFF subtraction would leave more than {pct:.0f} % of Q_on of linear current, so Q_off is not given."),
    _k("mains_hum", "warning", HUM_MAX_BIAS, "",
       "The settled holding current carries 50 or 60 Hz hum that baselines of a few ms catch at random phase: "
       "it can move C_lin (and the charges) by more than {pct:.0f} %. Add the filter mains:50 or mains:60."),
    _k("passive_model", "warning", None, "",
       "R_m cannot be estimated (a steady current with the wrong sign for a leak, or R_in not above R_s): "
       "C_m is given as τ/R_s and R_m shows '—'."),
    _k("fast_transient", "warning", FAST_TRANSIENT_MAX_ERROR, "",
       "The capacitive transient is too fast for the sampling: τ spans fewer than "
       f"{fast_transient_min_samples():.0f} samples, where not knowing where within a sample the step fell "
       "can err R_s and C_m by more than {pct:.0f} %. Record faster."),
    _k("poor_transient_fit", "warning", FIT_CHI2_MAX, "",
       "The exponential fits the transient poorly: the mean square of its residuals exceeds {threshold:g} times the "
       f"sweep's noise (R² < {POOR_FIT_R2:g} when the noise cannot be estimated): τ, R_s and C_m are unreliable."),
    _k("controls_disagree", "warning", CONTROLS_DISAGREE_FRACTION, "",
       "The control steps' capacitances differ by more than {pct:.0f} % and by more than "
       f"{SIGNIFICANCE_SE:g} standard errors: the cell or seal changed."),
    _k("no_membrane_frame", "info", None, "",
       "R_m cannot be estimated, so the charges and the test potential cannot be corrected for R_s: the "
       "membrane-frame numbers (q_on_corr_pC, q_off_corr_pC, v_test_m_mV) are empty."),
    _k("noise_unknown", "info", None, "",
       "The sweep has too little quiet baseline to estimate its noise: no standard errors, plain thresholds."),
    _k("controls_model", "info", None, "",
       "The control response subtracted is not the sweep's own average: pooled over the recording's sweeps "
       "whose controls agree, and/or a fitted exponential model (the message says which)."),
    _k("test_longer_than_control", "info", None, "",
       "The test pulse is longer than the controls: the purple curve covers only the control's length."),
    _k("no_voltage_channel", "info", None, "",
       "The protocol comes from the timing parameters, not from the recording."),
    _k("unit_override", "info", None, "",
       "A channel's unit was set by hand (recipe current_unit / voltage_unit): the file's label was wrong."),
    _k("voltage_from_command", "info", None, "",
       "Voltage from the protocol (command), not measured: the file records no voltage, or a voltage that "
       "disagrees with its command by more than its noise, so the levels and edges come from the ABF "
       "header's epoch table."),
    _k("v2_name_mismatch", "info", None, "",
       "The file name suggests another V2 than the recording; the recording wins."),
    _k("protocol_note", "info", None, "", "A remark made while finding the protocol (e.g. levels set by hand)."),
)

#: The catalogue by code.
FLAG_KIND_BY_CODE: dict[str, FlagKind] = {k.code: k for k in FLAG_KINDS}


def make_flag(code: str, message: str) -> Flag:
    """A :class:`Flag` of a catalogued ``code``, with the catalogue's severity.

    Raises
    ------
    KeyError
        ``code`` is not in :data:`FLAG_KINDS` (a programming error: add the entry first).
    """
    try:
        kind = FLAG_KIND_BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown flag code {code!r}; add it to signal_core.flags.FLAG_KINDS") from None
    return Flag(code, kind.severity, message)


def flag_table() -> list[tuple[str, str, str]]:
    """(code, severity, help with its threshold) for every catalogued flag, in order: the Help page's table."""
    return [(k.code, k.severity, k.help_text()) for k in FLAG_KINDS]
