"""Many users at once: concurrent browser sessions on one server, its peak memory.

Run ``python bench/bench_load.py [--sessions 10] [--distinct] [--rounds 1]``.  The app is started
exactly as the Procfile does (``tests/server.py``: loopback only, its own SQLite data dir), then
``--sessions`` Playwright browser contexts (one Chromium, ``asyncio.gather``) each, at the same time:

1. open the app and wait for the Load page,
2. upload the sample recording (``../shared/data/202304_0521.atf``) through the file input,
3. open Analyse from the menu and wait until the Q_on card shows a number,
4. download the workbook and check it is a workbook of that file (``Summary`` sheet, Q_on).

A session succeeds when all four steps do, within ``--timeout`` seconds; failures are printed
with their step and reason.  ``--distinct`` gives every session its own copy of the sample (another
comment line, so another SHA-256: no session profits from another's cache).  While the sessions run,
the RSS of the streamlit process and its children is read from ``/proc`` every 100 ms.

Printed: per-session times (median and 95th percentile, whole session and upload-to-Q_on) and the
peak RSS, beside the targets of issue 7 (every session succeeds, p95 < 10 s, peak < 450 MB); the
CPU the server and everything else (the browsers) used, machine-wide from ``/proc/stat``; and each
session's *server time*: what it waited for the server, read off its websocket and HTTP traffic
(every script run from the rerun request to ``script_finished``, every upload and download request
from its start to its last byte), i.e. the session time without the browser's own work.
``--nice-browsers`` runs Chromium at the lowest CPU priority (``nice 19``), so the server is served
first, as it would be with the browsers on the users' own machines.
Nothing is asserted; the exit status is 1 when a session failed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_app import SAMPLE, _kb, _tree, rss_mb, server_pid, variant  # noqa: E402

# the selectors and JavaScript of the browser tests; their sync helpers do not fit the async API used here
from tests.browser import CHROMIUM, CHROMIUM_ARGS, IDLE, Q_ON, UPLOAD, VIEWPORT  # noqa: E402
from tests.server import run_app  # noqa: E402

TARGETS = {"p95_s": 10.0, "peak_mb": 450.0}


@dataclass
class Session:
    k: int
    name: str
    ok: bool = False
    step: str = "start"
    error: str = ""
    t_total_s: float = math.nan
    t_analysis_s: float = math.nan  # upload started -> Q_on shown
    marks: dict[str, float] = field(default_factory=dict)
    server: ServerWait = field(default_factory=lambda: ServerWait())


class ServerWait:
    """What one browser session waited for the server, from its own traffic (seconds).

    A script run counts from the first ``rerun_script`` the browser sends to the ``script_finished``
    that ends it (a run cut short for a newer rerun does not end the wait); an upload or download
    request from its start to the end of its response (Playwright's resource timing).
    """

    def __init__(self) -> None:
        self.total_s = 0.0
        self.runs = 0
        self.longest_s = 0.0
        self._since: float | None = None

    def _add(self, dt: float) -> None:
        self.total_s += dt
        self.longest_s = max(self.longest_s, dt)

    def sent(self, payload: bytes | str) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(payload, bytes) and self._since is None and BackMsg.FromString(payload).HasField("rerun_script"):
            self._since = time.perf_counter()

    def received(self, payload: bytes | str) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes) or self._since is None:
            return
        msg = ForwardMsg.FromString(payload)
        if msg.HasField("script_finished") and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            self._add(time.perf_counter() - self._since)
            self.runs += 1
            self._since = None

    def request(self, req) -> None:
        path = urlparse(req.url).path
        if "/_stcore/upload_file" in path or "/media/" in path:
            timing = req.timing
            if timing.get("responseEnd", -1) >= 0 and timing.get("requestStart", -1) >= 0:
                self._add((timing["responseEnd"] - timing["requestStart"]) / 1000)

    def watch(self, pg) -> None:
        def on_ws(ws) -> None:
            if ws.url.endswith("/_stcore/stream"):
                ws.on("framesent", self.sent)
                ws.on("framereceived", self.received)

        pg.on("websocket", on_ws)
        pg.on("requestfinished", self.request)


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def machine_busy_s() -> float:
    """CPU seconds all CPUs of the machine have spent not idle (``/proc/stat``), every process counted."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:70]
    except OSError:
        return "?"


class Sampler(threading.Thread):
    """Memory of the server's process tree every ``interval_s``.

    ``peak`` is the largest sum of VmRSS over the tree (what the issue's target is about), a child
    that is a fork of the server not yet running another program counted once with it (the first
    workbook's ``platform.platform()`` runs ``uname -p``: for a moment its vfork child "has" all of
    the server's pages); ``peak_raw`` the same without that rule; ``peak_pss`` the largest sum of
    PSS; ``peak_main`` the largest VmRSS of the server process alone; ``children`` the command
    lines of every other process seen in the tree ("?" when it was gone before it could be read).
    """

    def __init__(self, pid: int, interval_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak = self.peak_raw = self.peak_pss = self.peak_main = 0.0
        self._exe = ""
        self.samples = 0
        self.children: set[str] = set()
        self._halt = threading.Event()

    def _clone(self, pid: int) -> bool:
        """A child forked but not yet exec'd (same program, same address-space size): its resident
        pages are the server's (vfork shares them outright), so counting it would count them twice."""
        try:
            same_exe = os.readlink(f"/proc/{pid}/exe") == self._exe
        except OSError:
            return True  # gone already, or a zombie: no memory of its own
        return same_exe and _kb(f"/proc/{pid}/status", "VmSize:") == _kb(f"/proc/{self.pid}/status", "VmSize:")

    def run(self) -> None:
        self._exe = os.readlink(f"/proc/{self.pid}/exe")
        while not self._halt.is_set():
            pids = _tree(self.pid)
            raw = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids) / 1024
            own = [p for p in pids if p == self.pid or not self._clone(p)]
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in own) / 1024
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in own) / 1024
            self.peak = max(self.peak, rss)
            self.peak_raw = max(self.peak_raw, raw)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_main = max(self.peak_main, _kb(f"/proc/{self.pid}/status", "VmRSS:") / 1024)
            self.children |= {_cmd(p) for p in pids if p != self.pid}
            self.samples += 1
            self._halt.wait(self.interval_s)

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=5)
        return self.peak


