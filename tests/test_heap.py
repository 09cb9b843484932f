"""app/heap.py: the start-up heap is frozen once, and what sessions create is still collected."""

from __future__ import annotations

import gc
import pkgutil
import sys
import weakref

import pytest

import app
from app import heap


@pytest.fixture
def fresh(monkeypatch):
    """As in a new server process: not frozen yet; afterwards the test process is unfrozen again."""
    monkeypatch.setattr(heap, "_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezes_once_after_importing_every_app_module(fresh):
    assert gc.get_freeze_count() == 0
    assert heap.freeze_startup_heap() is True
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported libraries' long-lived objects
    names = [m.name for m in pkgutil.iter_modules(app.__path__, prefix="app.")]
    assert {"app.history_ui", "app.sets_ui", "app.figures_qv"} <= set(names)
    assert all(name in sys.modules for name in names)
    assert heap.freeze_startup_heap() is False  # a second session's run changes nothing
    assert gc.get_freeze_count() == frozen


class _Node:
    def __init__(self):
        self.other = None


def test_garbage_made_after_the_freeze_is_still_collected(fresh):
    heap.freeze_startup_heap()
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    del a, b
    gc.collect(2)  # what Streamlit runs after every script run
    assert gone() is None


def test_the_entry_script_freezes_the_heap_on_its_first_run(fresh):
    from app_helpers import new_app

    at = new_app()
    assert not at.exception
    assert heap._frozen and gc.get_freeze_count() > 10_000
