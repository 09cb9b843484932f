"""Control-pulse subtraction, charges, linear capacitance and passive parameters (DOMAIN.md section 2).

The entry points are :func:`analyze_sweep` (one sweep into a frozen
:class:`ChargeResult`) and :func:`analyze_recording` (every sweep, a failure per
sweep reported instead of stopping the others).  Every curve carries its own
time axis in ms from its edge; every number carries its unit in its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from signal_core.analysis.average import average_sweeps
from signal_core.analysis.charges import charge_step, off_invalid_flag, ratio_flag
from signal_core.analysis.hum import hum_flag
from signal_core.analysis.passive import passive_parameters
from signal_core.analysis.pooling import PooledControls, pool_controls
from signal_core.analysis.responses import CarryOver, SweepIndex, response_step, sample_times_ms, settling_tau_ms
from signal_core.analysis.uncertainty import MembraneFrame, SweepUncertainty, from_steps, statistical_flags
from signal_core.filters.chain import apply_chain, chain_settle_s, decimate, decimated_time
from signal_core.filters.kind_rules import FilterError
from signal_core.fitting import FitResult
from signal_core.flags import AnalysisError, Flag, make_flag
from signal_core.params import AnalysisParams
from signal_core.protocol.detect import COMMAND_NOTE, COMMAND_SOURCE, protocol_from_recording
from signal_core.protocol.filenames import v2_from_filename
from signal_core.protocol.steps import Protocol, ProtocolError
from signal_core.protocol.timing import protocol_from_timing
from signal_core.quantities import QUANTITIES
from signal_core.recording import UNIT_OVERRIDE_RECORD, Recording, RecordingError, reinterpret_units

__all__ = [
    "ChargeResult",
    "OrangeCurve",
    "SweepFailure",
    "analyze_recording",
    "analyze_sweep",
    "filtered_current",
    "find_protocol",
    "with_unit_override",
]


@dataclass(frozen=True, eq=False)
class OrangeCurve:
    """The filtered current of a sweep, decimated into the orange curve only when someone asks for it.

    The anti-alias filter and block means of :func:`signal_core.filters.chain.decimate` cost about
    as much as the rest of a sweep's analysis: the figures and the exports need the curve, the
    numbers (``analyze --json``, the Q-V sets) do not.  :meth:`curve` computes it once and keeps it.
    Sample times are ``t0_s + k / fs_hz`` (s), as :attr:`Recording.t_s` makes them, so only the
    current is kept.
    """

    t0_s: float
    i_pA: np.ndarray
    fs_hz: float
    decimate_ms: float

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t_s, i_pA)`` of the orange curve: times (s) and decimated current (pA), read-only."""
        got = self.__dict__.get("_curve")
        if got is None:
            t_s = self.t0_s + np.arange(self.i_pA.size, dtype=np.float64) / self.fs_hz
            t, y = _orange(t_s, self.i_pA, self.fs_hz, self.decimate_ms)
            got = (_ro(t), _ro(y))
            object.__setattr__(self, "_curve", got)  # a cache, not a value: the dataclass stays frozen
        return got


