"""Fits: exact recovery on noiseless data, honest standard errors on noisy data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from signal_core.fitting import (
    FitError,
    FitResult,
    fit_boltzmann,
    fit_exponential,
    fit_line,
    rt_over_f_mV,
    valence_from_k,
    valence_se,
)

V_MV = np.arange(-80.0, 40.1, 10.0)
BOLTZ = {"q_max": 28.0, "v_half": -34.0, "k": 8.7}


def _boltzmann(v, q_max=28.0, v_half=-34.0, k=8.7, offset=0.0):
    return offset + q_max / (1.0 + np.exp(-(v - v_half) / k))


def _within(result: FitResult, truth: dict[str, float], n_se: float = 3.0) -> bool:
    return all(abs(result.params[k] - v) <= n_se * result.stderr[k] for k, v in truth.items())


# --- line -------------------------------------------------------------------------------
def test_line_exact_and_stderr_formula():
    x = np.linspace(-5.0, 5.0, 11)
    r = fit_line(x, 2.5 * x - 1.0)
    assert r.model == "line" and r.n_points == 11
    assert r.params["slope"] == pytest.approx(2.5) and r.params["intercept"] == pytest.approx(-1.0)
    assert r.r_squared == pytest.approx(1.0)
    assert r.stderr["slope"] == pytest.approx(0.0, abs=1e-12)
    # textbook: se(slope) = s / sqrt(sum (x - xbar)^2), s^2 = SSR / (n - 2)
    y = 2.5 * x - 1.0 + np.random.default_rng(1).normal(0.0, 0.3, x.size)
    r = fit_line(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    s2 = np.sum((y - slope * x - intercept) ** 2) / (x.size - 2)
    assert r.params["slope"] == pytest.approx(slope)
    assert r.stderr["slope"] == pytest.approx(math.sqrt(s2 / np.sum((x - x.mean()) ** 2)))
    assert r.stderr["intercept"] == pytest.approx(
        math.sqrt(s2 * (1 / x.size + x.mean() ** 2 / np.sum((x - x.mean()) ** 2)))
    )
    assert np.allclose(r.predict(x), slope * x + intercept)


def test_line_two_points_has_no_stderr():
    r = fit_line([0.0, 1.0], [1.0, 3.0])
    assert r.params["slope"] == pytest.approx(2.0)
    assert math.isnan(r.stderr["slope"]) and math.isnan(r.stderr["intercept"])


# --- exponential ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amplitude", "tau", "offset"),
    [(-1670.0, 9.8, 230.0), (3000.0, 0.5, -20.0), (-50.0, 40.0, 0.0), (1.0e-3, 2.0, 1.0e-3)],
)
def test_exponential_exact_recovery(amplitude, tau, offset):
    t = np.linspace(0.0, 100.0, 5001)  # ms
    r = fit_exponential(t, offset + amplitude * np.exp(-t / tau))
    assert r.params["amplitude"] == pytest.approx(amplitude, rel=1e-6)
    assert r.params["tau"] == pytest.approx(tau, rel=1e-6)
    assert r.params["offset"] == pytest.approx(offset, rel=1e-6, abs=1e-9)
    assert r.r_squared == pytest.approx(1.0)


def test_exponential_capacitive_transient_decaying_down():
    # I = 230 + (-1440 - 230) exp(-t / 9.8 ms), 100 kHz for 100 ms, 100 pA rms noise
    rng = np.random.default_rng(22)
    t_ms = np.arange(10_000) * 0.01
    i_pA = 230.0 + (-1440.0 - 230.0) * np.exp(-t_ms / 9.8) + rng.normal(0.0, 100.0, t_ms.size)
    r = fit_exponential(t_ms, i_pA)
    assert r.params["tau"] == pytest.approx(9.8, rel=0.02)
    assert r.params["amplitude"] == pytest.approx(-1670.0, rel=0.02)
    assert r.params["offset"] == pytest.approx(230.0, abs=10.0)
    assert _within(r, {"amplitude": -1670.0, "tau": 9.8, "offset": 230.0})
    assert r.r_squared > 0.9  # 100 pA noise on a ~1.7 nA transient
    # times in s give tau in s
    r_s = fit_exponential(t_ms / 1000.0, i_pA)
    assert r_s.params["tau"] == pytest.approx(r.params["tau"] / 1000.0, rel=1e-6)
    assert r_s.stderr["tau"] == pytest.approx(r.stderr["tau"] / 1000.0, rel=1e-4)


def test_exponential_decaying_up_and_late_start_extrapolates_to_zero():
    # Fit starts 2 ms after the edge: amplitude is still the value at t = 0 (the edge).
    t = np.arange(200, 5000) * 0.01
    y = -100.0 + 800.0 * np.exp(-t / 3.0)
    r = fit_exponential(t, y)
    assert r.params["amplitude"] == pytest.approx(800.0, rel=1e-6)
    assert r.predict(0.0) == pytest.approx(700.0, rel=1e-6)
    # unsorted input and a start value
    perm = np.random.default_rng(0).permutation(t.size)
    r2 = fit_exponential(t[perm], y[perm], tau0=50.0)
    assert r2.params["tau"] == pytest.approx(3.0, rel=1e-6)


def test_exponential_stderr_is_honest_over_many_noise_draws():
    t = np.linspace(0.0, 50.0, 400)
    truth = {"amplitude": 500.0, "tau": 6.0, "offset": 40.0}
    clean = 40.0 + 500.0 * np.exp(-t / 6.0)
    hits = 0
    for seed in range(100):
        noisy = clean + np.random.default_rng(seed).normal(0.0, 30.0, t.size)
        hits += _within(fit_exponential(t, noisy), truth)
    assert hits >= 90


def test_exponential_many_points():
    t = np.arange(100_000) * 1e-5  # 1 s at 100 kHz
    y = 230.0 - 1670.0 * np.exp(-t / 9.8e-3) + np.random.default_rng(3).normal(0.0, 50.0, t.size)
    r = fit_exponential(t, y)
    assert r.params["tau"] == pytest.approx(9.8e-3, rel=0.01)
    assert r.n_points == 100_000


@pytest.mark.parametrize(
    ("t", "y", "message"),
    [
        ([0.0, 1.0], [2.0, 1.0], "at least 3"),
        ([0.0, 0.0, 0.0, 1.0], [3.0, 2.0, 2.0, 1.0], "at least 3"),
        ([0.0, 1.0, 2.0], [1.0, np.nan, 0.0], "NaN"),
        ([0.0, 1.0, np.inf], [1.0, 0.5, 0.0], "NaN"),
        ([0.0, 1.0, 2.0], [1.0, 0.5], "same length"),
        (np.arange(10.0), np.full(10, 4.0), "flat"),
        (np.arange(50.0), 3.0 * np.arange(50.0) + 1.0, "straight line"),
    ],
)
def test_exponential_errors(t, y, message):
    with pytest.raises(FitError, match=message):
        fit_exponential(t, y)


def test_exponential_bad_tau0():
    with pytest.raises(FitError, match="tau0"):
        fit_exponential(np.arange(10.0), np.exp(-np.arange(10.0)), tau0=-1.0)


# --- Boltzmann --------------------------------------------------------------------------
def test_boltzmann_exact_recovery():
    r = fit_boltzmann(V_MV, _boltzmann(V_MV))
    for name, value in BOLTZ.items():
        assert r.params[name] == pytest.approx(value, rel=1e-6)
    assert set(r.params) == {"q_max", "v_half", "k"}
    assert r.r_squared == pytest.approx(1.0)
    assert np.allclose(r.predict(V_MV), _boltzmann(V_MV))


def test_boltzmann_with_offset_exact_and_decreasing_charge():
    q = _boltzmann(V_MV, offset=-4.0)
    r = fit_boltzmann(V_MV, q, with_offset=True)
    assert set(r.params) == {"q_max", "v_half", "k", "offset"}
    assert r.params["offset"] == pytest.approx(-4.0, abs=1e-6)
    assert r.params["v_half"] == pytest.approx(-34.0, abs=1e-6)
    # charge of the other sign (e.g. OFF charges): q_max < 0, k stays > 0
    r_neg = fit_boltzmann(V_MV, -_boltzmann(V_MV))
    assert r_neg.params["q_max"] == pytest.approx(-28.0, rel=1e-6)
    assert r_neg.params["k"] == pytest.approx(8.7, rel=1e-6)


def test_boltzmann_noisy_simon_beam_values():
    # Qmax 28 nC/uF, V_half -34 mV, k 8.7 mV, -80..+40 mV every 10 mV, 3 % noise.
    # (Over many noise draws these tolerances hold ~94 % of the time; the seed is fixed.)
    q = _boltzmann(V_MV) + np.random.default_rng(2024).normal(0.0, 0.03 * 28.0, V_MV.size)
    r = fit_boltzmann(V_MV, q)
    assert abs(r.params["v_half"] - (-34.0)) < 2.0
    assert r.params["k"] == pytest.approx(8.7, rel=0.15)
    assert _within(r, BOLTZ)
    assert r.r_squared > 0.98
    r_off = fit_boltzmann(V_MV, q + 3.0, with_offset=True)
    assert abs(r_off.params["v_half"] - (-34.0)) < 2.0
    assert abs(r_off.params["offset"] - 3.0) < 2.0  # ~5 standard errors; coverage is tested below


@pytest.mark.parametrize("with_offset", [False, True])
def test_boltzmann_stderr_is_honest_over_many_noise_draws(with_offset):
    rng = np.random.default_rng(7)
    truth = {**BOLTZ, "offset": 3.0} if with_offset else BOLTZ
    clean = _boltzmann(V_MV, offset=truth.get("offset", 0.0))
    hits = dict.fromkeys(truth, 0)
    n = 200
    for _ in range(n):
        r = fit_boltzmann(V_MV, clean + rng.normal(0.0, 0.03 * 28.0, V_MV.size), with_offset=with_offset)
        for name, value in truth.items():
            hits[name] += abs(r.params[name] - value) <= 3 * r.stderr[name]
    assert all(h >= 0.93 * n for h in hits.values()), hits


def test_boltzmann_start_values_and_far_start():
    q = _boltzmann(V_MV)
    r = fit_boltzmann(V_MV, q, v_half0=10.0, k0=30.0)
    assert r.params["v_half"] == pytest.approx(-34.0, rel=1e-6)


@pytest.mark.parametrize(
    ("v", "q", "kwargs", "message"),
    [
        ([-40.0, 0.0], [1.0, 2.0], {}, "at least 3"),
        ([-40.0, 0.0, 20.0], [1.0, 2.0, 3.0], {"with_offset": True}, "at least 4"),
        ([-40.0, 0.0, 0.0, 20.0], [1.0, 2.0, 2.0, 3.0], {"with_offset": True}, "at least 4"),
        ([-40.0, 0.0, 20.0], [1.0, np.nan, 3.0], {}, "NaN"),
        (V_MV, np.where(V_MV > -30, 28.0, 0.0), {}, "slope factor k"),
        (V_MV, _boltzmann(V_MV), {"k0": -3.0}, "k0"),
    ],
)
def test_boltzmann_errors(v, q, kwargs, message):
    with pytest.raises(FitError, match=message):
        fit_boltzmann(v, q, **kwargs)


# --- valence ----------------------------------------------------------------------------
def test_valence_from_k():
    rt_f = 8.314462618 * 295.15 / 96485.33212 * 1000.0  # mV, computed independently
    assert rt_f == pytest.approx(25.43, abs=0.01)
    assert rt_over_f_mV(22.0) == pytest.approx(rt_f, rel=1e-12)
    assert valence_from_k(25.4) == pytest.approx(1.0, abs=0.002)
    assert valence_from_k(rt_f) == pytest.approx(1.0, rel=1e-12)
    assert valence_from_k(8.7) == pytest.approx(rt_f / 8.7)
    assert valence_from_k(8.7, temperature_C=37.0) == pytest.approx(
        8.314462618 * 310.15 / 96485.33212 * 1000 / 8.7
    )
    with pytest.raises(FitError):
        valence_from_k(0.0)
    with pytest.raises(FitError):
        valence_from_k(8.7, temperature_C=-300.0)


def test_valence_se_matches_propagation():
    k, se = 8.7, 0.6
    z = valence_from_k(k)
    numeric = (valence_from_k(k - 1e-4) - valence_from_k(k + 1e-4)) / 2e-4 * se
    assert valence_se(k, se) == pytest.approx(numeric, rel=1e-6)
    assert valence_se(k, se) == pytest.approx(z * se / k)
    assert math.isnan(valence_se(k, math.nan))


# --- result object ----------------------------------------------------------------------
def test_result_to_dict_is_json_and_round_trips():
    r = fit_line([0.0, 1.0], [1.0, 3.0])  # stderr nan -> null
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["stderr"] == {"slope": None, "intercept": None}
    back = FitResult.from_dict(d)
    assert back.params == r.params and back.model == "line" and math.isnan(back.stderr["slope"])
    rb = fit_boltzmann(V_MV, _boltzmann(V_MV, offset=1.0), with_offset=True)
    assert np.allclose(
        FitResult.from_dict(json.loads(json.dumps(rb.to_dict()))).predict(V_MV), rb.predict(V_MV)
    )
    with pytest.raises(FitError):
        FitResult.from_dict({"model": "line"})
    with pytest.raises(FitError):
        FitResult("cubic", {}, {}, 1.0, 3)
    assert issubclass(FitError, ValueError)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exponential_fit_reaches_the_least_squares_optimum(seed):
    """On noisy data the gradient of the sum of squares vanishes at the fit, and any nearby tau is worse."""
    rng = np.random.default_rng(seed)
    t = np.arange(9850) / 100.0  # ms at 100 kHz
    y = 223.0 - 1668.0 * np.exp(-t / 9.82) + rng.normal(0.0, 300.0, t.size)
    r = fit_exponential(t, y)
    a, tau, c = r.params["amplitude"], r.params["tau"], r.params["offset"]
    e = np.exp(-t / tau)
    res = y - (c + a * e)
    jac = np.column_stack([e, a * t / tau**2 * e, np.ones_like(t)])
    grad = jac.T @ res
    assert np.all(np.abs(grad) <= 1e-9 * np.linalg.norm(jac, axis=0) * np.linalg.norm(res))

    def ssr_at(tau_k):  # amplitude and offset solved exactly for a given tau
        x = np.column_stack([np.exp(-t / tau_k), np.ones_like(t)])
        coef = np.linalg.lstsq(x, y, rcond=None)[0]
        return float(np.sum((y - x @ coef) ** 2))

    best = float(res @ res)
    assert all(ssr_at(tau * f) > best for f in (0.999, 1.001))
    assert abs(tau - 9.82) < 5 * r.stderr["tau"]


@pytest.mark.parametrize("scale", [1e-300, 1e-6, 1e6, 1e100])
def test_exponential_fit_does_not_depend_on_the_unit_of_y(scale):
    t = np.arange(2000) * 0.01
    y = 3.0 - 5.0 * np.exp(-t / 2.5) + 0.05 * np.sin(37.0 * t)  # a deterministic "noise"
    ref = fit_exponential(t, y)
    got = fit_exponential(t, y * scale)
    assert got.params["tau"] == pytest.approx(ref.params["tau"], rel=1e-9)
    assert got.params["amplitude"] == pytest.approx(ref.params["amplitude"] * scale, rel=1e-9)
    assert got.params["offset"] == pytest.approx(ref.params["offset"] * scale, rel=1e-9)
