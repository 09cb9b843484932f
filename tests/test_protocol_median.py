"""The counting median of protocol detection (``signal_core.protocol.detect._median``) is np.median, bit for bit.

It finds a repeated middle value (quantised traces, uniform time steps) by counting and leaves
everything else to np.median; these tests compare it with np.median on the lab's recording and
on arrays built to hit every branch: ties, no ties, zeros of one or both signs, NaN and
infinities, float32, sorted and reversed data, odd and even lengths.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signal_core.protocol.detect import _median, noise_mV


def same_bits(a: float, b: float) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def test_the_real_recordings_trace_levels_and_time_step(sample_recording):
    v = sample_recording.voltage(0)
    t = sample_recording.sweep_t_s(0)
    d = np.diff(v)
    for x in (v, v[1720:11720], v[51720:], d, np.abs(d - np.median(d)), np.diff(t), sample_recording.current(0)):
        assert same_bits(_median(x.copy()), np.median(x))


def quantised(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    if kind == 0:
        return rng.normal(size=n)  # no ties: np.median decides
    if kind == 1:
        return np.round(rng.normal(size=n) * rng.uniform(0.5, 30)) / 7
    if kind == 2:  # a stepped trace on an ADC's grid
        levels = rng.choice([-80.0, -100.0, -20.0], size=n, p=rng.dirichlet(np.ones(3)))
        return np.round((levels + rng.normal(0.0, 0.3, n)) / 0.0305) * 0.0305
    if kind == 3:
        return np.sort(np.round(rng.normal(size=n) * 10))  # zeros of both signs, sorted
    if kind == 4:
        return np.sort(np.round(rng.normal(size=n) * 10))[::-1].copy()
    if kind == 5:
        return rng.choice([-0.0, 0.0, 1.0, -1.0], size=n, p=rng.dirichlet(np.ones(4)))
    if kind == 6:
        x = np.round(rng.normal(size=n) * 4)
        x[rng.integers(n, size=3)] = rng.choice([np.nan, np.inf, -np.inf], size=3)
        return x
    if kind == 7:  # the steps of a uniform time axis
        return np.diff(np.arange(n + 1) / rng.choice([1e4, 16e3, 1e5, 3e3]) + rng.uniform(0.0, 10.0))
    return (np.round(rng.normal(size=n) * 100) * 0.0305).astype(np.float32)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([511, 512, 513, 1024, 1025, 4097, 20_000, 20_001]),
       st.integers(0, 8))
def test_equals_np_median_bit_for_bit(seed, n, kind):
    x = quantised(np.random.default_rng(seed), n, kind)
    assert same_bits(_median(x.copy()), np.median(x))
    assert same_bits(_median(x.copy(), overwrite_input=True), np.median(x))


@pytest.mark.parametrize("n", [2, 3, 511])
def test_short_arrays_go_to_np_median(n):
    x = np.arange(n, dtype=np.float64)[::-1].copy()
    assert same_bits(_median(x), np.median(x))


def test_noise_of_a_quantised_trace_is_the_mad_of_its_differences():
    rng = np.random.default_rng(7)
    v = np.round((-81.0 + rng.normal(0.0, 0.2, 110_000)) / 0.0305) * 0.0305
    d = np.diff(v)
    expected = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)
    assert same_bits(noise_mV(v), expected)
