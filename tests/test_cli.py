"""The command line: same numbers as the Python API, failures reported per file.

Most tests call :func:`signal_core.cli.main` in this process with its output captured (``run``): the
same arguments, output and exit status as ``python -m signal_core``, without a new interpreter
importing the scientific stack for every call (about 1.5 CPU-seconds each). One test runs the real
command in a subprocess (``run_process``), and tests/test_packaging.py the installed ``signal-analyzer``.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from signal_core.analysis.pipeline import analyze_sweep
from signal_core.cli import main
from signal_core.filters.specs import FilterSpec
from signal_core.io.atf import read_atf
from signal_core.io.atf_writer import write_atf
from signal_core.params import AnalysisParams
from signal_core.protocol.timing import ProtocolTiming
from signal_core.synthetic import CellModel, simulate

ROOT = Path(__file__).resolve().parents[1]
CELL = CellModel(c_m_nF=1.0, r_s_MOhm=1.0, r_m_MOhm=500.0, q_max_pC=28.0, v_half_mV=-34.0, k_mV=8.7)


def run_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "signal_core", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -m signal_core ARGS`` in this process: exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, --version and usage errors exit
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(["signal_core", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def qv_set(tmp_path_factory) -> list[Path]:
    """One ATF file per test level, named the lab's way (V2 in the name)."""
    folder = tmp_path_factory.mktemp("set")
    files = []
    for k, v in enumerate(range(-70, 31, 10), start=1):
        sim = simulate(CELL, ProtocolTiming(), v_tests_mV=(float(v),), noise_pA=5.0, seed=k)
        f = folder / f"20230115_{k:04d}_{v}mVdepol.atf"
        f.write_bytes(write_atf(sim.recording))
        files.append(f)
    return files


@pytest.mark.slow
def test_analyze_json_matches_the_python_api(sample_path):
    """The real command, in its own process."""
    proc = run_process("analyze", str(sample_path), "--json", "--filter", "butter:2000")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1
    row = rows[0]
    for key in ("file", "sweep", "fs_hz", "v_hold_mV", "v_control_mV", "v_test_mV", "c_lin_nF", "c_m_nF",
                "tau_ms", "r_s_MOhm", "r_m_MOhm", "q_on_pC", "q_off_pC", "q_off_over_on", "flags", "error"):
        assert key in row
    assert row["sweep"] == 1 and row["error"] is None and row["fs_hz"] == 100_000.0
    api = analyze_sweep(read_atf(sample_path), 0,
                        AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=2000.0),)))
    for key in ("q_on_pC", "q_off_pC", "c_lin_nF", "c_m_nF", "tau_ms", "r_s_MOhm", "v_test_mV"):
        assert row[key] == pytest.approx(getattr(api, key), rel=1e-12)
    assert row["r_m_MOhm"] is None
    assert any("R_m cannot be estimated" in f for f in row["flags"])


def test_a_bad_file_is_reported_and_the_others_still_analysed(tmp_path, sample_path):
    bad = tmp_path / "broken.atf"
    bad.write_bytes(b"ATF\t1.0\n0\t2\n\"Time (s)\"\t\"Trace #1 (pA)\"\n0\t1\n1e-5\tnot-a-number\n")
    missing = tmp_path / "missing.atf"
    proc = run("analyze", str(bad), str(sample_path), str(missing), "--json")
    assert proc.returncode == 2
    rows = json.loads(proc.stdout)
    assert [Path(r["file"]).name for r in rows] == ["broken.atf", "202304_0521.atf", "missing.atf"]
    assert "line 5" in rows[0]["error"] and "broken.atf" in rows[0]["error"]
    assert rows[0]["q_on_pC"] is None and rows[0]["sweep"] is None
    assert rows[1]["error"] is None and rows[1]["q_on_pC"] > 0
    assert "cannot be opened" in rows[2]["error"]


def test_table_output_is_readable(sample_path):
    proc = run("analyze", str(sample_path))
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert "Q_on (pC)" in lines[0] and "C_m (nF)" in lines[0] and "R_s (MOhm)" in lines[0]
    assert lines[1].startswith("202304_0521.atf")
    assert any(line.startswith("flag") and "R_m cannot be estimated" in line for line in lines)