@dataclass(frozen=True, eq=False)
class ChargeResult:
    """Everything one sweep's analysis produced.

    Curves (ndarrays, read-only) and their time axes:

    - ``t_orange_s``, ``i_orange_pA``: the filtered current, decimated (orange), whole sweep.
    - ``t_ctrl_ms`` with ``dark_blue_on_pA_per_mV`` (one row per control step, each divided
      by its own signed step) and ``magenta_on_pA_per_mV`` (the average the recipe's
      ``control_on_source`` picks); likewise ``_off`` for the returns.
    - ``t_on_ms``, ``purple_on_pA``: asymmetric current ON after tail correction;
      ``purple_on_raw_pA`` before it and ``tail_on_pA`` the removed baseline; likewise OFF.
    - ``ctrl_on_mean_pA``: the averaged control ON response (pA, on ``t_ctrl_on_ms``) and
      ``ctrl_fit_pA`` the exponential fitted to it (nan outside the fit window); both on
      their own axis ``(np.arange(len) + 0.5) / fs_hz * 1e3`` (ms), see :meth:`t_ctrl_fit_ms`.

    Every time axis counts from its edge, with the first sample of the new level half a sample
    after it (the expected place of a step that falls between two samples).

    Scalars: charges pC, capacitances nF, resistances MOhm, times ms, currents pA.
    ``r_m_MOhm`` and ``r_in_MOhm`` are None when the passive model does not hold; ``q_off_pC`` is None
    (and ``q_off_over_on`` nan) when the OFF subtraction is invalid (flag ``off_invalid``).

    Examples
    --------
    The demo cell moves gating charge, so Q_off / Q_on is near -1; the purple curve is sampled
    on its own time axis (ms from the test pulse's edge):

    >>> import signal_core as sc
    >>> res = sc.analyze_sweep(sc.demo_recording().recording, 0, sc.AnalysisParams(filters=["butter:2000"]))
    >>> -1.2 < res.q_off_over_on < -0.8
    True
    >>> res.purple_on_pA.shape == res.t_on_ms.shape
    True
    >>> {"q_on_pC", "q_off_pC", "c_m_nF", "r_s_MOhm", "tau_ms"} <= set(res.scalars())
    True
    """

    sweep: int
    name: str
    fs_hz: float
    protocol: Protocol
    params: AnalysisParams
    guard_ms: float
    t_ctrl_ms: np.ndarray
    dark_blue_on_pA_per_mV: np.ndarray
    magenta_on_pA_per_mV: np.ndarray
    dark_blue_off_pA_per_mV: np.ndarray
    magenta_off_pA_per_mV: np.ndarray
    t_on_ms: np.ndarray
    purple_on_raw_pA: np.ndarray
    tail_on_pA: np.ndarray
    purple_on_pA: np.ndarray
    t_off_ms: np.ndarray
    purple_off_raw_pA: np.ndarray
    tail_off_pA: np.ndarray
    purple_off_pA: np.ndarray
    ctrl_on_mean_pA: np.ndarray
    ctrl_fit_pA: np.ndarray
    integrate_on_ms: tuple[float, float]
    integrate_off_ms: tuple[float, float]
    tail_on_ms: tuple[float, float]
    tail_off_ms: tuple[float, float]
    q_on_pC: float
    q_off_pC: float | None
    q_off_over_on: float
    c_lin_nF: float
    c_lin_corrected_nF: float | None
    c_m_nF: float
    r_s_MOhm: float
    r_m_MOhm: float | None
    r_in_MOhm: float | None
    tau_ms: float
    i0_pA: float
    i_ss_pA: float
    q_on_per_c_m_nC_per_uF: float
    c_specific_uF_per_cm2: float | None
    exp_fit: FitResult | None
    flags: tuple[Flag, ...] = field(default=())
    uncertainty: SweepUncertainty | None = None
    membrane: MembraneFrame | None = None
    orange: OrangeCurve | None = field(default=None, repr=False)

    # standard errors (signal_core.analysis.uncertainty) and the membrane frame: None where not available
    def _se(self, name: str) -> float | None:
        return None if self.uncertainty is None else getattr(self.uncertainty, name)

    @property
    def q_on_se_pC(self) -> float | None:
        return self._se("q_on_se_pC")

    @property
    def q_off_se_pC(self) -> float | None:
        return None if self.q_off_pC is None else self._se("q_off_se_pC")

    @property
    def c_lin_se_nF(self) -> float | None:
        return self._se("c_lin_se_nF")

    @property
    def c_m_se_nF(self) -> float | None:
        return self._se("c_m_se_nF")

    @property
    def tau_se_ms(self) -> float | None:
        return self._se("tau_se_ms")

    @property
    def r_s_se_MOhm(self) -> float | None:
        return self._se("r_s_se_MOhm")

    @property
    def r_m_se_MOhm(self) -> float | None:
        return None if self.r_m_MOhm is None else self._se("r_m_se_MOhm")

    @property
    def q_on_corr_pC(self) -> float | None:
        return None if self.membrane is None else self.membrane.q_on_corr_pC

    @property
    def q_off_corr_pC(self) -> float | None:
        return None if self.membrane is None or self.q_off_pC is None else self.membrane.q_off_corr_pC

    @property
    def v_test_m_mV(self) -> float | None:
        return None if self.membrane is None else self.membrane.v_test_m_mV

    @property
    def q_on_corr_se_pC(self) -> float | None:
        return None if self.q_on_corr_pC is None else self._se("q_on_corr_se_pC")

    @property
    def q_off_corr_se_pC(self) -> float | None:
        return None if self.q_off_corr_pC is None else self._se("q_off_corr_se_pC")

    @property
    def v_test_m_se_mV(self) -> float | None:
        return None if self.v_test_m_mV is None else self._se("v_test_m_se_mV")

    @property
    def v_hold_mV(self) -> float:
        return self.protocol.v_hold_mV

    @property
    def v_control_mV(self) -> float:
        return self.protocol.v_control_mV

    @property
    def v_test_mV(self) -> float:
        return self.protocol.v_test_mV

    @property
    def t_orange_s(self) -> np.ndarray:
        """Times (s) of the orange curve: decimated when first asked for (``analyze --json`` never asks)."""
        return self.orange.curve()[0] if self.orange is not None else np.empty(0)

    @property
    def i_orange_pA(self) -> np.ndarray:
        """The orange curve (pA): the filtered current, decimated when first asked for."""
        return self.orange.curve()[1] if self.orange is not None else np.empty(0)

    @property
    def t_ctrl_fit_ms(self) -> np.ndarray:
        """Time axis (ms from the edge) of ``ctrl_on_mean_pA`` and ``ctrl_fit_pA`` (samples at mid-interval)."""
        return sample_times_ms(self.ctrl_on_mean_pA.size, self.fs_hz)

    def scalars(self) -> dict[str, float | None]:
        """The numbers keyed by name with unit, in the order of :data:`signal_core.quantities.QUANTITIES`."""
        return {q.key: getattr(self, q.key) for q in QUANTITIES}

    def to_dict(self) -> dict:
        """JSON-friendly numbers, flags and the protocol (no curves)."""
        out: dict = {"sweep": self.sweep + 1, **self.scalars()}
        out["flags"] = [f.message for f in self.flags]
        out["flag_codes"] = [f.code for f in self.flags]
        out["protocol"] = self.protocol.to_dict()
        out["integrate_on_ms"] = list(self.integrate_on_ms)
        out["integrate_off_ms"] = list(self.integrate_off_ms)
        out["tail_on_ms"] = list(self.tail_on_ms)
        out["tail_off_ms"] = list(self.tail_off_ms)
        return out


