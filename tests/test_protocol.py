"""Protocol detection from the voltage channel, from timings, by hand, and V2 from file names."""

from __future__ import annotations

import numpy as np
import pytest

from signal_core.protocol.detect import detect_protocol
from signal_core.protocol.filenames import parse_filename, v2_from_filename
from signal_core.protocol.steps import Protocol, ProtocolError
from signal_core.protocol.timing import ProtocolTiming, protocol_from_timing


def command(fs_hz: float, duration_ms: float, steps: list[tuple[float, float, float]], hold: float = -80.0,
            noise_mV: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A command trace: (start_ms, end_ms, level_mV) steps on a holding level."""
    n = int(round(duration_ms * 1e-3 * fs_hz))
    t = np.arange(n) / fs_hz
    v = np.full(n, hold)
    for a, b, lv in steps:
        v[(t >= a * 1e-3 - 1e-12) & (t < b * 1e-3 - 1e-12)] = lv
    if noise_mV:
        v = v + np.random.default_rng(seed).normal(0, noise_mV, n)
    return t, v


LAB = [(17.2, 117.2, -100.0), (217.2, 317.2, -100.0), (417.2, 517.2, -20.0)]


@pytest.mark.parametrize("fs_hz", [10_000.0, 16_000.0, 50_000.0, 100_000.0, 200_000.0])
def test_lab_protocol_at_any_sampling_rate(fs_hz):
    t, v = command(fs_hz, 1100.0, LAB, noise_mV=0.3)
    p = detect_protocol(t, v)
    dt_ms = 1e3 / fs_hz
    assert p.source == "voltage channel"
    assert p.n_control == 2
    assert p.v_hold_mV == pytest.approx(-80.0, abs=0.1)
    assert p.v_control_mV == pytest.approx(-100.0, abs=0.1)
    assert p.v_test_mV == pytest.approx(-20.0, abs=0.1)
    for step, (a, b, _) in zip((*p.controls, p.test), LAB):
        assert step.on_start_s * 1e3 == pytest.approx(a, abs=dt_ms + 1e-9)
        assert step.on_end_s * 1e3 == pytest.approx(b, abs=dt_ms + 1e-9)
    # return epochs run to the next edge, the last one to the end of the sweep
    assert p.controls[0].off_end_s * 1e3 == pytest.approx(217.2, abs=dt_ms + 1e-9)
    assert p.test.off_end_s * 1e3 == pytest.approx(1100.0, abs=dt_ms + 1e-9)
    assert p.test_step_mV == pytest.approx(60.0, abs=0.2)


def test_hyperpolarising_test_pulse_and_signed_step():
    t, v = command(100_000.0, 800.0, [(10, 60, -90), (110, 160, -90), (210, 260, -90), (310, 410, -140)])
    p = detect_protocol(t, v)
    assert p.n_control == 3
    assert p.v_test_mV == pytest.approx(-140.0)
    assert p.test_step_mV == pytest.approx(-60.0)
    assert p.controls[0].step_mV == pytest.approx(-10.0)


def test_p_over_4_controls_after_the_test():
    # test first, then four small controls (P/4 style): the most common level is the control
    steps = [(20, 70, 0.0)] + [(120 + 100 * k, 170 + 100 * k, -100.0) for k in range(4)]
    t, v = command(20_000.0, 600.0, steps)
    p = detect_protocol(t, v)
    assert p.n_control == 4
    assert p.test.on_start_s == pytest.approx(0.020)
    assert p.v_test_mV == pytest.approx(0.0)


def test_test_at_control_level_is_the_last_step():
    t, v = command(50_000.0, 700.0, [(10, 60, -100), (110, 160, -100), (210, 260, -100)])
    p = detect_protocol(t, v)
    assert p.n_control == 2 and p.test.on_start_s == pytest.approx(0.210)
    assert any("same level" in n for n in p.notes)


def test_step_of_2_ms_and_short_gaps():
    t, v = command(100_000.0, 100.0, [(5, 7, -100), (10, 12, -100), (20, 22, 0)])
    p = detect_protocol(t, v)
    assert p.test.on_duration_s * 1e3 == pytest.approx(2.0, abs=0.011)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "no voltage step"),
        ([(10, 50, -100)], "only one voltage step"),
        ([(10, 30, -100), (50, 70, -100), (90, 100, -20)], "never returns"),
    ],
)
def test_unusable_voltage_traces_are_refused(steps, message):
    t, v = command(10_000.0, 100.0, steps)
    with pytest.raises(ProtocolError, match=message):
        detect_protocol(t, v)


def test_step_followed_by_another_level_is_refused():
    t, v = command(10_000.0, 300.0, [(10, 50, -100), (50, 90, -20), (150, 200, -100)])
    with pytest.raises(ProtocolError, match="followed directly by another level"):
        detect_protocol(t, v)


def test_nan_voltage_is_refused():
    t, v = command(10_000.0, 300.0, LAB[:1])
    v[5] = np.nan
    with pytest.raises(ProtocolError, match="NaN"):
        detect_protocol(t, v)


def test_protocol_from_timing_matches_detected():
    timing = ProtocolTiming(t0_ms=17.2, control_ms=100, control_off_ms=100, n_control=2, test_ms=100,
                            v_hold_mV=-80, v_control_mV=-100, v_test_mV=-20)
    p = protocol_from_timing(timing, 1.1)
    t, v = command(100_000.0, 1100.0, LAB)
    d = detect_protocol(t, v)
    assert p.source == "timing parameters"
    for a, b in zip((*p.controls, p.test), (*d.controls, d.test)):
        assert a.on_start_s == pytest.approx(b.on_start_s, abs=1e-5)
        assert a.on_end_s == pytest.approx(b.on_end_s, abs=1e-5)
        assert a.level_mV == pytest.approx(b.level_mV)


@pytest.mark.parametrize(
    "bad",
    [dict(n_control=0), dict(control_ms=0), dict(test_ms=400, test_start_ms=900), dict(test_start_ms=100)],
)
def test_impossible_timings_are_refused(bad):
    with pytest.raises(ProtocolError):
        protocol_from_timing(ProtocolTiming(**bad), 1.1)


def test_manual_protocol_round_trip_and_level_override():
    t, v = command(100_000.0, 1100.0, LAB)
    p = detect_protocol(t, v)
    q = Protocol.from_dict(p.to_dict())
    assert q.to_dict()["controls"] == p.to_dict()["controls"]
    r = p.with_levels(v_hold_mV=-81.0, v_test_mV=-20.4)
    assert r.v_hold_mV == -81.0 and r.test.base_mV == -81.0 and r.v_test_mV == -20.4
    assert r.v_control_mV == pytest.approx(-100.0)
    assert p.with_levels() is p


def test_manual_protocol_errors_say_what_is_wrong():
    d = {"v_hold_mV": -80, "duration_ms": 100, "controls": [], "test": {
        "on_start_ms": 10, "on_end_ms": 20, "off_end_ms": 50, "level_mV": 0, "base_mV": -80}}
    with pytest.raises(ProtocolError, match="no control step"):
        Protocol.from_dict(d)
    d["controls"] = [{"on_start_ms": 5, "on_end_ms": 4, "off_end_ms": 9, "level_mV": -100, "base_mV": -80}]
    with pytest.raises(ProtocolError, match="must start before it ends"):
        Protocol.from_dict(d)
    d["controls"] = [{"on_start_ms": 1, "on_end_ms": 4, "off_end_ms": 9, "level_mV": -80, "base_mV": -80}]
    with pytest.raises(ProtocolError, match="zero amplitude"):
        Protocol.from_dict(d)


def test_epoch_table_covers_the_sweep_in_order():
    t, v = command(100_000.0, 1100.0, LAB)
    epochs = detect_protocol(t, v).epochs
    roles = [e.role for e in epochs]
    assert roles == ["hold", "control ON 1", "control OFF 1", "control ON 2", "control OFF 2", "test ON", "test OFF"]
    assert epochs[0].start_s == 0
    assert epochs[-1].end_s == pytest.approx(1.1)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(epochs, epochs[1:]))


@pytest.mark.parametrize(
    ("name", "number", "set_id", "v2"),
    [
        ("20130507_0006_10mVdepol", 6, None, 10.0),
        ("20130406_0023_-50mVdepol.atf", 23, None, -50.0),
        ("20130509_0007_-50depol", 7, None, -50.0),
        ("20230115_0012_3_-50mV.abf", 12, "3", -50.0),
        ("0057_0_-100", 57, "0", -100.0),
        ("202304_0521.atf", 521, None, None),
        ("C:\\data\\20130507_0006_+10mVdepol.atf", 6, None, 10.0),
        ("notes.atf", None, None, None),
    ],
)
def test_v2_from_file_names(name, number, set_id, v2):
    info = parse_filename(name)
    assert info.file_number == number
    assert info.set_id == set_id
    assert info.v2_mV == v2
    assert v2_from_filename(name) == v2
