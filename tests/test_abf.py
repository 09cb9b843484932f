"""ABF reader (through pyABF) on files written by pyABF's own ABF1 writer, and the io dispatcher."""

from __future__ import annotations

import numpy as np
import pytest

from signal_core.errors import RecordingFormatError
from signal_core.io.abf import AbfFormatError, read_abf
from signal_core.io.atf_header import AtfFormatError
from signal_core.io.atf_writer import write_atf
from signal_core.io.read import detect_format, read_recording

pyabf_writer = pytest.importorskip("pyabf.abfWriter")

FS = 20_000.0
N_SWEEPS, N = 3, 1000


def known_sweeps() -> np.ndarray:
    t = np.arange(N) / FS
    return np.array([150.0 * np.sin(2 * np.pi * 50.0 * t) + 20.0 * k - 35.0 for k in range(N_SWEEPS)])


def quantum(values: np.ndarray) -> float:
    """Upper bound of one int16 step of pyABF's ABF1 writer: it picks the finest decade-scaled
    step that still fits max|x| into 32767 counts, so a step is < 10 max|x| / 32767."""
    return 10.0 * float(np.abs(values).max()) / 32767.0


@pytest.fixture
def abf_path(tmp_path):
    path = tmp_path / "cell_0001.abf"
    pyabf_writer.writeABF1(known_sweeps(), str(path), FS, units="pA")
    return path


def check(rec, name: str) -> None:
    truth = known_sweeps()
    assert rec.data.shape == (N_SWEEPS, 1, N)
    assert rec.fs_hz == FS
    assert rec.channel_units == ("pA",)
    assert rec.current_channel == 0 and rec.voltage_channel is None
    assert np.abs(rec.data[:, 0, :] - truth).max() <= quantum(truth)
    assert rec.file_format.startswith("ABF 1")
    assert rec.name == name
    assert rec.sweep_start_s == pytest.approx((0.0, N / FS, 2 * N / FS))


def test_read_abf_from_path(abf_path):
    rec = read_abf(abf_path)
    check(rec, "cell_0001.abf")
    assert len(rec.sha256) == 64


def test_read_abf_from_bytes_equals_from_path(abf_path):
    raw = abf_path.read_bytes()
    rec = read_abf(raw, name="upload.abf")
    check(rec, "upload.abf")
    assert np.array_equal(rec.data, read_abf(abf_path).data)
    assert rec.sha256 == read_abf(abf_path).sha256


def test_nanoampere_abf_is_converted_to_pA(tmp_path):
    truth_nA = known_sweeps() / 100.0
    path = tmp_path / "na.abf"
    pyabf_writer.writeABF1(truth_nA, str(path), FS, units="nA")
    rec = read_abf(path)
    assert rec.channel_units == ("pA",)
    assert np.abs(rec.data[:, 0, :] - truth_nA * 1e3).max() <= quantum(truth_nA) * 1e3