@dataclass(frozen=True)
class SweepFailure:
    """A sweep that could not be analysed, with the reason in plain words.

    Attributes
    ----------
    sweep : int
        0-based sweep index.
    name : str
        The recording's file name.
    error : str
        Why, in words a physiologist understands (units as in the data: pA, mV, ms).

    Examples
    --------
    A recording with a voltage channel (mV) but no current channel (pA) cannot be analysed:

    >>> import numpy as np
    >>> import signal_core as sc
    >>> rec = sc.Recording(np.zeros((1, 1, 100)), fs_hz=1000.0, channel_names=("Vm",),
    ...                    channel_units=("mV",), voltage_channel=0, name="v_only.atf")
    >>> sc.analyze_recording(rec)[0].error
    'the recording has no current channel (no column in pA, nA or A)'
    """

    sweep: int
    name: str
    error: str


#: earlier edges' transients are removed from later responses (a second pass) when what is left of a transient at
#: the next edge, carried over the longest control epoch (no purple curve is longer), is worth more than this
#: fraction of the transient's own charge (exp(-gap / tau) x epoch / tau); 1e-3 of a 60 mV, 0.8 nF transient is
#: 0.05 pC (the real recording: 4e-4, no second pass)
CARRY_MIN_EFFECT = 1e-3

#: a current beyond +/- this (pA), 1 A, is not a membrane current (a wrong unit or a damaged file); refusing
#: it keeps every sum and square of the analysis far from overflowing
MAX_ABS_CURRENT_PA = 1e12


