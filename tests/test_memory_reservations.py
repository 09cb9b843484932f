"""An upload's memory reservation ends with its session: a tab closed mid-upload frees it at once."""

from __future__ import annotations

import time

import pytest

from app import memory, streamlit_fixes


@pytest.fixture
def sessions(monkeypatch):
    """Sessions 'open' and 'closed' as Streamlit's unpatched is_active_session would report them."""
    from streamlit.runtime import Runtime

    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: object()))
    monkeypatch.setattr(streamlit_fixes, "_original_is_active", lambda runtime, sid: sid == "open")
    monkeypatch.setattr(memory, "_uploads", {})
    return memory._uploads


def test_a_closed_sessions_upload_stops_holding_memory(sessions):
    now = time.monotonic()
    sessions["open"] = [(90 * 2**20, now)]
    sessions["closed"] = [(90 * 2**20, now), (10 * 2**20, now)]
    with memory._admit_lock:
        assert memory._in_flight() == memory._reserved + 90 * 2**20
    assert list(sessions) == ["open"]


def test_an_upload_never_stored_expires(sessions):
    sessions["open"] = [(5, time.monotonic() - memory.UPLOAD_RESERVATION_S - 1), (7, time.monotonic())]
    with memory._admit_lock:
        assert memory._in_flight() == memory._reserved + 7
