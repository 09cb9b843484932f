"""Marginal cost of one more recording through ``analyze --json``, measured the user's way.

The user's way: ``python -m signal_core analyze --json FILE...`` as a subprocess on 1 and on
11 copies of the lab's sample recording (../shared/data/202304_0521.atf); the difference / 10
is what one more recording costs (the start-up, imports and first-call costs cancel).  Each
run is repeated and interleaved (1, 11, 1, 11, ...) so both see the same machine state; the
marginal cost is the median of the pairs' differences, with its quartiles, and the target.

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


def user_way(data: bytes, filters: list[str], repeats: int,
             many: int = N_MANY) -> dict[int, list[tuple[float, float]]]:
    """Wall and CPU times (ms) of the CLI on 1 and on ``many`` copies, one pair of runs per repeat."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k in range(many):
            f = Path(tmp) / f"copy_{k:02d}.atf"
            f.write_bytes(data)
            files.append(str(f))
        cli_ms(files[:1], filters)  # warm the disk cache and the byte-compiled modules
        runs: dict[int, list[tuple[float, float]]] = {1: [], many: []}
        for _ in range(repeats):
            for n in (1, many):
                runs[n].append(cli_ms(files[:n], filters))
    return runs


def marginal(runs: dict[int, list[tuple[float, float]]], k: int) -> tuple[float, float, float]:
    """Median and quartiles (ms) of the paired marginal costs ``(t_N - t_1) / (N - 1)``, wall (k=0) or CPU (k=1).

    Each repeat's two runs ran back to back, so a difference of a pair cancels the machine's slow
    changes that a difference of two separate medians keeps (on two shared cores the start-up alone
    varies by +-100 ms, +-10 ms on the marginal).
    """
    n = max(runs)
    d = sorted((many[k] - one[k]) / (n - 1) for one, many in zip(runs[1], runs[n], strict=True))
    q = statistics.quantiles(d, n=4) if len(d) > 1 else [d[0]] * 3
    return statistics.median(d), q[0], q[2]


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
    ap.add_argument("--repeats", type=int, default=15, help="pairs of CLI runs (default 15)")
    ap.add_argument("--filter", action="append", default=[], metavar="SPEC",
                    help="a --filter for the CLI, repeatable (default: none, the recipe's defaults)")
    ap.add_argument("--many", type=int, default=N_MANY,
                    help=f"copies in the long run (default {N_MANY}, the issue's; more copies divide the start-up's "
                         "noise by more)")
    ap.add_argument("--in-process", action="store_true", help="also time the same work in one process")
    args = ap.parse_args()
    if not SAMPLE.exists():
        raise SystemExit(f"the sample recording is missing: {SAMPLE}")
    data = SAMPLE.read_bytes()
    many = max(2, args.many)
    runs = user_way(data, args.filter, args.repeats, many)
    label = " ".join(f"--filter {s}" for s in args.filter) or "defaults"
    print(f"analyze --json, the user's way ({label}; {args.repeats} pairs of runs, medians):")
    print("                 wall       CPU")
    for n in (1, many):
        wall, cpu = (statistics.median(r[k] for r in runs[n]) for k in (0, 1))
        note = "  (mostly interpreter start-up and imports)" if n == 1 else ""
        print(f"  {n:2d} file{'s' if n > 1 else ' '} {wall:7.0f} ms {cpu:7.0f} ms{note}")
    (w, w1, w3), (c, c1, c3) = marginal(runs, 0), marginal(runs, 1)
    print(f"  marginal cost of one more recording: {w:6.1f} ms wall (quartiles {w1:.1f}-{w3:.1f}), "
          f"{c:6.1f} ms CPU (quartiles {c1:.1f}-{c3:.1f}); target <= {TARGET_MS:.0f} ms")
    if args.in_process:
        params = AnalysisParams(filters=tuple(FilterSpec.parse(s) for s in args.filter))
        med = in_process(data, params, max(21, 3 * args.repeats))
        print(f"  in one process, the same file again and again: {med:6.1f} ms per recording")


if __name__ == "__main__":
    main()
