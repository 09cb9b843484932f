"""Packaging: one version, a wheel holding signal_core alone (with its migrations), and the installed
``signal-analyzer`` command analysing a recording outside the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

import signal_core
from app.meta import APP_VERSION
from signal_core.analysis.pipeline import analyze_recording
from signal_core.io.read import read_recording
from signal_core.synthetic import demo_recording

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "signal_core.__version__"}
    assert APP_VERSION == signal_core.__version__
    parts = signal_core.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_console_script_and_extras():
    assert PYPROJECT["project"]["scripts"] == {"signal-analyzer": "signal_core.cli:main"}
    assert "dask" in PYPROJECT["project"]["optional-dependencies"]
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"


def test_dependencies_are_ranges_that_the_deployed_pins_satisfy():
    """requirements.txt keeps the exact pins the app deploys with; pyproject.toml gives ranges around them."""
    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for text in PYPROJECT["project"]["dependencies"]:
        req = Requirement(text)
        assert not any(s.operator == "==" for s in req.specifier), f"{text}: a range, not a pin"
        assert req.name.lower() in pins, f"{req.name} is not pinned in requirements.txt"
        assert req.specifier.contains(pins[req.name.lower()]), f"{text} excludes the deployed {pins[req.name.lower()]}"


@pytest.mark.slow
def test_module_and_command_usage_names_the_way_it_was_started():
    out = subprocess.run([sys.executable, "-m", "signal_core", "--help"], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.startswith("usage: python -m signal_core")


def _copy_sources(dest: Path) -> Path:
    """What `pip wheel .` needs, copied, so that the build leaves nothing in the work tree."""
    src = dest / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "signal_core", src / "signal_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    return src


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_the_command_analyses(tmp_path):
    """Build the wheel (no download: the build backend pinned in requirements-dev.txt), install it into a
    new venv that sees this interpreter's packages (the dependencies), and run the command on a recording
    written outside any source tree."""
    src = _copy_sources(tmp_path)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", "-w", str(dist), str(src)],
                   check=True, timeout=300, capture_output=True)
    (wheel,) = dist.glob("signal_analyzer-*.whl")
    assert wheel.name.startswith(f"signal_analyzer-{signal_core.__version__}-py3-none-any")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"signal_core", f"signal_analyzer-{signal_core.__version__}.dist-info"}
    for data in ("alembic.ini", "script.py.mako", "versions/0001_first_schema.py"):
        assert f"signal_core/migrations/{data}" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=300)
    py = venv / "bin" / "python"
    # the venv's own pip would come from the network; this interpreter's pip installs into it (--python)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-index",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=300, env=env,
                   capture_output=True)

    work = tmp_path / "work"
    work.mkdir()
    demo = demo_recording()
    (work / "demo_0001_-20mV.atf").write_bytes(demo.to_atf_bytes())
    where = subprocess.run([str(py), "-c", "import signal_core; print(signal_core.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    assert Path(where).is_relative_to(venv), f"signal_core imported from {where}, not from the installed wheel"

    cmd = venv / "bin" / "signal-analyzer"
    version = subprocess.run([str(cmd), "--version"], cwd=work, env=env, capture_output=True, text=True,
                             check=True, timeout=120).stdout
    assert version.strip() == f"signal_core {signal_core.__version__}"
    run = subprocess.run([str(cmd), "analyze", "demo_0001_-20mV.atf", "--json", "--filter", "butter:2000"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(run.stdout)
    # the simulated cell's truth (signal_core/synthetic.py demo_recording): R_s 14 MOhm, C_m 0.7 nF, V2 -20 mV
    assert row["error"] is None and row["sweep"] == 1
    assert row["v_test_mV"] == pytest.approx(-20.0, abs=0.5)
    assert row["r_s_MOhm"] == pytest.approx(demo.cell.r_s_MOhm, rel=0.05)
    assert row["c_m_nF"] == pytest.approx(demo.cell.c_m_nF, rel=0.05)
    # the installed package computes what the source tree does, to the last digit
    (here,) = analyze_recording(read_recording(work / "demo_0001_-20mV.atf"),
                                signal_core.AnalysisParams(filters=["butter:2000"]))
    assert row["q_on_pC"] == here.q_on_pC and row["c_m_nF"] == here.c_m_nF

    usage = subprocess.run([str(cmd), "qv", "--help"], cwd=work, env=env, capture_output=True, text=True,
                           check=True, timeout=120).stdout
    assert usage.startswith("usage: signal-analyzer qv")

    # the migrations shipped as package data create the history database
    db = work / "history.sqlite"
    subprocess.run([str(py), "-c", f"from signal_core.store import Store; Store.open('sqlite:///{db}')"],
                   cwd=work, env=env, check=True, timeout=120, capture_output=True)
    import sqlite3

    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    assert "alembic_version" in tables and len(tables) > 1


@pytest.mark.slow
def test_plain_pytest_works_from_the_project_root():
    """`pytest` (its console script puts neither the project nor the working directory on sys.path; -P does the
    same for `python -m`) finds `tests.browser` and the app through pyproject's pythonpath."""
    out = subprocess.run([sys.executable, "-P", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "tests/test_docs.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "test_help_page_renders_docs_method_md" in out.stdout


def test_ci_runs_the_readme_test_command_and_check_leaves_out_the_slow_tests():
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text() and "make check" in (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntest:\n\tbash scripts/test.sh\n" in makefile and "\ncheck:\n\tbash scripts/check.sh\n" in makefile
    assert "-n 2 --dist loadgroup" in (ROOT / "scripts" / "test.sh").read_text()
    check = (ROOT / "scripts" / "check.sh").read_text()
    assert '-m "not slow and not browser and not postgres"' in check and "pip install" not in check.split("set -e")[1]
