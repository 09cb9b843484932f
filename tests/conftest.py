"""Shared fixtures: the real sample recording (read from ../shared, never copied) and synthetic cells."""

from __future__ import annotations

from pathlib import Path

import pytest

# Session fixtures shared by several modules are registered here, once: imported into each test
# module they would be separate fixtures, each starting its own server (two sync Playwright
# instances in one thread fail outright).
from tests.browser import app_server, browser, page  # noqa: F401
from tests.pg_server import pg_server, pg_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ATF = ROOT.parent / "shared" / "data" / "202304_0521.atf"
SAMPLE_SHA256 = "a14aaae1cd469c9c4ca51143df5d44e960f0e9b69185a94293cd22e26acdc99e"
#: an ATF file broken on line 4 (no header record where one belongs): the app names the file and the line
BROKEN = b"ATF\t1.0\n2 3\n\"Comment=x\"\nthis is not a header record\n1,2,3\n"


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``), keep each module's tests on one
    worker, so that its module fixtures are built once, and every browser test on one worker and every
    PostgreSQL test on one worker, so that one app server, one Chromium and one database server serve them."""
    for item in items:
        if item.get_closest_marker("browser"):
            group = "browser"
        elif item.get_closest_marker("postgres"):
            group = "postgres"
        else:
            group = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory, monkeypatch):
    """Keep every test's SQLite history out of the project's ./data (tests may still set their own)."""
    monkeypatch.setenv("SIGNAL_ANALYZER_DATA_DIR", str(tmp_path_factory.getbasetemp() / "app-data"))


@pytest.fixture(autouse=True)
def _no_memory_governor_in_pytest(monkeypatch):
    """AppTest runs the app inside pytest's own process, whose resident memory is the whole test run's,
    not a server's: the app's memory governor (``app.memory``) would refuse parses once the run has
    grown.  Here its budget is out of reach; ``tests/test_memory_governor.py`` tests it on a real server."""
    monkeypatch.setattr("app.memory.budget_bytes", lambda: 1 << 50)


@pytest.fixture
def own_database(tmp_path, monkeypatch):
    """The app's history in this test's own SQLite database (SIGNAL_ANALYZER_DATA_DIR = tmp_path),
    no DATABASE_URL or APP_PASSWORD from outside, and an empty ``st.cache_resource`` (the app keeps
    one Store per database URL there) and no remembered store failure, before and after the test.

    AppTest modules that touch the history use it: ``pytestmark = pytest.mark.usefixtures("own_database")``.
    """
    import streamlit as st

    from app import history

    monkeypatch.setenv("SIGNAL_ANALYZER_DATA_DIR", str(tmp_path))
    for name in ("DATABASE_URL", "APP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    st.cache_resource.clear()
    history._retry()  # forget failures of earlier tests
    yield
    st.cache_resource.clear()
    history._retry()


@pytest.fixture(scope="session")
def sample_path() -> Path:
    if not SAMPLE_ATF.exists():
        pytest.fail(f"the sample recording is missing: {SAMPLE_ATF} (../shared/data must sit beside the project)")
    return SAMPLE_ATF


@pytest.fixture(scope="session")
def sample_bytes(sample_path: Path) -> bytes:
    return sample_path.read_bytes()


@pytest.fixture(scope="session")
def sample_recording(sample_bytes: bytes):
    from signal_core.io.atf import read_atf

    return read_atf(sample_bytes, name=SAMPLE_ATF.name)
