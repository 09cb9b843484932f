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


# ------------------------------------------------------------ noise, the command waveform, one-step files
from signal_core.analysis.pipeline import SweepFailure, analyze_recording, analyze_sweep, find_protocol  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402
from signal_core.protocol.detect import (  # noqa: E402
    COMMAND_SOURCE,
    NOISE_FACTOR,
    SingleStepError,
    noise_mV,
    protocol_from_recording,
)
from signal_core.recording import Recording  # noqa: E402
from signal_core.synthetic import simulate  # noqa: E402

FS_CMD = 20_000.0


def test_noise_estimate_is_the_rms_of_white_noise_and_ignores_steps():
    t, v = command(FS_CMD, 1100.0, LAB, noise_mV=2.0, seed=3)
    assert noise_mV(v) == pytest.approx(2.0, rel=0.05)
    assert noise_mV(command(FS_CMD, 1100.0, LAB)[1]) == 0.0


def test_a_noisy_flat_channel_has_no_steps():
    """A channel near 3091 mV with about +-18 mV of noise (a real file): noise, not steps."""
    t, v = command(FS_CMD, 500.0, [], hold=3091.0, noise_mV=6.0, seed=1)
    with pytest.raises(ProtocolError, match="no voltage step larger than") as info:
        detect_protocol(t, v)
    assert "noise" in str(info.value)


def test_steps_must_exceed_several_times_the_noise():
    t, v = command(FS_CMD, 1100.0, LAB, noise_mV=3.0, seed=2)
    p = detect_protocol(t, v)  # 80 mV steps stand far above 5 x 3 mV
    assert p.n_control == 2 and p.v_test_mV == pytest.approx(-20.0, abs=0.5)
    small = [(a, b, -80.0 - 0.8 * NOISE_FACTOR * 3.0) for a, b, _ in LAB]  # steps below 5 x noise
    t, v = command(FS_CMD, 1100.0, small, noise_mV=3.0, seed=2)
    with pytest.raises(ProtocolError, match="no voltage step"):
        detect_protocol(t, v)


def test_steps_of_1_mV_or_less_are_not_steps():
    tiny = [(a, b, -80.0 + 0.8) for a, b, _ in LAB]
    t, v = command(FS_CMD, 1100.0, tiny)
    with pytest.raises(ProtocolError, match="no voltage step larger than 1 mV"):
        detect_protocol(t, v, threshold_mV=0.1)


def test_one_step_is_a_single_step_error_saying_what_was_found():
    t, v = command(FS_CMD, 500.0, [(50.0, 100.0, -90.0)], hold=-80.0)
    with pytest.raises(SingleStepError, match=r"-10\.0 mV \(from -80\.0 to -90\.0 mV at 50\.0 ms, 50\.0 ms long\)"):
        detect_protocol(t, v)


def make_rec(sweeps_v: list[np.ndarray], *, current: np.ndarray | None = None, recorded: list | None = None,
             lengths: tuple[int, ...] = ()) -> Recording:
    """Current (pA) + optional recorded voltage + the command (last channel), one row per sweep."""
    n = max(v.size for v in sweeps_v)
    chans = 2 + (recorded is not None)
    data = np.full((len(sweeps_v), chans, n), np.nan)
    for k, v in enumerate(sweeps_v):
        data[k, 0, : v.size] = current[k, : v.size] if current is not None else np.sin(np.arange(v.size))
        if recorded is not None:
            data[k, 1, : v.size] = recorded[k]
        data[k, -1, : v.size] = v
    return Recording(data=data, fs_hz=FS_CMD, channel_names=("I", *(("Vm",) if recorded is not None else ()), "cmd"),
                     channel_units=("pA", *(("mV",) if recorded is not None else ()), "mV"), current_channel=0,
                     voltage_channel=1 if recorded is not None else None, command_channel=chans - 1,
                     sweep_lengths=lengths)


def test_protocol_from_the_command_when_no_voltage_is_recorded():
    t, v = command(FS_CMD, 1100.0, LAB)
    p = protocol_from_recording(make_rec([v]), 0)
    assert p.source == COMMAND_SOURCE
    assert (p.n_control, p.v_hold_mV, p.v_control_mV, p.v_test_mV) == (2, -80.0, -100.0, -20.0)
    assert p.test.on_start_s == pytest.approx(0.4172, abs=1 / FS_CMD)


