"""The per-file rule of signal_core.analysis.batch: analyze_source and implicit_v2.

The command line (through signal_core.parallel.analyze_files) and the app's Q-V sets page both call
analyze_source; tests/test_app_sets.py checks that the two give the same rows float for float,
tests/test_sets.py that every parallel mode does.

Truth from physics: the synthetic cell moves Q(V) - Q(V_hold) of a two-state Boltzmann
(Q_max 28 pC, V_half -34 mV, k 8.7 mV) when stepped from -80 mV to V2, and the V2 of a file without
a voltage channel is the one in its name (``..._<V2>mV.atf``).
"""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import pytest

import signal_core.analysis.batch as batch
from signal_core.analysis.batch import NO_MEMORY, ROW_KEYS, analyze_source, implicit_v2
from signal_core.io.atf_writer import write_atf
from signal_core.parallel import analyze_files
from signal_core.params import AnalysisParams
from signal_core.protocol.timing import ProtocolTiming
from signal_core.synthetic import CellModel, simulate

CELL = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=28.0, v_half_mV=-34.0, k_mV=8.7)
TIMING = AnalysisParams(timing=ProtocolTiming())  # the protocol simulate draws (V2 -20 mV) for files without voltage
NAME = "20240101_0002_A_-50mV.atf"


def _boltzmann_pC(v_mV: float) -> float:
    return CELL.q_max_pC / (1.0 + math.exp(-(v_mV - CELL.v_half_mV) / CELL.k_mV))


def _sim(name: str = NAME, v2: float = -50.0, *, with_voltage: bool = False, v_tests: tuple[float, ...] | None = None):
    return simulate(CELL, v_tests_mV=v_tests or (v2,), fs_hz=20_000.0, duration_ms=700.0, noise_pA=2.0,
                    with_voltage=with_voltage, seed=2, name=name)


@pytest.fixture(scope="module")
def no_voltage(tmp_path_factory) -> Path:
    """A single-sweep recording at V2 = -50 mV without a voltage channel, named after its V2."""
    path = tmp_path_factory.mktemp("batch") / NAME
    path.write_bytes(write_atf(_sim().recording))
    return path


def _numbers(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "file"} for r in rows]


def test_the_module_examples_run():
    assert doctest.testmod(batch, optionflags=doctest.ELLIPSIS).failed == 0


def test_implicit_v2_only_where_neither_recording_nor_recipe_gives_v2():
    rec = _sim().recording
    assert implicit_v2(rec, AnalysisParams()) == -50.0  # the recording's own name
    assert implicit_v2(rec, AnalysisParams(), "some/folder/0057_0_-100.atf") == -100.0  # the name given, last part
    assert implicit_v2(rec, AnalysisParams(), "202304_0521.atf") is None  # a name without V2
    assert implicit_v2(rec, AnalysisParams(v_test_mV=-30.0)) is None  # the recipe sets V2
    protocol = _sim(with_voltage=True).protocols[0].to_dict()
    assert implicit_v2(rec, AnalysisParams(protocol=protocol)) is None  # the recipe sets a whole protocol
    assert implicit_v2(_sim(with_voltage=True).recording, AnalysisParams()) is None  # a voltage channel
    assert implicit_v2(_sim(v_tests=(-60.0, -40.0)).recording, AnalysisParams()) is None  # several sweeps


def test_v2_from_the_name_gives_the_cells_charge(no_voltage):
    truth = _boltzmann_pC(-50.0) - _boltzmann_pC(-80.0)
    got = analyze_source(no_voltage, TIMING, v_from_name=True)
    (row,) = got.rows
    assert got.v_test_mV == -50.0 and row["v_test_mV"] == -50.0 and row["error"] is None
    assert row["q_on_pC"] == pytest.approx(truth, rel=0.08)
    assert "no_voltage_channel" in row["flag_codes"]
    # without it the timing's V2 (-20 mV) enters the control subtraction: another charge
    plain = analyze_source(no_voltage, TIMING)
    assert plain.v_test_mV is None and plain.rows[0]["v_test_mV"] == -20.0
    assert abs(plain.rows[0]["q_on_pC"] - truth) > 0.5 * truth


def test_a_v2_set_by_hand_beats_the_name(no_voltage):
    got = analyze_source(no_voltage, TIMING, v_test_mV=-30.0, v_from_name=True)
    assert got.v_test_mV == -30.0 and got.rows[0]["v_test_mV"] == -30.0
    assert got.rows == analyze_source(no_voltage, TIMING.replace(v_test_mV=-30.0)).rows


def test_path_upload_and_recording_give_the_same_rows(no_voltage):
    by_path = analyze_source(no_voltage, TIMING, v_from_name=True)
    upload = analyze_source((NAME, no_voltage.read_bytes()), TIMING, v_from_name=True)
    parsed = analyze_source(by_path.recording, TIMING, v_from_name=True)
    labelled = analyze_source(by_path.recording, TIMING, name=f"0123456789ab/{NAME}", v_from_name=True)
    assert by_path.rows[0]["file"] == str(no_voltage)
    assert upload.rows[0]["file"] == parsed.rows[0]["file"] == NAME
    assert labelled.rows[0]["file"] == f"0123456789ab/{NAME}"
    assert _numbers(by_path.rows) == _numbers(upload.rows) == _numbers(parsed.rows) == _numbers(labelled.rows)
    assert list(by_path.rows[0]) == list(ROW_KEYS)
    assert analyze_files([no_voltage], TIMING, v_test_from_name=True) == [by_path.rows]


def test_a_file_that_cannot_be_read_gives_one_error_row(tmp_path):
    got = analyze_source(("junk.atf", bytes(range(256)) * 8), TIMING, v_from_name=True)
    assert got.recording is None and got.outcomes == [] and got.v_test_mV is None
    (row,) = got.rows
    assert row["file"] == "junk.atf" and row["sweep"] is None and row["error"].startswith("junk.atf: ")
    missing = tmp_path / "gone_0001_-20mV.atf"
    (row,) = analyze_source(missing, TIMING).rows
    assert row["error"] == f"{missing}: cannot be opened (No such file or directory)"


def test_running_out_of_memory_gives_an_error_row_naming_the_file(no_voltage, monkeypatch):
    def no_memory(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(batch, "analyze_recording", no_memory)
    got = analyze_source(no_voltage, TIMING, v_from_name=True)
    assert got.recording is None and got.outcomes == []
    assert got.rows == [batch.error_row(str(no_voltage), None, f"{NAME}: not enough memory to analyse this file")]
    assert NO_MEMORY == "not enough memory to analyse this file"
    # the command line's in-process path reports it the same way, and goes on with the other files
    assert analyze_files([no_voltage], TIMING) == [got.rows]
