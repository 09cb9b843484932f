"""Filters: synthetic signals with analytic answers (units: pA, s, Hz)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from signal_core.filters.chain import (
    antialias_spec,
    apply_chain,
    apply_filter,
    butter_lowpass,
    chain_settle_s,
    decimate,
    decimated_time,
    notch,
    power_spectrum,
    savgol,
    wavelet_denoise,
)
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.specs import FilterSpec, chain_from_json, chain_to_json, parse_chain

FS = 100_000.0
TONE_RMS = 1200.0


def _t(n: int, fs: float = FS) -> np.ndarray:
    return np.arange(n) / fs


def _amplitude(y: np.ndarray, t: np.ndarray, f: float) -> float:
    """Least-squares amplitude (peak) of a sinusoid of frequency f in y (with a constant)."""
    basis = np.column_stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


def _spread(y: np.ndarray, step: np.ndarray, edge: int, tol: float) -> tuple[int, int]:
    """Samples before/after ``edge`` over which |y - step| exceeds ``tol``."""
    bad = np.flatnonzero(np.abs(y - step) > tol)
    if bad.size == 0:
        return 0, 0
    return edge - int(bad.min()), int(bad.max()) + 1 - edge


# --- removing the 15.6 kHz interference -------------------------------------------------
@pytest.mark.parametrize(
    "spec", [FilterSpec("butter", cutoff_hz=2000.0), FilterSpec("notch", freq_hz=15600.0)]
)
def test_interference_removed_and_slow_signal_kept(spec):
    t = _t(20_000)
    slow = 500.0 * np.sin(2 * np.pi * 100.0 * t)
    tone = TONE_RMS * math.sqrt(2) * np.sin(2 * np.pi * 15600.0 * t + 0.7)
    y = apply_filter(slow + tone, FS, spec)
    guard = int(10 * spec.settle_s(FS) * FS) + 1
    ti, yi = t[guard:-guard], y[guard:-guard]
    tone_left = _amplitude(yi, ti, 15600.0)
    assert 20 * math.log10(tone_left / (TONE_RMS * math.sqrt(2))) < -40.0
    assert _amplitude(yi, ti, 100.0) == pytest.approx(500.0, rel=0.01)
    assert np.allclose(yi, slow[guard:-guard], atol=0.01 * 500.0)


# --- decimation and aliasing ------------------------------------------------------------
@pytest.mark.parametrize(("f_tone", "factor", "f_alias"), [(15625.0, 50, 375.0), (15600.0, 16, 3100.0)])
def test_block_mean_without_antialias_aliases(f_tone, factor, f_alias):
    # Physics: block means sample at fs/factor; the tone folds to |f - round(f / fs_new) * fs_new|,
    # scaled by the block-mean (Dirichlet) gain |sin(pi f N / fs) / (N sin(pi f / fs))|.
    fs_new = FS / factor
    assert abs(f_tone - round(f_tone / fs_new) * fs_new) == pytest.approx(f_alias)
    amp = TONE_RMS * math.sqrt(2)
    gain = abs(math.sin(math.pi * f_tone * factor / FS) / (factor * math.sin(math.pi * f_tone / FS)))
    t = _t(110_000)
    x = amp * np.sin(2 * np.pi * f_tone * t + 0.3)
    y_raw, fs_out = decimate(x, FS, factor, antialias=False)
    assert fs_out == fs_new
    t_new = decimated_time(t, factor)
    assert _amplitude(y_raw, t_new, f_alias) == pytest.approx(amp * gain, rel=0.02)
    assert amp * gain > 30.0  # a visible ripple (pA)
    spectrum = np.abs(np.fft.rfft(y_raw - y_raw.mean()))
    f_axis = np.fft.rfftfreq(y_raw.size, 1 / fs_new)
    assert abs(f_axis[np.argmax(spectrum)] - f_alias) < 2 * fs_new / y_raw.size
    y_aa, _ = decimate(x, FS, factor, antialias=True)
    guard = int(antialias_spec(FS, factor).settle_s(FS) * fs_new) + 2
    assert np.std(y_aa[guard:-guard]) < 0.01 * amp * gain


def test_decimate_keeps_slow_signal_and_drops_partial_block():
    t = _t(10_007)
    x = 300.0 * np.sin(2 * np.pi * 50.0 * t) + 20.0
    for method in ("mean", "pick"):
        y, fs_new = decimate(x, FS, 10, method=method)
        tn = decimated_time(t, 10, method)
        assert y.shape == tn.shape == (1000,)
        assert fs_new == FS / 10
        expected = 300.0 * np.sin(2 * np.pi * 50.0 * tn) + 20.0
        assert np.allclose(y[50:-50], expected[50:-50], atol=0.5)
    # 2-D: per sweep
    y2, _ = decimate(np.vstack([x, 2 * x]), FS, 10)
    assert np.allclose(y2[1], 2 * y2[0])


def test_decimated_time_block_centres():
    t = _t(105)
    assert np.allclose(decimated_time(t, 10), (np.arange(10) * 10 + 4.5) / FS)
    assert np.allclose(decimated_time(t, 10, "pick"), np.arange(10) * 10 / FS)
    assert np.array_equal(decimate(np.arange(6.0), FS, 1)[0], np.arange(6.0))


@pytest.mark.parametrize(
    ("factor", "method", "n"),
    [(0, "mean", 10), (2.5, "mean", 10), (True, "mean", 10), (2, "median", 10), (20, "mean", 10)],
)
def test_decimate_errors(factor, method, n):
    with pytest.raises(FilterError):
        decimate(np.zeros(n), FS, factor, method=method)


# --- zero phase and edges ---------------------------------------------------------------
ALL_LTI = [
    FilterSpec("butter", cutoff_hz=2000.0),
    FilterSpec("butter", cutoff_hz=500.0, order=8),
    FilterSpec("notch", freq_hz=15600.0),
    FilterSpec("savgol", window=31, polyorder=2),
]


@pytest.mark.parametrize("spec", ALL_LTI, ids=lambda s: s.label())
def test_symmetric_pulse_does_not_shift(spec):
    n, centre = 8001, 4000
    idx = np.arange(n)
    x = 5000.0 * np.exp(-0.5 * ((idx - centre) / 40.0) ** 2)
    y = apply_filter(x, FS, spec)
    centroid = np.sum(idx * y) / np.sum(y)
    assert centroid == pytest.approx(centre, abs=1e-3)
    assert np.allclose(y[centre - 500 : centre], y[centre + 500 : centre : -1], atol=1e-6 * 5000)


@pytest.mark.parametrize(
    "spec",
    [*ALL_LTI, FilterSpec("wavelet"), FilterSpec("wavelet", wavelet="sym8", threshold="hard")],
    ids=lambda s: s.label(),
)
def test_constant_stays_constant(spec):
    x = np.full((2, 5000), -432.5)
    assert np.allclose(apply_filter(x, FS, spec), -432.5, rtol=0, atol=1e-8)


def test_padding_only_matters_at_the_edges():
    n = 20_000
    x = np.zeros(n)
    x[n // 2 :] = 10_000.0
    x += np.random.default_rng(3).normal(0.0, 200.0, n)
    y = butter_lowpass(x, FS, 2000.0)
    sos = signal.butter(4, 2000.0, fs=FS, output="sos")
    guard = 10 * int(FilterSpec("butter", cutoff_hz=2000.0).settle_s(FS) * FS)
    for padtype in ("odd", "even", "constant"):
        ref = signal.sosfiltfilt(sos, x, padtype=padtype, padlen=2000)
        assert np.allclose(y[guard:-guard], ref[guard:-guard], atol=1e-6)


def test_noisy_end_sample_does_not_bend_the_edge():
    # Holding level 0 pA; the last sample happens to be a +1000 pA noise excursion.
    x = np.zeros(5000)
    x[-1] = 1000.0
    y = butter_lowpass(x, FS, 2000.0)
    sos = signal.butter(4, 2000.0, fs=FS, output="sos")
    odd = signal.sosfiltfilt(sos, x)  # scipy default: odd extension about the end sample
    tail = slice(-60, None)
    assert np.max(np.abs(odd[tail])) > 300.0  # the extension sits at 2000 pA: the edge lifts
    assert np.max(np.abs(y[tail])) < 60.0  # only the sample's own smoothed share


def test_edge_noise_is_like_interior_noise():
    # White noise (200 pA rms) at a holding level: the filtered end samples should be no
    # noisier than the interior. Odd extension leaves the end sample unfiltered.
    x = np.random.default_rng(0).normal(0.0, 200.0, (400, 3000))
    y = butter_lowpass(x, FS, 2000.0)
    interior = np.std(y[:, 1500])
    assert np.std(y[:, 0]) < 1.25 * interior and np.std(y[:, -1]) < 1.25 * interior
    odd = signal.sosfiltfilt(signal.butter(4, 2000.0, fs=FS, output="sos"), x, axis=-1)
    assert np.std(odd[:, 0]) > 3 * interior


# --- individual filters -----------------------------------------------------------------
def test_savgol_preserves_a_cubic_exactly():
    t = np.linspace(-1.0, 1.0, 401)
    x = 3.0 * t**3 - 2.0 * t**2 + 0.5 * t - 7.0
    assert np.allclose(savgol(x, 11, 3), x, atol=1e-10)
    assert np.allclose(savgol(x, 51, 3), x, atol=1e-10)
    quartic = t**4
    assert not np.allclose(savgol(quartic, 51, 3), quartic, atol=1e-6)


def test_wavelet_denoise_step_plus_noise():
    n, sigma = 16_384, 300.0
    truth = np.zeros(n)
    truth[n // 2 :] = 10_000.0
    noisy = truth + np.random.default_rng(7).normal(0.0, sigma, n)
    noisy.setflags(write=False)  # pandas 3 hands out read-only arrays
    y = wavelet_denoise(noisy)
    assert y.shape == (n,)
    guard = int(FilterSpec("wavelet").settle_s(FS) * FS)
    away = np.r_[0 : n // 2 - guard, n // 2 + guard : n]
    assert np.std((y - truth)[away]) < 0.35 * sigma
    height = np.mean(y[n // 2 + guard :]) - np.mean(y[: n // 2 - guard])
    assert height == pytest.approx(10_000.0, rel=0.03)
    # odd length and hard threshold keep the length
    assert wavelet_denoise(noisy[:-3], "sym8", 4, "hard").shape == (n - 3,)


def test_wavelet_threshold_is_universal():
    # Pure noise: the universal threshold removes nearly all detail coefficients.
    x = np.random.default_rng(11).normal(0.0, 100.0, 8192)
    y = wavelet_denoise(x, level=5)
    assert np.std(y) < 0.25 * np.std(x)


def test_read_only_and_list_inputs():
    x = np.random.default_rng(0).normal(size=(2, 2000))
    x.setflags(write=False)
    for spec in [*ALL_LTI, FilterSpec("wavelet")]:
        assert apply_filter(x, FS, spec).flags.writeable
    assert savgol(list(range(20)), 5, 1).shape == (20,)


def test_non_finite_and_empty_signals_are_refused():
    with pytest.raises(FilterError, match="NaN"):
        butter_lowpass(np.array([0.0, np.nan, 1.0]), FS, 2000.0)
    with pytest.raises(FilterError):
        butter_lowpass(np.array([]), FS, 2000.0)


# --- N-D and chains ---------------------------------------------------------------------
def test_nd_last_axis_equals_per_row_filtering():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 100.0, (3, 4096)) + np.linspace(0, 1000, 4096)
    chain = parse_chain(["notch:15600", "butter:3000", "savgol:11:3", "wavelet:db4:4"])
    y = apply_chain(x, FS, chain)
    for row in range(3):
        assert np.allclose(y[row], apply_chain(x[row], FS, chain))
    # the functions' axis argument
    assert np.allclose(butter_lowpass(x.T, FS, 2000.0, axis=0), butter_lowpass(x, FS, 2000.0).T)
    assert np.allclose(wavelet_denoise(x.T, axis=0), wavelet_denoise(x).T)
    assert np.allclose(notch(x.T, FS, 1000.0, axis=0), notch(x, FS, 1000.0).T)
    assert np.allclose(savgol(x.T, 9, 2, axis=0), savgol(x, 9, 2).T)
    x3 = x.reshape(3, 1, 4096)
    assert np.allclose(apply_chain(x3, FS, chain)[:, 0], y)


def test_chain_order_is_respected():
    rng = np.random.default_rng(9)
    x = np.where(np.arange(8192) > 4096, 5000.0, 0.0) + rng.normal(0.0, 300.0, 8192)
    a, b = FilterSpec("wavelet", threshold="hard"), FilterSpec("butter", cutoff_hz=5000.0)
    ab = apply_chain(x, FS, (a, b))
    assert np.allclose(ab, apply_filter(apply_filter(x, FS, a), FS, b))
    assert not np.allclose(ab, apply_chain(x, FS, (b, a)), atol=1.0)


def test_disabled_filter_is_a_copy_and_settles_zero():
    x = np.arange(100.0)
    off = FilterSpec("butter", cutoff_hz=80_000.0, enabled=False)  # would be invalid at 100 kHz
    y = apply_filter(x, FS, off)
    assert y is not x and np.array_equal(y, x)
    assert off.settle_s(FS) == 0.0
    assert off.label().endswith("(off)")
    on = FilterSpec("savgol", window=21)
    assert chain_settle_s((on, off, FilterSpec("notch", freq_hz=50.0)), FS) == pytest.approx(
        10 / FS + FilterSpec("notch", freq_hz=50.0).settle_s(FS)
    )
    assert np.array_equal(apply_chain(x, FS, ()), x)


# --- settling times ---------------------------------------------------------------------
def test_butter_settle_measured_from_a_step():
    # A 10 nA step through a 2 kHz, order-4 zero-phase Butterworth at 100 kHz: it stays within
    # 1 % (100 pA) of the ideal step beyond ~0.6 ms on each side (0.5 ms is the lab's round figure).
    n, edge, step = 20_000, 10_000, 10_000.0
    x = np.where(np.arange(n) >= edge, step, 0.0)
    y = butter_lowpass(x, FS, 2000.0, 4)
    before, after = _spread(y, x, edge, 0.01 * step)
    measured = max(before, after) / FS
    assert 0.4e-3 < measured < 0.7e-3
    assert before == after  # zero phase: symmetric smear
    settle = FilterSpec("butter", cutoff_hz=2000.0, order=4).settle_s(FS)
    assert settle == pytest.approx(measured, abs=1.01 / FS)
    # higher orders ring longer, lower cutoffs scale as 1/cutoff
    assert FilterSpec("butter", cutoff_hz=2000.0, order=8).settle_s(FS) > settle
    assert FilterSpec("butter", cutoff_hz=200.0).settle_s(FS) == pytest.approx(10 * settle, rel=0.02)
    assert FilterSpec("butter", cutoff_hz=2.0).settle_s(FS) == pytest.approx(1000 * settle, rel=0.05)


@pytest.mark.parametrize(
    "spec",
    [FilterSpec("notch", freq_hz=15600.0, q=q) for q in (5.0, 30.0, 100.0)]
    + [FilterSpec("savgol", window=w) for w in (11, 51)]
    + [FilterSpec("butter", cutoff_hz=c, order=o) for c, o in ((5000.0, 2), (800.0, 8))],
    ids=lambda s: s.label(),
)
def test_settle_bounds_the_measured_step_spread(spec):
    n, edge, step = 40_000, 20_000, 10_000.0
    x = np.where(np.arange(n) >= edge, step, 0.0)
    before, after = _spread(apply_filter(x, FS, spec), x, edge, 0.01 * step)
    settle_samples = spec.settle_s(FS) * FS
    assert max(before, after) <= settle_samples + 1
    if spec.kind == "savgol":
        assert max(before, after) == pytest.approx(settle_samples, abs=2)
    if spec.kind == "notch":
        assert spec.settle_s(FS) >= spec.q / (math.pi * spec.freq_hz) - 1e-12


def test_wavelet_settle_bounds_the_step_spread():
    n, edge, step = 16_384, 8_192, 10_000.0
    x = np.where(np.arange(n) >= edge, step, 0.0)
    noisy = x + np.random.default_rng(2).normal(0.0, 50.0, n)
    spec = FilterSpec("wavelet", level=5)
    before, after = _spread(apply_filter(noisy, FS, spec), x, edge, 0.01 * step)
    assert max(before, after) <= spec.settle_s(FS) * FS
    assert spec.settle_s(FS) == pytest.approx(8 * 2**5 / FS / 2)  # db4: 8 taps
    assert FilterSpec("wavelet").settle_s(FS) == pytest.approx(8 * 2**6 / FS / 2)


# --- spectrum ---------------------------------------------------------------------------
def test_power_spectrum_units_and_before_after():
    rng = np.random.default_rng(4)
    t = _t(110_000)
    noise = rng.normal(0.0, 50.0, t.size)
    x = TONE_RMS * math.sqrt(2) * np.sin(2 * np.pi * 15600.0 * t) + noise
    f, psd = power_spectrum(x, FS)
    assert f[1] - f[0] < 10.0
    # integral of the PSD is the variance: tone rms^2 + noise variance (pA^2)
    assert np.trapezoid(psd, f) == pytest.approx(TONE_RMS**2 + 50.0**2, rel=0.03)
    assert abs(f[np.argmax(psd)] - 15600.0) < 10.0
    band = (f > 15000) & (f < 16200)
    _, psd_after = power_spectrum(butter_lowpass(x, FS, 2000.0), FS)
    assert psd_after[band].max() < 1e-4 * psd[band].max()
    f2, psd2 = power_spectrum(np.vstack([noise, 2 * noise]), FS, nperseg=1024)
    assert psd2.shape == (2, f2.size) and np.allclose(psd2[1], 4 * psd2[0])
    # white noise: flat at 2 sigma^2 / fs (one-sided)
    assert np.median(psd2[0]) == pytest.approx(2 * 50.0**2 / FS, rel=0.1)
    with pytest.raises(FilterError):
        power_spectrum(noise, FS, nperseg=10**7)


# --- specs: serialisation, parsing, validation -----------------------------------------
EVERY_KIND = (
    FilterSpec("butter", cutoff_hz=2000.0, order=6),
    FilterSpec("savgol", window=21, polyorder=2, enabled=False),
    FilterSpec("wavelet", wavelet="sym8", level=5, threshold="hard"),
    FilterSpec("wavelet"),
    FilterSpec("notch", freq_hz=15600.0, q=25.0),
)


def test_json_round_trip_of_every_kind():
    text = json.dumps(chain_to_json(EVERY_KIND))
    assert chain_from_json(json.loads(text)) == EVERY_KIND
    assert json.loads(text)[0] == {"kind": "butter", "enabled": True, "cutoff_hz": 2000.0, "order": 6}
    assert set(json.loads(text)[2]) == {"kind", "enabled", "wavelet", "level", "threshold"}


def test_irrelevant_fields_are_normalised():
    a = FilterSpec("butter", cutoff_hz=2000, window=51, q=3.0)
    assert a == FilterSpec("butter", cutoff_hz=2000.0) and hash(a) == hash(
        FilterSpec("butter", cutoff_hz=2000.0)
    )
    assert a.window == 11 and isinstance(a.cutoff_hz, float)


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "lowpass"},
        {"kind": "butter"},
        {"kind": "butter", "cutoff_hz": -5},
        {"kind": "butter", "cutoff_hz": "2000"},
        {"kind": "butter", "cutoff_hz": 2000, "order": 2.5},
        {"kind": "butter", "cutoff_hz": 2000, "order": 0},
        {"kind": "butter", "cutoff_hz": 2000, "cutof": 3},
        {"kind": "savgol", "window": 10},
        {"kind": "savgol", "window": 5, "polyorder": 5},
        {"kind": "wavelet", "wavelet": "morl"},
        {"kind": "wavelet", "level": 0},
        {"kind": "wavelet", "threshold": "medium"},
        {"kind": "notch"},
        {"kind": "notch", "freq_hz": 50, "q": 0},
        {"kind": "notch", "freq_hz": float("nan")},
        {"kind": "notch", "freq_hz": 50, "enabled": "yes"},
        {"cutoff_hz": 2000},
        ["butter"],
    ],
)
def test_from_dict_refuses_bad_values(bad):
    with pytest.raises(FilterError):
        FilterSpec.from_dict(bad)


def test_chain_from_json_names_the_item():
    with pytest.raises(FilterError, match="filter 2"):
        chain_from_json([{"kind": "savgol"}, {"kind": "butter"}])
    with pytest.raises(FilterError):
        chain_from_json({"kind": "savgol"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("butter:2000", FilterSpec("butter", cutoff_hz=2000.0)),
        ("butter:2000:6", FilterSpec("butter", cutoff_hz=2000.0, order=6)),
        ("Butter:2kHz", FilterSpec("butter", cutoff_hz=2000.0)),
        ("savgol:11", FilterSpec("savgol", window=11)),
        ("savgol:21:2", FilterSpec("savgol", window=21, polyorder=2)),
        ("wavelet", FilterSpec("wavelet")),
        ("wavelet:sym8", FilterSpec("wavelet", wavelet="sym8")),
        ("wavelet:db4:5", FilterSpec("wavelet", level=5)),
        ("wavelet:db4:auto:hard", FilterSpec("wavelet", threshold="hard")),
        ("notch:15600", FilterSpec("notch", freq_hz=15600.0)),
        (" notch : 50 : 10 ", FilterSpec("notch", freq_hz=50.0, q=10.0)),
    ],
)
def test_parse_every_cli_form(text, expected):
    assert FilterSpec.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("butter", "butter needs a cutoff in Hz, e.g. butter:2000"),
        ("butter:fast", "cutoff must be a number in Hz"),
        ("butter:2000:4.5", "order must be a whole number"),
        ("butter:2000:4:1", "cannot read"),
        ("butter::4", "cannot read"),
        ("savgol", "savgol needs a window in samples"),
        ("savgol:10", "odd"),
        ("wavelet:haar2", "unknown wavelet"),
        ("wavelet:db4:x", "level must be a whole number"),
        ("notch", "notch needs a centre frequency in Hz"),
        ("notch:50:high", "Q must be a number"),
        ("lowpass:2000", "unknown filter"),
        ("", "empty filter"),
    ],
)
def test_parse_errors_are_clear(text, message):
    with pytest.raises(FilterError, match=message):
        FilterSpec.parse(text)


def test_parse_chain_keeps_order_and_names_the_bad_item():
    chain = parse_chain(["savgol:11", "butter:2000"])
    assert [s.kind for s in chain] == ["savgol", "butter"]
    with pytest.raises(FilterError, match=r"filter 2 \('butter'\)"):
        parse_chain(["savgol:11", "butter"])


def test_labels_state_units():
    assert FilterSpec("butter", cutoff_hz=2000.0).label() == "Butterworth low-pass 2000 Hz, order 4"
    assert FilterSpec("notch", freq_hz=15600.0).label() == "Notch 15600 Hz, Q 30"
    assert "samples" in FilterSpec("savgol").label()
    assert "db4" in FilterSpec("wavelet").label() and "auto" in FilterSpec("wavelet").label()


def test_validate_errors():
    with pytest.raises(FilterError, match="Nyquist"):
        FilterSpec("butter", cutoff_hz=50_000.0).validate(FS)
    with pytest.raises(FilterError, match="Nyquist"):
        butter_lowpass(np.zeros(100), FS, 60_000.0)
    with pytest.raises(FilterError, match="Nyquist"):
        FilterSpec("notch", freq_hz=50_000.0).validate(FS)
    with pytest.raises(FilterError, match="odd"):
        FilterSpec("savgol", window=10)
    with pytest.raises(FilterError, match="longer than the trace"):
        FilterSpec("savgol", window=101).validate(FS, n_samples=50)
    with pytest.raises(FilterError, match="too deep"):
        wavelet_denoise(np.zeros(100), level=8)
    with pytest.raises(FilterError, match="sampling rate"):
        FilterSpec("butter", cutoff_hz=10.0).validate(0.0)
    FilterSpec("butter", cutoff_hz=49_999.0).validate(FS)
    assert issubclass(FilterError, ValueError)


_specs = st.one_of(
    st.builds(
        FilterSpec,
        kind=st.just("butter"),
        cutoff_hz=st.floats(0.1, 1e5, allow_nan=False),
        order=st.integers(1, 12),
        enabled=st.booleans(),
    ),
    st.integers(1, 50).flatmap(
        lambda h: st.builds(
            FilterSpec,
            kind=st.just("savgol"),
            window=st.just(2 * h + 1),
            polyorder=st.integers(0, 2 * h),
            enabled=st.booleans(),
        )
    ),
    st.builds(
        FilterSpec,
        kind=st.just("wavelet"),
        wavelet=st.sampled_from(["db4", "sym8", "haar", "coif3", "bior3.5"]),
        level=st.none() | st.integers(1, 10),
        threshold=st.sampled_from(["soft", "hard"]),
        enabled=st.booleans(),
    ),
    st.builds(
        FilterSpec,
        kind=st.just("notch"),
        freq_hz=st.floats(0.1, 1e5, allow_nan=False),
        q=st.floats(0.1, 1000.0, allow_nan=False),
        enabled=st.booleans(),
    ),
)


@settings(max_examples=200, deadline=None)
@given(_specs)
def test_dict_round_trip_property(spec):
    d = spec.to_dict()
    assert FilterSpec.from_dict(json.loads(json.dumps(d))) == spec
    assert FilterSpec.from_dict(d).label() == spec.label()