def test_voltage_abf_is_a_voltage_channel(tmp_path):
    # three sweeps: pyABF's ABF1 writer makes files shorter than pyABF's own header reads (~6 kB)
    # when there is little data, so one 1000-sample sweep would not read back
    truth = np.array([np.where(np.arange(N) < N // 2, -80.0, -100.0 - 10.0 * k) for k in range(N_SWEEPS)])
    path = tmp_path / "v.abf"
    pyabf_writer.writeABF1(truth, str(path), FS, units="mV")
    rec = read_abf(path)
    assert rec.voltage_channel == 0 and rec.current_channel is None
    assert np.abs(rec.data[:, 0, :] - truth).max() <= quantum(truth)


def test_empty_abf_is_refused(tmp_path):
    path = tmp_path / "empty.abf"
    path.write_bytes(b"")
    with pytest.raises(AbfFormatError, match="not an ABF file: the file is empty"):
        read_abf(path)
    with pytest.raises(AbfFormatError, match="empty"):
        read_abf(b"")


@pytest.mark.parametrize("junk", [b"hello, this is not an ABF file", bytes(range(256)), b"ATF\t1.0\n0\t2\n"])
def test_junk_is_refused_with_its_first_bytes(junk):
    with pytest.raises(AbfFormatError, match="not an ABF file: the first bytes are"):
        read_abf(junk)


@pytest.mark.parametrize("junk", [b"ABF " + b"\x00" * 60, b"ABF2" + bytes(range(256)) * 8, b"ABF "])
def test_damaged_abf_is_refused(junk):
    with pytest.raises(AbfFormatError, match="damaged or truncated"):
        read_abf(junk)


def test_truncated_abf_is_refused(abf_path):
    raw = abf_path.read_bytes()
    with pytest.raises(AbfFormatError):
        read_abf(raw[:700])


# ----------------------------------------------------------------- io.read_recording
def test_dispatch_by_magic_bytes(abf_path, sample_bytes):
    assert detect_format(abf_path.read_bytes()[:8]) == "abf"
    assert detect_format(sample_bytes[:8]) == "atf"
    assert detect_format(b"\xef\xbb\xbfATF 1.0") == "atf"
    rec = read_recording(abf_path.read_bytes(), name="no_extension")
    assert rec.file_format.startswith("ABF")
    assert read_recording(sample_bytes).file_format == "ATF 1.0"


def test_dispatch_by_path(abf_path, sample_path):
    assert read_recording(abf_path).name == "cell_0001.abf"
    rec = read_recording(sample_path)
    assert rec.file_format == "ATF 1.0" and rec.data.shape == (1, 2, 109_999)


def test_dispatch_txt_extension_and_fs_hz_for_atf(tmp_path, sample_recording):
    raw = write_atf(sample_recording)
    path = tmp_path / "export.txt"
    path.write_bytes(raw)
    assert read_recording(path).fs_hz == 100_000.0
    no_time = b"ATF\t1.0\n0\t1\n\"Trace #1 (pA)\"\n1.5\n2.5\n3.5\n"
    assert read_recording(no_time, name="x.atf", fs_hz=10_000.0).fs_hz == 10_000.0


def test_dispatch_errors_are_typed(tmp_path):
    with pytest.raises(AbfFormatError):
        read_recording(b"junk junk", name="x.abf")
    with pytest.raises(AtfFormatError, match="^line 1: not an ATF file"):
        read_recording(b"junk junk", name="x.atf")
    with pytest.raises(AtfFormatError, match="^line 1:"):
        read_recording(b"", name="unknown.bin")
    path = tmp_path / "broken.abf"
    path.write_bytes(b"ABF2" + b"\x01" * 10)
    with pytest.raises(RecordingFormatError):
        read_recording(path)
    assert issubclass(AtfFormatError, RecordingFormatError) and issubclass(AbfFormatError, RecordingFormatError)


class FakeAbf:
    """Just what the command-waveform rule looks at: DAC units, DAC 0's waveform source, the sweeps."""

    def __init__(self, waves, unit="mV", source=1, enabled=1):
        from types import SimpleNamespace

        self.dacUnits = [unit, unit]
        self.waves = [np.asarray(w, dtype=np.float64) for w in waves]
        self.sweepCount = len(waves)
        self.abfVersion = {"major": 2}
        self._dacSection = SimpleNamespace(nWaveformEnable=[enabled, 0], nWaveformSource=[source, 0])


@pytest.fixture
def fake_epochs(monkeypatch):
    import signal_core.io.abf as abf_module

    monkeypatch.setattr(abf_module, "_epoch_waves", lambda abf: abf.waves)


def test_command_waveform_kept_only_when_it_is_a_changing_voltage(fake_epochs):
    from signal_core.io.abf import _command

    step = np.where(np.arange(N) < N // 2, -80.0, -100.0)
    kept = _command(FakeAbf([step, step + 1.0]), [N, N])
    assert kept is not None and kept.shape == (2, N) and np.array_equal(kept[1], step + 1.0)
    assert np.array_equal(_command(FakeAbf([step / 1e3], unit="V"), [N])[0], step / 1e3 * 1e3)
    assert _command(FakeAbf([np.full(N, -80.0)] * 2), [N, N]) is None  # constant: says nothing
    assert _command(FakeAbf([np.full(N, np.nan)]), [N]) is None  # pyABF's "no command"
    assert _command(FakeAbf([step], unit="pA"), [N]) is None  # current clamp command
    assert _command(FakeAbf([step], source=2), [N]) is None  # a stimulus file outside the ABF
    assert _command(FakeAbf([step], enabled=0), [N]) is None  # waveform switched off
    assert _command(FakeAbf([step, step]), [N, N // 2]) is None  # sweeps of different lengths
    longer = np.concatenate([step, [-80.0] * 5])  # pyABF cuts a longer waveform to the sweep
    assert np.array_equal(_command(FakeAbf([longer]), [N])[0], step)


# ----------------------------------------------------------------- unit override
def test_a_current_labelled_A_can_be_read_as_pA(tmp_path):
    """Some files label pA-sized values as A: the recipe's current_unit says what they are."""
    from signal_core.analysis.pipeline import SweepFailure, analyze_recording
    from signal_core.params import AnalysisParams
    from signal_core.recording import UNIT_OVERRIDE_RECORD, reinterpret_units

    path = tmp_path / "labelled_A.abf"
    pyabf_writer.writeABF1(known_sweeps(), str(path), FS, units="A")
    rec = read_abf(path)
    assert rec.file_units == ("A",) and np.abs(rec.current(0)).max() > 1e13  # 150 "A" read as 1.5e14 pA
    fixed = reinterpret_units(rec, current_unit="pA")
    assert np.abs(fixed.data[:, 0, :] - known_sweeps()).max() <= quantum(known_sweeps())
    assert fixed.file_units == ("pA",) and fixed.channel_units == ("pA",)
    assert (UNIT_OVERRIDE_RECORD, "current channel 'current': the file says A, read as pA (values x 1e-12)") \
        in fixed.header
    assert reinterpret_units(fixed, current_unit="pA") is fixed  # already so: nothing changes
    # float32 storage (a 16-bit source): each reinterpretation rounds once to float32, half an eps at most
    assert np.allclose(reinterpret_units(rec, current_unit="nA").samples_f64(), fixed.samples_f64() * 1e3,
                       rtol=np.finfo(np.float32).eps, atol=0)
    refused = analyze_recording(rec)
    assert all(isinstance(r, SweepFailure) and "current_unit" in r.error for r in refused)
    params = AnalysisParams(current_unit="pA")
    assert AnalysisParams.from_json(params.to_json()) == params
    missing = analyze_recording(rec, AnalysisParams(voltage_unit="V"))
    assert "no voltage channel whose unit could be set to V" in missing[0].error


def test_unit_options_of_the_command_line():
    from signal_core.cli import build_parser, params_from_args
    from signal_core.params import AnalysisParams

    args = build_parser().parse_args(["analyze", "--current-unit", "pA", "--voltage-unit", "V", "x.abf"])
    assert params_from_args(args) == AnalysisParams(current_unit="pA", voltage_unit="V")
    assert params_from_args(build_parser().parse_args(["analyze", "x.abf"])).current_unit is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "--current-unit", "mA", "x.abf"])


def test_many_sweeps_read_as_pyabf_reads_them(tmp_path):
    """An ABF1 of 500 sweeps (the bench times 2,000): every sweep as pyABF's setSweep gives it."""
    import pyabf

    rng = np.random.default_rng(500)
    sweeps = rng.normal(0.0, 50.0, (500, 200))
    path = tmp_path / "many.abf"
    pyabf_writer.writeABF1(sweeps, str(path), FS, units="pA")
    rec = read_abf(path)
    abf = pyabf.ABF(str(path))
    assert rec.data.shape == (500, 1, 200)
    n = abf.sweepPointCount  # pyABF's setSweep(s) is data[0, s * n:(s + 1) * n]; calling it 500 times is slow
    for s in (0, 1, 250, 499):
        abf.setSweep(s)
        assert np.array_equal(rec.current(s), np.asarray(abf.sweepY, dtype=np.float64))
    assert np.array_equal(rec.data[:, 0, :].ravel(), np.asarray(abf.data[0, : 500 * n], dtype=np.float64))
