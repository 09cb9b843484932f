"""The memory governor of one server process: a budget, what is in use, and admission of new work.

A 512 MB dyno runs one Streamlit process for every user.  Three things here keep it under
:func:`budget_bytes` (``SIGNAL_ANALYZER_MEMORY_MB``, default 480 MB):

- :class:`ByteLRU`: the app's caches (``app/cache.py``) are bounded by the bytes of what they
  hold (numpy arrays by ``nbytes``), a share of the budget each, not by a count of entries;
  an entry is kept once per process (no pickled copy, no copy per caller: its arrays are made
  read-only instead).
- :func:`admit`: a new parse (or any big step) first reserves what it will need.  When the
  process's resident memory plus the reservations of work already running plus the new need
  would pass the budget, the caches give up their least recently used entries and freed memory
  is returned to the system (all of it short of :data:`HEADROOM_BYTES`, kept for the work that is
  not admitted: figures, analyses); if that is not enough the request waits for running work to finish
  (at most :data:`QUEUE_S` seconds) and is then refused with a :class:`ServerBusyError` that
  says how much it needs and how much is in use.
- :func:`reserve_upload`: asked by the upload route (``app.streamlit_fixes``) before it reads a
  byte of a new upload (its Content-Length): refused (HTTP 503) when it would not fit beside the
  work and the other uploads in flight; the reservation ends when the file is stored
  (:func:`upload_arrived`) or after :data:`UPLOAD_RESERVATION_S` (an upload cut off).

The numbers are the process's own: resident set size from ``/proc/self/statm``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np

from signal_core.errors import SignalCoreError
from signal_core.io.limits import (
    BYTES_PER_VALUE,
    BYTES_PER_VALUE_16BIT,
    DEFAULT_MEMORY_MB,
    ENV_MEMORY_MB,
    process_budget_bytes,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "ENV_MEMORY_MB",
    "HEADROOM_BYTES",
    "ABF_VALUES_PER_BYTE",
    "PARSE_FACTOR",
    "PARSE_FIXED_BYTES",
    "QUEUE_S",
    "ByteLRU",
    "ServerBusyError",
    "admit",
    "budget_bytes",
    "nbytes_of",
    "parse_need_bytes",
    "release_memory",
    "rss_bytes",
    "reserve_upload",
    "upload_arrived",
]

MB = 2**20
#: the longest a parse waits for running work to finish before it is refused (s)
QUEUE_S = 20.0
#: room the admissions leave free for what they do not count: a page's figures and tables, an analysis,
#: Streamlit's messages (measured: the first upload of the 2.8 MB sample and its pages took a fresh
#: server 60 MB above where it settled)
HEADROOM_BYTES = 64 * MB
#: peak memory of a parse per byte of the samples it makes, and a fixed part (bytes).  Measured with the
#: Procfile's malloc settings: a dense 49 MB ATF (13.9 M values, 106 MB as float64) peaks at +233 MB
#: (2.2x), the 2.8 MB sample ATF at +9.4 MB; ABF samples are float32 (4 bytes) and read a block at a
#: time: the two real files 05210017_vc_abf1 and 14o16001_vc_pair_step at 1.5-1.6x (+6.3 and +9.3 MB,
#: float64 and pyABF's whole copy made it +14.5 and +20.4 MB), a 1-channel 10 MB ABF1 at 1.2x.
PARSE_FACTOR = 2.4
PARSE_FIXED_BYTES = 8 * MB
#: ABF: samples per byte of file (int16 data, 2 bytes a sample) and room for channels pyABF adds
#: (the command waveform): 1.08 M values from a 1.38 MB ABF1 file
ABF_VALUES_PER_BYTE = 0.8


class ServerBusyError(SignalCoreError):
    """The server has no memory for this step right now (it is refused, not started)."""


def budget_bytes() -> int:
    """The process's memory budget (bytes): :func:`signal_core.io.limits.process_budget_bytes`
    (``SIGNAL_ANALYZER_MEMORY_MB``, default 480 MB), read from the environment on every call."""
    return process_budget_bytes()


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident memory of this process (bytes), from ``/proc/self/statm``; 0 where there is no /proc."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _mb(n: float) -> str:
    return f"{n / MB:,.0f}"


# ------------------------------------------------------------------ sizes
def nbytes_of(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by ``obj``: numpy arrays by ``nbytes`` (a view counted like its data), containers and
    dataclasses by their parts, anything else by ``sys.getsizeof``.  Shared parts are counted once."""
    import sys

    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (bytes, bytearray, str)):
        return sys.getsizeof(obj)
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(nbytes_of(k, seen) + nbytes_of(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sys.getsizeof(obj) + sum(nbytes_of(v, seen) for v in obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return sys.getsizeof(obj) + sum(nbytes_of(getattr(obj, f.name, None), seen) for f in fields(obj))
    return sys.getsizeof(obj)


def _freeze(obj: Any, _seen: set[int] | None = None) -> None:
    """Make every numpy array in ``obj`` read-only (a cached value is shared by every caller)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        obj.setflags(write=False)
    elif isinstance(obj, dict):
        for v in obj.values():
            _freeze(v, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _freeze(v, seen)
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            _freeze(getattr(obj, f.name, None), seen)


# ------------------------------------------------------------------ caches bounded by bytes
_caches: list[ByteLRU] = []


class ByteLRU:
    """A thread-safe least-recently-used cache bounded by the bytes of its values.

    Parameters
    ----------
    name : str
        For messages and the capacity bench.
    share : float
        Its bound as a fraction of :func:`budget_bytes` (read at every insertion).
    ttl_s : float
        Entries older than this (s) are recomputed.
    copy : bool
        Hand every caller a deep copy (for small values made of lists and dicts, which a caller
        could change); otherwise the one cached value, its arrays read-only.

    A value larger than the whole bound is computed and returned but not kept.  Two callers
    asking for the same key at once compute it once (the second waits for the first).
    """

    def __init__(self, name: str, share: float, ttl_s: float = 3600.0, copy: bool = False) -> None:
        self.name, self.share, self.ttl_s, self.copy = name, share, ttl_s, copy
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, int, float]] = OrderedDict()
        self._running: dict[Hashable, threading.Event] = {}
        self.bytes = 0
        self.hits = self.misses = 0
        _caches.append(self)

    def max_bytes(self) -> int:
        return int(budget_bytes() * self.share)

    def __len__(self) -> int:
        return len(self._entries)

    def _give(self, value: Any) -> Any:
        if self.copy:
            import copy

            return copy.deepcopy(value)
        return value

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, computed by ``compute()`` when absent (exceptions are not cached)."""
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and time.monotonic() - entry[2] <= self.ttl_s:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return self._give(entry[0])
                if entry is not None:
                    self._drop(key)
                waiting = self._running.get(key)
                if waiting is None:
                    self._running[key] = threading.Event()
                    self.misses += 1
                    break
            waiting.wait(timeout=600)
        try:
            value = compute()
            _freeze(value)
            size = nbytes_of(value)
            with self._lock:
                if size <= self.max_bytes():
                    self._entries[key] = (value, size, time.monotonic())
                    self.bytes += size
                    self._evict_to(self.max_bytes())
            return self._give(value)
        finally:
            with self._lock:
                self._running.pop(key).set()

    def _drop(self, key: Hashable) -> int:
        _, size, _ = self._entries.pop(key)
        self.bytes -= size
        return size

    def _evict_to(self, limit: int) -> int:
        freed = 0
        while self._entries and self.bytes > limit:
            freed += self._drop(next(iter(self._entries)))
        return freed

    def evict(self, n_bytes: int) -> int:
        """Give up least recently used entries until ``n_bytes`` are freed (or none is left)."""
        with self._lock:
            return self._evict_to(max(0, self.bytes - n_bytes))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


def cached_bytes() -> int:
    """Bytes held by every :class:`ByteLRU` of the process."""
    return sum(c.bytes for c in _caches)


# ------------------------------------------------------------------ giving memory back
_libc = None


def release_memory() -> None:
    """Collect garbage and ask glibc to return free heap pages to the system (RSS then shows it)."""
    global _libc
    gc.collect()
    if _libc is None:
        path = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(path) if path else False
    if _libc and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)


def _make_room(need: int, budget: int) -> int:
    """Evict cache entries (largest caches first) until ``rss + need`` fits ``budget``; the new RSS."""
    rss = rss_bytes()
    if rss + need <= budget:
        return rss
    for cache in sorted(_caches, key=lambda c: -c.bytes):
        if cache.evict(rss + need - budget):
            release_memory()
            rss = rss_bytes()
            if rss + need <= budget:
                return rss
    release_memory()
    return rss_bytes()


# ------------------------------------------------------------------ admission of new work
_admit_lock = threading.Condition()
_reserved = 0
#: uploads admitted by the route and not stored yet: session id -> [(bytes, time admitted)]
_uploads: dict[str, list[tuple[int, float]]] = {}
#: an upload admitted this long ago (s) and never stored no longer holds its reservation
UPLOAD_RESERVATION_S = 120.0


def _session_gone(session_id: str) -> bool:
    """True when ``session_id`` no longer has a browser connected (its tab was closed mid-upload)."""
    from app import streamlit_fixes

    is_active = streamlit_fixes._original_is_active  # the unpatched check: no gate, no memory
    if is_active is None:
        return False
    try:
        from streamlit.runtime import Runtime

        runtime = Runtime.instance()
    except RuntimeError:  # no server (AppTest, a bench in-process)
        return False
    return not is_active(runtime, session_id)


def _in_flight() -> int:
    """Bytes reserved by running work and by uploads on their way (call with ``_admit_lock`` held).

    An upload's reservation ends when it is stored (:func:`upload_arrived`), when its session has
    gone (the tab closed mid-upload) or after :data:`UPLOAD_RESERVATION_S`.
    """
    now = time.monotonic()
    for sid in list(_uploads):
        kept = [(n, t) for n, t in _uploads[sid] if now - t <= UPLOAD_RESERVATION_S]
        if not kept or _session_gone(sid):
            del _uploads[sid]
        else:
            _uploads[sid] = kept
    return _reserved + sum(n for items in _uploads.values() for n, _ in items)


def parse_need_bytes(data: bytes, name: str) -> int:
    """Peak memory (bytes) of parsing ``data`` (a file called ``name``), estimated before parsing.

    ATF (text): the values are counted from their separators (tabs, commas, line ends) in the first and
    last 64 KB, scaled to the whole file, and each becomes a float64 (8 bytes); ABF:
    :data:`ABF_VALUES_PER_BYTE`, each a float32 (4 bytes: a 16-bit source, see
    :class:`signal_core.recording.Recording`).  :data:`PARSE_FACTOR` and :data:`PARSE_FIXED_BYTES` turn
    those bytes into the parse's peak.
    """
    n = len(data)
    if name.lower().endswith(".abf") or data[:4] in (b"ABF ", b"ABF2"):
        values, item_bytes = n * ABF_VALUES_PER_BYTE, BYTES_PER_VALUE_16BIT
    else:
        probe = data[:65536] + data[-65536:] if n > 131072 else data
        seps = probe.count(b"\t") + probe.count(b",") + probe.count(b"\n")
        values, item_bytes = n * seps / max(len(probe), 1), BYTES_PER_VALUE
    return int(values * item_bytes * PARSE_FACTOR + PARSE_FIXED_BYTES)


@contextlib.contextmanager
def admit(need_bytes: int, what: str, queue_s: float = QUEUE_S) -> Iterator[None]:
    """Reserve ``need_bytes`` for a step (``what``, e.g. "reading x.atf"), or raise :class:`ServerBusyError`.

    Waits up to ``queue_s`` seconds while other admitted work is running; refuses at once when
    nothing else runs and the step still does not fit.
    """
    global _reserved
    budget = budget_bytes() - HEADROOM_BYTES
    deadline = time.monotonic() + queue_s
    with _admit_lock:
        while True:
            busy = _in_flight()
            rss = _make_room(busy + need_bytes, budget)
            if rss + busy + need_bytes <= budget:
                _reserved += need_bytes
                break
            left = deadline - time.monotonic()
            if busy == 0 or left <= 0:
                raise ServerBusyError(
                    f"the server is short of memory right now: {what} needs about {_mb(need_bytes)} MB and "
                    f"{_mb(rss + busy)} MB of its {_mb(budget)} MB are in use by everyone's files. "
                    "Try again in a minute, or remove files you no longer need (other users share this server)"
                )
            _admit_lock.wait(timeout=min(left, 1.0))
    try:
        yield
    finally:
        with _admit_lock:
            _reserved -= need_bytes
            _admit_lock.notify_all()


def reserve_upload(session_id: str, n_bytes: int) -> bool:
    """Reserve room for an upload of ``n_bytes`` by ``session_id``; False (nothing reserved) when it does
    not fit beside the running work and the other uploads in flight (caches give way first)."""
    budget = budget_bytes() - HEADROOM_BYTES
    with _admit_lock:
        need = _in_flight() + n_bytes
        if _make_room(need, budget) + need > budget:
            return False
        _uploads.setdefault(session_id, []).append((int(n_bytes), time.monotonic()))
        return True


def upload_arrived(session_id: str) -> None:
    """The oldest upload reserved by ``session_id`` is stored (its bytes now count in the RSS)."""
    with _admit_lock:
        items = _uploads.get(session_id)
        if items:
            items.pop(0)
            if not items:
                del _uploads[session_id]
        _admit_lock.notify_all()
