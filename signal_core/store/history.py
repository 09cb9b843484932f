"""The analysis history: :class:`Store` saves, lists, reopens, renames and deletes analyses per workspace.

Every method that takes a workspace key reads or writes only that workspace's
rows; an unknown or malformed key reads as an empty workspace (empty list, None,
0, False), never as an error.  Database failures raise :class:`StoreError` with a
message for the UI ("the database is unavailable: ...").
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy.exc as sa_exc
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .config import database_url
from .engine import BEGIN_OPTION, StoreError, is_transient, make_engine, translate_errors, upgrade
from .schema import LABEL_LENGTH_MAX, SCALAR_NAMES, analyses, recordings, scalars_from_results, workspaces

__all__ = ["ORDER_BY", "AnalysisSummary", "Store", "StoredAnalysis"]

T = TypeVar("T")

_KEY_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")  # >= 22 url-safe characters = >= 132 random bits
_SHA_RE = re.compile(r"[0-9a-f]{64}")

#: ``list_analyses(order_by=...)`` choices -> column.
ORDER_BY = {
    "created_at": analyses.c.created_at,
    "id": analyses.c.id,
    "file_name": func.lower(analyses.c.file_name),
    "label": func.lower(analyses.c.label),
    "app_version": analyses.c.app_version,
    **{name: analyses.c[name] for name in SCALAR_NAMES},
}


@dataclass(frozen=True)
class AnalysisSummary:
    """One row of the History table.

    Attributes
    ----------
    id : int
        The analysis id (unique across workspaces; only its own workspace reaches it).
    created_at : datetime
        When it was saved (UTC, timezone-aware).
    file_name, sha256 : str
        The recording's file name as uploaded for this analysis, and the SHA-256 of its bytes.
    v_test_mV, q_on_pC, q_off_pC, c_m_nF : float or None
        V2 (mV), Q_on, Q_off (pC) and C_m (nF) of the first result; None when absent.
    label, note : str
        The user's label and note ("" when none).
    app_version : str
        ``signal_core.__version__`` of the app that saved it.
    """

    id: int
    created_at: datetime
    file_name: str
    sha256: str
    v_test_mV: float | None
    q_on_pC: float | None
    q_off_pC: float | None
    c_m_nF: float | None
    label: str
    note: str
    app_version: str


@dataclass(frozen=True)
class StoredAnalysis(AnalysisSummary):
    """A saved analysis with what it takes to reopen it.

    Attributes
    ----------
    recipe_json, results_json : str
        As saved (:meth:`AnalysisParams.to_json`, the results' JSON).
    size_bytes : int
        Size of the recording (bytes, uncompressed); the bytes come from
        :meth:`Store.get_recording_bytes` with :attr:`sha256`.
    """

    recipe_json: str
    results_json: str
    size_bytes: int

    def params(self) -> Any:
        """The recipe as :class:`signal_core.params.AnalysisParams` (raises ParamsError if unreadable)."""
        from ..params import AnalysisParams

        return AnalysisParams.from_json(self.recipe_json)

    def results(self) -> Any:
        """The results JSON, parsed."""
        return json.loads(self.results_json)


# ---------------------------------------------------------------------------- the store
class Store:
    """The history database.  Open with :meth:`open`; thread-safe; close with :meth:`close`.

    Parameters
    ----------
    engine : Engine
        From :func:`make_engine`; :meth:`open` builds it and migrates.
    """

    #: Pauses before the 2nd and 3rd attempt of a save that met a transient error (s).
    retry_delays_s: tuple[float, ...] = (0.2, 0.6)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> Store:
        """Connect to ``url`` (default :func:`database_url`) and upgrade its schema to the newest.

        Raises
        ------
        StoreError
            The database cannot be reached, the URL is unusable, or the schema is
            newer than this code.
        """
        engine = make_engine(url or database_url())
        if migrate:
            try:
                upgrade(engine)
            except StoreError:
                engine.dispose()
                raise
        return cls(engine)

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The database URL with the password hidden (for display)."""
        return self.engine.url.render_as_string(hide_password=True)

    def healthy(self) -> bool:
        """Whether ``SELECT 1`` works now; never raises."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except (sa_exc.SQLAlchemyError, OSError):
            return False

    # ------------------------------------------------------------------ keys
    @staticmethod
    def new_workspace_key() -> str:
        """A fresh unguessable workspace key: 192 random bits, 32 URL-safe characters."""
        return secrets.token_urlsafe(24)

    @staticmethod
    def valid_key(key: object) -> bool:
        """Whether ``key`` has the form of a workspace key (22-128 characters of A-Z a-z 0-9 _ -)."""
        return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None

    @classmethod
    def _require_key(cls, key: object) -> str:
        if not cls.valid_key(key):
            raise ValueError("not a workspace key: make one with Store.new_workspace_key()")
        return key  # type: ignore[return-value]

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        with translate_errors(), self.engine.connect() as conn:
            if write:
                conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    def _insert_ignore(self, conn: Connection, table, values: dict[str, Any], key: str) -> None:
        """INSERT that does nothing when the primary key already exists (race-safe)."""
        if conn.dialect.name == "postgresql":
            conn.execute(pg_insert(table).values(values).on_conflict_do_nothing(index_elements=[key]))
        elif conn.dialect.name == "sqlite":
            conn.execute(sqlite_insert(table).values(values).on_conflict_do_nothing(index_elements=[key]))
        else:  # other dialects: a savepoint absorbs the duplicate
            try:
                with conn.begin_nested():
                    conn.execute(table.insert().values(values))
            except sa_exc.IntegrityError:
                pass

    def _with_retry(self, fn: Callable[[], T]) -> T:
        for delay in (*self.retry_delays_s, None):
            try:
                return fn()
            except StoreError as exc:
                if delay is None or not is_transient(exc.__cause__):
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ writes
    def ensure_workspace(self, key: str) -> None:
        """Create the workspace row for ``key`` if it does not exist (ValueError if malformed)."""
        key = self._require_key(key)
        with self._transaction(write=True) as conn:
            self._insert_ignore(conn, workspaces, {"key": key, "created_at": _now()}, "key")

    def _insert_recording(self, conn: Connection, name: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        exists = conn.execute(select(recordings.c.sha256).where(recordings.c.sha256 == digest)).first()
        if exists is None:
            row = {"sha256": digest, "name": name[:255] or "recording", "size_bytes": len(data),
                   "data": zlib.compress(data, 6), "created_at": _now()}
            self._insert_ignore(conn, recordings, row, "sha256")
        return digest

    def save_recording(self, name: str, data: bytes) -> str:
        """Store a recording's bytes once per SHA-256 (compressed) and return the digest.

        Saving the same bytes again (under any name, from any thread) keeps the
        first row and its name.  A recording no analysis refers to is removed only
        when :meth:`delete` prunes; :meth:`save_analysis` stores the recording itself.
        """
        data = bytes(data)
        with self._transaction(write=True) as conn:
            return self._insert_recording(conn, name, data)

    def _insert_analysis(self, conn: Connection, row: dict[str, Any]) -> int:
        return int(conn.execute(analyses.insert().values(row).returning(analyses.c.id)).scalar_one())

    def save_analysis(self, key: str, *, recording_name: str, recording_bytes: bytes, recipe_json: str,
                      results_json: str, app_version: str, label: str = "", note: str = "") -> int:
        """Save one analysis (with its recording) into a workspace, all or nothing; return its id.

        Parameters
        ----------
        key : str
            Workspace key (created if new; ValueError if malformed).
        recording_name, recording_bytes : str, bytes
            The uploaded file; its bytes are stored once per digest.
        recipe_json : str
            :meth:`AnalysisParams.to_json`.
        results_json : str
            The results, e.g. ``json.dumps([r.to_dict() for r in results])``;
            V2, Q_on, Q_off and C_m of the first result go into columns
            (see :func:`scalars_from_results`).
        app_version : str
            ``signal_core.__version__``.
        label, note : str
            Label (at most 200 characters) and free note.

        Raises
        ------
        ValueError
            Malformed key, recipe or results not JSON, label too long.
        StoreError
            The database failed (transient failures are retried twice first).
        """
        key = self._require_key(key)
        for what, value in (("recipe_json", recipe_json), ("results_json", results_json)):
            try:
                json.loads(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{what} is not valid JSON: {exc}") from None
        label, note = _check_label(label), str(note or "")
        data = bytes(recording_bytes)

        def attempt() -> int:
            with self._transaction(write=True) as conn:
                self._insert_ignore(conn, workspaces, {"key": key, "created_at": _now()}, "key")
                digest = self._insert_recording(conn, recording_name, data)
                return self._insert_analysis(conn, {
                    "workspace_key": key, "recording_sha256": digest, "file_name": recording_name[:255],
                    "recipe_json": recipe_json, "results_json": results_json,
                    "app_version": str(app_version)[:40], "label": label, "note": note,
                    "created_at": _now(), **scalars_from_results(results_json),
                })

        return self._with_retry(attempt)

    def rename(self, key: str, analysis_id: int, label: str, note: str | None = None) -> bool:
        """Set an analysis's label (and note, unless None); False if the workspace has no such analysis."""
        aid = _as_id(analysis_id)
        if not self.valid_key(key) or aid is None:
            return False
        values: dict[str, Any] = {"label": _check_label(label)}
        if note is not None:
            values["note"] = str(note)
        with self._transaction(write=True) as conn:
            res = conn.execute(analyses.update()
                               .where(analyses.c.workspace_key == key, analyses.c.id == aid).values(values))
            return res.rowcount == 1

    def delete(self, key: str, analysis_ids: Iterable[int]) -> int:
        """Delete analyses of this workspace; return how many went.

        Recordings no other analysis (of any workspace) uses are deleted with them.
        """
        ids = sorted({i for i in (_as_id(a) for a in analysis_ids) if i is not None})
        if not self.valid_key(key) or not ids:
            return 0
        with self._transaction(write=True) as conn:
            mine = analyses.c.workspace_key == key
            shas = conn.execute(select(analyses.c.recording_sha256).distinct()
                                .where(mine, analyses.c.id.in_(ids))).scalars().all()
            n = conn.execute(analyses.delete().where(mine, analyses.c.id.in_(ids))).rowcount
            if shas:
                used = select(analyses.c.id).where(analyses.c.recording_sha256 == recordings.c.sha256).exists()
                conn.execute(recordings.delete().where(recordings.c.sha256.in_(shas), ~used))
            return int(n)

    # ------------------------------------------------------------------ reads
    def count(self, key: str) -> int:
        """How many analyses the workspace holds (0 for unknown or malformed keys)."""
        if not self.valid_key(key):
            return 0
        with self._transaction() as conn:
            return int(conn.execute(select(func.count()).select_from(analyses)
                                    .where(analyses.c.workspace_key == key)).scalar_one())

    def list_analyses(self, key: str, *, search: str = "", order_by: str = "created_at",
                      descending: bool = True, limit: int | None = 500) -> list[AnalysisSummary]:
        """The workspace's analyses for the History table.

        Parameters
        ----------
        key : str
            Workspace key; unknown or malformed -> [].
        search : str
            Case-insensitive substring of the file name, label or note (SQLite
            folds ASCII letters only).
        order_by : str
            One of :data:`ORDER_BY` (ValueError otherwise); ties by id; empty numbers last.
        descending : bool
            Largest / newest first.
        limit : int or None
            At most this many rows (None: all).
        """
        if order_by not in ORDER_BY:
            raise ValueError(f"cannot sort by {order_by!r}: choose one of {', '.join(ORDER_BY)}")
        if not self.valid_key(key):
            return []
        col = ORDER_BY[order_by]
        q = _summary_select().where(analyses.c.workspace_key == key)
        if search.strip():
            needle = search.strip().lower()
            q = q.where(func.lower(analyses.c.file_name).contains(needle, autoescape=True)
                        | func.lower(analyses.c.label).contains(needle, autoescape=True)
                        | func.lower(analyses.c.note).contains(needle, autoescape=True))
        if descending:
            q = q.order_by(col.desc().nulls_last(), analyses.c.id.desc())
        else:
            q = q.order_by(col.asc().nulls_last(), analyses.c.id.asc())
        if limit is not None:
            q = q.limit(max(0, int(limit)))
        with self._transaction() as conn:
            return [_summary(row) for row in conn.execute(q).mappings()]

    def get_analysis(self, key: str, analysis_id: int | str) -> StoredAnalysis | None:
        """One analysis of this workspace with its recipe and results; None if not this workspace's."""
        got = self.get_analyses(key, [analysis_id])  # type: ignore[list-item]
        return got[0] if got else None

    def get_analyses(self, key: str, analysis_ids: Iterable[int | str]) -> list[StoredAnalysis]:
        """Several analyses of this workspace (e.g. to export selected rows), in the order asked."""
        ids = [i for i in (_as_id(a) for a in analysis_ids) if i is not None]
        if not self.valid_key(key) or not ids:
            return []
        q = (_summary_select(analyses.c.recipe_json, analyses.c.results_json, recordings.c.size_bytes)
             .where(analyses.c.workspace_key == key, analyses.c.id.in_(sorted(set(ids)))))
        with self._transaction() as conn:
            found = {row["id"]: row for row in conn.execute(q).mappings()}
        return [StoredAnalysis(**_summary(found[i]).__dict__, recipe_json=found[i]["recipe_json"],
                               results_json=found[i]["results_json"], size_bytes=found[i]["size_bytes"])
                for i in dict.fromkeys(ids) if i in found]

    def get_recording_bytes(self, key: str, sha256: str) -> bytes | None:
        """The recording's original bytes, only if this workspace has an analysis of it."""
        if not self.valid_key(key) or not isinstance(sha256, str) or not _SHA_RE.fullmatch(sha256):
            return None
        mine = (select(analyses.c.id)
                .where(analyses.c.workspace_key == key, analyses.c.recording_sha256 == sha256).exists())
        with self._transaction() as conn:
            blob = conn.execute(select(recordings.c.data).where(recordings.c.sha256 == sha256, mine)).scalar()
        return None if blob is None else zlib.decompress(blob)


# ---------------------------------------------------------------------------- helpers
def _now() -> datetime:
    return datetime.now(UTC)


def _as_id(value: object) -> int | None:
    """An analysis id from an int or a query-string value; None if it cannot be one."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return None
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 2**31 else None


def _check_label(label: str) -> str:
    label = str(label or "").strip()
    if len(label) > LABEL_LENGTH_MAX:
        raise ValueError(f"a label can have at most {LABEL_LENGTH_MAX} characters, this one has {len(label)}")
    return label


def _summary_select(*extra):
    """SELECT of the summary columns (+ ``extra``, which may come from ``recordings``)."""
    q = select(analyses.c.id, analyses.c.created_at, analyses.c.file_name,
               analyses.c.recording_sha256.label("sha256"),
               *(analyses.c[n].label(n) for n in SCALAR_NAMES),
               analyses.c.label, analyses.c.note, analyses.c.app_version, *extra)
    return q.select_from(analyses.join(recordings)) if extra else q


def _summary(row) -> AnalysisSummary:
    created = row["created_at"]
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
    return AnalysisSummary(
        id=int(row["id"]), created_at=created, file_name=row["file_name"], sha256=row["sha256"],
        **{n: row[n] for n in SCALAR_NAMES},
        label=row["label"], note=row["note"], app_version=row["app_version"],
    )
