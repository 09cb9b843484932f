"""Q(V) hygiene (issue 12): weighted fits, warnings of the fit, flags carried by the points, the membrane frame.

Truths come from the Boltzmann itself (values chosen here) and from the independent simulator
``tests/cellsim.py``, never from the code's own output.
"""

from __future__ import annotations

import numpy as np
import pytest

from signal_core.fitting import fit_boltzmann
from signal_core.params import AnalysisParams
from signal_core.qv import MAX_REL_SE, fit_qv
from signal_core.sets import QvPoint, fit_points

Q_MAX, V_HALF, K = 20.0, -34.0, 8.7
V = np.arange(-80.0, 41.0, 10.0)


def _q(v: np.ndarray) -> np.ndarray:
    return Q_MAX / (1.0 + np.exp(-(v - V_HALF) / K))


def test_weighted_fit_uses_the_errors_and_reports_them_truthfully():
    """Points with unequal SEs: weighting shrinks the scatter of V_half, and the reported SE matches it."""
    rng = np.random.default_rng(7)
    se = np.full(V.size, 0.4)
    se[-4:] = 3.0  # the large depolarisations are the noisy ones (large r = dV / dVc)
    got = []
    for _ in range(300):
        y = _q(V) + rng.normal(0.0, se)
        w = fit_boltzmann(V, y, sigma=se)
        u = fit_boltzmann(V, y)
        got.append((w.params["v_half"], w.stderr["v_half"], u.params["v_half"]))
    arr = np.array(got)
    sd_w, sd_u = arr[:, 0].std(ddof=1), arr[:, 2].std(ddof=1)
    assert sd_w < 0.75 * sd_u
    assert np.median(arr[:, 1]) == pytest.approx(sd_w, rel=0.25)
    assert abs(arr[:, 0].mean() - V_HALF) < 3 * sd_w / np.sqrt(arr.shape[0]) + 0.05


def test_weighted_fit_refuses_bad_errors():
    with pytest.raises(ValueError, match="standard errors"):
        fit_boltzmann(V, _q(V), sigma=np.zeros(V.size))


def test_fit_warns_about_few_points_and_loose_parameters():
    v = np.array([-60.0, -40.0, -20.0, 0.0])
    fit = fit_qv(v, _q(v) + np.array([0.3, -0.4, 0.5, -0.2]))
    assert any("points for 3 parameters" in w for w in fit.warnings)
    # a set that never reaches its plateau: Q_max is poorly known
    v2 = np.arange(-90.0, -49.0, 5.0)
    rng = np.random.default_rng(3)
    loose = fit_qv(v2, _q(v2) + rng.normal(0, 0.05, v2.size))
    assert any("Q_max" in w and f"{MAX_REL_SE * 100:.0f} %" in w for w in loose.warnings)
    tight = fit_qv(V, _q(V) + rng.normal(0, 0.05, V.size))
    assert tight.warnings == ()


def _point(v: float, q: float, *, warned: bool = False, se: float | None = None) -> QvPoint:
    return QvPoint(file=f"f{v}", sweep=1, v_test_mV=v, v_source="voltage channel", v_name_mV=None,
                   q_on_pC=q, q_off_pC=-q, q_off_over_on=-1.0, c_m_nF=1.0, q_on_per_c_m_nC_per_uF=q,
                   flags=("something is off",) if warned else (), excluded=False, set_id="A",
                   flag_codes=("q_ratio",) if warned else (), warned=warned, q_on_se_pC=se, q_off_se_pC=se)


def test_flagged_points_warn_and_can_be_left_out():
    q = _q(V)
    pts = [_point(v, y, warned=k % 3 != 0) for k, (v, y) in enumerate(zip(V, q, strict=True))]
    fit = fit_points(pts)
    assert any("carry warnings" in w for w in fit.warnings)
    # spoil the flagged points: leaving them out recovers the truth
    spoiled = [QvPoint(**{**p.__dict__, "q_on_pC": p.q_on_pC + 5.0}) if p.warned else p for p in pts]
    clean = fit_points(spoiled, exclude_flagged=True)
    assert clean.n_points == sum(not p.warned for p in pts)
    assert clean.v_half_mV == pytest.approx(V_HALF, abs=1e-6)
    assert clean.k_mV == pytest.approx(K, rel=1e-6)


def test_joint_fit_uses_on_and_off():
    pts = [_point(v, y) for v, y in zip(V, _q(V), strict=True)]
    fit = fit_points(pts, quantity="joint")
    assert fit.n_points == 2 * V.size
    assert fit.q_max_pC == pytest.approx(Q_MAX, rel=1e-6)


# ----------------------------------------------------------------------------- the Q-V page's switches
@pytest.fixture(scope="module")
def leaky_set(tmp_path_factory):
    """R_s 8 / R_m 20 MOhm cell (tests/cellsim.py), one file per V2, with a voltage channel, at 20 kHz."""
    from cellsim import Cell, Noise, control_pulse, simulate_sweep, to_recording

    from signal_core.io.atf_writer import write_atf

    cell = Cell(1.0, 8.0, 20.0, e_rev_mV=-80.0, q_max_pC=20.0, v_half_mV=-34.0, k_mV=8.7, tau_q_ms=2.0)
    folder = tmp_path_factory.mktemp("leaky")
    files = []
    for k, v in enumerate(range(-70, 31, 10)):
        sim = simulate_sweep(cell, control_pulse(-80.0, -100.0, float(v)), 20e3, Noise(white_pA=5.0, seed=k))
        name = f"20230115_{k + 1:04d}_{v}mVdepol.atf"
        data = write_atf(to_recording([sim], name=name))
        (folder / name).write_bytes(data)
        files.append((name, data))
    return cell, folder, files


@pytest.mark.slow
def test_sets_page_switches_fit_the_membrane_frame_and_both_charges(leaky_set):
    from app_helpers import new_app, no_errors, upload

    from app import qv_results
    from signal_core.parallel import analyze_files
    from signal_core.sets import qv_points

    cell, folder, files = leaky_set
    at = new_app()
    upload(at, *files)
    at.switch_page("pages/6_sets.py").run()
    no_errors(at)
    expected = qv_points(analyze_files([folder / n for n, _ in files], AnalysisParams(), v_test_from_name=True))

    def v_half() -> float:
        df = next(d.value for d in at.dataframe if "V_half (mV)" in d.value.columns)
        return float(df["V_half (mV)"].iloc[0])

    assert v_half() == pytest.approx(fit_points(expected).v_half_mV)
    at.toggle(key=qv_results.FRAME).set_value(True).run()
    no_errors(at)
    membrane = fit_points(expected, frame="membrane")
    assert v_half() == pytest.approx(membrane.v_half_mV)
    assert abs(membrane.v_half_mV - cell.v_half_mV) < 2.0
    at.toggle(key=qv_results.JOINT).set_value(True).run()
    no_errors(at)
    assert v_half() == pytest.approx(fit_points(expected, frame="membrane", quantity="joint").v_half_mV)
