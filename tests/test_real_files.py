"""Real Clampex recordings from other labs (pyABF's public test data in ../shared/data/abf).

Every expected value is computed here, independently, with pyabf (the reference reader of
these files) or taken from ../shared/data/abf/README.md; nothing is copied from our output.
The module skips when ../shared is not beside the project.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signal_core.analysis.pipeline import SweepFailure, analyze_recording, find_protocol
from signal_core.io.abf import COMMAND_CHANNEL, read_abf
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.protocol.steps import ProtocolError

pyabf = pytest.importorskip("pyabf")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "abf"
if not DATA.is_dir():
    pytest.skip(f"the real ABF files are not here: {DATA}", allow_module_level=True)

ABF_FILES = sorted(p.name for p in DATA.glob("*.abf"))
#: how each unit a file may write reads after conversion (DOMAIN.md section 3: pA and mV stored)
UNIT_AFTER = {"pA": ("pA", 1.0), "nA": ("pA", 1e3), "A": ("pA", 1e12), "mV": ("mV", 1.0), "V": ("mV", 1e3)}


def pyabf_sweeps(path: Path) -> tuple[object, list[list[np.ndarray]]]:
    """pyabf's own reading: sweeps x ADC channels of float64 in the file's units (setSweep per sweep)."""
    abf = pyabf.ABF(str(path))
    out = []
    for s in range(abf.sweepCount):
        row = []
        for c in range(abf.channelCount):
            abf.setSweep(s, channel=c)
            row.append(np.asarray(abf.sweepY, dtype=np.float64))
        out.append(row)
    return abf, out


@pytest.fixture(scope="module", params=ABF_FILES)
def pair(request):
    path = DATA / request.param
    return path, read_abf(path), *pyabf_sweeps(path)


def test_all_nine_files_are_here():
    assert len(ABF_FILES) == 7 and len(list(DATA.glob("*.atf"))) == 2


def test_reads_as_pyabf_reads_it(pair):
    path, rec, abf, sweeps = pair
    assert rec.n_sweeps == abf.sweepCount
    adc = abf.channelCount
    assert rec.n_channels in (adc, adc + 1)
    assert rec.fs_hz == pytest.approx(abf.sampleRate, abs=1.0)  # pyabf truncates the rate to whole Hz
    for c in range(adc):
        unit, factor = UNIT_AFTER[abf.adcUnits[c]]
        assert rec.channel_units[c] == unit
        for s in range(abf.sweepCount):
            truth = (sweeps[s][c] * factor).astype(np.float32).astype(np.float64)  # stored as float32
            got = rec.channel(c, s)
            assert got.size == truth.size
            assert np.array_equal(got, truth), (path.name, s, c)
            # compact summary, as pyABF's own tests do
            assert (got.size, got[0], got[-1], got.std()) == (truth.size, truth[0], truth[-1], truth.std())


def test_the_command_channel_is_pyabfs_sweepC(pair):
    path, rec, abf, _ = pair
    if rec.command_channel is None:
        abf.setSweep(0)
        constant = np.ptp(abf.sweepC) == 0 or not np.isfinite(abf.sweepC).all()
        variable = len({len(r) for r in (rec.channel(0, s) for s in range(rec.n_sweeps))}) > 1
        assert constant or variable or abf.dacUnits[0] != "mV", path.name
        return
    assert rec.channel_names[rec.command_channel] == COMMAND_CHANNEL
    assert rec.command_channel == abf.channelCount and rec.channel_units[-1] == "mV"
    for s in range(abf.sweepCount):
        abf.setSweep(s, channel=0)
        truth = np.asarray(abf.sweepC, dtype=np.float64).astype(np.float32)  # stored beside the float32 samples
        assert np.array_equal(rec.command(s), truth), (path.name, s)


def test_bytes_and_path_read_the_same(pair):
    path, rec, _, _ = pair
    again = read_abf(path.read_bytes(), name=path.name)
    assert np.array_equal(again.data, rec.data, equal_nan=True)
    assert again.sweep_lengths == rec.sweep_lengths and again.sha256 == rec.sha256
    assert again.channel_names == rec.channel_names and again.fs_hz == rec.fs_hz


def test_sweeps_of_different_lengths():
    """README: 2020_06_16_0001.abf has sweeps of 11040 and 22040 samples."""
    rec = read_abf(DATA / "2020_06_16_0001.abf")
    assert sorted(set(rec.sweep_lengths)) == [11040, 22040] and rec.is_ragged
    for s in range(rec.n_sweeps):
        assert np.isfinite(rec.current(s)).all() and rec.sweep_t_s(s).size == rec.sweep_lengths[s]
    results = analyze_recording(rec)  # no voltage and no command: each sweep says what is missing
    assert all(isinstance(r, SweepFailure) and "give the protocol timings" in r.error for r in results)


def test_a_rate_that_is_not_a_whole_number():
    """README: File_axon_7.abf samples every 2480 us (403.2258 Hz)."""
    assert read_abf(DATA / "File_axon_7.abf").fs_hz == pytest.approx(1e6 / 2480.0, rel=1e-6)


def test_abf_and_atf_of_the_same_recording_agree():
    abf = read_recording(DATA / "18702001-step.abf")
    atf = read_recording(DATA / "18702001-step.atf")
    assert atf.n_sweeps == abf.n_sweeps and atf.fs_hz == abf.fs_hz
    assert atf.channel_units == abf.channel_units[:atf.n_channels]
    for c in range(atf.n_channels):
        # the ATF prints about 6 significant digits: agree to its last printed digit
        assert np.allclose(atf.data[:, c, :], abf.data[:, c, :], rtol=1e-5, atol=1e-3), c


def test_atf_written_by_pyabf_without_a_final_line_end():
    path = DATA / "pyabf_writer_output.atf"
    assert not path.read_bytes().endswith(b"\n")  # what the file exercises
    rec = read_recording(path)
    ref = pyabf.ATF(str(path))
    assert rec.n_sweeps == ref.sweepCount and rec.n_samples == ref.sweepPointCount
    ref.setSweep(0)
    assert np.allclose(rec.data[0, 0], np.asarray(ref.sweepY, dtype=np.float64), rtol=1e-6, atol=0)
    assert rec.fs_hz == pytest.approx(1.0 / (ref.sweepX[1] - ref.sweepX[0]), rel=1e-6)


def first_step_mV(abf, sweep: int) -> float:
    """The command's first change (mV) in pyabf's sweepC: the level after it minus the level before."""
    abf.setSweep(sweep, channel=0)
    c = np.asarray(abf.sweepC, dtype=np.float64)
    edge = int(np.flatnonzero(np.diff(c))[0])
    return float(c[edge + 1] - c[edge])


@pytest.mark.parametrize("name", ["171116sh_0011.abf", "18702001-step.abf", "pclamp11_4ch.abf",
                                  "05210017_vc_abf1.abf"])
def test_a_one_step_protocol_is_refused_saying_what_it_found(name):
    rec = read_abf(DATA / name)
    step = first_step_mV(pyabf.ABF(str(DATA / name)), 0)
    with pytest.raises(ProtocolError) as info:
        find_protocol(rec, 0, AnalysisParams())
    message = str(info.value)
    assert message.startswith(f"the protocol (command) has one step of {step:+.1f} mV"), message
    assert "per sweep (a membrane test?)" in message and "a control-pulse protocol needs" in message


def test_memtest_without_recorded_voltage_no_longer_asks_for_timings():
    """README: 171116sh_0011.abf records pA only; its voltage is in the epoch table."""
    rec = read_abf(DATA / "171116sh_0011.abf")
    assert rec.voltage_channel is None and rec.command_channel is not None
    errors = {r.error for r in analyze_recording(rec)}
    assert len(errors) == 1 and "give the protocol timings" not in errors.pop()


# ------------------------------------------------------------------ the app on these files
def load_page_with(*names: str):
    from tests.app_helpers import new_app, no_errors, upload

    at = new_app()
    upload(at, *((n, (DATA / n).read_bytes()) for n in names))
    no_errors(at)
    return at


def summary_rows(at) -> dict[str, dict]:
    frame = at.dataframe[0].value
    return {row["file"]: row for row in frame.to_dict("records")}


def test_load_summary_notes_ragged_sweeps_and_one_step_protocols():
    at = load_page_with("2020_06_16_0001.abf", "171116sh_0011.abf")
    rows = summary_rows(at)
    assert "sweeps of different lengths (11,040 to 22,040 samples)" in rows["2020_06_16_0001.abf"]["note"]
    memtest = rows["171116sh_0011.abf"]["protocol (sweep 1)"]
    step = first_step_mV(pyabf.ABF(str(DATA / "171116sh_0011.abf")), 0)
    assert memtest.startswith(f"not found: the protocol (command) has one step of {step:+.1f} mV")


def test_explore_and_analyse_a_short_sweep_of_a_ragged_file():
    from tests.app_helpers import no_errors

    at = load_page_with("2020_06_16_0001.abf")
    rec = read_abf(DATA / "2020_06_16_0001.abf")
    short = int(np.argmin(rec.sweep_lengths)) + 1
    at.switch_page("pages/2_explore.py").run()
    at.number_input(key="sweep").set_value(short).run()
    no_errors(at)
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)


def test_unit_control_on_load_sets_the_recipe_and_the_summary_says_so(tmp_path):
    from app.files_ui import AS_IN_FILE

    path = tmp_path / "labelled_A.abf"
    pyabf.abfWriter.writeABF1(np.full((3, 1000), 150.0) + np.arange(1000), str(path), 20_000.0, units="A")
    from tests.app_helpers import new_app, no_errors, upload

    at = new_app()
    upload(at, ("labelled_A.abf", path.read_bytes()))
    box = at.selectbox(key="rp_current_unit")
    assert box.value == AS_IN_FILE
    box.set_value("pA").run()
    no_errors(at)
    assert at.session_state["params"].current_unit == "pA"
    assert "unit set by hand: current channel" in summary_rows(at)["labelled_A.abf"]["note"]


def test_history_keeps_a_command_protocol_analysis_and_its_unit_override(tmp_path):
    """Saved with its recipe (unit override included), reopened from the stored bytes: the same numbers."""
    import json

    from signal_core.analysis.pipeline import analyze_sweep
    from signal_core.store.history import Store

    path = DATA / "14o16001_vc_pair_step.abf"
    rec = read_abf(path)
    params = AnalysisParams(current_unit="pA")
    done = [r for r in analyze_recording(rec, params) if not isinstance(r, SweepFailure)]
    assert done, "one sweep of this pair-MTIV file has a control and a test step"
    result = done[0]
    assert "voltage_from_command" in {f.code for f in result.flags}
    with Store.open(f"sqlite:///{tmp_path / 'history.sqlite'}") as store:
        key = Store.new_workspace_key()
        saved = store.save_analysis(key, recording_name=path.name, recording_bytes=path.read_bytes(),
                                    recipe_json=params.to_json(), results_json=json.dumps([result.to_dict()]),
                                    app_version="test")
        back = store.get_analysis(key, saved)
        data = store.get_recording_bytes(key, back.sha256)
    again = analyze_sweep(read_abf(data, name=path.name), result.sweep, back.params())
    assert back.params().current_unit == "pA"
    assert again.q_on_pC == result.q_on_pC and again.protocol.to_dict() == result.protocol.to_dict()
    assert back.results()[0]["protocol"]["source"] == "protocol (command)"


def test_memory_budget_is_checked_from_the_header_for_ragged_sweeps(monkeypatch):
    """Budget = sweeps x (channels + a command) x the longest sweep, in float32, refused before parsing."""
    from signal_core.io.limits import ENV_MAX_RECORDING_MB, RecordingTooLargeError

    abf = pyabf.ABF(str(DATA / "2020_06_16_0001.abf"), loadData=False)
    longest = max(abf._synchArraySection.lLength) // abf.channelCount
    need_mb = abf.sweepCount * (abf.channelCount + 1) * longest * 4 / 2**20  # 4 bytes: float32 samples
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, f"{need_mb * 0.99:.6f}")
    with pytest.raises(RecordingTooLargeError, match=f"{longest:,} samples \\(the longest sweep"):
        read_abf(DATA / "2020_06_16_0001.abf")
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, f"{need_mb * 1.01:.6f}")
    assert read_abf(DATA / "2020_06_16_0001.abf").n_samples == longest


def test_the_epoch_table_is_built_a_fixed_number_of_times_whatever_the_sweep_count(monkeypatch):
    """pyabf's setSweep rebuilds the whole epoch table each call (quadratic in sweeps); the reader must not."""
    import pyabf.waveform

    built = []
    original = pyabf.waveform.EpochTable

    def counting(*args, **kwargs):
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pyabf.waveform, "EpochTable", counting)
    rec = read_abf(DATA / "171116sh_0011.abf")
    assert rec.n_sweeps == 20 and rec.command_channel is not None
    assert len(built) <= 2  # pyABF's own setSweep(0) once, the command once


def test_explore_draws_the_command_of_a_file_that_records_no_voltage():
    from tests.app_helpers import figures, no_errors, traces

    at = load_page_with("171116sh_0011.abf")
    at.switch_page("pages/2_explore.py").run()
    no_errors(at)
    names = [n for fig in figures(at) for n in traces(fig)]
    assert "command voltage (dark grey)" in names


def test_the_workbook_says_the_voltage_came_from_the_command_and_records_the_unit_override():
    import io

    from openpyxl import load_workbook

    from signal_core.export import ExportEntry, analysis_workbook

    rec = read_abf(DATA / "14o16001_vc_pair_step.abf")
    params = AnalysisParams(current_unit="pA")
    result = next(r for r in analyze_recording(rec, params) if not isinstance(r, SweepFailure))
    book = load_workbook(io.BytesIO(analysis_workbook([ExportEntry(rec.name, rec.sha256, 0, result)])),
                         read_only=True)
    cells = {ws.title: [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
             for ws in book.worksheets}
    assert any("Voltage from the protocol (command), not measured" in c for c in cells["Summary"])
    parameters = cells["Parameters"]
    assert "protocol (command)" in parameters
    assert parameters[parameters.index("current_unit") + 1] == "pA"
