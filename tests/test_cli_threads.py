"""The command line runs its linear algebra on one thread unless the user says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("import signal_core.cli, numpy, os; "
         "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])")


@pytest.mark.parametrize(("given", "seen"), [(None, "1 1"), ("2", "2 1")])
def test_blas_threads(given, seen):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == seen.split()


def test_an_unfiltered_analysis_imports_neither_scipy_signal_nor_pandas(sample_path):
    # about 0.4 s and 0.25 s of every command-line run's start-up: imported only by the filters and the
    # ATF reader's fallback path; the numbers must be those of a run that did import them (the window is
    # written out bit for bit, tests/test_uncertainty.py)
    probe = ("import sys, json; import signal_core.cli; from signal_core.analysis.batch import analyze_file; "
             "from signal_core.params import AnalysisParams; "
             f"rows = analyze_file({str(sample_path)!r}, AnalysisParams())[2]; assert rows[0]['error'] is None; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('scipy.signal', 'pandas')))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout[:300]
