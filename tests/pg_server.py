"""A throwaway PostgreSQL server for the test session (no mocks of the database).

``pg_server`` (session scope) runs ``initdb`` into a fresh temporary directory and
starts ``postgres`` listening only on 127.0.0.1 on a free port, with its unix
socket in the same temporary directory, fsync off, password authentication
(scram-sha-256) for a random password.  It is stopped and deleted at the end of
the session.  ``pg_url`` is the SQLAlchemy URL of its ``postgres`` database;
``pg_server.new_database()`` creates an empty database per test.

PostgreSQL refuses to run as root, so when the tests run as root the server runs
as the ``postgres`` system user that Debian's ``postgresql`` package creates
(through ``runuser -u postgres --``, or ``su`` where ``runuser`` is missing).

Binaries: ``$PG_BIN`` if set, else the newest ``/usr/lib/postgresql/*/bin`` (Debian),
else ``initdb`` / ``pg_ctl`` on ``PATH``.  Missing binaries make the PostgreSQL tests
FAIL when ``$CI`` is set and skip (with the reason) otherwise.

tests/conftest.py registers ``pg_server`` and ``pg_url`` once for the session; test modules
use them by name.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["PgServer", "PgUnavailable", "find_pg_bin", "pg_server", "pg_url"]

SERVER_USER = "postgres"  # the system user Debian's postgresql package creates
SUPERUSER = "signal_test"  # the database superuser initdb creates


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be started on this machine; the message says what is missing."""


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    for d in reversed(candidates):
        if (Path(d) / "initdb").exists():
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary directory, started with :meth:`start`.

    Parameters
    ----------
    bin_dir : Path, optional
        Directory of the server binaries; found with :func:`find_pg_bin` by default.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        bin_dir = bin_dir or find_pg_bin()
        missing = [n for n in ("initdb", "pg_ctl", "postgres") if bin_dir is None or not (bin_dir / n).exists()]
        if missing:
            raise PgUnavailable(
                f"the PostgreSQL server programs ({', '.join(missing)}) were not found "
                f"(looked in $PG_BIN, /usr/lib/postgresql/*/bin and PATH): "
                f"install the Debian package with `apt-get install -y postgresql`"
            )
        self.bin_dir: Path = bin_dir  # type: ignore[assignment]
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PgUnavailable(
                    f"the tests run as root and PostgreSQL refuses to run as root, but there is no "
                    f"'{SERVER_USER}' system user to run it as (the Debian package `postgresql` "
                    f"creates it; or: useradd --system --home /var/lib/postgresql {SERVER_USER})"
                ) from None
            if not (shutil.which("runuser") or shutil.which("su")):
                raise PgUnavailable("neither runuser nor su is available to run PostgreSQL as a non-root user")
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self.root: Path | None = None
        self._n_databases = 0

    # ------------------------------------------------------------------ plumbing
    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.as_root:
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
            else:
                cmd = ["su", SERVER_USER, "-s", "/bin/sh", "-c", " ".join(_sh_quote(c) for c in cmd)]
        proc = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            log = self._log_tail()
            raise PgUnavailable(
                f"{Path(args[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                + (f"\nserver log:\n{log}" if log else "")
            )
        return proc

    def _log_tail(self, n: int = 20) -> str:
        if self.root is None or not (self.root / "server.log").exists():
            return ""
        try:
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    # ------------------------------------------------------------------ life cycle
    def start(self) -> PgServer:
        """initdb (first time only) and start the server on a free 127.0.0.1 port."""
        if self.root is None:
            parent = tempfile.gettempdir()
            if self.as_root and not os.stat(parent).st_mode & 0o001:  # the server user must get through
                parent = "/tmp"
            self.root = Path(tempfile.mkdtemp(prefix="signal-analyzer-pg-", dir=parent))
            os.chmod(self.root, 0o700)
            pwfile = self.root / "pw"
            pwfile.write_text(self.password + "\n")
            if self.as_root:
                entry = pwd.getpwnam(SERVER_USER)
                os.chown(self.root, entry.pw_uid, entry.pw_gid)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            self._run(
                self.bin_dir / "initdb", "-D", self.data_dir, "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
            )
            pwfile.unlink()
        last: PgUnavailable | None = None
        for attempt in range(3):  # a free port may be taken between choosing it and binding it
            if attempt or not self.port:  # a restart keeps its port (and so its URLs)
                self.port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.root / "server.log",
                          "-w", "-t", "30", "-o", opts, "start")
                return self
            except PgUnavailable as exc:
                last = exc
        assert last is not None
        raise last

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; the data directory stays until :meth:`cleanup`.

        ``mode="fast"`` disconnects clients and shuts down cleanly (committed data
        kept); ``"immediate"`` is a crash (with ``synchronous_commit=off`` the last
        commits may be lost), fine for throwing the cluster away.
        """
        if self.root is not None and (self.data_dir / "postmaster.pid").exists():
            self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop", check=False)

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        self.stop("immediate")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    @property
    def running(self) -> bool:
        return self.root is not None and (self.data_dir / "postmaster.pid").exists()

    # ------------------------------------------------------------------ URLs
    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) of one database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        self._n_databases += 1
        name = f"t{os.getpid()}_{self._n_databases}"
        dsn = f"host=127.0.0.1 port={self.port} user={SUPERUSER} password={self.password} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _unavailable(msg: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run on CI: {msg}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {msg}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running throwaway PostgreSQL server for the whole session."""
    try:
        server = PgServer()
    except PgUnavailable as exc:
        _unavailable(str(exc))
    t0 = time.perf_counter()
    try:
        server.start()
    except (PgUnavailable, OSError, subprocess.SubprocessError) as exc:
        server.cleanup()
        _unavailable(f"the server did not start: {exc}")
    server.startup_s = time.perf_counter() - t0  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """SQLAlchemy URL of the session server's ``postgres`` database."""
    return pg_server.url()
