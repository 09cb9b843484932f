"""The simulated cell obeys the circuit's analytic answers (so it can serve as ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from signal_core.protocol.timing import ProtocolTiming
from signal_core.synthetic import CellModel, boltzmann_charge_pC, demo_recording, simulate

FS = 100_000.0
TIMING = ProtocolTiming(t0_ms=10.0, control_ms=50.0, control_off_ms=50.0, n_control=2, test_ms=50.0,
                        v_hold_mV=-80.0, v_control_mV=-100.0, v_test_mV=-20.0)


def test_linear_cell_matches_the_circuit():
    cell = CellModel(c_m_nF=1.0, r_s_MOhm=5.0, r_m_MOhm=200.0, e_leak_mV=-10.0, q_max_pC=0.0)
    sim = simulate(cell, TIMING, fs_hz=FS, duration_ms=400.0)
    i = sim.recording.current(0)
    t = sim.recording.t_s
    # holding current: (V0 - E) / (R_s + R_m), mV / MOhm = nA
    i_hold = (-80.0 + 10.0) / 205.0 * 1e3
    assert i[0] == pytest.approx(i_hold, rel=1e-12)
    edge = int(round(0.010 * FS))
    dv = -20.0
    # at the edge: the whole step across R_s
    assert i[edge] - i_hold == pytest.approx(dv / 5.0 * 1e3, rel=1e-9)
    # exponential decay with tau = C R_s R_m / (R_s + R_m) = 4.878 ms to dV / (R_s + R_m)
    tau_s = 1.0 * 5.0 * 200.0 / 205.0 * 1e-3
    for k in (edge + 1, edge + int(round(tau_s * FS)), edge + 4900):
        expected = dv / 205.0 * 1e3 + (dv / 5.0 - dv / 205.0) * 1e3 * np.exp(-(t[k] - t[edge]) / tau_s)
        assert i[k] - i_hold == pytest.approx(expected, rel=1e-9)
    assert i[edge + 4900] - i_hold == pytest.approx(dv / 205.0 * 1e3, rel=5e-3)  # e^-10 left
    # the voltage channel is the command
    v = sim.recording.voltage(0)
    assert v[edge - 1] == -80.0 and v[edge] == -100.0
    assert cell.c_lin_nF == pytest.approx(1.0 * (200 / 205) ** 2)


def test_transient_integral_is_c_lin_times_step():
    cell = CellModel(c_m_nF=0.8, r_s_MOhm=2.0, r_m_MOhm=300.0, q_max_pC=0.0)
    sim = simulate(cell, TIMING, fs_hz=FS, duration_ms=400.0)
    i = sim.recording.current(0)
    a, b = int(0.010 * FS), int(0.060 * FS)
    seg = i[a:b] - i[b - 1]
    q = np.trapezoid(seg, dx=1 / FS)  # pC
    # trapezoid error on an exponential is ~ (dt/tau)^2 / 12, here 3e-6; the tail past 50 ms is e^-31
    assert q == pytest.approx(cell.c_lin_nF * -20.0, rel=1e-4)


def test_charge_movement_integrates_to_the_moved_charge():
    cell = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=1000.0, q_max_pC=30.0, v_half_mV=-30.0, k_mV=8.0,
                     tau_q_ms=2.0)
    linear = simulate(CellModel(**{**cell.to_dict(), "q_max_pC": 0.0}), TIMING, fs_hz=FS, duration_ms=400.0)
    full = simulate(cell, TIMING, fs_hz=FS, duration_ms=400.0)
    i_nl = full.recording.current(0) - linear.recording.current(0)
    a, b = int(0.210 * FS), int(0.260 * FS)
    q_on = np.sum(i_nl[a:b]) / FS
    truth = full.truths[0]
    g = 1000.0 / 1001.0
    expected = (boltzmann_charge_pC(-20 * g, 30, -30, 8) - boltzmann_charge_pC(-80 * g, 30, -30, 8)) * g
    assert truth.q_moved_test_pC * g == pytest.approx(expected, rel=1e-9)
    assert q_on == pytest.approx(expected, rel=5e-3)
    c, d = int(0.260 * FS), int(0.310 * FS)
    assert np.sum(i_nl[c:d]) / FS == pytest.approx(-expected, rel=5e-3)


def test_one_sweep_per_test_level_and_noise_is_reproducible():
    a = simulate(v_tests_mV=(-60.0, -20.0, 20.0), noise_pA=10.0, seed=3, duration_ms=1100.0)
    b = simulate(v_tests_mV=(-60.0, -20.0, 20.0), noise_pA=10.0, seed=3, duration_ms=1100.0)
    assert a.recording.n_sweeps == 3
    assert [t.v_test_mV for t in a.truths] == [-60.0, -20.0, 20.0]
    assert np.array_equal(a.recording.data, b.recording.data)
    assert [p.v_test_mV for p in a.protocols] == [-60.0, -20.0, 20.0]


def test_demo_looks_like_the_lab_sample():
    demo = demo_recording()
    rec = demo.recording
    assert rec.fs_hz == 100_000.0 and rec.n_samples == 110_000
    assert demo.cell.tau_clamp_ms == pytest.approx(9.8, rel=0.05)
    # the interference tone is there: ~1200 pA rms around the holding current
    i = rec.current(0)[:1500]
    assert np.std(i) == pytest.approx(1200.0, rel=0.1)
    assert rec.name.endswith(".atf")


def test_synthetic_recording_round_trips_through_atf_bytes():
    from signal_core.io.atf import read_atf

    sim = simulate(v_tests_mV=(-20.0, 0.0), noise_pA=3.0, seed=9, duration_ms=600.0)
    rec = read_atf(sim.to_atf_bytes(), name="sim.atf")
    assert rec.data.shape == sim.recording.data.shape
    np.testing.assert_allclose(rec.data, sim.recording.data, rtol=1e-6, atol=1e-3)
    assert rec.fs_hz == sim.recording.fs_hz and rec.current_channel == 0 and rec.voltage_channel == 1
