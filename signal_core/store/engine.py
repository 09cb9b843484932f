"""Connecting to the history database: the engine per dialect, migrations at start-up, errors for the UI."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy.exc as sa_exc
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

from ..migrations import MIGRATIONS_DIR

__all__ = ["BEGIN_OPTION", "StoreError", "current_revision", "is_transient", "make_engine", "translate_errors",
           "upgrade"]

BEGIN_OPTION = "signal_analyzer_sqlite_begin"  # execution option: "IMMEDIATE" for write transactions on SQLite
_MIGRATION_LOCK = 0x5167_A1A7  # pg_advisory_xact_lock id: one dyno migrates at a time


class StoreError(RuntimeError):
    """The database failed; the message is meant for the user ("the database is unavailable: ...")."""


# ---------------------------------------------------------------------------- engine and migrations
def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for the history, set up for its dialect.

    SQLite (a file): WAL journal, foreign keys on, 10 s busy timeout, usable from
    any thread, and real transactions (SQLAlchemy emits BEGIN, so DDL and SELECT
    are transactional too; writes use BEGIN IMMEDIATE so concurrent writers queue
    on the busy timeout instead of failing).  The file's directory is created.
    PostgreSQL: at most 10 pooled connections per process (Heroku's small plans allow 20),
    pre-pinged, recycled after 30 min; 5 s connect timeout.
    """
    try:
        u = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"the database URL is not valid: {exc}") from None
    kwargs: dict[str, Any] = {}
    db_file: Path | None = None
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            db_file = Path(u.database).expanduser().absolute()
            db_file.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10.0}
    elif u.get_backend_name() == "postgresql":
        kwargs.update(pool_pre_ping=True, pool_recycle=1800, pool_size=5, max_overflow=5)
        if u.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in u.query:
            kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        engine = create_engine(u, **kwargs)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"the database URL cannot be used: {exc}") from None
    if u.get_backend_name() == "sqlite":
        _sqlite_events(engine, db_file)
    return engine


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` now, or None when there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def check_same_file(path: Path, opened: tuple[int, int]) -> None:
    """Raise :class:`StoreError` unless ``path`` is still the SQLite file opened as ``opened`` (device, inode).

    An open SQLite connection keeps writing to its file after the file (or its directory) is
    deleted or replaced, and every save "succeeds" into a file nobody will read again: after a
    restart the saves are gone (issue 16, item 7).  So every transaction first checks the path.
    """
    now = _file_identity(path)
    if now is None:
        raise StoreError(f"the history database file {path} was deleted (or its folder was) while the app was "
                         "running: nothing more can be saved to it. Restart the app to start a new history "
                         "(and check the data folder: analyses saved before the deletion are gone)")
    if now != opened:
        raise StoreError(f"the history database file {path} was replaced by another file while the app was "
                         "running: nothing is saved to the old one. Restart the app to use the new file")


def _sqlite_events(engine: Engine, db_file: Path | None = None) -> None:
    opened: list[tuple[int, int]] = []  # the file's identity when the first connection opened it

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA busy_timeout=10000")
        # switching a new file to WAL needs an exclusive lock and SQLite may answer "locked" at once,
        # without waiting on the busy timeout, when other connections open it at the same moment
        deadline = time.monotonic() + 10.0
        while True:
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for pragma in ("foreign_keys=ON", "synchronous=NORMAL"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()
        if db_file is not None and not opened:
            identity = _file_identity(db_file)  # the connection made the file (WAL was switched on)
            if identity is not None:
                opened.append(identity)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if db_file is not None and opened:
            check_same_file(db_file, opened[0])
        mode = conn.get_execution_options().get(BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _migration_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default the newest) in one transaction.

    Safe to run from several processes at once: PostgreSQL takes an advisory lock,
    SQLite a write lock, and the second runner finds the work done.
    """
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with translate_errors(), engine.connect() as conn:
            conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                try:
                    command.upgrade(_migration_config(conn), revision)
                except CommandError as exc:
                    raise StoreError(
                        f"the database schema cannot be upgraded by this version of Signal Analyzer "
                        f"(is it newer than the app?): {exc}"
                    ) from None
    finally:
        if isinstance(target, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with translate_errors(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# ---------------------------------------------------------------------------- errors
def is_transient(exc: BaseException | None) -> bool:
    """Worth retrying: connection lost or refused, pool exhausted, SQLite busy, a concurrent prune."""
    if isinstance(exc, sa_exc.TimeoutError) or getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.Error):  # SQLite says OperationalError for "no such table" too
        return isinstance(orig, sqlite3.OperationalError) and ("locked" in str(orig) or "busy" in str(orig))
    if getattr(orig, "sqlstate", None) == "23503":  # foreign key: a recording pruned by a concurrent delete
        return True
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    message = str(orig).split("\nLINE ")[0]  # PostgreSQL quotes the statement from "LINE 1:" on
    words = " ".join(message.split())  # one line; never the SQL or its parameters
    return (words[:300] + "...") if len(words) > 300 else (words or type(orig).__name__)


def _describe(exc: sa_exc.SQLAlchemyError) -> str:
    if is_transient(exc) or isinstance(exc, sa_exc.OperationalError):
        return f"the database is unavailable: {_reason(exc)}"
    return f"the database refused the operation: {_reason(exc)}"


@contextmanager
def translate_errors() -> Iterator[None]:
    """SQLAlchemy/DBAPI errors -> :class:`StoreError` with a plain message (the cause is chained)."""
    try:
        yield
    except sa_exc.SQLAlchemyError as exc:
        raise StoreError(_describe(exc)) from exc