def test_qv_recovers_the_boltzmann(qv_set):
    proc = run("qv", *map(str, qv_set), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["errors"] == []
    assert [p["v_test_mV"] for p in out["points"]] == pytest.approx(list(range(-70, 31, 10)))
    assert set(out) >= {"points", "q_max_pC", "v_half_mV", "k_mV", "z", "q_max_pC_se", "v_half_mV_se",
                        "k_mV_se", "z_se", "errors"}
    g = CELL.r_m_MOhm / (CELL.r_m_MOhm + CELL.r_s_MOhm)
    assert out["v_half_mV"] == pytest.approx(CELL.v_half_mV / g, abs=2.0)
    assert out["k_mV"] == pytest.approx(CELL.k_mV / g, rel=0.15)
    assert out["z"] == pytest.approx(25.43 / out["k_mV"], rel=0.01)
    assert 0 < out["v_half_mV_se"] < 2


def test_qv_table_output_with_three_points_says_the_errors_are_not_estimable(qv_set):
    # three points for three parameters: the fit passes through them and has no standard errors
    proc = run("qv", *map(str, qv_set[2:5]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith(("Q_max", "V_half", "k "))]
    assert len(lines) == 3 and all("+/- n/a" in ln for ln in lines), proc.stdout


def test_qv_with_a_bad_file_still_fits_the_rest(qv_set, tmp_path):
    junk = tmp_path / "junk.atf"
    junk.write_bytes(b"\x00\x01binary junk")
    proc = run("qv", *map(str, qv_set), str(junk), "--json")
    assert proc.returncode == 2
    out = json.loads(proc.stdout)
    assert len(out["points"]) == len(qv_set)
    assert len(out["errors"]) == 1 and "junk.atf" in out["errors"][0]["error"]
    assert out["v_half_mV"] is not None


def test_level_overrides_and_recipe(sample_path, tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=2000.0),),
                                     baseline_ms=4.0).to_json())
    proc = run("analyze", str(sample_path), "--json", "--recipe", str(recipe), "--v-test", "-20", "--v-hold", "-81")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)[0]
    assert row["v_test_mV"] == -20.0 and row["v_hold_mV"] == -81.0
    api = analyze_sweep(read_atf(sample_path), 0, AnalysisParams(
        filters=(FilterSpec(kind="butter", cutoff_hz=2000.0),), baseline_ms=4.0, v_test_mV=-20.0, v_hold_mV=-81.0))
    assert row["q_on_pC"] == pytest.approx(api.q_on_pC, rel=1e-12)


def test_recording_without_voltage_channel_takes_timings(tmp_path):
    sim = simulate(CELL, ProtocolTiming(), with_voltage=False, noise_pA=5.0, seed=3)
    f = tmp_path / "current_only.atf"
    f.write_bytes(write_atf(sim.recording))
    proc = run("analyze", str(f), "--json")
    assert proc.returncode == 2
    assert "no voltage channel" in json.loads(proc.stdout)[0]["error"]
    proc = run("analyze", str(f), "--json", "--t0-ms", "17.2", "--control-ms", "100", "--control-off-ms", "100",
               "--n-control", "2", "--test-ms", "100", "--v-hold", "-80", "--v-control", "-100", "--v-test", "-20")
    assert proc.returncode == 0, proc.stdout
    row = json.loads(proc.stdout)[0]
    assert row["q_on_pC"] == pytest.approx(sim.truths[0].q_on_expected_pC, rel=0.05)


def test_bad_options_exit_1_with_a_message(sample_path):
    proc = run("analyze", str(sample_path), "--filter", "butter")
    assert proc.returncode == 1
    assert "butter" in proc.stderr and "Hz" in proc.stderr


def test_help_documents_every_option_with_units():
    proc = run("analyze", "--help")
    assert proc.returncode == 0
    text = proc.stdout
    for opt, unit in (("--v-hold", "mV"), ("--v-control", "mV"), ("--v-test", "mV"), ("--baseline-ms", "ms"),
                      ("--fs-hz", "Hz"), ("--filter", "Hz"), ("--area-um2", "um^2"), ("--t0-ms", "ms")):
        # the option's own help paragraph names its unit
        options = text[text.index("options:"):]
        para = options[options.index("\n  " + opt):].split("\n  -")[1]
        assert unit in para, (opt, para)
    assert "butter:CUTOFF_HZ" in text and "notch:FREQ_HZ" in text and "savgol:WINDOW" in text
    assert run("qv", "--help").returncode == 0


@pytest.mark.slow
def test_parallel_workers_give_identical_numbers_in_input_order(qv_set, tmp_path):
    junk = tmp_path / "junk.atf"
    junk.write_bytes(b"not an ATF file")
    files = [*map(str, qv_set[:5]), str(junk), *map(str, qv_set[5:])]
    one = run("analyze", *files, "--json")
    two = run("analyze", *files, "--json", "--workers", "2")
    assert one.returncode == two.returncode == 2
    assert json.loads(one.stdout) == json.loads(two.stdout)
    assert [Path(r["file"]).name for r in json.loads(two.stdout)] == [Path(f).name for f in files]
    q1 = run("qv", *files, "--json")
    q2 = run("qv", *files, "--json", "--workers", "2")
    assert json.loads(q1.stdout) == json.loads(q2.stdout)


@pytest.mark.slow
def test_qv_writes_the_set_workbook(qv_set, tmp_path):
    import openpyxl

    out = tmp_path / "set.xlsx"
    proc = run("qv", *map(str, qv_set), "--out", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    wb = openpyxl.load_workbook(out)
    assert "0001" in wb.sheetnames and len(wb.sheetnames) == len(qv_set) + 1


@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error(sample_path):
    proc = run("analyze", str(sample_path), "--scheduler", "tcp://127.0.0.1:9")
    assert proc.returncode == 1
    assert "scheduler" in proc.stderr.lower() and "Traceback" not in proc.stderr