def check_workbook(path: Path, name: str) -> str:
    """'' when ``path`` is the analysis workbook of ``name`` with a Q_on number; else what is wrong."""
    import openpyxl

    data = path.read_bytes()
    if data[:2] != b"PK":
        return f"the download is not an xlsx file ({len(data)} bytes)"
    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Summary"]
    rows = list(ws.iter_rows(min_row=1, max_row=2, values_only=True))
    header, first = rows[0], rows[1]
    cols = {h: i for i, h in enumerate(header)}
    if first[cols["file"]] != name:
        return f"the workbook is of {first[cols['file']]!r}, not {name!r}"
    if not isinstance(first[cols["Q_on (pC)"]], float):
        return "the workbook has no Q_on"
    return ""


async def one_session(browser, url: str, s: Session, data: bytes, out_dir: Path, timeout_s: float) -> None:
    ctx = await browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    ctx.set_default_timeout(timeout_s * 1000)
    t0 = time.perf_counter()
    try:
        pg = await ctx.new_page()
        s.server.watch(pg)
        media: list[str] = []  # what the server answered for downloads (a failure says why)
        pg.on("response", lambda r: media.append(f"{r.status} {urlparse(r.url).path}")
              if "/media/" in r.url else None)
        s.step = "open the app"
        await pg.goto(url)
        await pg.wait_for_selector(UPLOAD, state="attached")
        await pg.wait_for_selector(IDLE)
        s.marks["opened"] = time.perf_counter() - t0

        s.step = "upload"
        t_up = time.perf_counter()
        await pg.locator(UPLOAD).set_input_files([{"name": s.name, "mimeType": "text/plain", "buffer": data}])
        await pg.get_by_role("heading", name="1 file(s) loaded").wait_for()
        await pg.wait_for_selector(IDLE)
        s.marks["uploaded"] = time.perf_counter() - t0

        s.step = "analyse"
        await pg.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Analyse").click()
        await pg.wait_for_function(f"() => ({Q_ON})() !== null", polling=100)
        s.t_analysis_s = time.perf_counter() - t_up
        s.marks["q_on"] = time.perf_counter() - t0
        await pg.wait_for_selector(IDLE)
        await pg.wait_for_timeout(100)
        await pg.wait_for_selector(IDLE)

        s.step = "download the workbook"
        async with pg.expect_download() as info:
            await pg.locator(".st-key-dl_analyse_xlsx button").filter(visible=True).click()
        dl = await info.value
        path = out_dir / f"session{s.k}.xlsx"
        await dl.save_as(path)
        s.marks["downloaded"] = time.perf_counter() - t0
        problem = check_workbook(path, s.name)
        if problem:
            raise RuntimeError(problem)
        if await pg.locator("[data-testid=stException]").count():
            raise RuntimeError("the page shows an exception")
        s.t_total_s = time.perf_counter() - t0
        s.ok, s.step = True, "done"
    except Exception as exc:  # noqa: BLE001 - a failed session is reported, the others go on
        s.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if s.step.startswith("download"):
            s.error += f" (download responses: {media or 'none'})"
    finally:
        await ctx.close()


