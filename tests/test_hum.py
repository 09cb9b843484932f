"""The mains-hum check (signal_core/analysis/hum.py): its closed-form detrend, its phasor tables and the flag.

The detrend is held to numpy's least-squares line (``np.polyfit``), the phasors to ``np.exp`` of the
phase computed directly, and the flag to a hum of known amplitude and frequency added to white noise.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from signal_core.analysis.hum import _detrended, _phasors, hum_flag
from signal_core.analysis.responses import SweepIndex
from signal_core.protocol.steps import Protocol, Step

FS = 100_000.0
N = 110_000  # 1.1 s, as the lab's recording
V_HOLD, V_CTRL, V_TEST = -80.0, -100.0, -20.0


@pytest.mark.parametrize("n", [2, 3, 1000, 2043, 29_090])
def test_detrend_removes_the_least_squares_line_numpy_fits(n):
    rng = np.random.default_rng(n)
    y = 1965.0 + 0.37 * np.arange(n) + rng.normal(0.0, 50.0, n)
    x = np.arange(n) - 0.5 * (n - 1)
    expected = y - np.polyval(np.polyfit(x, y, 1), x)
    assert np.allclose(_detrended(y), expected, rtol=0.0, atol=1e-9 * np.abs(y).max())


def test_detrend_of_a_straight_line_is_zero():
    y = -12.5 + 3.25e-3 * np.arange(5000)
    assert np.abs(_detrended(y)).max() < 1e-10


@pytest.mark.parametrize(("start", "n"), [(0, 1), (7, 2), (19_577, 2043), (80_809, 29_090), (3, 4096), (3, 4097)])
@pytest.mark.parametrize("f_hz", [50.0, 60.0])
def test_phasors_equal_the_exponential_of_the_phase(start, n, f_hz):
    t_s = (np.arange(start, start + n) + 0.5) / FS
    expected = np.exp(2j * np.pi * f_hz * t_s)
    z = _phasors(start, start + n, FS, f_hz)
    assert z.shape == (n,)
    assert np.abs(z - expected).max() < 1e-12


def lab_protocol() -> Protocol:
    """Two controls and a test pulse as in the lab's recording (DOMAIN.md: 100 ms epochs from 17.2 ms)."""
    def step(on_s: float, off_end_s: float, level: float) -> Step:
        return Step(on_s, on_s + 0.1, off_end_s, level, V_HOLD)

    return Protocol(v_hold_mV=V_HOLD, controls=(step(0.0172, 0.2172, V_CTRL), step(0.2172, 0.4172, V_CTRL)),
                    test=step(0.4172, N / FS, V_TEST), duration_s=N / FS, source="voltage channel", notes=())


def sweep_with_hum(amplitude_pA: float, f_hz: float, seed: int = 1) -> SweepIndex:
    rng = np.random.default_rng(seed)
    t_s = np.arange(N) / FS
    i_pA = 1965.0 + amplitude_pA * np.sin(2 * np.pi * f_hz * t_s + 0.4) + rng.normal(0.0, 5.0, N)
    return SweepIndex(i_pA, FS, 0.0, 1e-4, 5e-3)


@pytest.mark.parametrize("f_hz", [50.0, 60.0])
def test_a_known_hum_is_flagged_with_its_frequency_and_amplitude(f_hz):
    # bias = 200 pA x 0.1 s / (20 mV x 1 nF) = 1.0 pC / pC, far above HUM_MAX_BIAS (0.03)
    flag = hum_flag(sweep_with_hum(200.0, f_hz), lab_protocol(), tau_ms=0.5, c_lin_nF=1.0)
    assert flag is not None and flag.code == "mains_hum"
    assert f"mains:{f_hz:g}" in flag.message
    amp = float(re.search(r"hum of about ([0-9.]+) pA", flag.message).group(1))
    assert amp == pytest.approx(200.0, rel=0.03)


def test_white_noise_alone_is_not_flagged():
    assert hum_flag(sweep_with_hum(0.0, 50.0), lab_protocol(), tau_ms=0.5, c_lin_nF=1.0) is None
