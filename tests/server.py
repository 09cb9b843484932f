"""Start the app for browser and deployment tests exactly as the Procfile does, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_command() -> str:
    """The ``web:`` line of the Procfile, unchanged."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line[len("web:"):].strip()
    raise AssertionError("the Procfile has no web: line")


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited with status {proc.returncode} before it was healthy")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.2)
    raise AssertionError(f"the app did not answer {url}/_stcore/health within {timeout_s:.0f} s")


@contextlib.contextmanager
def run_app(extra_env: dict[str, str] | None = None, log_path: Path | None = None,
            secrets_file: bool = True) -> Iterator[str]:
    """Run the Procfile's web command with PORT set and BIND_ADDRESS=127.0.0.1; yield the base URL.

    ``secrets_file=False`` leaves out ``sh setup.sh`` (which would write APP_PASSWORD or DATABASE_URL
    into the shared work tree's ``.streamlit/secrets.toml``): the app reads them from the environment.
    """
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_PASSWORD")}
    env = {**base, "PORT": str(port), "BIND_ADDRESS": "127.0.0.1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(extra_env or {})}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    command = procfile_command()
    if not secrets_file:
        assert "sh setup.sh && " in command, command
        command = command.replace("sh setup.sh && ", "", 1)
    proc = subprocess.Popen(["sh", "-c", command], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
        if log_path:
            log.close()


__all__ = ["free_port", "procfile_command", "run_app"]
