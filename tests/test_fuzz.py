"""Fuzzing the readers and the analysis entry points (issue 7): only the documented errors may escape.

(a) ``read_recording`` on arbitrary bytes and on mutated valid ATF bytes (byte flips, line
deletions and duplications, column insertions, truncations); whatever still reads is analysed.
(b) ``analyze_sweep`` / ``analyze_recording`` on small synthetic recordings with fuzzed
parameters: windows outside the sweep, zero or negative durations, V_control = V_hold,
V_test = V_hold, huge or tiny baseline and guard, random filter chains, timings and manual
protocols with edges beyond the sweep or overlapping.

Documented errors: RecordingFormatError (AtfFormatError, AbfFormatError, RecordingTooLargeError)
from the readers; ParamsError, ProtocolError, FilterError from building a recipe; AnalysisError,
ProtocolError, FilterError from the analysis.  RuntimeWarnings (division by zero, overflow) are
errors here.  Every reported number must be finite (None where documented).

Example counts come from a settings profile: ``fuzz-ci`` (4,000 examples in all, derandomized so
every CI run checks the same examples) when the environment has ``CI`` set (``scripts/test.sh``
runs pytest with CI=1), ``fuzz-dev`` (480, random, so local runs keep exploring) otherwise;
``FUZZ_PROFILE`` picks one by name (``fuzz-long``: 40,000 random examples, a bug hunt of ~3 minutes).
"""

from __future__ import annotations

import functools
import math
import os
import warnings

import corpus
import numpy as np
from corpus import assert_sane
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from signal_core.analysis.pipeline import ChargeResult, SweepFailure, analyze_recording, analyze_sweep
from signal_core.errors import RecordingFormatError
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.specs import FilterSpec
from signal_core.flags import AnalysisError
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams, ParamsError
from signal_core.protocol.steps import ProtocolError
from signal_core.protocol.timing import ProtocolTiming
from signal_core.recording import Recording
from signal_core.synthetic import CellModel, simulate

