"""More than one dyno: two app processes sharing one PostgreSQL (issue 16).

Two servers are started as the Procfile starts them (``tests/server.py``), on two ports of 127.0.0.1,
with the same ``DATABASE_URL`` (an empty database of the session's throwaway PostgreSQL,
``tests/pg_server.py``), and driven through their websockets (``tests/st_client.py``):

- the first run of each opens the store at the same moment, so both run the migrations at once:
  the schema ends at head with one ``alembic_version`` row and both serve;
- an analysis saved on one opens on the other from its workspace link (``?ws=<key>&analysis=<id>``);
- six sessions, three on each server, save at the same moment into one workspace: all six are kept.

``secrets_file=False``: ``setup.sh`` would write the URL into the shared tree's ``.streamlit/secrets.toml``;
the app reads ``DATABASE_URL`` from the environment first.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest
from sqlalchemy import create_engine, text

from signal_core.store import Store
from tests.server import run_app
from tests.st_client import StreamlitClient, run_coroutine

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SAMPLE = "202304_0521.atf"


async def _save(url: str, data: bytes, label: str, query: str = "") -> tuple[str, str]:
    """Upload the sample on ``url``, analyse it and save it as ``label``: (query string, what it said)."""
    c = await StreamlitClient(url, timeout_s=120).connect()
    try:
        c.query_string = query
        await c.run()
        await c.upload([(SAMPLE, data)], key="uploader")
        await c.run(page="analyse")
        c.fill("text_input", label, key="save_label")
        run = await c.click(label="Save to history")
        said = [t for t in run.texts("alert") if "Saved as analysis" in t or "Not saved" in t]
        return c.query_string, " ".join(said)
    finally:
        await c.close()


async def _open(url: str, query: str) -> tuple[list[str], list[str], str]:
    """Open ``url`` with ``query`` (a workspace link): the metric labels, the captions, the page heading."""
    c = await StreamlitClient(url, timeout_s=120).connect()
    try:
        c.query_string = query
        run = await c.run()
        if not run.of("metric"):  # the link switched to Analyse at the end of that run
            run = await c.run()
        return [e.label for e in run.of("metric")], run.texts("markdown"), " ".join(run.texts("heading"))
    finally:
        await c.close()


def test_two_app_processes_share_one_postgres(pg_server, tmp_path, sample_bytes):
    db_url = pg_server.new_database()
    env = {"DATABASE_URL": db_url}
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(run_app({**env, "SIGNAL_ANALYZER_DATA_DIR": str(tmp_path / "a")},
                                        log_path=tmp_path / "a.log", secrets_file=False))
        b = stack.enter_context(run_app({**env, "SIGNAL_ANALYZER_DATA_DIR": str(tmp_path / "b")},
                                        log_path=tmp_path / "b.log", secrets_file=False))
        assert a != b

        async def first_saves():  # the first store open of each process, at once: both migrate
            return await asyncio.gather(_save(a, sample_bytes, "from A"), _save(b, sample_bytes, "from B"))

        (query_a, said_a), (_, said_b) = run_coroutine(first_saves())
        assert "Saved as analysis #" in said_a and "Saved as analysis #" in said_b, (said_a, said_b)
        key = re.search(r"ws=([^&]+)", query_a).group(1)
        aid = int(re.search(r"#(\d+)", said_a).group(1))

        # saved on A, opened on B from its link
        metrics, texts, heading = run_coroutine(_open(b, f"ws={key}&analysis={aid}"))
        assert "Analyse" in heading and "Q_on (pC)" in metrics, (heading, metrics)

        # three sessions on each process save into one workspace at the same moment
        labels = [f"cell {k}" for k in range(6)]

        async def together():
            return await asyncio.gather(*(_save(a if k % 2 == 0 else b, sample_bytes, label, f"ws={key}")
                                          for k, label in enumerate(labels)))

        outcomes = run_coroutine(together())
        assert all("Saved as analysis #" in said for _, said in outcomes), outcomes

    store = Store.open(db_url, migrate=False)
    try:
        kept = [r.label for r in store.list_analyses(key, limit=None)]
    finally:
        store.close()
    assert sorted(kept) == sorted(["from A", *labels]), kept  # nothing lost, nothing twice
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert len(versions) == 1, versions
    for log in ("a.log", "b.log"):
        body = (tmp_path / log).read_text(errors="replace")
        assert "already exists" not in body and "Traceback" not in body, body[-2000:]

