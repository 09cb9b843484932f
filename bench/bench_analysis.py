"""Marginal cost of one more recording through ``analyze --json``: read, filter, analyse, row.

Measured in one process on the lab's sample recording (../shared/data/202304_0521.atf),
interleaved so every variant sees the same machine state, with the defaults and with a
2 kHz low-pass.  Prints medians (ms) and the target.  Also times the CLI end to end for
1 and 10 copies of the file, whose difference / 9 is the marginal cost seen by a user.

    python bench/bench_analysis.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signal_core.analysis.batch import result_row  # noqa: E402
from signal_core.analysis.pipeline import analyze_recording  # noqa: E402
from signal_core.filters.specs import FilterSpec  # noqa: E402
from signal_core.io.read import read_recording  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"
TARGET_MS = 30.0
OLD_TOOL_MS = 780.0


def one(data: bytes, params: AnalysisParams) -> None:
    rec = read_recording(data, name=SAMPLE.name)
    for outcome in analyze_recording(rec, params):
        result_row(SAMPLE.name, outcome)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    data = SAMPLE.read_bytes()
    variants = {
        "defaults": AnalysisParams(),
        "butter 2 kHz": AnalysisParams(filters=(FilterSpec(kind="butter", cutoff_hz=2000.0),)),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for p in variants.values():  # warm-up
        one(data, p)
    for _ in range(args.repeats):
        for name, p in variants.items():
            t0 = time.perf_counter()
            one(data, p)
            times[name].append((time.perf_counter() - t0) * 1e3)
    print(f"In-process, per recording (median of {args.repeats}; target <= {TARGET_MS:.0f} ms, "
          f"old desktop tool ~{OLD_TOOL_MS:.0f} ms):")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:14s} {med:7.1f} ms   ({OLD_TOOL_MS / med:5.1f}x faster than the old tool)")

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k in range(10):
            f = Path(tmp) / f"copy_{k:02d}.atf"
            f.write_bytes(data)
            files.append(str(f))
        cli = [sys.executable, "-m", "signal_core", "analyze", "--json", "--filter", "butter:2000"]
        wall: dict[int, list[float]] = {1: [], 10: []}
        for _ in range(5):
            for n in (1, 10):
                t0 = time.perf_counter()
                subprocess.run([*cli, *files[:n]], check=False, capture_output=True, cwd=ROOT)
                wall[n].append((time.perf_counter() - t0) * 1e3)
        m1, m10 = statistics.median(wall[1]), statistics.median(wall[10])
        print("CLI end to end (median of 5, butter 2 kHz):")
        print(f"  1 file   {m1:7.0f} ms (mostly interpreter and import start-up)")
        print(f"  10 files {m10:7.0f} ms")
        print(f"  marginal cost of one more recording: {(m10 - m1) / 9:6.1f} ms (target <= {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
