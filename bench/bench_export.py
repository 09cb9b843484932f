"""Time the exports: one recording's workbook, a set of 20 recordings, and the CSV files.

Run ``python bench/bench_export.py [--repeat N]``.  Prints the median (ms) of N runs
beside the targets of issue 4; nothing is asserted.  The recordings are simulated
like the lab's (100 kHz, 1.1 s, two 100 ms controls, 100 ms test pulse) and analysed
with a 2 kHz Butterworth, as the sample recording needs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from signal_core.analysis.pipeline import analyze_recording  # noqa: E402
from signal_core.export import (  # noqa: E402
    ExportEntry,
    analysis_workbook,
    curves_csv,
    raw_csv,
    results_csv,
    results_long_csv,
    set_workbook,
)
from signal_core.export.data import WORKBOOK_CURVE_POINTS  # noqa: E402
from signal_core.filters.specs import FilterSpec  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402
from signal_core.qv import fit_qv  # noqa: E402
from signal_core.recording import sha256_hex  # noqa: E402
from signal_core.synthetic import demo_recording, simulate  # noqa: E402


def median_ms(fn: Callable[[], bytes], repeat: int) -> tuple[float, int]:
    size = len(fn())  # warm-up (imports, caches), and the size of the output
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (default 7)")
    args = parser.parse_args()

    params = AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=2000.0),))
    demo = demo_recording()
    (one,) = analyze_recording(demo.recording, params)
    entry = ExportEntry(demo.recording.name, "0" * 64, 4_200_000, one)

    base = demo.cell
    entries = []
    for i, v in enumerate(np.linspace(-80.0, 40.0, 20)):
        name = f"20130507_{i + 1:04d}_{v:.0f}mVdepol.atf"
        sim = simulate(base, None, v_tests_mV=(float(v),), noise_pA=20.0, seed=i, name=name)
        (res,) = analyze_recording(sim.recording, params)
        entries.append(ExportEntry(name, sha256_hex(name.encode()), 4_200_000, res))
    fit = fit_qv([e.result.v_test_mV for e in entries], [e.result.q_on_pC for e in entries])

    cases: list[tuple[str, Callable[[], bytes], str]] = [
        ("analysis workbook, 1 recording (no raw)", lambda: analysis_workbook([entry]), "< 300 ms"),
        ("set workbook, 20 recordings + fit", lambda: set_workbook(entries, fit=fit), "< 3000 ms"),
        ("analysis workbook, 20 recordings + fit", lambda: analysis_workbook(entries, fit=fit), "-"),
        ("analysis workbook, 1 recording + raw sheet",
         lambda: analysis_workbook([entry], raw=[(entry, demo.recording)]),
         "-"),
        ("results CSV (wide), 20 recordings", lambda: results_csv(entries), "-"),
        ("results CSV (long), 20 recordings", lambda: results_long_csv(entries), "-"),
        ("curves CSV, 1 recording, full rate", lambda: curves_csv([entry]), "-"),
        ("curves CSV, 20 recordings, full rate", lambda: curves_csv(entries), "-"),
        ("raw CSV, 1 recording (110k rows)", lambda: raw_csv(demo.recording), "-"),
    ]
    print(f"median of {args.repeat} runs; curves in workbooks: block means of <= {WORKBOOK_CURVE_POINTS} points "
          "per curve")
    print(f"{'export':48s} {'median (ms)':>12s} {'size (kB)':>10s}  target")
    for label, fn, target in cases:
        ms, size = median_ms(fn, args.repeat)
        print(f"{label:48s} {ms:12.1f} {size / 1e3:10.0f}  {target}")


if __name__ == "__main__":
    main()