# ---------------------------------------------------------------------------- helpers
def _current_too_large(peak_pA: float) -> str:
    return (f"the current reaches {peak_pA:.3g} pA, beyond +/-{MAX_ABS_CURRENT_PA:g} pA: not a membrane current "
            "(a wrong unit in the file: set the current's real unit by hand, recipe current_unit, "
            "--current-unit or the Load page; or damaged data)")


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def filtered_current(rec: Recording, params: AnalysisParams) -> np.ndarray:
    """All sweeps of the current after the recipe's filter chain, shape (n_sweeps, n_samples) (pA).

    Sweeps shorter than the longest are filtered at their own length and stay NaN-padded.
    """
    if rec.current_channel is None:
        raise AnalysisError("the recording has no current channel (no column in pA, nA or A)")
    i = rec.samples_f64(slice(None), rec.current_channel)  # float64 whatever the storage (a view if float64)
    if not params.filters:
        return i
    if not rec.is_ragged:
        return apply_chain(i, rec.fs_hz, params.filters)
    out = np.full(i.shape, np.nan)
    for n, group in rec.length_groups().items():
        out[group, :n] = apply_chain(i[group, :n], rec.fs_hz, params.filters)
    return out


def with_unit_override(rec: Recording, params: AnalysisParams) -> Recording:
    """The recording with the recipe's ``current_unit`` / ``voltage_unit`` applied (itself without them).

    Raises
    ------
    AnalysisError
        The recipe names a unit for a channel the recording does not have.
    """
    if params.current_unit is None and params.voltage_unit is None:
        return rec
    try:
        return reinterpret_units(rec, current_unit=params.current_unit, voltage_unit=params.voltage_unit)
    except RecordingError as exc:
        raise AnalysisError(str(exc)) from None


def find_protocol(rec: Recording, sweep: int, params: AnalysisParams) -> Protocol:
    """The protocol of one sweep: by hand, from the recorded voltage or the file's command
    waveform (:func:`~signal_core.protocol.detect.protocol_from_recording`), or from timing parameters.

    A sweep shorter than the protocol (sweeps of different lengths) gets its own ProtocolError.
    """
    prot = None
    if params.voltage_unit is not None:
        rec = with_unit_override(rec, params)
    if params.protocol is not None:
        prot = Protocol.from_dict(params.protocol)
    else:
        prot = protocol_from_recording(rec, sweep, params.edge_threshold_mV)
    if prot is None and params.timing is not None:
        prot = protocol_from_timing(params.timing, rec.sweep_duration_s(sweep))
    elif prot is None:
        raise ProtocolError(
            "this recording has no voltage channel and no command waveform: give the protocol timings "
            "(first control step, durations, number of controls) and levels (V0, Vc, V2)"
        )
    prot = prot.with_levels(params.v_hold_mV, params.v_control_mV, params.v_test_mV)
    last = max(s.off_end_s for s in (*prot.controls, prot.test))
    end_s = rec.t0_s + rec.sweep_duration_s(sweep)
    if last > end_s + 1e-9:
        which = f"sweep {sweep + 1} ({rec.sweep_length(sweep)} samples)" if rec.is_ragged else "the sweep"
        raise ProtocolError(
            f"{which} is too short for the protocol: the protocol reaches {last * 1e3:.1f} ms but "
            f"{which} ends at {end_s * 1e3:.1f} ms"
        )
    return prot


