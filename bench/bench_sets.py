"""A set of 100 sample-sized recordings analysed with 1 and with 2 worker processes.

The lab's sample recording (../shared/data/202304_0521.atf, 2.9 MB, 1.1 s at 100 kHz) is
written 100 times into a temporary folder, then analysed by
:func:`signal_core.parallel.analyze_files`:

- ``in-process``: ``analyze_files`` called again in this process (the app: the fork server
  that starts the workers is already running after the first call);
- ``fresh process``: a new Python process per run that imports signal_core and calls
  ``analyze_files`` (what a command line pays: interpreter, imports, fork server);
- ``CLI``: ``python -m signal_core qv FILES --json --workers N``, when the CLI has ``--workers``.

Runs are interleaved (1, 2, 1, 2...) so both see the same machine state; medians of
``--repeats`` runs are printed with the speed-up. Target: under 15 s with 2 workers.

    python bench/bench_sets.py [--files 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signal_core.parallel import analyze_files  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"
TARGET_S = 15.0
WORKERS = (1, 2)

FRESH = """
import json, sys
sys.path.insert(0, {root!r})
from signal_core.params import AnalysisParams
from signal_core.parallel import analyze_files
paths = json.loads(open({listing!r}).read())
rows = analyze_files(paths, AnalysisParams(), workers={workers})
assert len(rows) == len(paths) and not any(r["error"] for f in rows for r in f)
"""


def cli_has_workers() -> bool:
    out = subprocess.run([sys.executable, "-m", "signal_core", "qv", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=False).stdout
    return "--workers" in out


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not SAMPLE.exists():
        print(f"the sample recording is missing: {SAMPLE}", file=sys.stderr)
        return 1
    data = SAMPLE.read_bytes()
    params = AnalysisParams()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_sets_") as tmp:
        folder = Path(tmp)
        paths = []
        for k in range(args.files):
            path = folder / f"202304_{k + 1:04d}.atf"
            path.write_bytes(data)
            paths.append(str(path))
        listing = folder / "paths.json"
        listing.write_text(json.dumps(paths))
        reference = analyze_files(paths, params)  # also warms the page cache
        assert not any(r["error"] for f in reference for r in f)
        assert analyze_files(paths, params, workers=2) == reference  # same numbers; starts the fork server

        modes: dict[str, Callable[[int], Callable[[], object]]] = {
            "in-process": lambda w: lambda: analyze_files(paths, params, workers=w),
            "fresh process": lambda w: lambda: subprocess.run(
                [sys.executable, "-c", FRESH.format(root=str(ROOT), listing=str(listing), workers=w)],
                check=True),
        }
        if cli_has_workers():
            modes["CLI qv --json"] = lambda w: lambda: subprocess.run(
                [sys.executable, "-m", "signal_core", "qv", *paths, "--json", "--workers", str(w)],
                cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
        else:
            print("(the CLI has no --workers yet: timed through analyze_files only)")

        times: dict[tuple[str, int], list[float]] = {(m, w): [] for m in modes for w in WORKERS}
        for _ in range(args.repeats):
            for m, make in modes.items():
                for w in WORKERS:
                    times[(m, w)].append(timed(make(w)))

    print(f"{args.files} copies of {SAMPLE.name} ({len(data) / 1e6:.1f} MB each), "
          f"median of {args.repeats} interleaved runs:")
    ok = True
    for m in modes:
        t1, t2 = (statistics.median(times[(m, w)]) for w in WORKERS)
        b1, b2 = (min(times[(m, w)]) for w in WORKERS)
        print(f"  {m:15s} 1 worker {t1:6.2f} s   2 workers {t2:6.2f} s   speed-up x{t1 / t2:.2f}"
              f"   (best runs {b1:.2f} s, {b2:.2f} s: x{b1 / b2:.2f})")
        ok &= t2 < TARGET_S
    print(f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores (other jobs on the machine slow the 2-worker runs most)")
    print(f"target: under {TARGET_S:g} s with 2 workers: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
