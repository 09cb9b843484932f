"""Standard errors, statistical flags, pooled control responses and the membrane frame (issue 12).

Truths come from the independent simulator ``tests/cellsim.py`` (solve_ivp of the clamp circuit)
and from the noise itself (the SD observed over repeated draws), never from the code's own output.
The full measurement (200 draws per case) is ``bench/bench_uncertainty.py``; these are its small subsets.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from cellsim import control_pulse, simulate_sweep

from bench.bench_uncertainty import (
    BUTTER,
    GOOD_CELL,
    LAB_NOISE,
    changed_controls,
    false_alarms,
    membrane_errors,
    membrane_set,
    pooling,
    se_vs_sd,
)
from signal_core.analysis.batch import ROW_KEYS
from signal_core.analysis.uncertainty import estimate_noise
from signal_core.params import AnalysisParams


def test_noise_spectrum_recovers_white_noise_and_a_tone():
    """White noise of known sigma plus a 15.625 kHz tone: sigma, the tone's frequency and amplitude come back."""
    rng = np.random.default_rng(4)
    n, fs = 110_000, 100e3
    t = np.arange(n)
    x = 40.0 * rng.standard_normal(n) + 1700.0 * np.sin(2 * np.pi * 15_625.0 / fs * t + 0.3)
    segs = [slice(0, 1500), slice(8_000, 17_000), slice(30_000, 40_000), slice(45_000, 80_000),
            slice(85_000, 110_000)]
    noise = estimate_noise(x, segs, fs)
    assert noise.line_hz == pytest.approx((15_625.0,), abs=0.05)
    assert noise.lines[0][1] == pytest.approx(1700.0, rel=0.01)
    cont = math.sqrt(noise.variance_pA2 - noise.lines[0][1] ** 2 / 2)
    assert cont == pytest.approx(40.0, rel=0.05)
    # a boxcar sum: sigma^2 N for the white part; over a whole number of the tone's periods (9984 samples = 1560
    # periods of 6.4 samples) the tone adds nothing, over 1557.5 periods (9968) it adds (A^2 / 2) / sin^2(pi f / fs)
    w = np.zeros((2, n))
    w[0, 20_000:29_984] = 1.0
    w[1, 20_000:29_968] = 1.0
    se = np.sqrt(noise.variances(w))
    assert se[0] == pytest.approx(40.0 * math.sqrt(9_984), rel=0.12)
    tone = 1700.0**2 / 2 / math.sin(math.pi * 15_625.0 / fs) ** 2
    assert se[1] == pytest.approx(math.sqrt(40.0**2 * 9_968 + tone), rel=0.03)


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("filters", [(), BUTTER], ids=["unfiltered", "butter2000"])
def test_reported_se_matches_the_observed_sd(filters):
    """40 draws of the lab's noise (the bench uses 200): the median SE within the SD's own sampling error."""
    sim = simulate_sweep(GOOD_CELL, control_pulse(-80.0, -100.0, -20.0), 100e3)
    got = se_vs_sd(sim, LAB_NOISE, AnalysisParams(filters=filters), 40, seed0=500)
    for key in ("q_on_pC", "q_off_pC", "c_lin_nF", "c_m_nF", "tau_ms", "r_s_MOhm", "q_on_corr_pC"):
        ratio, _ = got[key]
        assert 0.7 < ratio < 1.4, (key, ratio)


@pytest.mark.slow
@pytest.mark.slow
def test_good_cells_under_the_lab_noise_raise_no_warning():
    share, codes = false_alarms(20, seed=7)
    assert share >= 0.95, codes


def test_controls_that_changed_are_flagged_and_equal_ones_are_not():
    assert "controls_disagree" in changed_controls(0.15)
    assert "controls_disagree" not in changed_controls(0.0)


@pytest.mark.slow
def test_membrane_frame_recovers_the_cell_where_the_pipette_frame_does_not():
    """R_s 8 / R_m 20 MOhm: the corrected Boltzmann is the cell's (issue: 5 %, 2 mV, 5 %)."""
    cell, sims = membrane_set(-80.0)
    errors = membrane_errors(cell, sims)
    dq, dv, dk = errors["membrane"]
    assert abs(dq) < 0.05 and abs(dv) < 2.0 and abs(dk) < 0.05, errors
    pq, pv, _ = errors["pipette"]
    assert pq < -0.2 and pv > 10.0  # what the pipette frame gets wrong, by the divider R_m / (R_s + R_m)


@pytest.mark.slow
@pytest.mark.slow
def test_pooled_model_controls_are_quieter_and_unbiased():
    """A 6-sweep recording under the lab's noise: the SD of Q_on falls >= 1.5x, bias < 0.1 pC (noise-free twin)."""
    got = pooling(8)
    own_sd = got["own average"][0]
    sd, bias = got["pooled exp1"]
    assert np.median(own_sd / sd) >= 1.5, (own_sd, sd)
    assert np.max(np.abs(bias)) < 0.1, bias


def test_new_recipe_fields_round_trip_and_old_recipes_keep_their_meaning():
    p = AnalysisParams(pool_controls=True, control_model="exp2", qv_frame="membrane", qv_exclude_flagged=True,
                       qv_joint=True)
    assert AnalysisParams.from_json(p.to_json()) == p
    old = AnalysisParams().to_dict()
    for key in ("pool_controls", "control_model", "qv_frame", "qv_exclude_flagged", "qv_joint"):
        old.pop(key)
    assert AnalysisParams.from_dict(old) == AnalysisParams()
    with pytest.raises(ValueError, match="control_model"):
        AnalysisParams(control_model="exp3")
    with pytest.raises(ValueError, match="qv_frame"):
        AnalysisParams(qv_frame="cell")


def test_se_and_membrane_keys_are_in_every_row():
    for key in ("q_on_se_pC", "q_off_se_pC", "c_lin_se_nF", "c_m_se_nF", "tau_se_ms", "r_s_se_MOhm", "r_m_se_MOhm",
                "q_on_corr_pC", "q_off_corr_pC", "v_test_m_mV", "q_on_corr_se_pC", "q_off_corr_se_pC"):
        assert key in ROW_KEYS
