"""Where the history lives and who may use the app: the database URL and the optional password."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "DEFAULT_DATA_DIR", "SQLITE_FILE", "check_password", "database_url",
           "password_required"]

DATA_DIR_ENV = "SIGNAL_ANALYZER_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")
SQLITE_FILE = "signal_analyzer.sqlite"

_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def _lookup(name: str, env: Mapping[str, str], secrets: Mapping | None) -> str:
    """``env[name]``, else ``secrets[name]``, else ""; a missing secrets file counts as empty."""
    value = env.get(name) or ""
    if not value and secrets is not None:
        try:
            value = secrets.get(name) or ""
        except (KeyError, OSError):  # st.secrets raises FileNotFoundError when there is no secrets.toml
            value = ""
    return str(value).strip()


def database_url(env: Mapping[str, str] = os.environ, secrets: Mapping | None = None,
                 data_dir: Path | None = None) -> str:
    """The SQLAlchemy URL of the history database.

    In order: ``env["DATABASE_URL"]``, ``secrets["DATABASE_URL"]`` (the app passes
    ``st.secrets``), else a SQLite file ``signal_analyzer.sqlite`` in the data
    directory.  Heroku's ``postgres://...`` and plain ``postgresql://...`` become
    ``postgresql+psycopg://...`` (the psycopg 3 driver).

    Parameters
    ----------
    env : mapping
        Environment variables (default ``os.environ``).
    secrets : mapping, optional
        Secrets, e.g. ``st.secrets``; a missing secrets file counts as no secrets.
    data_dir : Path, optional
        Directory of the SQLite file; default ``env["SIGNAL_ANALYZER_DATA_DIR"]``
        or ``./data``.  Created if missing (only when SQLite is chosen).

    Returns
    -------
    str
        The URL, e.g. ``postgresql+psycopg://user:pw@host:5432/db`` or
        ``sqlite:////abs/path/data/signal_analyzer.sqlite``.
    """
    url = _lookup("DATABASE_URL", env, secrets)
    if url:
        for scheme in _POSTGRES_SCHEMES:
            if url.startswith(scheme):
                return "postgresql+psycopg://" + url[len(scheme):]
        return url
    if data_dir is None:
        data_dir = Path(env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / SQLITE_FILE}"


def password_required(env: Mapping[str, str] = os.environ, secrets: Mapping | None = None) -> bool:
    """True when ``APP_PASSWORD`` is set (in the environment or the secrets)."""
    return bool(_lookup("APP_PASSWORD", env, secrets))


def check_password(given: str, env: Mapping[str, str] = os.environ, secrets: Mapping | None = None) -> bool:
    """Whether ``given`` is the deployment's ``APP_PASSWORD`` (constant-time comparison).

    True when no password is configured, so a deployment without one stays open.
    """
    expected = _lookup("APP_PASSWORD", env, secrets)
    if not expected:
        return True
    return hmac.compare_digest(str(given or "").encode("utf-8"), expected.encode("utf-8"))
