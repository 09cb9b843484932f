"""Every number a result reports, in one table: key, label, unit, number format, help.

:data:`QUANTITIES` is the single list the rest derives from:

- :meth:`signal_core.analysis.pipeline.ChargeResult.scalars` (the result dict and the
  command line's JSON), in the table's order;
- :data:`signal_core.analysis.batch.ROW_KEYS` (the rows of the CLI, the set page and the
  parallel workers; the wide CSV's columns);
- the long CSV's ``quantity``/``unit`` columns and the workbook's Summary columns and number
  formats (:mod:`signal_core.export`);
- the app's metric cards (``card=True``, in the table's order);
- the history store's number columns (``stored=True``; a new one needs an Alembic migration).

Adding a quantity is one :class:`Quantity` entry here (its key is the name of a
:class:`~signal_core.analysis.pipeline.ChargeResult` attribute or property, with the unit
in the name) plus its test.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CARD_QUANTITIES", "QUANTITIES", "QUANTITY_BY_KEY", "Quantity", "quantity"]


@dataclass(frozen=True)
class Quantity:
    """One reported number.

    Parameters
    ----------
    key : str
        Name in the result dict, the JSON and the CSV, with the unit in it (``"q_on_pC"``);
        also the :class:`~signal_core.analysis.pipeline.ChargeResult` attribute that holds it.
    name : str
        Short name without the unit (``"q_on"``): the long CSV's ``quantity`` column.
    label : str
        What people read (``"Q_on"``): card titles and workbook headers.
    unit : str
        Unit in ASCII (``"pC"``; ``""`` for a ratio).
    num_format : str
        Excel number format of the workbook's Summary sheet (``"0.000"``).
    help : str
        One or two sentences: what the number is and how it is obtained.
    card : bool
        Shown as a metric card in the app.
    stored : bool
        Copied into its own column of the history store (needs a migration when changed).
    """

    key: str
    name: str
    label: str
    unit: str
    num_format: str
    help: str
    card: bool = False
    stored: bool = False

    @property
    def header(self) -> str:
        """``"Q_on (pC)"``: label and unit, as the workbook's column header."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def unit_display(self) -> str:
        """The unit for the screen: ``uF`` written ``µF``."""
        return self.unit.replace("uF", "µF")

    @property
    def card_title(self) -> str:
        """``"Q_on/C_m (nC/µF)"``: label and display unit, as a card's title."""
        return f"{self.label} ({self.unit_display})" if self.unit else self.label


def _q(key: str, name: str, label: str, unit: str, num_format: str, help: str, *, card: bool = False,
       stored: bool = False) -> Quantity:
    return Quantity(key, name, label, unit, num_format, help, card, stored)


#: help text of a standard error
_SE = ("Standard error of {what}, from this sweep's own noise (its quiet stretches: continuous spectrum plus "
       "interference lines) carried through the control scaling, baselines, tail and integration window.")