_COMMON = {"deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]}
settings.register_profile("fuzz-ci", max_examples=4_000, derandomize=True, **_COMMON)  # same examples each run
settings.register_profile("fuzz-dev", max_examples=480, **_COMMON)
settings.register_profile("fuzz-long", max_examples=40_000, **_COMMON)  # a bug hunt: FUZZ_PROFILE=fuzz-long
PROFILE = settings.get_profile(os.environ.get("FUZZ_PROFILE") or ("fuzz-ci" if os.environ.get("CI") else "fuzz-dev"))
#: share of the profile's examples each test runs (sums to 1)
SHARE = {"bytes": 0.2, "mutated": 0.2, "params": 0.2, "filters": 0.1, "protocol": 0.15, "timing": 0.1,
         "values": 0.05}
assert abs(sum(SHARE.values()) - 1.0) < 1e-9


def fuzz(share: str):
    return settings(PROFILE, max_examples=max(10, round(PROFILE.max_examples * SHARE[share])))


READ_ERRORS = RecordingFormatError
BUILD_ERRORS = (ParamsError, ProtocolError, FilterError)
ANALYSIS_ERRORS = (AnalysisError, ProtocolError, FilterError)


def strict():
    """RuntimeWarnings (0/0, overflow, mean of nothing) become errors."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", RuntimeWarning)
    return ctx


def check_outcomes(rec: Recording, outcomes: list) -> None:
    assert len(outcomes) == rec.n_sweeps
    for k, out in enumerate(outcomes):
        assert out.sweep == k
        if isinstance(out, SweepFailure):
            assert out.error and isinstance(out.error, str)
        else:
            assert isinstance(out, ChargeResult)
            assert_sane(out)
    event("sweeps analysed" if any(isinstance(o, ChargeResult) for o in outcomes) else "every sweep failed")


def read_and_analyse(data: bytes, name: str, fs_hz) -> None:
    ctx = strict()
    try:
        try:
            rec = read_recording(data, name=name, fs_hz=fs_hz)
        except READ_ERRORS as exc:
            assert str(exc)
            event(f"refused: {type(exc).__name__}")
            return
        assert np.isfinite(rec.data).all() and rec.n_samples >= 2
        assert math.isfinite(rec.fs_hz) and rec.fs_hz > 0
        if rec.n_sweeps * rec.n_samples <= 50_000:
            check_outcomes(rec, analyze_recording(rec))
    finally:
        ctx.__exit__(None, None, None)


# ------------------------------------------------------------------------- (a) readers
PREFIXES = [b"", b"ATF\t1.0\n", b"ATF 1.0\r\n2\t3\n", b"ABF2", b"ABF ", b"\xef\xbb\xbf", b"\xff\xfe",
            b"ATF\t1.0\n0\t2\n\"Time (s)\"\t\"Trace #1 (pA)\"\n"]
NAMES = st.sampled_from(["x.atf", "x.abf", "x.txt", "", "<script>.atf", "noext"])
RATES = st.sampled_from([None, 1000.0, 0.0, -1.0, math.nan, math.inf])


@fuzz("bytes")
@given(st.sampled_from(PREFIXES), st.binary(max_size=1500), NAMES, RATES)
def test_arbitrary_bytes_are_read_or_refused(prefix, body, name, fs_hz):
    read_and_analyse(prefix + body, name, fs_hz)


@functools.cache
def valid_lines() -> tuple[bytes, ...]:
    return tuple(corpus.valid_small().split(b"\n"))


TOKENS = [b"\t", b",", b";", b" ", b"\r", b'"', b"=", b".", b"-", b"e", b"nan", b"inf", b"1e999", b"\x00",
          b"\xb5", b"\xff", b"<b>", b"0", b"9999999"]
DIGIT_EDIT = st.tuples(st.just("digit"), st.floats(0, 1), st.sampled_from(b"0123456789"))
MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),  # one byte replaced
    st.tuples(st.just("token"), st.floats(0, 1), st.sampled_from(TOKENS)),  # a token inserted
    st.tuples(st.just("delete_line"), st.floats(0, 1), st.integers(1, 3)),
    st.tuples(st.just("duplicate_line"), st.floats(0, 1), st.integers(1, 3)),
    st.tuples(st.just("swap_lines"), st.floats(0, 1), st.floats(0, 1)),
    st.tuples(st.just("insert_column"), st.floats(0, 1), st.sampled_from([b"0", b"1.5", b"x", b""])),
    st.tuples(st.just("insert_column_everywhere"), st.integers(0, 3), st.sampled_from([b"0", b"-80", b"x"])),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("header_number"), st.integers(0, 1), st.sampled_from([0, 1, 2, 4, 9, 10**6])),
)


def mutate(lines: list[bytes], mutation) -> list[bytes]:
    kind, where, arg = mutation
    n = len(lines)
    if n < 3 or not any(lines):
        return lines  # nothing left to mutate
    if kind in ("flip", "token", "truncate"):
        data = bytearray(b"\n".join(lines))
        pos = min(int(where * len(data)), len(data) - 1)
        if kind == "flip":
            data[pos] = arg
        elif kind == "token":
            data[pos:pos] = arg
        else:
            del data[pos:]
        return bytes(data).split(b"\n")
    k = min(int(where * n), n - 1) if isinstance(where, float) else where
    if kind == "digit":  # in a data row (line 12 on), one character of one number
        k = 11 + min(int(where * (n - 11)), n - 12) if n > 12 else k
        row = bytearray(lines[k])
        first_sep = row.find(b"\t")  # not in the time column (a wrong time is refused, rightly)
        digits = [i for i, c in enumerate(row) if chr(c) in "0123456789" and i > first_sep]
        if digits:
            row[digits[int(where * 1e6) % len(digits)]] = arg
        return lines[:k] + [bytes(row)] + lines[k + 1:]
    if kind == "delete_line":
        return lines[:k] + lines[k + arg:]
    if kind == "duplicate_line":
        return lines[:k] + [lines[k]] * (arg + 1) + lines[k + 1:]
    if kind == "swap_lines":
        j = min(int(arg * n), n - 1)
        out = list(lines)
        out[k], out[j] = out[j], out[k]
        return out
    if kind == "insert_column":
        cells = lines[k].split(b"\t")
        cells.insert(len(cells) // 2, arg)
        return lines[:k] + [b"\t".join(cells)] + lines[k + 1:]
    if kind == "insert_column_everywhere":  # a whole column, titles included, line 2 unchanged
        out = list(lines)
        for i in range(2, n):
            cells = out[i].split(b"\t")
            if len(cells) > 1:
                cells.insert(min(k, len(cells)), b'"Trace #1 (pA)"' if b'"' in out[i] else arg)
                out[i] = b"\t".join(cells)
        return out
    # header_number: change the records count or the columns count of line 2
    counts = lines[1].split(b"\t")
    counts[min(where, len(counts) - 1)] = str(arg).encode()
    return [lines[0], b"\t".join(counts), *lines[2:]]


@fuzz("mutated")
@given(st.lists(DIGIT_EDIT, max_size=6), st.lists(MUTATION, max_size=2), st.sampled_from([None, 10_000.0]),
       st.sampled_from(["\n", "\r\n"]))
def test_mutated_valid_files_are_read_or_refused(digit_edits, mutations, fs_hz, eol):
    """Digits changed in the data (the file still reads: odd values reach the analysis), plus up to two
    structural mutations: a byte or token anywhere, lines deleted, repeated or swapped, columns inserted,
    a truncation, other counts on line 2."""
    lines = list(valid_lines())
    for m in [*digit_edits, *mutations]:
        lines = mutate(lines, m)
    read_and_analyse(eol.encode().join(lines), "mutated.atf", fs_hz)


# ------------------------------------------------------------------------- (b) the analysis
@functools.cache
def recordings() -> tuple[Recording, ...]:
    """Small recordings (a few hundred to 1,700 samples) that analyse in a few ms."""
    cell = corpus.CELL
    out = [corpus.base1(), corpus.base3()]
    out.append(simulate(cell, ProtocolTiming(t0_ms=3, control_ms=8, control_off_ms=8, n_control=1, test_ms=8,
                                             v_control_mV=-60.0, v_test_mV=-140.0),
                        fs_hz=5_000.0, duration_ms=40.0, noise_pA=2.0, seed=1).recording)
    out.append(simulate(CellModel(c_m_nF=0.2, r_s_MOhm=5.0, r_m_MOhm=50.0, q_max_pC=0.0), corpus.TIMING,
                        fs_hz=20_000.0, duration_ms=corpus.DURATION_MS, noise_pA=20.0, seed=2).recording)
    out.append(simulate(cell, corpus.TIMING, fs_hz=10_000.0, duration_ms=corpus.DURATION_MS, noise_pA=1.0,
                        with_voltage=False, seed=3).recording)
    return tuple(out)


finite = st.floats(allow_nan=False, allow_infinity=False)
odd_float = st.one_of(
    st.floats(-1e3, 1e3), st.sampled_from([0.0, -0.0, 1e-12, 1e-300, 1e12, 1e300, math.inf, -math.inf, math.nan]),
)


def _weighted(valid, hostile, n_valid: int):
    # st.one_of(valid, valid, valid, hostile) would not weight: equal branches are merged
    return st.sampled_from([True] * n_valid + [False]).flatmap(lambda ok: valid if ok else hostile)


def mostly(valid, hostile):
    """Three times out of four a sensible value, else a hostile one."""
    return _weighted(valid, hostile, 3)


def rarely(valid, hostile):
    """Seven times out of eight a sensible value (for things that appear several times per example)."""
    return _weighted(valid, hostile, 7)


duration = st.one_of(st.floats(-5, 200), st.sampled_from([0.0, -1.0, 1e-9, 1e9, math.inf, math.nan]))
window = mostly(st.tuples(st.floats(0, 10), st.floats(10.1, 14)), st.tuples(duration, duration))
level = mostly(st.sampled_from([-100.0, -60.0, -20.0, 0.0, 20.0]),
               st.one_of(st.sampled_from([-80.0]), st.floats(-200, 100), odd_float))
points = st.tuples(st.tuples(st.floats(0, 14), st.floats(-50, 50)), st.tuples(st.floats(0, 14), st.floats(-50, 50)))
PARAMS = {
    "baseline_ms": mostly(st.floats(0.1, 10), duration),
    "guard_ms": mostly(st.floats(0, 3), duration),
    "steady_ms": mostly(st.floats(0.5, 20), duration),
    "decimate_ms": mostly(st.floats(0.05, 5), duration),
    "fit_start_ms": mostly(st.floats(0, 5), duration),
    "edge_threshold_mV": mostly(st.floats(1, 30), odd_float),
    "tail_fraction": mostly(st.floats(0.01, 1), odd_float),
    "control_on_source": st.sampled_from(["on", "off", "both", "up"]),
    "control_off_source": st.sampled_from(["on", "off", "both"]),
    "tail_mode": st.sampled_from(["constant", "line", "none", "line", "spline"]),
    "tail_on_ms": window, "tail_off_ms": window, "integrate_on_ms": window, "integrate_off_ms": window,
    "v_hold_mV": level, "v_control_mV": level, "v_test_mV": level,
    "area_um2": mostly(st.floats(1, 1e5), odd_float), "temperature_C": mostly(st.floats(0, 40), odd_float),
}


def params_kwargs():
    """1 to 4 parameters of the recipe set, each mostly sensible; manual tails come with their points."""
    def build(draw_keys):
        keys, manual = draw_keys
        strategies = {k: PARAMS[k] for k in keys}
        if manual:
            strategies.update(tail_mode=st.just("manual"), manual_tail_on=mostly(points, st.tuples(
                st.tuples(duration, odd_float), st.tuples(duration, odd_float))), manual_tail_off=points)
        return st.fixed_dictionaries(strategies)

    return st.tuples(st.lists(st.sampled_from(sorted(PARAMS)), min_size=1, max_size=4, unique=True),
                     st.booleans()).flatmap(build)


def filter_spec():
    return st.one_of(
        st.builds(dict, kind=st.just("butter"), cutoff_hz=mostly(st.floats(100, 4_900), st.floats(-10, 20_000)),
                  order=mostly(st.integers(1, 8), st.integers(-1, 14)), enabled=st.booleans()),
        st.builds(dict, kind=st.just("savgol"),
                  window=mostly(st.sampled_from([3, 5, 11, 31, 101]), st.integers(-3, 2001)),
                  polyorder=mostly(st.integers(0, 2), st.integers(-1, 12))),
        st.builds(dict, kind=st.just("wavelet"), wavelet=st.sampled_from(["db4", "sym8", "haar", "coif3", "nope"]),
                  level=st.one_of(st.none(), st.integers(-1, 12)), threshold=st.sampled_from(["soft", "hard", "mid"])),
        st.builds(dict, kind=st.just("notch"), freq_hz=mostly(st.floats(50, 4_000), st.floats(-10, 20_000)),
                  q=mostly(st.floats(1, 100), st.floats(-1, 200))),
        st.builds(dict, kind=st.sampled_from(["bessel", "", "BUTTER"]), cutoff_hz=st.just(1000.0)),
    )


def build_filters(items: list[dict]):
    return tuple(FilterSpec(**d) for d in items)


def analyse(rec: Recording, build, sweep: int | None = None) -> None:
    """Build the recipe (documented build errors allowed), then analyse; only documented errors escape."""
    ctx = strict()
    try:
        try:
            params = build()
        except BUILD_ERRORS as exc:
            assert str(exc)
            event(f"recipe refused: {type(exc).__name__}")
            return
        if sweep is None:
            check_outcomes(rec, analyze_recording(rec, params))
            return
        try:
            res = analyze_sweep(rec, sweep % rec.n_sweeps, params)
        except ANALYSIS_ERRORS as exc:
            assert str(exc)
            event(f"analysis refused: {type(exc).__name__}")
            return
        assert_sane(res)
        event("sweeps analysed")
    finally:
        ctx.__exit__(None, None, None)


@fuzz("params")
@given(st.integers(0, 4), st.integers(0, 2), params_kwargs(), st.booleans())
def test_analysis_with_fuzzed_parameters(which, sweep, kwargs, whole):
    rec = recordings()[which]
    if rec.voltage_channel is None:
        kwargs["timing"] = corpus.TIMING
    analyse(rec, lambda: AnalysisParams(**kwargs), None if whole else sweep)


@fuzz("filters")
@given(st.integers(0, 3), st.lists(filter_spec(), max_size=3), st.floats(0, 3))
def test_analysis_with_random_filter_chains(which, specs, guard_ms):
    analyse(recordings()[which], lambda: AnalysisParams(filters=build_filters(specs), guard_ms=guard_ms))


BASE_EDGES = ((6.0, 21.0, 36.0), (36.0, 51.0, 66.0))  # ms: the corpus recordings' controls
TEST_EDGES = ((66.0, 81.0, 84.0), (6.0, 21.0, 36.0), (70.0, 84.0, 86.0))  # the test: last, first, past the end
small_shift = st.tuples(*[st.one_of(st.just(0.0), st.floats(-2, 2))] * 3)
wild = st.one_of(st.floats(-40, 120), st.sampled_from([-1e6, 1e6, 0.0, 36.0, math.nan, math.inf]))
step_level = rarely(st.sampled_from([-100.0, -60.0, 20.0]), st.sampled_from([-80.0, -70.0, 1e9]))


def step_dict(edges, shifts, level_mV, base_mV):
    on, end, off = (e + d for e, d in zip(edges, shifts, strict=True))
    return {"on_start_ms": on, "on_end_ms": end, "off_end_ms": off, "level_mV": level_mV, "base_mV": base_mV}


@fuzz("protocol")
@given(
    st.integers(0, 3), st.integers(0, 2),
    st.lists(st.tuples(st.sampled_from(BASE_EDGES), small_shift, step_level), min_size=1, max_size=3),
    st.tuples(st.sampled_from(TEST_EDGES), small_shift,
              rarely(st.sampled_from([-20.0, 0.0]), st.sampled_from([-100.0, -80.0]))),
    st.one_of(st.none(), st.none(), st.tuples(st.integers(0, 11), wild)),
    rarely(st.none(), st.one_of(st.floats(-10, 300), st.just(math.nan))),
)
def test_analysis_with_manual_protocols(which, sweep, controls, test, wild_edge, duration_ms):
    rec = recordings()[which]
    steps = [step_dict(edges, d, lv, -80.0) for edges, d, lv in controls]
    steps.append(step_dict(test[0], test[1], test[2], -80.0))
    if wild_edge is not None:  # one edge anywhere: beyond the sweep, before it, onto another step
        k, value = wild_edge
        key = ("on_start_ms", "on_end_ms", "off_end_ms")[k % 3]
        steps[(k // 3) % len(steps)][key] = value
    table = {"v_hold_mV": -80.0, "controls": steps[:-1], "test": steps[-1],
             "duration_ms": rec.duration_s * 1e3 if duration_ms is None else duration_ms}
    event("wild edge" if wild_edge else "small shifts only")
    analyse(rec, lambda: AnalysisParams(protocol=table), sweep)


@fuzz("timing")
@given(
    st.fixed_dictionaries({
        "t0_ms": mostly(st.floats(5, 7), st.one_of(st.floats(-5, 80), st.just(math.nan))),
        "control_ms": mostly(st.floats(13, 17), duration), "control_off_ms": mostly(st.floats(13, 16), duration),
        "n_control": mostly(st.integers(1, 2), st.sampled_from([0, -1, 3, 10**9, 2.5, True])),
        "test_start_ms": rarely(st.none(), st.floats(-5, 100)),
        "test_ms": mostly(st.floats(10, 15), duration),
        "v_hold_mV": rarely(st.just(-80.0), st.sampled_from([math.inf, -100.0, 1e5])),
        "v_control_mV": rarely(st.sampled_from([-100.0, -60.0]), st.just(-80.0)),
        "v_test_mV": rarely(st.sampled_from([-20.0, 40.0]), st.just(-80.0)),
    }),
    st.booleans(),
)
def test_analysis_with_fuzzed_timings(timing, whole):
    """A recording without a voltage channel: the timings (mostly near the real ones) are the protocol."""
    rec = recordings()[4]
    analyse(rec, lambda: AnalysisParams(timing=ProtocolTiming(**timing)), None if whole else 0)


scale = st.sampled_from([1.0, -1.0, 1e-300, 1e-9, 1e6, 1e11, 1e13, 1e200, 1e300, 0.0])


@fuzz("values")
@given(st.integers(0, 3), scale, scale, st.sampled_from([0.0, 1e5, -1e9, 1e300]), st.integers(0, 2),
       st.sampled_from([(), (FilterSpec("butter", cutoff_hz=1000.0),)]))
def test_analysis_of_extreme_sample_values(which, i_scale, v_scale, i_offset, bad_sweep, filters):
    """Currents and voltages scaled to absurd sizes in one sweep: refused with a reason, never inf or nan."""
    rec = recordings()[which]
    data = rec.data.copy()
    k = bad_sweep % rec.n_sweeps
    data[k, 0] = data[k, 0] * i_scale + i_offset
    if rec.voltage_channel is not None:
        data[k, 1] = data[k, 1] * v_scale
    odd = Recording(data, rec.fs_hz, rec.channel_names, rec.channel_units, rec.current_channel, rec.voltage_channel)
    analyse(odd, lambda: AnalysisParams(filters=filters))
    analyse(odd, lambda: AnalysisParams(filters=filters), k)
