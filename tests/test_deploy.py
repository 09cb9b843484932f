"""Deployment: the Procfile starts a healthy app, setup.sh writes git-ignored secrets, versions agree."""

from __future__ import annotations

import os
import subprocess
import tomllib
import urllib.request
from pathlib import Path

from tests.server import ROOT, procfile_command, run_app


def test_procfile_binds_port_headless_and_all_interfaces_on_heroku():
    cmd = procfile_command()
    assert "sh setup.sh && streamlit run streamlit_app.py" in cmd
    assert "MALLOC_ARENA_MAX=2" in cmd  # glibc arenas otherwise hold freed memory on a 512 MB dyno
    assert "--server.port $PORT" in cmd and "--server.headless true" in cmd
    assert "${BIND_ADDRESS:-0.0.0.0}" in cmd  # Heroku: 0.0.0.0; tests: 127.0.0.1


def test_procfile_runs_lean_under_load():
    """Found by bench/bench_load.py: the file watcher took ~6 % of the server's CPU with 10 users (nothing
    changes on a dyno's disk), and without a fixed mmap threshold glibc kept the memory of closed
    sessions instead of returning it."""
    cmd = procfile_command()
    assert "--server.fileWatcherType none" in cmd
    assert "MALLOC_MMAP_THRESHOLD_=131072" in cmd


def test_app_started_as_the_procfile_does_is_healthy(tmp_path):
    with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path)}, log_path=tmp_path / "app.log") as url:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as r:
            assert r.status == 200 and r.read().strip() == b"ok"
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()


def test_setup_sh_writes_config_vars_into_ignored_secrets(tmp_path):
    work = tmp_path / "app"
    work.mkdir()
    (work / "setup.sh").write_bytes((ROOT / "setup.sh").read_bytes())
    env = {**os.environ, "DATABASE_URL": 'postgres://u:p"w@h:5432/db', "APP_PASSWORD": "s3cr\\et"}
    subprocess.run(["sh", "setup.sh"], cwd=work, env=env, check=True)
    secrets = tomllib.loads((work / ".streamlit" / "secrets.toml").read_text())
    assert secrets == {"DATABASE_URL": 'postgres://u:p"w@h:5432/db', "APP_PASSWORD": "s3cr\\et"}
    assert oct((work / ".streamlit" / "secrets.toml").stat().st_mode & 0o777) == "0o600"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=ROOT)
    assert ignored.returncode == 0
    # without config vars a developer's own secrets.toml is left alone
    (work / ".streamlit" / "secrets.toml").write_text('APP_PASSWORD = "mine"\n')
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_PASSWORD")}
    subprocess.run(["sh", "setup.sh"], cwd=work, env=clean, check=True)
    assert (work / ".streamlit" / "secrets.toml").read_text() == 'APP_PASSWORD = "mine"\n'


def test_runtime_txt_and_python_version_agree():
    runtime = (ROOT / "runtime.txt").read_text().strip()
    pinned = (ROOT / ".python-version").read_text().strip()
    assert runtime == f"python-{pinned}"


def test_config_keeps_protections_and_the_upload_limit():
    cfg = tomllib.loads(Path(ROOT / ".streamlit" / "config.toml").read_text())
    server = cfg["server"]
    assert server["maxUploadSize"] == 50
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
