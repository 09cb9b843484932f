"""Marginal cost of one more recording through ``analyze --json``, measured the user's way.

The user's way: ``python -m signal_core analyze --json FILE...`` as a subprocess on 1 and on
11 copies of the lab's sample recording (../shared/data/202304_0521.atf); the difference / 10
is what one more recording costs (the start-up, imports and first-call costs cancel).  Each
run is repeated and interleaved (1, 11, 1, 11, ...) so both see the same machine state;
medians are printed, with the target.

Both wall and CPU time (user + system of the child) are printed.  Why the old in-process
figure (~20 ms) was far below what a user saw (44-60 ms): it timed the same bytes over and
over in one warm process, while the CLI's marginal cost is a difference of two whole runs on a
2-core machine shared with other work, where a longer run loses proportionally more time to
other processes; and numpy/scipy's OpenBLAS threads woke and spun for every small matrix
product, doubling the CPU time and competing for the second core.  The CLI now runs BLAS on
one thread (signal_core/_threads.py): 86 -> 48 ms wall per additional recording, 128 -> 59 ms
CPU.  Measured side by side, the in-process CPU time per recording and the CLI's marginal CPU
time then agree within about 10 %.

    python bench/bench_analysis.py [--repeats N] [--filter SPEC] [--in-process]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signal_core.analysis.batch import analyze_file  # noqa: E402
from signal_core.filters.specs import FilterSpec  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"
TARGET_MS = 30.0
N_MANY = 11


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_ms(files: list[str], filters: list[str]) -> tuple[float, float]:
    """Wall and CPU time (ms) of one ``analyze --json`` run over ``files``; checks that every file gave a row.

    The CPU time (user + system of the child) is what the run itself costs, hardly changed by
    other programs competing for the cores; the wall time is what the user waits.
    """
    cmd = [sys.executable, "-m", "signal_core", "analyze", "--json"]
    for spec in filters:
        cmd += ["--filter", spec]
    c0, t0 = _children_cpu_s(), time.perf_counter()
    out = subprocess.run([*cmd, *files], check=False, capture_output=True, cwd=ROOT, text=True)
    wall, cpu = (time.perf_counter() - t0) * 1e3, (_children_cpu_s() - c0) * 1e3
    rows = json.loads(out.stdout)
    if len(rows) != len(files) or any(r["error"] for r in rows):
        raise SystemExit(f"analyze --json did not analyse every file: {out.stderr[-500:]}")
    return wall, cpu


def user_way(data: bytes, filters: list[str], repeats: int) -> dict[int, tuple[float, float]]:
    """Median wall and CPU times (ms) of the CLI on 1 and on N_MANY copies."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k in range(N_MANY):
            f = Path(tmp) / f"copy_{k:02d}.atf"
            f.write_bytes(data)
            files.append(str(f))
        cli_ms(files[:1], filters)  # warm the disk cache and the byte-compiled modules
        runs: dict[int, list[tuple[float, float]]] = {1: [], N_MANY: []}
        for _ in range(repeats):
            for n in (1, N_MANY):
                runs[n].append(cli_ms(files[:n], filters))
    return {n: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
            for n, r in runs.items()}


def in_process(data: bytes, params: AnalysisParams, repeats: int) -> float:
    """Median time (ms) of read + analyse + row for one file, repeated on the same path in one process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / SAMPLE.name
        path.write_bytes(data)
        analyze_file(path, params)  # warm-up
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            analyze_file(path, params)
            ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="CLI runs per size (default 7)")
    ap.add_argument("--filter", action="append", default=[], metavar="SPEC",
                    help="a --filter for the CLI, repeatable (default: none, the recipe's defaults)")
    ap.add_argument("--in-process", action="store_true", help="also time the same work in one process")
    args = ap.parse_args()
    if not SAMPLE.exists():
        raise SystemExit(f"the sample recording is missing: {SAMPLE}")
    data = SAMPLE.read_bytes()
    med = user_way(data, args.filter, args.repeats)
    label = " ".join(f"--filter {s}" for s in args.filter) or "defaults"
    print(f"analyze --json, the user's way ({label}; median of {args.repeats} runs each):")
    print("                 wall       CPU")
    print(f"  1 file    {med[1][0]:7.0f} ms {med[1][1]:7.0f} ms  (mostly interpreter start-up and imports)")
    print(f"  {N_MANY} files  {med[N_MANY][0]:7.0f} ms {med[N_MANY][1]:7.0f} ms")
    wall, cpu = ((med[N_MANY][k] - med[1][k]) / (N_MANY - 1) for k in (0, 1))
    print(f"  marginal cost of one more recording: {wall:6.1f} ms wall, {cpu:6.1f} ms CPU "
          f"(target <= {TARGET_MS:.0f} ms)")
    if args.in_process:
        params = AnalysisParams(filters=tuple(FilterSpec.parse(s) for s in args.filter))
        med = in_process(data, params, max(21, 3 * args.repeats))
        print(f"  in one process, the same file again and again: {med:6.1f} ms per recording")


if __name__ == "__main__":
    main()