# ---------------------------------------------------------------------------- entry points
def analyze_sweep(
    rec: Recording,
    sweep: int = 0,
    params: AnalysisParams | None = None,
    *,
    current_pA: np.ndarray | None = None,
    pooled: PooledControls | None = None,
) -> ChargeResult:
    """Analyse one sweep: control subtraction, charges, capacitance, passive parameters, flags.

    Parameters
    ----------
    rec : Recording
        The recording (pA, mV, s).
    sweep : int
        0-based sweep index.
    params : AnalysisParams, optional
        The recipe (defaults when omitted).
    current_pA : ndarray, optional
        This sweep's current already filtered with ``params.filters`` (pA), to
        share one filtering pass between sweeps; filtered here when omitted.
    pooled : PooledControls, optional
        The control response pooled over the recording's sweeps (``params.pool_controls``, see
        :func:`analyze_recording`); without it a ``control_model`` other than "average" is fitted
        to this sweep's own controls.

    Returns
    -------
    ChargeResult

    Raises
    ------
    AnalysisError, ProtocolError
        With a message that says what in the data or the parameters prevents the analysis.
    FilterError
        The filter chain does not fit this recording (e.g. a cutoff above its Nyquist frequency).

    Examples
    --------
    The demo is a simulated cell with known truth (C_m 0.7 nF, R_s 14 MOhm, test pulse to -20 mV):

    >>> import signal_core as sc
    >>> demo = sc.demo_recording()
    >>> res = sc.analyze_sweep(demo.recording, 0, sc.AnalysisParams(filters=["butter:2000"]))
    >>> round(res.v_test_mV), round(res.r_s_MOhm)
    (-20, 14)
    >>> abs(res.c_m_nF - demo.cell.c_m_nF) < 0.05 * demo.cell.c_m_nF
    True
    >>> abs(res.q_on_pC - demo.truths[0].q_on_expected_pC) < 0.1 * demo.truths[0].q_on_expected_pC
    True
    """
    params = params or AnalysisParams()
    rec = with_unit_override(rec, params)
    if params.average_sweeps:  # the recipe analyses the average of the chosen sweeps: one sweep
        try:
            rec = average_sweeps(rec, params.average_sweeps)
        except RecordingError as exc:
            raise AnalysisError(str(exc)) from None
        sweep, current_pA = 0, None
    if not 0 <= sweep < rec.n_sweeps:
        raise AnalysisError(f"sweep {sweep + 1} does not exist: the file has {rec.n_sweeps} sweep(s)")
    if rec.current_channel is None:
        raise AnalysisError("the recording has no current channel (no column in pA, nA or A)")
    fs = rec.fs_hz
    for spec in params.filters:
        spec.validate(fs)
    if current_pA is None:
        raw = rec.current(sweep)
        peak = float(np.max(np.abs(raw)))
        if not peak <= MAX_ABS_CURRENT_PA:
            raise AnalysisError(_current_too_large(peak))
        i = apply_chain(raw, fs, params.filters) if params.filters else raw
    else:
        i = np.asarray(current_pA, dtype=np.float64)
    if not np.all(np.isfinite(i)):
        raise AnalysisError("the current contains NaN or infinite values")
    prot = find_protocol(rec, sweep, params)
    settle_s = chain_settle_s(params.filters, fs)
    n_pre = int(np.ceil(settle_s * fs))
    sw = SweepIndex(i, fs, rec.t0_s, max(params.guard_ms * 1e-3, settle_s), params.baseline_ms * 1e-3)
    run_filter = _chain_runner(fs, params) if params.filters else None
    resp = response_step(sw, prot, params.control_on_source, params.control_off_source, n_pre)
    pas = passive_parameters(list(resp.ctrl_on_pA), prot, fs, n_pre, params,
                             ctrl_on_pre=list(resp.ctrl_on_pre_pA_per_mV), run_filter=run_filter)
    dv_ctrl = float(np.mean([c.step_mV for c in prot.controls]))
    carry = CarryOver.from_protocol(prot, pas.fit.params["amplitude"] / dv_ctrl, pas.tau_ms)
    longest_ms = max(max(c.on_end_s - c.on_start_s, c.off_end_s - c.on_end_s) for c in prot.controls) * 1e3
    if carry.largest() * longest_ms / pas.tau_ms > CARRY_MIN_EFFECT:
        # epochs a few tau long: clear every response of the earlier edges' transients, then fit again
        sw = SweepIndex(i, fs, rec.t0_s, max(params.guard_ms * 1e-3, settle_s), params.baseline_ms * 1e-3, carry)
        resp = response_step(sw, prot, params.control_on_source, params.control_off_source, n_pre)
        pas = passive_parameters(list(resp.ctrl_on_pA), prot, fs, n_pre, params,
                                 ctrl_on_pre=list(resp.ctrl_on_pre_pA_per_mV), run_filter=run_filter)
    if pooled is None and params.control_model != "average":  # one sweep's own controls, modelled
        pooled = pool_controls({sweep: i}, {sweep: prot}, fs, rec.t0_s, sw.guard / fs, params.baseline_ms * 1e-3,
                               max(int(round(params.fit_start_ms * 1e-3 * fs)), n_pre),
                               on_source=params.control_on_source, off_source=params.control_off_source,
                               model=params.control_model, pool=False)
    if pooled is not None:
        resp = _with_pooled(resp, pooled, prot.test_step_mV)
    settles = params.tail_mode == "constant"  # only a constant tail level is checked for unsettled charge
    on = charge_step(resp.purple_on_raw, resp.purple_on_pre, fs, params, "ON", pas.tau_ms,
                     settling_tau_ms(resp.test_on, fs, pas.tau_ms) if settles else None)
    off = charge_step(resp.purple_off_raw, resp.purple_off_pre, fs, params, "OFF", pas.tau_ms,
                      settling_tau_ms(resp.test_off, fs, pas.tau_ms) if settles else None)
    q_on = on.q_pC
    invalid = off_invalid_flag(prot, params, pas.tau_ms, pas.c_lin_nF, q_on)
    q_off: float | None = None if invalid is not None else off.q_pC
    ratio, q_flag = ratio_flag(q_on, q_off) if q_off is not None else (float("nan"), None)
    c_m = pas.c_m_nF
    q_per_c = q_on / c_m if c_m else float("nan")
    c_spec = None
    if params.area_um2:
        c_spec = c_m * 1e-3 / (params.area_um2 * 1e-8)  # nF -> uF over um^2 -> cm^2
    numbers = {"Q_on": q_on, "Q_off": q_off if q_off is not None else 0.0, "C_lin": pas.c_lin_nF, "C_m": c_m,
               "R_s": pas.r_s_MOhm, "tau": pas.tau_ms, "I0": pas.i0_pA, "I_ss": pas.i_ss_pA, "Q_on/C_m": q_per_c}
    bad = [k for k, v in numbers.items() if not np.isfinite(v)]
    if bad or (c_spec is not None and not np.isfinite(c_spec)):
        raise AnalysisError(
            f"the analysis gives numbers out of range ({', '.join(bad) or 'the specific capacitance'} not finite): "
            "the current is too small or too large for these parameters"
        )
    hum = None if any(f.kind == "mains" for f in params.filters) else hum_flag(sw, prot, pas.tau_ms, pas.c_lin_nF)
    flags = (*resp.flags, *pas.flags, *on.flags, *off.flags, *((invalid,) if invalid else ()),
             *((q_flag,) if q_flag else ()), *((hum,) if hum else ()), *_protocol_flags(rec, prot, params))
    unc, frame = from_steps(i, sw, prot, params, pas, on, off, pooled=pooled, sweep=sweep)
    flags = statistical_flags(flags, unc, q_on, q_off)
    if frame.q_on_corr_pC is None:
        flags = (*flags, make_flag("no_membrane_frame", "R_m cannot be estimated, so the charges and V_test are not "
                                                        "corrected for R_s (membrane frame empty)."))
    if pooled is not None:
        flags = (*flags, make_flag("controls_model", f"The {pooled.describe()}."))
    return ChargeResult(
        sweep=sweep,
        name=rec.name,
        fs_hz=fs,
        protocol=prot,
        params=params,
        guard_ms=sw.guard / fs * 1e3,
        t_ctrl_ms=_ro(sample_times_ms(resp.len_ctrl, fs)),
        dark_blue_on_pA_per_mV=_ro(resp.dark_on),
        magenta_on_pA_per_mV=_ro(resp.magenta_on),
        dark_blue_off_pA_per_mV=_ro(resp.dark_off),
        magenta_off_pA_per_mV=_ro(resp.magenta_off),
        t_on_ms=_ro(sample_times_ms(resp.purple_on_raw.size, fs)),
        purple_on_raw_pA=_ro(resp.purple_on_raw),
        tail_on_pA=_ro(on.tail.level_pA),
        purple_on_pA=_ro(on.purple_pA),
        t_off_ms=_ro(sample_times_ms(resp.purple_off_raw.size, fs)),
        purple_off_raw_pA=_ro(resp.purple_off_raw),
        tail_off_pA=_ro(off.tail.level_pA),
        purple_off_pA=_ro(off.purple_pA),
        ctrl_on_mean_pA=_ro(pas.mean_on_pA),
        ctrl_fit_pA=_ro(pas.fit_curve_pA),
        integrate_on_ms=on.integrate_ms,
        integrate_off_ms=off.integrate_ms,
        tail_on_ms=on.tail.window_ms,
        tail_off_ms=off.tail.window_ms,
        q_on_pC=q_on,
        q_off_pC=q_off,
        q_off_over_on=ratio,
        c_lin_nF=pas.c_lin_nF,
        c_lin_corrected_nF=pas.c_lin_corrected_nF,
        c_m_nF=c_m,
        r_s_MOhm=pas.r_s_MOhm,
        r_m_MOhm=pas.r_m_MOhm,
        r_in_MOhm=pas.r_in_MOhm,
        tau_ms=pas.tau_ms,
        i0_pA=pas.i0_pA,
        i_ss_pA=pas.i_ss_pA,
        q_on_per_c_m_nC_per_uF=q_per_c,
        c_specific_uF_per_cm2=c_spec,
        exp_fit=pas.fit,
        flags=tuple(flags),
        uncertainty=unc,
        membrane=frame,
        orange=OrangeCurve(rec.t0_s, i, fs, params.decimate_ms),
    )