#: Every reported number, in the order of the JSON, the CSV columns and the workbook's Summary sheet.
QUANTITIES: tuple[Quantity, ...] = (
    _q("fs_hz", "fs", "fs", "Hz", "0", "Sampling rate of the recording."),
    _q("v_hold_mV", "v_hold", "V_hold", "mV", "0.00",
       "Holding level V0: from the voltage channel, the command or the recipe."),
    _q("v_control_mV", "v_control", "V_control", "mV", "0.00",
       "Level Vc of the control steps (small hyperpolarising steps without charge movement)."),
    _q("v_test_mV", "v_test", "V_test", "mV", "0.00", "Level V2 of the test pulse.", stored=True),
    _q("q_on_pC", "q_on", "Q_on", "pC", "0.000",
       "Charge moved at the test pulse ON: integral of the purple ON curve.", card=True, stored=True),
    _q("q_off_pC", "q_off", "Q_off", "pC", "0.000",
       "Charge at the return OFF: integral of the purple OFF curve (about -Q_on).", card=True, stored=True),
    _q("q_off_over_on", "q_off_over_on", "Q_off/Q_on", "", "0.000",
       "-1 for pure gating charge; flagged outside -0.8 to -1.2.", card=True),
    _q("c_lin_nF", "c_lin", "C_lin", "nF", "0.0000",
       "Integral of the control transient above its steady current / the control step.", card=True),
    _q("c_lin_corrected_nF", "c_lin_corrected", "C_lin corrected", "nF", "0.0000",
       "C_lin × (1 + R_s/R_m)²: should agree with C_m when the passive model holds; "
       "not available without R_m.", card=True),
    _q("c_m_nF", "c_m", "C_m", "nF", "0.0000",
       "tau (R_s + R_m) / (R_s R_m); tau / R_s when R_m cannot be estimated.", card=True, stored=True),
    _q("tau_ms", "tau", "tau", "ms", "0.000",
       "Time constant of the exponential fitted to the control transient.", card=True),
    _q("r_s_MOhm", "r_s", "R_s", "MOhm", "0.00",
       "Series resistance: control step / transient extrapolated to the edge.", card=True),
    _q("r_m_MOhm", "r_m", "R_m", "MOhm", "0.0",
       "Membrane resistance: step / steady current, less R_s.", card=True),
    _q("r_in_MOhm", "r_in", "R_in", "MOhm", "0.0", "Input resistance R_s + R_m: step / steady current."),
    _q("i0_pA", "i0", "I0", "pA", "0.0",
       "Control transient extrapolated to the edge (the exponential fit at t = 0)."),
    _q("i_ss_pA", "i_ss", "I_ss", "pA", "0.0", "Steady current at the end of the control step."),
    _q("q_on_per_c_m_nC_per_uF", "q_on_per_c_m", "Q_on/C_m", "nC/uF", "0.00",
       "Charge normalised by the membrane capacitance.", card=True),
    _q("c_specific_uF_per_cm2", "c_specific", "C_m/area", "uF/cm^2", "0.000",
       "Specific membrane capacitance: C_m over the membrane area given in the recipe (empty without one)."),
    # standard errors and the membrane frame (signal_core.analysis.uncertainty): empty where not available
    _q("q_on_se_pC", "q_on_se", "SE Q_on", "pC", "0.000", _SE.format(what="Q_on")),
    _q("q_off_se_pC", "q_off_se", "SE Q_off", "pC", "0.000", _SE.format(what="Q_off")),
    _q("c_lin_se_nF", "c_lin_se", "SE C_lin", "nF", "0.0000", _SE.format(what="C_lin")),
    _q("c_m_se_nF", "c_m_se", "SE C_m", "nF", "0.0000", _SE.format(what="C_m (through tau, R_s and R_m)")),
    _q("tau_se_ms", "tau_se", "SE tau", "ms", "0.000", _SE.format(what="tau (the exponential fit, linearised)")),
    _q("r_s_se_MOhm", "r_s_se", "SE R_s", "MOhm", "0.00", _SE.format(what="R_s")),
    _q("r_m_se_MOhm", "r_m_se", "SE R_m", "MOhm", "0.0", _SE.format(what="R_m")),
    _q("q_on_corr_pC", "q_on_corr", "Q_on corrected", "pC", "0.000",
       "Membrane frame: Q_on x (R_s + R_m) / R_m, the charge the membrane moved (the pipette sees the fraction "
       "R_m / (R_s + R_m)); empty when R_m cannot be estimated."),
    _q("q_on_corr_se_pC", "q_on_corr_se", "SE Q_on corrected", "pC", "0.000",
       _SE.format(what="Q_on corrected (the charge's and R_s, R_m's)")),
    _q("q_off_corr_pC", "q_off_corr", "Q_off corrected", "pC", "0.000",
       "Membrane frame: Q_off x (R_s + R_m) / R_m; empty when R_m cannot be estimated."),
    _q("q_off_corr_se_pC", "q_off_corr_se", "SE Q_off corrected", "pC", "0.000", _SE.format(what="Q_off corrected")),
    _q("v_test_m_mV", "v_test_m", "V_test membrane", "mV", "0.00",
       "Membrane frame: the membrane potential during the test pulse, V_test - I R_s with I the steady current "
       "there (holding current, plus the step's linear and non-linear steady current); empty without R_m."),
    _q("v_test_m_se_mV", "v_test_m_se", "SE V_test membrane", "mV", "0.00", _SE.format(what="V_test membrane")),
)

#: The table by key.
QUANTITY_BY_KEY: dict[str, Quantity] = {q.key: q for q in QUANTITIES}

#: The quantities shown as the app's metric cards, in order.
CARD_QUANTITIES: tuple[Quantity, ...] = tuple(q for q in QUANTITIES if q.card)


def quantity(key: str) -> Quantity:
    """The entry of ``key`` (``"q_on_pC"``); a KeyError names the known keys."""
    try:
        return QUANTITY_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown quantity {key!r}; known: {', '.join(QUANTITY_BY_KEY)}") from None
