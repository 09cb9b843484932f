"""Capacity without browsers: how many users one server holds, measured on the server's own CPUs.

Run ``python bench/bench_capacity.py [--sessions 10,25,50] [--same-file] [--think 0]``.  For each
count the app is started afresh exactly as the Procfile does (``tests/server.py``: 127.0.0.1 only,
its own SQLite data dir, the default memory budget), and that many sessions run at once through
the server's own websocket (``/_stcore/stream``) and upload route, speaking Streamlit's protobuf
messages (``tests/st_client.py``: ``BackMsg.rerun_script`` with widget states,
``file_urls_request`` and a multipart ``PUT`` to ``/_stcore/upload_file``, the deferred download
request) -- what the Chromium load test (``bench/bench_load.py``) does, at a small fraction of a
browser's CPU, so that the two CPUs serve the server and not ten renderers.  Each session:

1. ``open``: connects and runs the first page (Load);
2. ``upload``: uploads the lab's sample (``../shared/data/202304_0521.atf``; by default each session
   its own copy with another comment line, so no session profits from another's cache);
3. ``analyse``: opens Analyse and gets the Q_on card;
4. ``change``: sets the pre-edge baseline to 3 ms (a new analysis) and gets the card again;
5. ``download``: asks for the workbook and fetches it (checked: a ZIP, i.e. an xlsx).

``--think`` seconds pass between steps (default 0: every session as fast as it can, the worst case).
Every step has ``--timeout`` seconds; the whole run stops by itself.  Printed per count: sessions
that finished, the p50 and p95 of each step (s), the server's CPU time per session (user + system
of its process tree from ``/proc``, divided by the sessions), its peak resident memory (the
kernel's high-water mark ``VmHWM`` of the server process, and the largest sum over its process tree
sampled every 20 ms), and at the end the largest count whose every step has p95 <= 2 s and whose
peak stays within 480 MB -- the users one 512 MB dyno with this machine's CPUs holds.  Nothing is
asserted; exit status 1 when a session failed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_app import SAMPLE, _tree, server_pid, variant  # noqa: E402
from bench_load import Sampler, cpu_s, pct  # noqa: E402

from tests.server import run_app  # noqa: E402
from tests.st_client import StreamlitClient  # noqa: E402

STEPS = ("open", "upload", "analyse", "change", "download")
P95_TARGET_S = 2.0
BUDGET_MB = 480.0


@dataclass
class Session:
    k: int
    times: dict[str, float] = field(default_factory=dict)
    error: str = ""


async def one_session(url: str, s: Session, name: str, data: bytes, think_s: float, timeout_s: float) -> None:
    c = StreamlitClient(url, timeout_s=timeout_s)
    step = "open"
    try:
        t = time.perf_counter()
        await c.connect()
        await c.run()
        s.times[step] = time.perf_counter() - t

        async def timed(label: str, coro):
            nonlocal step
            step = label
            await asyncio.sleep(think_s)
            t0 = time.perf_counter()
            out = await coro
            s.times[label] = time.perf_counter() - t0
            return out

        run = await timed("upload", c.upload([(name, data)], key="uploader"))
        if run.errors():
            raise RuntimeError(run.errors()[0][:200])
        run = await timed("analyse", c.run(page="analyse"))
        if "Q_on (pC)" not in [e.label for e in run.of("metric")]:
            raise RuntimeError(f"no Q_on card: {run.errors()[:1]}")
        run = await timed("change", c.set_value("number_input", 3.0, key="rp_baseline_ms"))
        if "Q_on (pC)" not in [e.label for e in run.of("metric")]:
            raise RuntimeError(f"no Q_on card after the change: {run.errors()[:1]}")
        book = await timed("download", c.download(key="dl_analyse_xlsx"))
        if not book.startswith(b"PK"):
            raise RuntimeError(f"the workbook is not an xlsx ({len(book)} bytes)")
    except Exception as exc:  # noqa: BLE001 - a bench reports every failure with its step and goes on
        s.error = f"{step}: {type(exc).__name__}: {exc}"[:300]
    finally:
        await c.close()


def hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def run_count(n: int, same_file: bool, think_s: float, timeout_s: float) -> dict:
    files = [variant(0) if same_file else variant(k + 1) for k in range(n)]
    sessions = [Session(k) for k in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp, \
            run_app({"SIGNAL_ANALYZER_DATA_DIR": tmp}, log_path=Path(tmp) / "app.log") as url:
        pid = server_pid(urlparse(url).port)

        async def warm() -> None:  # the first run of a process imports the app: not a user's wait
            c = await StreamlitClient(url, timeout_s=timeout_s).connect()
            await c.run()
            await c.close()

        asyncio.run(warm())
        sampler = Sampler(pid, interval_s=0.02)
        sampler.start()
        cpu0 = cpu_s(_tree(pid))
        t0 = time.perf_counter()

        async def everyone() -> None:
            await asyncio.wait_for(
                asyncio.gather(*(one_session(url, s, name, data, think_s, timeout_s)
                                 for s, (name, data) in zip(sessions, files))),
                timeout=timeout_s * (len(STEPS) + 1) + 60)

        asyncio.run(everyone())
        wall = time.perf_counter() - t0
        cpu = cpu_s(_tree(pid)) - cpu0
        peak_tree = sampler.stop()
        peak_hwm = hwm_mb(pid)
    ok = [s for s in sessions if not s.error]
    return {
        "n": n, "ok": len(ok), "wall_s": wall, "cpu_per_session_s": cpu / n, "peak_hwm_mb": peak_hwm,
        "peak_tree_mb": peak_tree,
        "p50": {st: pct([s.times[st] for s in ok if st in s.times], 50) for st in STEPS},
        "p95": {st: pct([s.times[st] for s in ok if st in s.times], 95) for st in STEPS},
        "errors": [s.error for s in sessions if s.error],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="10,25,50", help="comma-separated concurrent sessions (max 100)")
    parser.add_argument("--same-file", action="store_true", help="every session uploads the same bytes")
    parser.add_argument("--think", type=float, default=0.0, help="seconds between a session's steps (default 0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one step may take (default 120)")
    args = parser.parse_args()
    counts = [int(x) for x in args.sessions.split(",") if x.strip()]
    if not SAMPLE.exists():
        sys.exit(f"the sample recording is missing: {SAMPLE}")
    if not counts or min(counts) < 1 or max(counts) > 100:
        sys.exit("--sessions: counts between 1 and 100")
    results = []
    for n in counts:
        r = run_count(n, args.same_file, args.think, args.timeout)
        results.append(r)
        print(f"\n{n} sessions: {r['ok']}/{n} finished in {r['wall_s']:.1f} s; server CPU "
              f"{r['cpu_per_session_s']:.2f} s per session; peak RSS {r['peak_hwm_mb']:.0f} MB "
              f"(process tree {r['peak_tree_mb']:.0f} MB)")
        for st in STEPS:
            print(f"  {st:<9} p50 {r['p50'][st]:6.2f} s   p95 {r['p95'][st]:6.2f} s")
        for e in r["errors"][:5]:
            print(f"  failed: {e}")
    print("\n| sessions | finished | " + " | ".join(f"{st} p50 / p95 (s)" for st in STEPS)
          + " | server CPU per session (s) | peak RSS (MB) |")
    print("|---" * (len(STEPS) + 4) + "|")
    for r in results:
        cells = " | ".join(f"{r['p50'][st]:.2f} / {r['p95'][st]:.2f}" for st in STEPS)
        print(f"| {r['n']} | {r['ok']}/{r['n']} | {cells} | {r['cpu_per_session_s']:.2f} | {r['peak_hwm_mb']:.0f} |")
    good = [r["n"] for r in results if r["ok"] == r["n"] and r["peak_hwm_mb"] <= BUDGET_MB
            and all(r["p95"][st] <= P95_TARGET_S for st in STEPS)]
    print(f"\nlargest count with every step's p95 <= {P95_TARGET_S:g} s and peak <= {BUDGET_MB:.0f} MB: "
          f"{max(good) if good else 'none of those measured'}")
    return 0 if all(r["ok"] == r["n"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