def _pool(rec: Recording, params: AnalysisParams, cur: dict[int, np.ndarray]) -> PooledControls | None:
    """The control response pooled over the sweeps whose protocol can be found (None when fewer than two)."""
    prots: dict[int, Protocol] = {}
    for k in cur:
        try:
            prots[k] = find_protocol(rec, k, params)
        except ProtocolError:
            continue  # that sweep fails on its own, with this message, in analyze_sweep
    if len(prots) < 2 or len({len(p.controls) for p in prots.values()}) != 1:
        return None
    fs = rec.fs_hz
    settle_s = chain_settle_s(params.filters, fs)
    try:
        return pool_controls({k: cur[k] for k in prots}, prots, fs, rec.t0_s, max(params.guard_ms * 1e-3, settle_s),
                             params.baseline_ms * 1e-3,
                             max(int(round(params.fit_start_ms * 1e-3 * fs)), int(np.ceil(settle_s * fs))),
                             on_source=params.control_on_source, off_source=params.control_off_source,
                             model=params.control_model)
    except AnalysisError:
        return None  # each sweep then uses its own controls, and says so if its own model fails


def _with_pooled(resp, pooled: PooledControls, dv: float):
    """The responses with the pooled (or modelled) control response per mV in place of the sweep's own magenta."""
    n_on, n_off = resp.purple_on_raw.size, resp.purple_off_raw.size
    g_on = pooled.g_on_pA_per_mV
    g_off = pooled.g_off_pA_per_mV
    if g_on.size < n_on or g_off.size < n_off:
        raise AnalysisError("the pooled control response is shorter than this sweep's: pool sweeps of one protocol")
    return replace(
        resp,
        magenta_on=g_on[:resp.magenta_on.size], magenta_off=g_off[:resp.magenta_off.size],
        purple_on_raw=resp.purple_on_raw - dv * (g_on[:n_on] - resp.magenta_on[:n_on]),
        purple_off_raw=resp.purple_off_raw + dv * (g_off[:n_off] - resp.magenta_off[:n_off]),
    )


