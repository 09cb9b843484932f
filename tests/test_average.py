"""The average of chosen sweeps: the pure function, the recipe field, and the analysis of the average."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signal_core.analysis.average import average_sweeps
from signal_core.analysis.pipeline import analyze_recording, analyze_sweep
from signal_core.flags import AnalysisError
from signal_core.params import AnalysisParams, ParamsError
from signal_core.recording import Recording, RecordingError
from signal_core.synthetic import demo_recording


@pytest.fixture(scope="module")
def repeated() -> Recording:
    """Three runs of the same protocol (test pulse to -20 mV), each with its own noise."""
    return demo_recording(v_tests_mV=(-20.0, -20.0, -20.0)).recording


def test_average_is_the_mean_of_the_chosen_sweeps_sample_by_sample(repeated):
    avg = average_sweeps(repeated, [3, 1, 3])
    assert avg.n_sweeps == 1 and avg.n_samples == repeated.n_samples
    assert np.allclose(avg.current(0), (repeated.current(0) + repeated.current(2)) / 2)
    assert np.allclose(avg.voltage(0), (repeated.voltage(0) + repeated.voltage(2)) / 2)
    assert dict(avg.header)["AveragedSweeps"] == "1, 3"
    assert avg.name == repeated.name and avg.sha256 == repeated.sha256


def test_averaging_divides_independent_noise_by_the_square_root_of_n():
    t = np.arange(20_000) / 20_000.0
    rng = np.random.default_rng(3)
    data = np.stack([np.stack([rng.normal(0.0, 10.0, t.size), np.full(t.size, -80.0)]) for _ in range(16)])
    rec = Recording(data=data, fs_hz=20_000.0, channel_names=("I", "V"), channel_units=("pA", "mV"),
                    current_channel=0, voltage_channel=1)
    sd = float(np.std(average_sweeps(rec, range(1, 17)).current(0)))
    assert sd == pytest.approx(10.0 / 4.0, rel=0.05)


def test_sweeps_of_different_lengths_average_over_the_shortest():
    data = np.full((2, 1, 10), np.nan)
    data[0, 0, :] = 1.0
    data[1, 0, :6] = 3.0
    rec = Recording(data=data, fs_hz=1000.0, channel_names=("I",), channel_units=("pA",), current_channel=0,
                    sweep_lengths=(10, 6))
    avg = average_sweeps(rec, [1, 2])
    assert avg.n_samples == 6 and np.allclose(avg.current(0), 2.0)


@pytest.mark.parametrize("sweeps", [[], [0], [4]])
def test_missing_sweeps_are_refused_by_number(repeated, sweeps):
    with pytest.raises(RecordingError, match="sweep"):
        average_sweeps(repeated, sweeps)


def test_the_charge_of_the_average_is_the_average_of_the_charges(repeated):
    """Every step (filter, baselines, control subtraction, constant tail, trapezoid) is linear in the
    current, so with the same protocol in every sweep Q(mean of sweeps) = mean of Q(sweep)."""
    p = AnalysisParams(filters=["butter:2000"])
    each = [analyze_sweep(repeated, k, p) for k in range(3)]
    avg = analyze_sweep(repeated, 0, p.replace(average_sweeps=(1, 2, 3)))
    for attr in ("q_on_pC", "q_off_pC"):
        assert getattr(avg, attr) == pytest.approx(np.mean([getattr(r, attr) for r in each]), rel=1e-3)
    assert avg.params.average_sweeps == (1, 2, 3)  # the recipe goes with the result into every export
    whole = analyze_recording(repeated, p.replace(average_sweeps=(2, 3)))
    assert len(whole) == 1 and whole[0].q_on_pC == pytest.approx(np.mean([r.q_on_pC for r in each[1:]]), rel=1e-3)


def test_a_sweep_number_beyond_the_file_is_an_analysis_error(repeated):
    with pytest.raises(AnalysisError, match="sweep"):
        analyze_sweep(repeated, 0, AnalysisParams(average_sweeps=(1, 9)))


def test_recipe_field_round_trips_and_old_recipes_keep_their_meaning():
    p = AnalysisParams(average_sweeps=[3, 1, 3])
    assert p.average_sweeps == (1, 3)
    assert AnalysisParams.from_json(p.to_json()) == p
    assert json.loads(p.to_json())["average_sweeps"] == [1, 3]
    old = json.loads(AnalysisParams().to_json())
    del old["average_sweeps"]
    assert AnalysisParams.from_dict(old).average_sweeps == ()
    for bad in ("1,2", [0], [1.5], [True]):
        with pytest.raises(ParamsError, match="average_sweeps"):
            AnalysisParams(average_sweeps=bad)
