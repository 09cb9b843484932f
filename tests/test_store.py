"""The history store against real databases: a SQLite file and a throwaway PostgreSQL server (no mocks)."""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

import signal_core
from signal_core.params import AnalysisParams
from signal_core.store import (
    AnalysisSummary,
    Store,
    StoreError,
    check_password,
    current_revision,
    database_url,
    password_required,
    scalars_from_results,
    upgrade,
)
from signal_core.store.engine import make_engine
from signal_core.store.schema import analyses, metadata, recordings, workspaces
from tests.pg_server import PgServer, PgUnavailable, _free_port

HEAD = "0002"


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def store(db_url: str):
    with Store.open(db_url) as s:
        yield s


def rows(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def results(**numbers) -> str:
    base = {"sweep": 1, "v_test_mV": -20.0, "q_on_pC": 4.0, "q_off_pC": -3.6, "c_m_nF": 0.7, "flags": []}
    return json.dumps([{**base, **numbers}])


def save(store: Store, key: str, name: str = "cell.atf", data: bytes = b"ATF 1.0\n" * 50, **kw) -> int:
    kw.setdefault("recipe_json", AnalysisParams().to_json())
    kw.setdefault("results_json", results())
    kw.setdefault("app_version", signal_core.__version__)
    return store.save_analysis(key, recording_name=name, recording_bytes=data, **kw)


# ---------------------------------------------------------------------------- round trip
def test_save_list_get_rename_delete(store: Store, sample_bytes: bytes, sample_recording):
    """The lab's recording, analysed, saved, reopened and analysed again gives the same numbers."""
    from signal_core.analysis.pipeline import analyze_recording
    from signal_core.io.atf import read_atf

    params = AnalysisParams(baseline_ms=4.0)
    res = analyze_recording(sample_recording, params)
    key = Store.new_workspace_key()
    aid = store.save_analysis(key, recording_name="202304_0521.atf", recording_bytes=sample_bytes,
                              recipe_json=params.to_json(), results_json=json.dumps([r.to_dict() for r in res]),
                              app_version=signal_core.__version__, label="cell 3", note="first try")
    assert store.count(key) == 1
    [row] = store.list_analyses(key)
    assert isinstance(row, AnalysisSummary)
    assert (row.id, row.file_name, row.label, row.note) == (aid, "202304_0521.atf", "cell 3", "first try")
    assert row.sha256 == hashlib.sha256(sample_bytes).hexdigest()
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset().total_seconds() == 0
    assert row.app_version == signal_core.__version__
    assert (row.v_test_mV, row.q_on_pC, row.q_off_pC, row.c_m_nF) == pytest.approx(
        (res[0].v_test_mV, res[0].q_on_pC, res[0].q_off_pC, res[0].c_m_nF))

    saved = store.get_analysis(key, aid)
    assert saved is not None and saved.size_bytes == len(sample_bytes)
    assert store.get_analysis(key, str(aid)) == saved  # ids from a query string work too
    data = store.get_recording_bytes(key, saved.sha256)
    assert data == sample_bytes
    again = analyze_recording(read_atf(data, name=saved.file_name), saved.params())
    assert saved.params() == params
    assert json.loads(json.dumps([r.to_dict() for r in again])) == saved.results()

    assert store.rename(key, aid, "cell 3 (good)")
    assert (store.get_analysis(key, aid).label, store.get_analysis(key, aid).note) == ("cell 3 (good)", "first try")
    assert store.rename(key, aid, "cell 3", note="")
    assert store.get_analysis(key, aid).note == ""
    assert not store.rename(key, aid + 1000, "nothing there")
    with pytest.raises(ValueError, match="at most 200"):
        store.rename(key, aid, "x" * 201)

    assert store.delete(key, [aid, aid + 1000]) == 1
    assert store.count(key) == 0 and store.list_analyses(key) == [] and store.get_analysis(key, aid) is None
    assert store.get_recording_bytes(key, saved.sha256) is None
    assert rows(store, recordings) == 0  # its recording went with its last analysis


def test_search_and_sort(store: Store):
    key = Store.new_workspace_key()
    ids = {
        "a": save(store, key, "2023_0101.atf", b"a", label="Control", results_json=results(q_on_pC=2.0, c_m_nF=None)),
        "b": save(store, key, "2023_0102.atf", b"b", label="drug 50%", note="after WASH",
                  results_json=results(q_on_pC=5.0, v_test_mV=10.0)),
        "c": save(store, key, "other_cell.ATF", b"c", note="noisy", results_json=results(q_on_pC=-1.0)),
    }

    def listed(**kw):
        return [r.id for r in store.list_analyses(key, **kw)]

    assert listed() == [ids["c"], ids["b"], ids["a"]]  # newest first
    assert listed(descending=False) == [ids["a"], ids["b"], ids["c"]]
    assert listed(order_by="q_on_pC") == [ids["b"], ids["a"], ids["c"]]
    assert listed(order_by="q_on_pC", descending=False) == [ids["c"], ids["a"], ids["b"]]
    assert listed(order_by="c_m_nF")[-1] == ids["a"]  # a missing number sorts last either way
    assert listed(order_by="c_m_nF", descending=False)[-1] == ids["a"]
    assert listed(order_by="file_name", descending=False) == [ids["a"], ids["b"], ids["c"]]
    assert listed(order_by="label", descending=False) == [ids["c"], ids["a"], ids["b"]]
    assert listed(search="CONTROL") == [ids["a"]]  # label, any case
    assert listed(search="wash") == [ids["b"]]  # note
    assert listed(search=".atf") == [ids["c"], ids["b"], ids["a"]]  # file name
    assert listed(search="50%") == [ids["b"]]  # % is a character, not a wildcard
    assert listed(search="r_c") == [ids["c"]]  # _ is a character too
    assert listed(search="nothing like it") == []
    assert listed(limit=2) == [ids["c"], ids["b"]]
    with pytest.raises(ValueError, match="cannot sort by"):
        store.list_analyses(key, order_by="note; DROP TABLE analyses")


def test_recordings_stored_once_per_digest(store: Store):
    data = bytes(range(256)) * 4000  # 1 MB
    digest = store.save_recording("first.atf", data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.save_recording("second.atf", data) == digest
    key1, key2 = Store.new_workspace_key(), Store.new_workspace_key()
    a1 = save(store, key1, "renamed.atf", data)
    a2 = save(store, key2, "again.atf", data)
    assert rows(store, recordings) == 1
    with store.engine.connect() as conn:
        name, size, blob = conn.execute(select(recordings.c.name, recordings.c.size_bytes, recordings.c.data)).one()
    assert (name, size) == ("first.atf", len(data)) and len(blob) < len(data) / 10  # compressed
    assert store.get_recording_bytes(key1, digest) == data == store.get_recording_bytes(key2, digest)
    assert store.get_analysis(key1, a1).file_name == "renamed.atf"  # each analysis keeps its upload's name
    # deleting one workspace's analysis keeps the recording the other still uses
    assert store.delete(key1, [a1]) == 1
    assert rows(store, recordings) == 1 and store.get_recording_bytes(key2, digest) == data
    assert store.delete(key2, [a2]) == 1
    assert rows(store, recordings) == 0


@pytest.mark.slow
def test_concurrent_saves_lose_nothing(store: Store):
    """20 threads x 50 saves into one workspace, racing on 5 shared recordings."""
    key = Store.new_workspace_key()
    n_threads, n_saves = 20, 50
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(n_saves):
                save(store, key, f"rec{t % 5}.atf", f"recording {t % 5}".encode() * 100, label=f"t{t}-i{i}",
                     results_json=results(q_on_pC=t * 1000.0 + i, thread=t, i=i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert store.count(key) == n_threads * n_saves
    listed = store.list_analyses(key, limit=None)
    assert sorted(r.label for r in listed) == sorted(f"t{t}-i{i}" for t in range(n_threads) for i in range(n_saves))
    full = store.get_analyses(key, [r.id for r in listed])
    assert len(full) == len(listed)
    for a in full:
        t, i = (int(x[1:]) for x in a.label.split("-"))
        r = a.results()[0]
        assert (r["thread"], r["i"], r["q_on_pC"], a.q_on_pC) == (t, i, t * 1000.0 + i, t * 1000.0 + i)
        assert a.file_name == f"rec{t % 5}.atf"
    assert rows(store, recordings) == 5 and rows(store, workspaces) == 1


@pytest.mark.parametrize("failure", ["python", "sql"])
def test_interrupted_save_leaves_no_partial_rows(store: Store, monkeypatch, failure: str):
    """An exception after the workspace and recording rows are written rolls all of them back."""
    key = Store.new_workspace_key()
    seen = {}

    def broken(self, conn, row):
        seen["recordings"] = conn.execute(select(func.count()).select_from(recordings)).scalar_one()
        if failure == "python":
            raise RuntimeError("power cut")
        conn.execute(analyses.insert().values({**row, "file_name": None}))  # NOT NULL violated

    monkeypatch.setattr(Store, "_insert_analysis", broken)
    store.retry_delays_s = (0.0, 0.0)
    if failure == "python":
        with pytest.raises(RuntimeError, match="power cut"):
            save(store, key)
    else:
        with pytest.raises(StoreError, match="^the database refused the operation: .*file_name"):
            save(store, key)
    assert seen["recordings"] == 1  # the recording was in, inside the transaction
    assert (rows(store, workspaces), rows(store, recordings), rows(store, analyses)) == (0, 0, 0)
    monkeypatch.undo()
    save(store, key)  # and the store still works
    assert store.count(key) == 1


# ---------------------------------------------------------------------------- workspaces
def test_workspace_isolation(store: Store):
    mine, theirs = Store.new_workspace_key(), Store.new_workspace_key()
    aid = save(store, mine, "secret.atf", b"their data", label="private")
    sha = hashlib.sha256(b"their data").hexdigest()
    save(store, theirs, "own.atf", b"own data")
    assert [r.label for r in store.list_analyses(theirs, search="")] == [""]
    assert store.list_analyses(theirs, search="secret") == [] and store.count(theirs) == 1
    assert store.get_analysis(theirs, aid) is None
    assert store.get_analyses(theirs, [aid]) == []
    assert store.get_recording_bytes(theirs, sha) is None  # knowing the digest is not enough
    assert not store.rename(theirs, aid, "hijacked")
    assert store.delete(theirs, [aid]) == 0
    assert store.get_analysis(mine, aid).label == "private"
    stranger = Store.new_workspace_key()  # a valid key nobody used
    assert (store.list_analyses(stranger), store.count(stranger), store.get_analysis(stranger, aid)) == ([], 0, None)


@pytest.mark.parametrize("bad", ["", "short", "x" * 129, "has space in it........", "../../etc/passwd" * 2,
                                 "' OR 1=1 --xxxxxxxxxxxxxxx", None, 12345, "é" * 30])
def test_malformed_keys_read_as_an_empty_workspace(store: Store, bad):
    aid = save(store, Store.new_workspace_key())
    assert not Store.valid_key(bad)
    assert store.list_analyses(bad) == [] and store.count(bad) == 0
    assert store.get_analysis(bad, aid) is None and store.get_analyses(bad, [aid]) == []
    assert store.get_recording_bytes(bad, "0" * 64) is None
    assert not store.rename(bad, aid, "x") and store.delete(bad, [aid]) == 0
    with pytest.raises(ValueError, match="not a workspace key"):
        save(store, bad)


def test_keys_and_malformed_ids(store: Store):
    keys = {Store.new_workspace_key() for _ in range(100)}
    assert len(keys) == 100 and all(Store.valid_key(k) and len(k) == 32 for k in keys)
    key = Store.new_workspace_key()
    save(store, key)
    for bad_id in ("abc", None, -1, 0, 2**40, "1; DROP TABLE analyses", True, 1.5e300, 1.5, "1.0"):
        assert store.get_analysis(key, bad_id) is None
    assert store.get_recording_bytes(key, "not-a-digest") is None
    with pytest.raises(ValueError, match="not valid JSON"):
        save(store, key, results_json="{oops")


# ---------------------------------------------------------------------------- migrations
def test_upgrading_the_first_schema_keeps_rows(db_url: str):
    upgrade(db_url, "0001")
    engine = make_engine(db_url)
    key = Store.new_workspace_key()
    old = b"an old recording"
    try:
        assert current_revision(engine) == "0001"
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO workspaces (key) VALUES (:k)"), {"k": key})
            conn.execute(text("INSERT INTO recordings (sha256, name, size_bytes, data) VALUES (:s, :n, :z, :d)"),
                         {"s": hashlib.sha256(old).hexdigest(), "n": "old.atf", "z": len(old), "d": zlib.compress(old)})
            for i, res in enumerate([
                results(q_on_pC=1.5, c_m_nF=0.9),  # a list of sweeps
                json.dumps({"v_test_mV": 30, "q_on_pC": 2.5, "q_off_pC": -2.4, "c_m_nF": 1.1}),  # one result
                json.dumps({"results": [{"q_on_pC": 3.5, "v_test_mV": True, "c_m_nF": "1"}]}),  # odd values
                "not json at all",
            ]):
                conn.execute(text("INSERT INTO analyses (workspace_key, recording_sha256, file_name, recipe_json, "
                                  "results_json, app_version) VALUES (:k, :s, :f, '{}', :r, '0.0.1')"),
                             {"k": key, "s": hashlib.sha256(old).hexdigest(), "f": f"old{i}.atf", "r": res})
    finally:
        engine.dispose()

    with Store.open(db_url) as store:
        assert current_revision(store.engine) == HEAD
        listed = store.list_analyses(key, descending=False, order_by="id")
        assert [r.file_name for r in listed] == ["old0.atf", "old1.atf", "old2.atf", "old3.atf"]
        assert [(r.v_test_mV, r.q_on_pC, r.q_off_pC, r.c_m_nF) for r in listed] == [
            (-20.0, 1.5, -3.6, 0.9), (30.0, 2.5, -2.4, 1.1), (None, 3.5, None, None), (None, None, None, None)]
        assert all((r.label, r.note, r.app_version) == ("", "", "0.0.1") for r in listed)
        assert all(r.created_at.tzinfo is not None for r in listed)
        assert store.get_analysis(key, listed[3].id).results_json == "not json at all"
        assert store.get_recording_bytes(key, listed[0].sha256) == old
        assert store.rename(key, listed[0].id, "labelled after the upgrade")
        save(store, key)  # new rows go in beside the old
        assert store.count(key) == 5
    with Store.open(db_url) as store:  # opening again is a no-op
        assert store.count(key) == 5


def test_a_failed_upgrade_leaves_the_old_schema(db_url: str, monkeypatch):
    """Every revision runs in one transaction: a crash in 0002's data step undoes its new columns too."""
    import math

    upgrade(db_url, "0001")
    engine = make_engine(db_url)
    key, old = Store.new_workspace_key(), b"old"
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO workspaces (key) VALUES (:k)"), {"k": key})
            conn.execute(text("INSERT INTO recordings (sha256, name, size_bytes, data) VALUES (:s, 'o', 3, :d)"),
                         {"s": hashlib.sha256(old).hexdigest(), "d": zlib.compress(old)})
            conn.execute(text("INSERT INTO analyses (workspace_key, recording_sha256, file_name, recipe_json, "
                              "results_json, app_version) VALUES (:k, :s, 'o.atf', '{}', :r, '0.0.1')"),
                         {"k": key, "s": hashlib.sha256(old).hexdigest(), "r": results()})

        def crash(_x):
            raise RuntimeError("crash during the data migration")

        monkeypatch.setattr(math, "isfinite", crash)
        with pytest.raises(RuntimeError, match="crash during"):
            upgrade(engine)
        monkeypatch.undo()
        assert current_revision(engine) == "0001"
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("analyses")}
        assert "label" not in columns and "q_on_pc" not in columns
    finally:
        engine.dispose()
    with Store.open(db_url) as store:  # and the upgrade then succeeds
        assert [r.q_on_pC for r in store.list_analyses(key)] == [4.0]


def test_schema_module_matches_the_migrations(store: Store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_table")] == []


def test_concurrent_start_ups_migrate_once(db_url: str):
    """Several dynos starting at once against an empty database."""
    stores, errors = [], []

    def open_one() -> None:
        try:
            stores.append(Store.open(db_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == [] and len(stores) == 4
        assert {current_revision(s.engine) for s in stores} == {HEAD}
    finally:
        for s in stores:
            s.close()


# ---------------------------------------------------------------------------- configuration
def test_database_url_from_env_secrets_or_sqlite(tmp_path: Path, monkeypatch):
    heroku = "postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8abc"
    assert database_url({"DATABASE_URL": heroku}) == "postgresql+psycopg://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8abc"
    assert database_url({"DATABASE_URL": "postgresql://u@h/db"}) == "postgresql+psycopg://u@h/db"
    assert database_url({"DATABASE_URL": "postgresql+psycopg://u@h/db"}) == "postgresql+psycopg://u@h/db"
    assert database_url({"DATABASE_URL": "sqlite:////x/y.sqlite"}) == "sqlite:////x/y.sqlite"
    assert database_url({}, secrets={"DATABASE_URL": "postgres://s@h/db"}) == "postgresql+psycopg://s@h/db"
    assert database_url({"DATABASE_URL": "postgres://e@h/db"}, secrets={"DATABASE_URL": "postgres://s@h/db"}) \
        == "postgresql+psycopg://e@h/db"

    class NoSecretsFile(dict):  # st.secrets without a secrets.toml
        def get(self, *a):
            raise FileNotFoundError("No secrets found")

    target = tmp_path / "deep" / "data"
    url = database_url({"SIGNAL_ANALYZER_DATA_DIR": str(target)}, secrets=NoSecretsFile())
    assert url == f"sqlite:///{target / 'signal_analyzer.sqlite'}" and target.is_dir()
    monkeypatch.chdir(tmp_path)
    assert database_url({}) == f"sqlite:///{tmp_path / 'data' / 'signal_analyzer.sqlite'}"
    assert (tmp_path / "data").is_dir()
    other = tmp_path / "explicit"
    assert database_url({"SIGNAL_ANALYZER_DATA_DIR": str(target)}, data_dir=other).startswith(f"sqlite:///{other}/")
    with Store.open(url) as store:  # the default database works: WAL, foreign keys on
        assert store.backend == "sqlite" and store.healthy()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (target / "signal_analyzer.sqlite").exists()


def test_password_gate():
    assert check_password("", {}) and check_password("anything", {}) and not password_required({})
    env = {"APP_PASSWORD": "lab-2024"}
    assert password_required(env) and check_password("lab-2024", env)
    assert not check_password("lab-2025", env) and not check_password("", env)
    assert check_password("from-secrets", {}, secrets={"APP_PASSWORD": "from-secrets"})
    assert not check_password("", {}, secrets={"APP_PASSWORD": "from-secrets"})


def test_scalars_from_results():
    assert scalars_from_results(results()) == {"v_test_mV": -20.0, "q_on_pC": 4.0, "q_off_pC": -3.6, "c_m_nF": 0.7}
    assert scalars_from_results('[{"q_on_pC": NaN, "c_m_nF": Infinity}]')["q_on_pC"] is None
    assert set(scalars_from_results("[]").values()) == {None}


# ---------------------------------------------------------------------------- failures
def test_unreachable_server_gives_a_clear_error():
    url = f"postgresql+psycopg://someone:s3cret-pw@127.0.0.1:{_free_port()}/history"
    with pytest.raises(StoreError, match="^the database is unavailable: .*127.0.0.1") as info:
        Store.open(url)
    assert "s3cret-pw" not in str(info.value)
    with pytest.raises(StoreError, match="not valid"):
        Store.open("this is not a URL")
    store = Store(make_engine(url))  # an app that opened before the server went away
    assert store.healthy() is False
    assert "s3cret-pw" not in store.url


@pytest.mark.postgres
def test_stopped_server_is_reported_then_recovers(pg_server: PgServer):  # noqa: F811
    """A second throwaway server: stop it under a live store, then bring it back on the same port."""
    server = PgServer(pg_server.bin_dir).start()
    try:
        store = Store.open(server.url())
        store.retry_delays_s = (0.05, 0.1)
        key = Store.new_workspace_key()
        save(store, key)
        assert store.healthy()
        server.stop()
        assert store.healthy() is False
        with pytest.raises(StoreError, match="^the database is unavailable: "):
            save(store, key)
        with pytest.raises(StoreError, match="^the database is unavailable: "):
            store.list_analyses(key)
        server.start()
        assert store.healthy()  # pooled connections were dropped and replaced
        save(store, key)
        assert store.count(key) == 2
        store.close()
    finally:
        server.cleanup()


def test_missing_postgres_binaries_are_reported(tmp_path: Path):
    with pytest.raises(PgUnavailable, match="apt-get install -y postgresql"):
        PgServer(tmp_path)