def test_a_recorded_voltage_that_disagrees_with_the_command_gives_way_to_it():
    t, v = command(FS_CMD, 1100.0, LAB)
    _, junk = command(FS_CMD, 1100.0, [], hold=3091.0, noise_mV=6.0, seed=4)
    p = protocol_from_recording(make_rec([v], recorded=[junk]), 0)
    assert p.source == COMMAND_SOURCE and p.v_test_mV == -20.0
    assert any("differs from the command" in n for n in p.notes)
    _, close = command(FS_CMD, 1100.0, LAB, noise_mV=0.5, seed=5)  # the clamp follows its command
    p = protocol_from_recording(make_rec([v], recorded=[close]), 0)
    assert p.source == "voltage channel" and p.v_test_mV == pytest.approx(-20.0, abs=0.1)


def test_a_membrane_test_file_is_refused_saying_one_step_per_sweep():
    v = [command(FS_CMD, 300.0, [(20.0, 120.0, -80.0)], hold=-70.0)[1] for _ in range(5)]
    with pytest.raises(ProtocolError, match=r"one step of -10\.0 mV .* per sweep \(a membrane test\?\); "
                                            "a control-pulse protocol needs"):
        find_protocol(make_rec(v), 2, AnalysisParams())


def test_an_iv_family_is_refused_saying_the_level_changes_per_sweep():
    v = [command(FS_CMD, 300.0, [(20.0, 120.0, -100.0 + 20.0 * k)], hold=-70.0)[1] for k in range(6)]
    with pytest.raises(ProtocolError, match=r"one step per sweep, to a level that changes from sweep to sweep "
                                            r"\(-100\.0 to 0\.0 mV.*I-V family"):
        find_protocol(make_rec(v), 1, AnalysisParams())


def sim_with_command(**kw):
    """A simulated cell whose voltage channel is moved to the command channel (as an ABF would give it)."""
    sim = simulate(fs_hz=FS_CMD, noise_pA=1.0, seed=7, **kw)
    rec = sim.recording
    assert rec.voltage_channel == 1
    as_command = Recording(data=rec.data, fs_hz=rec.fs_hz, channel_names=("I", "command (DAC)"),
                           channel_units=rec.channel_units, current_channel=0, command_channel=1, name=rec.name)
    return rec, as_command


def test_analysis_from_the_command_equals_the_analysis_from_the_same_recorded_voltage():
    recorded, from_command = sim_with_command()
    a, b = analyze_sweep(recorded), analyze_sweep(from_command)
    assert b.protocol.source == COMMAND_SOURCE
    assert a.q_on_pC == b.q_on_pC and a.c_lin_nF == b.c_lin_nF
    codes = {f.code: f for f in b.flags}
    assert "voltage_from_command" in codes and codes["voltage_from_command"].severity == "info"
    assert "not measured" in codes["voltage_from_command"].message
    assert "no_voltage_channel" not in codes and "voltage_from_command" not in {f.code for f in a.flags}


def test_the_user_still_overrides_levels_and_epochs_of_a_command_protocol():
    _, from_command = sim_with_command()
    auto = find_protocol(from_command, 0, AnalysisParams())
    assert find_protocol(from_command, 0, AnalysisParams(v_test_mV=-30.0)).v_test_mV == -30.0
    manual = auto.to_dict() | {"source": "manual"}
    manual["test"] = dict(manual["test"], on_end_ms=manual["test"]["on_end_ms"] - 10.0)
    p = find_protocol(from_command, 0, AnalysisParams(protocol=manual))
    assert p.source == "manual" and p.test.on_duration_s == pytest.approx(auto.test.on_duration_s - 0.010)