def nice_browsers() -> int:
    """Lowest CPU priority (nice 19) for every Chromium process this script has started; renderers
    started later are forked from them and inherit it.  Returns how many processes were reniced."""
    count = 0
    for pid in _tree(os.getpid())[1:]:
        try:
            if "chrom" in os.readlink(f"/proc/{pid}/exe"):
                os.setpriority(os.PRIO_PROCESS, pid, 19)
                count += 1
        except OSError:
            continue  # gone already
    return count


async def run_round(url: str, n: int, distinct: bool, out_dir: Path, timeout_s: float,
                    nice: bool = False) -> list[Session]:
    from playwright.async_api import async_playwright

    files = [variant(k + 1) if distinct else variant(0) for k in range(n)]
    sessions = [Session(k, name) for k, (name, _) in enumerate(files)]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if nice and not nice_browsers():
            raise RuntimeError("--nice-browsers: no Chromium process found to renice")
        try:
            await asyncio.wait_for(
                asyncio.gather(*(one_session(browser, url, s, data, out_dir, timeout_s)
                                 for s, (_, data) in zip(sessions, files))),
                timeout=timeout_s + 60)
        finally:
            await browser.close()
    return sessions


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN without data."""
    if not xs:
        return math.nan
    xs = sorted(xs)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser contexts (default 10, max 50)")
    parser.add_argument("--distinct", action="store_true",
                        help="every session uploads its own copy of the sample (no shared cache entries)")
    parser.add_argument("--nice-browsers", action="store_true",
                        help="run Chromium at nice 19 so the server comes first (browsers 'elsewhere')")
    parser.add_argument("--rounds", type=int, default=1, help="rounds on the same server, one after the other")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one session may take (default 120)")
    parser.add_argument("--log", type=Path, default=None, help="keep the server's log in this file")
    args = parser.parse_args()
    if not SAMPLE.exists():
        sys.exit(f"the sample recording is missing: {SAMPLE}")
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    n = max(1, min(args.sessions, 50))

    all_sessions: list[Session] = []
    peaks: list[float] = []
    pss_peaks: list[float] = []
    raw_peaks: list[float] = []
    main_peaks: list[float] = []
    children: set[str] = set()
    server_cpu: list[float] = []
    client_cpu: list[float] = []
    machine_cpu: list[float] = []
    walls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        tmp_path = Path(tmp)
        log_path = args.log or tmp_path / "app.log"
        with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path / "data")}, log_path=log_path) as url:
            pid = server_pid(urlparse(url).port)
            idle_mb = rss_mb(pid)
            for r in range(max(1, args.rounds)):
                sampler = Sampler(pid)
                sampler.start()
                t0 = time.perf_counter()
                cpu0, mine0, busy0 = cpu_s(_tree(pid)), _own_cpu_s(), machine_busy_s()
                sessions = asyncio.run(run_round(url, n, args.distinct, tmp_path, args.timeout, args.nice_browsers))
                wall = time.perf_counter() - t0
                walls.append(wall)
                machine_cpu.append(machine_busy_s() - busy0)
                server_cpu.append(cpu_s(_tree(pid)) - cpu0)
                client_cpu.append(_own_cpu_s() - mine0)
                peaks.append(sampler.stop())
                pss_peaks.append(sampler.peak_pss)
                raw_peaks.append(sampler.peak_raw)
                main_peaks.append(sampler.peak_main)
                children |= sampler.children
                ok = sum(s.ok for s in sessions)
                print(f"  round {r + 1}: {ok} of {n} sessions succeeded in {wall:.1f} s; "
                      f"peak RSS {peaks[-1]:.0f} MB, PSS {sampler.peak_pss:.0f} MB ({sampler.samples} samples)",
                      flush=True)
                all_sessions += sessions
            healthy = _health(url)
            end_mb = rss_mb(pid)
            log_tail = log_path.read_text(errors="replace").splitlines()[-5:]

    failed = [s for s in all_sessions if not s.ok]
    totals = [s.t_total_s for s in all_sessions if s.ok]
    analyses = [s.t_analysis_s for s in all_sessions if s.ok]
    p95, peak = pct(totals, 95), max(peaks)
    print(f"Signal Analyzer under load: {n} concurrent browser sessions x {len(peaks)} round(s), "
          f"{'distinct copies' if args.distinct else 'the same file'} of the sample, one server started as the "
          f"Procfile does ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end)"
          + ("; Chromium at nice 19" if args.nice_browsers else ""))
    print(f"  sessions succeeded                  {len(all_sessions) - len(failed):4d} of {len(all_sessions)}   "
          f"target: all  {'OK' if not failed else 'FAILED'}")
    print(f"  session (open, upload, Analyse, workbook)   median "
          f"{statistics.median(totals) if totals else math.nan:5.1f} s"
          f"   p95 {p95:5.1f} s   max {max(totals, default=math.nan):5.1f} s   "
          f"target p95 < {TARGETS['p95_s']:.0f} s  {'OK' if p95 < TARGETS['p95_s'] else 'OVER'}")
    print(f"  upload to Q_on shown                        median "
          f"{statistics.median(analyses) if analyses else math.nan:5.1f} s"
          f"   p95 {pct(analyses, 95):5.1f} s")
    waits = [s.server.total_s for s in all_sessions if s.ok]
    longest = [s.server.longest_s for s in all_sessions if s.ok]
    print(f"  server time per session (waiting for it)    median "
          f"{statistics.median(waits) if waits else math.nan:5.1f} s"
          f"   p95 {pct(waits, 95):5.1f} s   "
          f"(longest single wait: median {statistics.median(longest) if longest else math.nan:.1f} s, "
          f"p95 {pct(longest, 95):.1f} s; {sum(s.server.runs for s in all_sessions)} script runs)")
    print(f"  server peak RSS (100 ms samples)            {peak:5.0f} MB   "
          f"target < {TARGETS['peak_mb']:.0f} MB  {'OK' if peak < TARGETS['peak_mb'] else 'OVER'}"
          f"   (idle before {idle_mb:.0f} MB, after {end_mb:.0f} MB)")
    print(f"      the streamlit process alone {max(main_peaks):.0f} MB; the tree as PSS {max(pss_peaks):.0f} MB; "
          f"summing a not-yet-exec'd fork as well {max(raw_peaks):.0f} MB; other processes seen in the tree: "
          f"{sorted(children) or 'none'}")
    cpus = os.cpu_count() or 1
    others = sum(machine_cpu) - sum(server_cpu)
    print(f"  CPU used during the round(s): the whole machine {sum(machine_cpu):.1f} s of {cpus * sum(walls):.1f} s "
          f"available ({sum(machine_cpu) / (cpus * sum(walls)):.0%} busy); the server {sum(server_cpu):.1f} s "
          f"({sum(server_cpu) / len(all_sessions):.2f} s per session); everything else (the Chromium this script "
          f"drives, Playwright) {others:.1f} s, of which this script's process tree saw {sum(client_cpu):.1f} s")
    print(f"      one machine: the browsers alone keep all {cpus} CPUs busy for {others / cpus:.1f} s per round "
          f"({others / len(all_sessions):.1f} CPU-s per session), a floor under every session's time that a "
          f"server whose users bring their own browsers does not have; the server's own work, run one session "
          f"after another, would take {sum(server_cpu) / len(walls):.1f} s per round")
    print(f"  server healthy afterwards (/_stcore/health)  {'yes' if healthy else 'NO'}")
    steps = ("opened", "uploaded", "q_on", "downloaded")
    print("  per session, seconds from its start: " + ", ".join(steps) + "; then its server time")
    for s in all_sessions:
        print(f"    {s.k:2d} " + " ".join(f"{s.marks.get(k, math.nan):6.1f}" for k in steps)
              + f"   {s.server.total_s:6.1f}")
    for s in failed:
        print(f"  FAILED session {s.k} ({s.name}) at step '{s.step}': {s.error}")
    if failed:
        print("  last lines of the server log:\n    " + "\n    ".join(log_tail))
    return 1 if failed or not healthy else 0


def _own_cpu_s() -> float:
    """CPU seconds of this process and its finished and running children (Chromium, Playwright's driver)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + cpu_s(_tree(os.getpid())[1:])


def _health(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
