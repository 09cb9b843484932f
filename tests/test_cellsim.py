"""The independent simulator against closed-form physics, so the truths the accuracy tests use are trustworthy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cellsim import Cell, Noise, control_pulse, simulate_sweep, to_recording


def test_passive_step_matches_the_closed_form_response():
    # a step dV through R_s into C_m || R_m: I(t) = dV/(R_s+R_m) + dV (1/R_s - 1/(R_s+R_m)) exp(-t/tau)
    cell = Cell(c_m_nF=1.0, r_s_MOhm=5.0, r_m_MOhm=200.0, e_rev_mV=-10.0)
    s = simulate_sweep(cell, control_pulse(-80.0, -100.0, -20.0, control_ms=50.0, test_ms=50.0), 100_000.0)
    t_ms = s.t_s * 1e3
    edge_ms = 10.0 + 0.5 * 1e-2
    inside = (t_ms > edge_ms) & (t_ms < 60.0)
    i_hold = (-80.0 + 10.0) / 205.0
    expect_nA = i_hold - 20.0 / 205.0 - 20.0 * (1 / 5.0 - 1 / 205.0) * np.exp(-(t_ms[inside] - edge_ms) / cell.tau_ms)
    assert np.allclose(s.i_clean_pA[inside], expect_nA * 1e3, atol=1e-3)
    assert cell.tau_ms == pytest.approx(1.0 * 5.0 * 200.0 / 205.0)


def test_pipette_sees_the_moved_charge_scaled_by_the_divider():
    # long pulses: everything the membrane moved shows in the pipette, times R_m / (R_s + R_m)
    cell = Cell(c_m_nF=1.0, r_s_MOhm=8.0, r_m_MOhm=20.0, q_max_pC=20.0, v_half_mV=-34.0, k_mV=8.7, tau_q_ms=2.0)
    s = simulate_sweep(cell, control_pulse(-80.0, -100.0, -30.0), 50_000.0)
    assert s.truth.q_on_pC == pytest.approx(cell.gain * s.truth.q_moved_on_pC, rel=1e-4)
    assert s.truth.q_off_pC == pytest.approx(-s.truth.q_on_pC, rel=1e-3)
    # the membrane sits at the divider's level, not at the command
    assert s.truth.v_test_m_mV == pytest.approx(cell.v_rest_mV(-30.0), abs=0.3)
    v_m = s.truth.v_test_m_mV
    q_eq = cell.q_inf_pC(v_m) - cell.q_inf_pC(cell.v_rest_mV(-80.0))
    assert s.truth.q_moved_on_pC == pytest.approx(q_eq, rel=2e-3)


def test_noise_is_added_only_to_the_noisy_copy_and_recording_layout():
    cell = Cell(c_m_nF=0.5, r_s_MOhm=4.0, r_m_MOhm=300.0)
    noise = Noise(white_pA=10.0, hum_pA=30.0, drift_pA_per_s=100.0, seed=3)
    s = simulate_sweep(cell, control_pulse(-80.0, -100.0, -20.0, control_ms=20.0, test_ms=20.0), 20_000.0, noise)
    resid = s.i_pA - s.i_clean_pA
    assert 5.0 < np.std(resid - 100.0 * s.t_s) < 40.0
    rec = to_recording([s, s])
    assert rec.data.shape == (2, 2, s.i_pA.size)
    assert rec.fs_hz == 20_000.0