def test_sweeps_of_different_lengths_each_at_its_own_length():
    sim = simulate(fs_hz=FS_CMD, v_tests_mV=(-20.0, -40.0, 0.0), noise_pA=1.0, seed=8)
    full = sim.recording
    n = full.n_samples
    cut = int(0.9 * n)  # the protocol ends at 617 ms of 1100: 990 ms is long enough
    short = int(0.43 * n)  # 473 ms: inside the test pulse (417.2 to 517.2 ms)
    data = full.data.copy()
    data[1, :, cut:] = np.nan
    data[2, :, short:] = np.nan
    ragged = Recording(data=data, fs_hz=full.fs_hz, channel_names=full.channel_names,
                       channel_units=full.channel_units, current_channel=0, voltage_channel=1,
                       sweep_lengths=(n, cut, short))
    assert ragged.is_ragged and ragged.current(1).size == cut and ragged.sweep_t_s(2).size == short
    results = analyze_recording(ragged)
    assert not isinstance(results[0], SweepFailure) and not isinstance(results[1], SweepFailure)
    alone = Recording(data=full.data[1:2, :, :cut], fs_hz=full.fs_hz, channel_names=full.channel_names,
                      channel_units=full.channel_units, current_channel=0, voltage_channel=1)
    assert results[1].q_on_pC == analyze_sweep(alone).q_on_pC  # the padding changes nothing
    assert results[1].t_orange_s[-1] < cut / full.fs_hz
    assert isinstance(results[2], SweepFailure)
    assert results[2].error.startswith("the step to 0.0 mV at 417.20 ms never returns before the end")
    manual = AnalysisParams(protocol=results[0].protocol.to_dict())  # sweep 1's epochs, up to 1100 ms
    by_hand = analyze_recording(ragged, manual)
    assert not isinstance(by_hand[0], SweepFailure)
    for k, length in ((1, cut), (2, short)):
        assert by_hand[k].error == (f"sweep {k + 1} ({length} samples) is too short for the protocol: the "
                                    f"protocol reaches 1100.0 ms but sweep {k + 1} ({length} samples) ends at "
                                    f"{length / FS_CMD * 1e3:.1f} ms")


@pytest.mark.slow
def test_exports_keep_each_sweep_at_its_own_length():
    import io

    from openpyxl import load_workbook

    from signal_core.export import ExportEntry, analysis_workbook, raw_csv
    from signal_core.io.atf_writer import write_atf

    sim = simulate(fs_hz=FS_CMD, v_tests_mV=(-20.0, -40.0), noise_pA=1.0, seed=9, duration_ms=700.0)
    full = sim.recording
    cut = full.n_samples - 1000
    data = full.data.copy()
    data[1, :, cut:] = np.nan
    ragged = Recording(data=data, fs_hz=full.fs_hz, channel_names=full.channel_names,
                       channel_units=full.channel_units, current_channel=0, voltage_channel=1,
                       sweep_lengths=(full.n_samples, cut), name="ragged.atf")
    one = raw_csv(ragged, 1).decode().splitlines()
    assert len(one) == 1 + cut and float(one[-1].split(",")[1]) == pytest.approx(full.data[1, 0, cut - 1], rel=1e-9)
    both = raw_csv(ragged).decode().splitlines()
    assert len(both) == 1 + full.n_samples and both[-1].split(",")[3:] == ["", ""]  # sweep 2 ended
    with pytest.raises(ValueError, match="different lengths"):
        write_atf(ragged)
    result = analyze_sweep(ragged, 1)
    entry = ExportEntry("ragged.atf", "0" * 64, 0, result)
    book = load_workbook(io.BytesIO(analysis_workbook([entry], raw=[(entry, ragged)])), read_only=True)
    sheet = next(book[n] for n in book.sheetnames if n.startswith("Raw"))
    times = [r[0] for r in sheet.iter_rows(min_row=3, values_only=True) if r[0] is not None]
    assert len(times) == cut and times[-1] == pytest.approx((cut - 1) / FS_CMD * 1e3, abs=1e-3)


def test_sets_say_v2_comes_from_the_protocol_command():
    from signal_core.sets import qv_points

    recorded, from_command = sim_with_command()
    rows = []
    for rec, name in ((recorded, "cell_0001_-20mV.atf"), (from_command, "cell_0002_-50mV.abf")):
        row = analyze_sweep(rec).to_dict() | {"file": name, "error": ""}
        rows.append([row])
    by_file = {p.file: p for p in qv_points(rows)}
    assert by_file["cell_0001_-20mV.atf"].v_source == "voltage channel"
    command = by_file["cell_0002_-50mV.abf"]
    assert command.v_source == "protocol (command)" and command.v_test_mV == -20.0
    assert "the protocol (command) is used" in command.note