def _chain_runner(fs: float, params: AnalysisParams):
    """The recipe's filters that spread an edge, as a function of one 1-D array (the passive step's correction).

    Filters that spread nothing (``mains``: a sweep-long sinusoid subtracted) leave a transient's shape alone.
    """
    spreading = tuple(spec for spec in params.filters if spec.settle_s(fs) > 0)

    def run(x: np.ndarray) -> np.ndarray:
        return apply_chain(x, fs, spreading) if spreading else x
    return run


def _protocol_flags(rec: Recording, prot: Protocol, params: AnalysisParams) -> list[Flag]:
    """The protocol step's remarks: no voltage channel, V2 in the file name disagreeing, notes."""
    flags: list[Flag] = []
    if prot.source == COMMAND_SOURCE:
        flags.append(make_flag("voltage_from_command",
                               f"{COMMAND_NOTE[0].upper()}{COMMAND_NOTE[1:]}: the levels and edges come from the "
                               "file's epoch table."))
    elif rec.voltage_channel is None and params.protocol is None:
        flags.append(make_flag("no_voltage_channel",
                               "No voltage channel: the protocol comes from the timing parameters, "
                               "not from the recording."))
    v2_name = v2_from_filename(rec.name) if rec.name else None
    if v2_name is not None and abs(v2_name - prot.v_test_mV) > 2.0 and rec.n_sweeps == 1:
        flags.append(make_flag(
            "v2_name_mismatch",
            f"The file name suggests V2 = {v2_name:g} mV but the protocol has {prot.v_test_mV:.1f} mV "
            f"(from the {prot.source}); the {prot.source} is used.",
        ))
    for note in prot.notes:
        flags.append(make_flag("protocol_note", f"Protocol: {note}."))
    for key, note in rec.header:
        if key == UNIT_OVERRIDE_RECORD:
            flags.append(make_flag("unit_override", f"Unit set by hand: {note}."))
    return flags


