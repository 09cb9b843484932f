"""The memory governor against a real server (issue 16, item 8 and "a dyno no upload can sink").

The app runs as the Procfile starts it (``tests/server.py``, 127.0.0.1) with its default budget
(``SIGNAL_ANALYZER_MEMORY_MB`` unset: 480 MB).  Sessions are driven through the server's own
websocket and upload route (``tests/st_client.py``), and the server's resident memory is read from
``/proc``: its high-water mark (``VmHWM``, the kernel's own peak, nothing missed between samples)
and, every 20 ms, the sum over its process tree (``bench/bench_load.Sampler``).

- five sessions upload five different dense 49 MB ATF files (``tests/dense_files.py``) at once;
- one session uploads every attack file of the second hostile round (``tests/corpus.py``);
- then a new session uploads the lab's sample and analyses it: the server still works.

The server must stay at or below 480 MB throughout, and every upload must end loaded or refused
with a message (no error page).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.dense_files import dense_atf
from tests.server import ROOT, run_app
from tests.st_client import StreamlitClient, run_coroutine

sys.path.insert(0, str(ROOT / "bench"))
from bench_app import server_pid  # noqa: E402
from bench_load import Sampler  # noqa: E402

pytestmark = pytest.mark.slow

BUDGET_MB = 480.0
SAMPLE = "202304_0521.atf"


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


async def _upload(url: str, files: list[tuple[str, bytes]]) -> dict:
    """One session uploads ``files``; what it was told."""
    c = await StreamlitClient(url, timeout_s=300).connect()
    try:
        await c.run()
        try:
            run = await c.upload(files, key="uploader")
        except RuntimeError as exc:  # refused by the upload route (503: no memory for another upload)
            return {"refused_at_route": str(exc), "errors": [], "texts": []}
        return {"refused_at_route": "", "errors": run.errors(), "texts": run.texts("markdown", "alert"),
                "exceptions": [e.text for e in run.of("exception")]}
    finally:
        await c.close()


async def _analyse_sample(url: str, data: bytes) -> dict:
    c = await StreamlitClient(url, timeout_s=300).connect()
    try:
        await c.run()
        await c.upload([(SAMPLE, data)], key="uploader")
        run = await c.run(page="analyse")
        return {"metrics": [e.label for e in run.of("metric")], "exceptions": [e.text for e in run.of("exception")]}
    finally:
        await c.close()


def test_no_sequence_of_uploads_takes_the_server_past_its_budget(tmp_path, sample_bytes):
    from tests.corpus import hostile_round_two

    dense = [(f"dense_{k}.atf", dense_atf(seed=k)) for k in range(5)]
    assert all(40 * 2**20 < len(d) <= 50 * 2**20 for _, d in dense)
    attacks = [(c.name, c.data) for c in hostile_round_two()]

    with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path)}, log_path=tmp_path / "app.log") as url:
        pid = server_pid(urlparse(url).port)
        sampler = Sampler(pid, interval_s=0.02)
        sampler.start()

        async def scenario():
            parallel = await asyncio.gather(*[_upload(url, [f]) for f in dense])
            attacked = await _upload(url, attacks)
            sample = await _analyse_sample(url, sample_bytes)
            return parallel, attacked, sample

        try:
            parallel, attacked, sample = run_coroutine(scenario())
        finally:
            peak_tree_mb = sampler.stop()
        hwm_mb = _status_kb(pid, "VmHWM:") / 1024

    assert hwm_mb <= BUDGET_MB, f"the server's resident memory peaked at {hwm_mb:.0f} MB"
    assert peak_tree_mb <= BUDGET_MB, f"the server's process tree peaked at {peak_tree_mb:.0f} MB"
    for (name, _), told in zip(dense, parallel, strict=True):
        if told["refused_at_route"]:
            assert "503" in told["refused_at_route"], told
            continue
        assert not told["exceptions"], (name, told)
        loaded = any("1 file(s) loaded" in t for t in told["texts"])
        shown = name.replace("_", "\\_").replace(".", "\\.")  # as Markdown-escaped on the page
        refused = [e for e in told["errors"] if shown in e and "memory" in e]
        assert loaded or refused, (name, told)
    assert not attacked["refused_at_route"] and not attacked["exceptions"], attacked
    assert len([e for e in attacked["errors"] if "could not be read" in e]) == len(attacks), attacked["errors"]
    assert not sample["exceptions"] and "Q_on (pC)" in sample["metrics"], sample
