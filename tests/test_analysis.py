"""The analysis against synthetic cells of known truth and against the lab's real recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signal_core.analysis.pipeline import ChargeResult, SweepFailure, analyze_recording, analyze_sweep
from signal_core.filters.specs import FilterSpec
from signal_core.flags import AnalysisError
from signal_core.params import AnalysisParams, ParamsError
from signal_core.protocol.steps import ProtocolError
from signal_core.protocol.timing import ProtocolTiming
from signal_core.qv import fit_qv
from signal_core.synthetic import CellModel, simulate

GOOD = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, e_leak_mV=-10.0, q_max_pC=28.0, v_half_mV=-34.0,
                 k_mV=8.7, tau_q_ms=2.0)
LAB_TIMING = ProtocolTiming()  # 17.2 ms, 2 x (100 + 100) ms controls to -100, 100 ms test to -20, hold -80
BUTTER_2K = FilterSpec(kind="butter", cutoff_hz=2000.0, order=4)


@pytest.fixture(scope="module")
def good() -> tuple:
    sim = simulate(GOOD, LAB_TIMING, noise_pA=5.0, seed=1)
    return sim, analyze_sweep(sim.recording, 0, AnalysisParams())


def test_good_clamp_recovers_capacitance_and_charge(good):
    sim, res = good
    truth = sim.truths[0]
    assert isinstance(res, ChargeResult)
    assert res.c_m_nF == pytest.approx(GOOD.c_m_nF, rel=0.03)
    assert res.q_on_pC == pytest.approx(truth.q_on_expected_pC, rel=0.05)
    assert res.q_off_pC == pytest.approx(-res.q_on_pC, rel=0.05)
    assert res.q_off_over_on == pytest.approx(-1.0, abs=0.05)
    assert res.r_s_MOhm == pytest.approx(GOOD.r_s_MOhm, rel=0.05)
    assert res.r_m_MOhm == pytest.approx(GOOD.r_m_MOhm, rel=0.10)
    assert res.tau_ms == pytest.approx(GOOD.tau_clamp_ms, rel=0.03)
    assert res.c_lin_nF == pytest.approx(GOOD.c_lin_nF, rel=0.03)
    assert res.c_lin_corrected_nF == pytest.approx(GOOD.c_m_nF, rel=0.03)
    assert res.q_on_per_c_m_nC_per_uF == pytest.approx(res.q_on_pC / res.c_m_nF)
    assert not [f for f in res.flags if f.severity == "warning"], [f.message for f in res.flags]


def test_curves_have_their_own_time_axes(good):
    _, res = good
    fs = res.fs_hz
    # purple ON lasts the test pulse less the guard; dark blue has one row per control step
    assert res.t_on_ms.size == res.purple_on_pA.size == res.purple_on_raw_pA.size == res.tail_on_pA.size
    assert res.t_on_ms[-1] == pytest.approx(100.0 - res.guard_ms - 1e3 / fs, abs=1e3 / fs + 1e-9)
    assert res.dark_blue_on_pA_per_mV.shape == (2, res.t_ctrl_ms.size)
    assert res.magenta_on_pA_per_mV.shape == res.t_ctrl_ms.shape
    np.testing.assert_allclose(res.magenta_on_pA_per_mV, res.dark_blue_on_pA_per_mV.mean(axis=0))
    # the orange curve is 0.5 ms per point over the whole sweep
    assert np.median(np.diff(res.t_orange_s)) == pytest.approx(0.5e-3)
    assert res.t_orange_s.size == pytest.approx(1100 / 0.5, abs=1)
    # samples sit at the midpoints of their intervals, the first half a sample after the edge, and the charge
    # is the midpoint-rule integral of the purple curve from the edge (unfiltered: nothing before the edge)
    assert res.t_on_ms[0] == pytest.approx(0.5e3 / fs)
    assert res.q_on_pC == pytest.approx(np.sum(res.purple_on_pA) * (1.0 / fs), rel=1e-9)
    assert not res.purple_on_pA.flags.writeable


def test_linear_cell_has_no_charge():
    cell = CellModel(**{**GOOD.to_dict(), "q_max_pC": 0.0})
    res = analyze_sweep(simulate(cell, LAB_TIMING, noise_pA=5.0, seed=2).recording)
    # 5 pA white noise: the tail mean over 20 ms (2000 samples) is uncertain by ~0.11 pA x 3 (scaled control),
    # worth ~0.03 pC over the 99 ms epoch; 0.15 pC is 5 sigma and 1 % of the GOOD cell's charge
    assert abs(res.q_on_pC) < 0.15 and abs(res.q_off_pC) < 0.15
    # only the charge ratio (meaningless without charge) may be flagged
    assert {f.code for f in res.flags if f.severity == "warning"} <= {"q_ratio"}
    assert res.c_lin_nF == pytest.approx(cell.c_lin_nF, rel=0.02)


def test_hyperpolarising_test_pulse_moves_negative_charge():
    # charge that moves below the holding level; controls depolarise by 20 mV into a charge-free range
    cell = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=20.0, v_half_mV=-130.0, k_mV=8.0)
    timing = ProtocolTiming(v_hold_mV=-80.0, v_control_mV=-60.0, v_test_mV=-140.0)
    sim = simulate(cell, timing, noise_pA=5.0, seed=4)
    res = analyze_sweep(sim.recording)
    truth = sim.truths[0]
    assert res.v_test_mV == pytest.approx(-140.0) and res.protocol.test_step_mV == pytest.approx(-60.0)
    assert truth.q_on_expected_pC < -10
    assert res.q_on_pC == pytest.approx(truth.q_on_expected_pC, rel=0.05)
    assert res.q_off_pC == pytest.approx(-truth.q_on_expected_pC, rel=0.05)
    assert res.c_m_nF == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize(
    ("fs_hz", "timing"),
    [
        (20_000.0, ProtocolTiming(t0_ms=10, control_ms=40, control_off_ms=40, n_control=4, test_ms=40)),
        (50_000.0, ProtocolTiming(t0_ms=5, control_ms=60, control_off_ms=80, n_control=1, test_ms=60)),
        (200_000.0, ProtocolTiming(t0_ms=20, control_ms=50, control_off_ms=50, n_control=3, test_ms=50)),
        (16_000.0, ProtocolTiming(t0_ms=8, control_ms=100, control_off_ms=100, n_control=2, test_ms=100)),
    ],
)
def test_other_sampling_rates_and_timings(fs_hz, timing):
    cell = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=28.0, tau_q_ms=2.0)
    dur = timing.t0_ms + timing.n_control * (timing.control_ms + timing.control_off_ms) + timing.test_ms + 100
    sim = simulate(cell, timing, fs_hz=fs_hz, duration_ms=dur, noise_pA=2.0, seed=5)
    res = analyze_sweep(sim.recording)
    assert res.protocol.n_control == timing.n_control
    assert res.q_on_pC == pytest.approx(sim.truths[0].q_on_expected_pC, rel=0.05)
    assert res.q_off_pC == pytest.approx(-res.q_on_pC, rel=0.05)
    tau_samples = cell.tau_clamp_ms * 1e-3 * fs_hz
    if tau_samples >= 20:
        assert res.c_m_nF == pytest.approx(1.0, rel=0.03)


def test_fast_transient_is_flagged():
    cell = CellModel(c_m_nF=0.05, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=2.0)
    res = analyze_sweep(simulate(cell, LAB_TIMING, fs_hz=20_000.0, noise_pA=1.0).recording)
    assert "fast_transient" in {f.code for f in res.flags}


def test_guards_keep_q_off_right_with_a_low_pass_and_a_fast_clamp():
    sim = simulate(GOOD, LAB_TIMING, noise_pA=5.0, seed=6)
    res = analyze_sweep(sim.recording, 0, AnalysisParams(filters=(BUTTER_2K,)))
    assert res.guard_ms >= 0.5
    assert res.q_on_pC == pytest.approx(sim.truths[0].q_on_expected_pC, rel=0.05)
    assert res.q_off_pC == pytest.approx(sim.truths[0].q_off_expected_pC, rel=0.05)


def test_test_pulse_longer_than_controls_is_flagged_and_truncated():
    timing = ProtocolTiming(control_ms=50, control_off_ms=100, test_ms=100)
    res = analyze_sweep(simulate(GOOD, timing, seed=7).recording)
    assert "test_longer_than_control" in {f.code for f in res.flags}
    assert res.t_on_ms[-1] < 50.0


def test_no_voltage_channel_needs_timings():
    sim = simulate(GOOD, LAB_TIMING, with_voltage=False, noise_pA=5.0, seed=8)
    with pytest.raises(ProtocolError, match="no voltage channel"):
        analyze_sweep(sim.recording)
    res = analyze_sweep(sim.recording, 0, AnalysisParams(timing=LAB_TIMING))
    assert res.q_on_pC == pytest.approx(sim.truths[0].q_on_expected_pC, rel=0.05)
    assert "no_voltage_channel" in {f.code for f in res.flags}


def test_levels_set_by_hand_scale_the_controls():
    sim = simulate(GOOD, LAB_TIMING, noise_pA=5.0, seed=9)
    # telling the analysis the control went to -90 mV (half the real step) doubles the subtracted response
    wrong = analyze_sweep(sim.recording, 0, AnalysisParams(v_control_mV=-90.0))
    right = analyze_sweep(sim.recording, 0, AnalysisParams(v_control_mV=-100.0))
    assert right.q_on_pC == pytest.approx(sim.truths[0].q_on_expected_pC, rel=0.05)
    assert wrong.v_control_mV == -90.0
    assert abs(wrong.q_on_pC - right.q_on_pC) > 1.0


def test_windows_and_tail_modes():
    sim = simulate(GOOD, LAB_TIMING, noise_pA=5.0, seed=10)
    rec = sim.recording
    full = analyze_sweep(rec)
    # integrating only the first 2 ms misses most of a charge relaxing with ~2 ms
    part = analyze_sweep(rec, 0, AnalysisParams(integrate_on_ms=(0.0, 2.0)))
    assert abs(part.q_on_pC) < 0.9 * abs(full.q_on_pC)
    assert part.integrate_on_ms == pytest.approx((0.0, 2.0))
    # no tail correction on a clean cell changes little
    none = analyze_sweep(rec, 0, AnalysisParams(tail_mode="none"))
    assert none.q_on_pC == pytest.approx(full.q_on_pC, rel=0.05)
    # a short line window is warned about
    line = analyze_sweep(rec, 0, AnalysisParams(tail_mode="line", tail_on_ms=(90.0, 95.0)))
    assert "tail_line_short_on" in {f.code for f in line.flags}
    # a manual line through (0 ms, 5 pA) and (100 ms, 5 pA) removes 5 pA x ~99 ms = ~0.5 pC
    manual = analyze_sweep(rec, 0, AnalysisParams(tail_mode="manual", manual_tail_on=((0, 5.0), (100, 5.0)),
                                                  manual_tail_off=((0, 0.0), (100, 0.0))))
    span_s = manual.t_on_ms.size / manual.fs_hz
    assert manual.q_on_pC == pytest.approx(none.q_on_pC - 5.0 * span_s, abs=1e-9)
    with pytest.raises(AnalysisError, match="outside"):
        analyze_sweep(rec, 0, AnalysisParams(integrate_on_ms=(500.0, 600.0)))


def test_recipe_round_trips_through_json_and_reproduces_the_result():
    sim = simulate(GOOD, LAB_TIMING, noise_pA=5.0, seed=11)
    p = AnalysisParams(filters=(BUTTER_2K, FilterSpec(kind="savgol", window=11, polyorder=3)), baseline_ms=4.0,
                       tail_on_ms=(70.0, 95.0), integrate_off_ms=(0.0, 80.0), v_test_mV=-20.0, area_um2=50_000.0,
                       control_on_source="both")
    text = p.to_json()
    q = AnalysisParams.from_json(text)
    assert q == p
    assert json.loads(q.to_json()) == json.loads(text)
    a, b = analyze_sweep(sim.recording, 0, p), analyze_sweep(sim.recording, 0, q)
    assert a.scalars() == b.scalars()
    assert a.c_specific_uF_per_cm2 == pytest.approx(a.c_m_nF * 1e-3 / 5e-4)


@pytest.mark.parametrize(
    "bad",
    [{"baseline_ms": 0}, {"guard_ms": -1}, {"tail_mode": "cubic"}, {"integrate_on_ms": (5, 1)},
     {"control_on_source": "x"}, {"tail_mode": "manual"}, {"area_um2": -3}, {"tail_fraction": 0}],
)
def test_bad_parameters_are_refused_by_name(bad):
    with pytest.raises(ParamsError):
        AnalysisParams(**bad)


def test_unknown_recipe_keys_are_refused():
    with pytest.raises(ParamsError, match="unknown recipe key"):
        AnalysisParams.from_dict({"baseline": 5})
    with pytest.raises(ParamsError, match="not valid JSON"):
        AnalysisParams.from_json("{")


@pytest.mark.slow
def test_a_boltzmann_set_recovers_v_half_and_k():
    v_tests = tuple(float(v) for v in range(-70, 31, 10))
    sim = simulate(GOOD, LAB_TIMING, v_tests_mV=v_tests, noise_pA=5.0, seed=12)
    outcomes = analyze_recording(sim.recording)
    assert all(isinstance(o, ChargeResult) for o in outcomes)
    v = [o.v_test_mV for o in outcomes]
    q = [o.q_on_pC for o in outcomes]
    fit = fit_qv(v, q)
    g = GOOD.r_m_MOhm / (GOOD.r_m_MOhm + GOOD.r_s_MOhm)
    # the membrane sees g x the command, so the Boltzmann in command voltage has V_half/g and k/g
    assert fit.v_half_mV == pytest.approx(GOOD.v_half_mV / g, abs=2.0)
    assert fit.k_mV == pytest.approx(GOOD.k_mV / g, rel=0.15)
    assert fit.q_max_pC == pytest.approx(GOOD.q_max_pC, rel=0.10)


def test_a_bad_sweep_does_not_stop_the_others():
    sim = simulate(GOOD, LAB_TIMING, v_tests_mV=(-20.0, 0.0), seed=13)
    data = sim.recording.data.copy()
    data[1, 1, :] = -80.0  # second sweep: no steps in the voltage channel
    from signal_core.recording import Recording

    rec = Recording(data, sim.recording.fs_hz, ("Im", "Vm"), ("pA", "mV"), 0, 1, name="x.atf")
    out = analyze_recording(rec)
    assert isinstance(out[0], ChargeResult)
    assert isinstance(out[1], SweepFailure) and "no voltage step" in out[1].error


# --------------------------------------------------------------------------- the real recording
@pytest.fixture(scope="module")
def sample_result(sample_recording):
    return analyze_sweep(sample_recording, 0, AnalysisParams(filters=(BUTTER_2K,)))


def test_real_recording_with_a_2_khz_low_pass(sample_result):
    r = sample_result
    assert r.v_hold_mV == pytest.approx(-81.05, abs=0.3)
    assert r.v_control_mV == pytest.approx(-101.3, abs=0.3)
    assert r.v_test_mV == pytest.approx(-20.4, abs=0.3)
    assert 0.78 <= r.c_lin_nF <= 0.88
    assert 9.0 <= r.tau_ms <= 10.7
    assert 12.0 <= r.r_s_MOhm <= 16.0
    assert 3.0 <= r.q_on_pC <= 4.2
    assert -4.6 <= r.q_off_pC <= -3.0
    codes = {f.code for f in r.flags}
    assert "passive_model" in codes
    assert r.r_m_MOhm is None and r.r_in_MOhm is None
    assert r.c_m_nF == pytest.approx(r.tau_ms / r.r_s_MOhm)
    msg = next(f.message for f in r.flags if f.code == "passive_model")
    assert "R_m cannot be estimated" in msg and "wrong sign" in msg


def test_real_recording_purple_curves_are_a_clean_charge_movement(sample_result):
    r = sample_result

    def five_ms_means(t_ms, y):
        edges = np.arange(1.0, 96.0, 5.0)
        return np.array([y[(t_ms >= a) & (t_ms < a + 5.0)].mean() for a in edges])

    on = five_ms_means(r.t_on_ms, r.purple_on_pA)
    off = five_ms_means(r.t_off_ms, r.purple_off_pA)
    # data README: ON outward ~ +100 pA, OFF inward ~ -150 pA, both gone within ~60 ms
    assert 60 < on.max() < 150 and on.min() > -30
    assert -200 < off.min() < -100 and off.max() < 30
    # ...and decay: the last 20 ms stay well below the peaks (5 ms means; the interference leaves ~+/-30 pA)
    assert abs(on[-4:]).max() < 0.4 * on.max()
    assert abs(off[-4:]).max() < 0.4 * abs(off.min())


def test_real_recording_tail_correction_matters(sample_recording, sample_result):
    raw = analyze_sweep(sample_recording, 0, AnalysisParams(filters=(BUTTER_2K,), tail_mode="none"))
    # data README: about +2.5 pC ON without tail correction, against ~+3.6 with it
    assert 1.5 < raw.q_on_pC < 3.1
    assert raw.q_off_pC < 0
    assert raw.q_on_pC < sample_result.q_on_pC
    # the removed tail is a constant: Q changes by exactly tail level x epoch length
    span_s = raw.t_on_ms.size / raw.fs_hz
    assert sample_result.q_on_pC == pytest.approx(raw.q_on_pC - sample_result.tail_on_pA[0] * span_s, rel=1e-9)


def test_a_tail_that_still_drifts_is_flagged():
    sim = simulate(GOOD, LAB_TIMING, noise_pA=5.0, seed=14)
    from signal_core.recording import Recording

    data = sim.recording.data.copy()
    t = sim.recording.t_s
    on = sim.protocols[0].test
    ramp = (t >= on.on_start_s) & (t < on.on_end_s)
    data[0, 0, ramp] += -3.0 * (t[ramp] - on.on_start_s) * 1e3  # an ionic current growing by 3 pA/ms
    rec = Recording(data, sim.recording.fs_hz, ("Im", "Vm"), ("pA", "mV"), 0, 1)
    res = analyze_sweep(rec)
    codes = {f.code for f in res.flags}
    assert "tail_slope_on" in codes
    assert "tail_slope_off" not in codes
    assert "tail_slope_on" not in {f.code for f in analyze_sweep(sim.recording).flags}
