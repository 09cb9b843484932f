"""Time the app in a real Chromium, and measure the server's memory.

Run ``python bench/bench_app.py [--repeats N]``.  Each repeat starts a fresh server exactly
as the Procfile does (``tests/server.py``), so caches are cold and memory starts from zero,
and drives Debian's Chromium through Playwright with the flags of ``tests/browser.py``:

- page load to app ready: a fresh browser context opens the app until the Load page's
  uploader is drawn and the script has finished (the first load after the server start,
  which imports the app, is shown apart);
- upload to first analysis: the sample recording (or a copy with another comment line, so
  its SHA-256 and every cache key differ) goes into the file input on Load, then the Analyse
  page is opened; timed until the Q_on card shows a number, and until the rerun is over;
- one parameter change: the ON integration end (ms) typed into its number input and Enter,
  until the Q_on card shows the new number, and until the rerun is over;
- server memory: RSS of the streamlit process and its children (``/proc``) with the 5
  recordings of one session loaded and analysed (again after the parameter changes);
- box-zoom on Explore: on the real recording, a box dragged across a stretch of the trace, from
  the mouse button's release until the zoom plot below shows that stretch (its x axis spans the
  box's window), and until the rerun is over.  It took 5-11 s with WebGL (``Scattergl``) traces in
  a Chromium without a GPU; the figures are SVG now (see ``app/figures.py``).

Prints medians beside the targets of the app's issue; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, IDLE, Q_ON, UPLOAD, WATCH, go, new_page, rerun  # noqa: E402
from tests.server import run_app  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"
N_FILES = 5
CHANGES = (20.0, 30.0, 40.0, 50.0, 60.0)  # ON integration end (ms), distinct values: no cache hit
TARGETS = {"upload": 2500.0, "change": 400.0, "memory": 350.0, "zoom": 1500.0}
ZOOMS = ((0.30, 0.36), (0.45, 0.50), (0.62, 0.70))  # boxes, as fractions of the plot's width
#: the zoom plot's x range (ms) once it is drawn, and the window its caption names; null before
ZOOM_STATE = """() => {
  const plot = document.querySelector('.st-key-explore_zoom .js-plotly-plot');
  const cap = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')].map(e => e.innerText)
    .find(t => t.startsWith('Zoom: '));
  if (!plot || !cap || !plot._fullLayout) return null;
  const m = cap.match(/Zoom: (-?[0-9.]+) to (-?[0-9.]+) ms/);
  return m ? {range: plot._fullLayout.xaxis.range, window: [parseFloat(m[1]), parseFloat(m[2])]} : null;
}"""


# ------------------------------------------------------------------ the server's memory, from /proc
def _listening_inode(port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # LISTEN
                return cols[9]
    return None


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def server_pid(port: int) -> int:
    """The process listening on ``port`` (the streamlit server)."""
    inode = _listening_inode(port)
    if inode is None:
        raise RuntimeError(f"nothing listens on port {port}")
    target = f"socket:[{inode}]"
    for pid in _pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return pid
        except OSError:
            continue
    raise RuntimeError(f"no process holds the socket of port {port}")


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc/*/stat)."""
    parents = {pid: _ppid(pid) for pid in _pids()}
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def _kb(path: str, key: str) -> int:
    """The number (kB) on the line of ``path`` that starts with ``key`` (``/proc/<pid>/status``); 0 if none."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(root: int) -> float:
    """RSS (MB) of ``root`` and all its descendants."""
    return sum(_kb(f"/proc/{pid}/status", "VmRSS:") for pid in _tree(root)) / 1024


# ------------------------------------------------------------------ the browser side
def variant(k: int) -> tuple[str, bytes]:
    """The sample (k = 0), or a copy with its own comment line: same data, another SHA-256."""
    data = SAMPLE.read_bytes()
    if k == 0:
        return SAMPLE.name, data
    copy = data.replace(b'"Comment="', f'"Comment=bench copy {k}"'.encode(), 1)
    assert copy != data, "the sample has no empty Comment record to change"
    return f"202304_0521_copy{k}.atf", copy


def rerun_count(pg) -> int:
    return pg.evaluate("window.__stChanges")


def wait_rerun(pg, before: int) -> float:
    """Wait until a rerun started after ``before`` changes has finished; the time it was first seen over.

    A second look 100 ms later makes sure no other rerun followed; that pause is not timed.
    """
    pg.wait_for_function("n => window.__stChanges > n", arg=before, polling="raf")
    pg.wait_for_selector(IDLE)
    over = time.perf_counter()
    pg.wait_for_timeout(100)
    pg.wait_for_selector(IDLE)
    return over


def open_app(browser, url: str):
    """A fresh context on the app: (context, page, ms from navigation to the app ready)."""
    ctx, pg = new_page(browser, 60_000)
    t0 = time.perf_counter()
    pg.goto(url)
    pg.wait_for_selector(UPLOAD, state="attached")
    pg.wait_for_selector(IDLE)
    ms = (time.perf_counter() - t0) * 1e3
    pg.evaluate(WATCH)
    return ctx, pg, ms


def upload_to_analysis(pg, name: str, data: bytes) -> tuple[float, float, float]:
    """On Load: upload, open Analyse.

    Returns ms until the upload's rerun on Load is over, until Q_on is shown on Analyse, and
    until Analyse's rerun is over.
    """
    t0 = time.perf_counter()
    before = rerun_count(pg)
    pg.locator(UPLOAD).set_input_files([{"name": name, "mimeType": "text/plain", "buffer": data}])
    loaded = wait_rerun(pg, before)
    before = rerun_count(pg)
    pg.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Analyse").click()
    pg.wait_for_function(f"() => ({Q_ON})() !== null", polling="raf")
    shown = time.perf_counter()
    done = wait_rerun(pg, before)
    caption = pg.get_by_text(f"{name} · sweep 1 of 1")
    if caption.count() != 1:
        raise RuntimeError(f"Analyse does not show {name}")
    return (loaded - t0) * 1e3, (shown - t0) * 1e3, (done - t0) * 1e3


def parameter_change(pg, end_ms: float) -> tuple[float | None, float]:
    """Type the ON integration end and Enter. (ms until Q_on changed or None, ms until the rerun is over)."""
    box = pg.locator(".st-key-rp_int_on_b input")
    old = pg.evaluate(Q_ON)
    box.fill(f"{end_ms:.2f}")
    before = rerun_count(pg)
    t0 = time.perf_counter()
    box.press("Enter")
    # the card changes, or the rerun ends without a change (same value to 4 digits)
    pg.wait_for_function(
        f"""([old, n]) => ({Q_ON})() !== old || (window.__stChanges > n &&
            document.querySelector('{IDLE}') !== null)""", arg=[old, before], polling="raf")
    changed = time.perf_counter()
    done = wait_rerun(pg, before)
    if pg.evaluate(Q_ON) == old:
        changed = None
    return (None if changed is None else (changed - t0) * 1e3), (done - t0) * 1e3


def box_zoom(pg, x0: float, x1: float) -> tuple[float, float]:
    """On Explore: drag a box from ``x0`` to ``x1`` (fractions of the trace's width) at mid height.

    Returns ms from the mouse button's release until the zoom plot spans the new window (within
    0.5 ms at each end), and until the rerun is over.
    """
    drag = pg.locator(".st-key-explore_trace .nsewdrag").first
    b = drag.bounding_box()
    y = b["y"] + 0.5 * b["height"]
    old = pg.evaluate(ZOOM_STATE)
    pg.mouse.move(b["x"] + x0 * b["width"], y)
    pg.mouse.down()
    pg.mouse.move(b["x"] + x1 * b["width"], y, steps=8)
    before = rerun_count(pg)
    t0 = time.perf_counter()
    pg.mouse.up()
    pg.wait_for_function(
        f"""old => {{ const s = ({ZOOM_STATE})();
            return s !== null && (old === null || s.window[0] !== old.window[0] || s.window[1] !== old.window[1])
              && Math.abs(s.range[0] - s.window[0]) < 0.5 && Math.abs(s.range[1] - s.window[1]) < 0.5; }}""",
        arg=old, polling="raf", timeout=60_000)
    shown = time.perf_counter()
    done = wait_rerun(pg, before)
    return (shown - t0) * 1e3, (max(done, shown) - t0) * 1e3


def one_repeat(browser, r: int, log_dir: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in (
        "cold_load", "load", "upload_loaded", "upload_shown", "upload_done", "change_shown", "change_done",
        "rss_idle", "rss_5", "rss_after", "zoom_shown", "zoom_done")}
    with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(log_dir / f"data{r}")}, log_path=log_dir / f"app{r}.log") as url:
        pid = server_pid(urlparse(url).port)
        ctx, pg, ms = open_app(browser, url)  # the first script run imports the app
        out["cold_load"].append(ms)
        ctx.close()
        for _ in range(3):
            ctx, pg, ms = open_app(browser, url)
            out["load"].append(ms)
            ctx.close()
        out["rss_idle"].append(rss_mb(pid))

        ctx, pg, _ = open_app(browser, url)
        for k in range(N_FILES):
            if k:
                go(pg, "Load", 60_000)  # not timed
            loaded, shown, done = upload_to_analysis(pg, *variant(k))
            out["upload_loaded"].append(loaded)
            out["upload_shown"].append(shown)
            out["upload_done"].append(done)
        time.sleep(0.5)
        out["rss_5"].append(rss_mb(pid))

        with rerun(pg, 60_000):  # not timed
            pg.locator(".st-key-rp_int_on_custom").get_by_text("Set the ON integration window by hand").click()
        for end_ms in CHANGES:
            shown, done = parameter_change(pg, end_ms)
            if shown is not None:
                out["change_shown"].append(shown)
            out["change_done"].append(done)
        time.sleep(0.5)
        out["rss_after"].append(rss_mb(pid))
        ctx.close()

        ctx, pg, _ = open_app(browser, url)  # box-zoom on the real recording, in a session of its own
        pg.set_viewport_size({"width": 1366, "height": 900})
        upload_to_analysis(pg, *variant(0))
        go(pg, "Explore", 60_000)
        pg.locator(".st-key-explore_trace .nsewdrag").first.wait_for()
        for x0, x1 in ZOOMS:
            shown, done = box_zoom(pg, x0, x1)
            out["zoom_shown"].append(shown)
            out["zoom_done"].append(done)
        ctx.close()
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh servers to measure on (default 3); each gives 3 page loads, "
                             f"{N_FILES} uploads, {len(CHANGES)} parameter changes, one memory reading")
    args = parser.parse_args()
    if not SAMPLE.exists():
        sys.exit(f"the sample recording is missing: {SAMPLE}")
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for r in range(args.repeats):
                t = time.perf_counter()
                for key, values in one_repeat(browser, r, Path(tmp)).items():
                    runs.setdefault(key, []).extend(values)
                print(f"  repeat {r + 1} of {args.repeats}: {time.perf_counter() - t:.0f} s", flush=True)
        finally:
            browser.close()

    def verdict(value: float, target: float) -> str:
        return f"target < {target:.0f}  {'OK' if value < target else 'OVER'} ({value / target:.0%} of it)"

    n = args.repeats
    print(f"Signal Analyzer in Chromium: medians over {n} fresh server(s) started as the Procfile does "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"  page load to app ready                     {median(runs['load']):7.0f} ms   "
          f"(n={len(runs['load'])}; first load after the server start {median(runs['cold_load']):.0f} ms)")
    up = median(runs["upload_shown"])
    print(f"  upload to first analysis shown (Analyse)   {up:7.0f} ms   {verdict(up, TARGETS['upload'])}")
    print(f"      n={len(runs['upload_shown'])}, max {max(runs['upload_shown']):.0f} ms; of which the upload's "
          f"rerun on Load {median(runs['upload_loaded']):.0f} ms; until Analyse's rerun is over (all charts) "
          f"{median(runs['upload_done']):.0f} ms")
    ch = median(runs["change_shown"])
    print(f"  one parameter change to updated results    {ch:7.0f} ms   {verdict(ch, TARGETS['change'])}")
    print(f"      n={len(runs['change_shown'])}, max {max(runs['change_shown'], default=float('nan')):.0f} ms; "
          f"until the page's rerun is over (all charts) {median(runs['change_done']):.0f} ms")
    mem = median(runs["rss_5"])
    print(f"  server RSS, {N_FILES} recordings loaded and analysed {mem:7.0f} MB   {verdict(mem, TARGETS['memory'])}")
    print(f"      after the server start and 4 page loads {median(runs['rss_idle']):.0f} MB; "
          f"after {len(CHANGES)} more parameter changes {median(runs['rss_after']):.0f} MB "
          f"(max {max(runs['rss_after']):.0f} MB)")
    zoom = median(runs["zoom_shown"])
    print(f"  box-zoom on Explore to the zoomed plot       {zoom:7.0f} ms   {verdict(zoom, TARGETS['zoom'])}")
    print(f"      n={len(runs['zoom_shown'])}, max {max(runs['zoom_shown']):.0f} ms; until the rerun is over "
          f"{median(runs['zoom_done']):.0f} ms")


if __name__ == "__main__":
    main()