def _orange(t_s: np.ndarray, i: np.ndarray, fs: float, decimate_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """The decimated (orange) curve and its times (s)."""
    factor = max(1, int(round(decimate_ms * 1e-3 * fs)))
    if factor > 1 and i.size // factor >= 2:
        i_orange, _ = decimate(i, fs, factor)
        return decimated_time(t_s[: i.size], factor), i_orange  # the sweep's own length
    return t_s[: i.size], i


def analyze_recording(rec: Recording, params: AnalysisParams | None = None) -> list[ChargeResult | SweepFailure]:
    """Analyse every sweep; a sweep that fails becomes a :class:`SweepFailure`, the others go on.

    The filter chain runs once over all sweeps; when it does not fit the recording
    (a :class:`FilterError`, e.g. a cutoff above this file's Nyquist frequency) every
    sweep fails with that message, so a batch of files goes on with the next one.
    Errors that are not about the data (bugs) are not caught.

    Parameters
    ----------
    rec : Recording
        The recording (pA, mV, s).
    params : AnalysisParams, optional
        The recipe, the same for every sweep (defaults when omitted).

    Returns
    -------
    list of ChargeResult or SweepFailure
        One per sweep, in order (charges pC, capacitances nF, resistances MOhm, times ms).

    Examples
    --------
    >>> import signal_core as sc
    >>> demo = sc.demo_recording(v_tests_mV=(-60.0, -20.0))   # two sweeps, test pulses to -60 and -20 mV
    >>> [round(r.v_test_mV) for r in sc.analyze_recording(demo.recording)]
    [-60, -20]
    """
    params = params or AnalysisParams()
    try:
        rec = with_unit_override(rec, params)
    except AnalysisError as exc:
        return [SweepFailure(k, rec.name, str(exc)) for k in range(rec.n_sweeps)]
    if rec.current_channel is None:
        message = "the recording has no current channel (no column in pA, nA or A)"
        return [SweepFailure(k, rec.name, message) for k in range(rec.n_sweeps)]
    if params.average_sweeps:  # one analysis: the average of the chosen sweeps
        try:
            return [analyze_sweep(rec, 0, params)]
        except (AnalysisError, ProtocolError, FilterError) as exc:
            return [SweepFailure(0, rec.name, str(exc))]
    peaks = np.nanmax(np.abs(rec.data[:, rec.current_channel, :]), axis=1)  # NaN: padding of short sweeps
    usable = [k for k in range(rec.n_sweeps) if peaks[k] <= MAX_ABS_CURRENT_PA]
    cur: dict[int, np.ndarray] = {}
    if usable:
        try:
            for n, group in rec.length_groups().items():  # one group unless the sweeps differ in length
                members = [k for k in group if peaks[k] <= MAX_ABS_CURRENT_PA]
                if not members:
                    continue
                for spec in params.filters:
                    spec.validate(rec.fs_hz, n)
                i = rec.samples_f64(members, rec.current_channel, n)  # float64 (ABF samples are float32)
                cur.update(zip(members, apply_chain(i, rec.fs_hz, params.filters) if params.filters else i,
                               strict=True))
        except FilterError as exc:
            message = f"the filter chain does not fit this recording: {exc}"
            return [SweepFailure(k, rec.name, message) for k in range(rec.n_sweeps)]
    out: list[ChargeResult | SweepFailure] = []
    pooled = _pool(rec, params, cur) if params.pool_controls and len(cur) > 1 else None
    for k in range(rec.n_sweeps):
        if k not in cur:
            out.append(SweepFailure(k, rec.name, _current_too_large(float(peaks[k]))))
            continue
        try:
            out.append(analyze_sweep(rec, k, params, current_pA=cur[k], pooled=pooled))
        except (AnalysisError, ProtocolError) as exc:
            out.append(SweepFailure(k, rec.name, str(exc)))
    return out

