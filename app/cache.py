"""Digest-keyed caches of the heavy work, bounded by bytes for a 512 MB dyno.

Nothing here is keyed on an array: every function takes the file's SHA-256 (``sha``) and, where
it matters, the parameters as JSON text; the bytes come in as ``_data`` (leading underscore: not
part of the key, as with ``st.cache_data``).

Each cache is an :class:`app.memory.ByteLRU` holding a share of the process's memory budget
(``SIGNAL_ANALYZER_MEMORY_MB``, issue 16): :data:`SHARES`.  ``st.cache_data`` was bounded by
counts only (8 recordings of up to 400 MB each, 16 filtered sweeps of any length) and kept a
pickled copy besides the copy each caller unpickled; these keep one object per entry, shared by
every session, with its arrays read-only (a ``Recording`` is read-only already), and hand out
deep copies only of the small list-and-dict values of the Sets page.  A parse first asks
:func:`app.memory.admit` for the memory it will need, so it is refused with a message
(:class:`app.memory.ServerBusyError`) rather than taking the server past its budget.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from pathlib import PurePath

import numpy as np
import streamlit as st

from signal_core.analysis.batch import analyze_source
from signal_core.analysis.pipeline import ChargeResult, analyze_sweep
from signal_core.filters.chain import apply_chain, power_spectrum
from signal_core.filters.specs import chain_from_json
from signal_core.io.atf_writer import write_atf
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.recording import Recording
from signal_core.synthetic import demo_recording

from . import memory

__all__ = ["SHARES", "analysis", "clear", "demo_file", "filtered_sweep", "n_sweeps", "recording", "set_rows",
           "spectra"]

TTL_S = 3600
#: each cache's bound, as a fraction of the process's memory budget (480 MB by default: 120 MB of
#: parsed recordings, 24 MB of filtered sweeps, ...); the rest is Streamlit, the uploads and the work
SHARES = {"recordings": 0.25, "filtered_sweep": 0.05, "spectra": 0.01, "analysis": 0.05, "n_sweeps": 0.002,
          "set_rows": 0.02}


def _bytes_cached(name: str, copy: bool = False):
    """Cache a function in a :class:`~app.memory.ByteLRU` keyed on its arguments not starting with ``_``."""
    lru = memory.ByteLRU(name, SHARES[name], ttl_s=TTL_S, copy=copy)

    def wrap(fn):
        sig = inspect.signature(fn)
        keyed = [p for p in sig.parameters if not p.startswith("_")]

        @functools.wraps(fn)
        def cached(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            key = tuple(bound.arguments[p] for p in keyed)
            return lru.get(key, lambda: fn(*args, **kwargs))

        cached.cache = lru
        return cached

    return wrap


def clear() -> None:
    """Empty every cache of this module (tests; ``st.cache_data.clear()`` only clears the demo's)."""
    for fn in (_parsed, filtered_sweep, spectra, analysis, n_sweeps, set_rows):
        fn.cache.clear()
    st.cache_data.clear()
DEMO_NAME = "demo_0001_-20mV.atf"


@st.cache_data(max_entries=1, show_spinner="Simulating the demo cell…")
def demo_file() -> tuple[str, bytes]:
    """The demo "file": the simulated recording written as ATF bytes, with its name."""
    return DEMO_NAME, write_atf(demo_recording().recording)


@_bytes_cached("recordings")
def _parsed(sha: str, suffix: str, _data: bytes, _name: str) -> Recording:
    """The parse of a file's bytes, keyed on the digest (and the extension, which can pick the reader).

    Admitted by the memory governor first (:func:`app.memory.admit`: refused, or queued for a while,
    when the parse would take the server past its budget).
    """
    need = memory.parse_need_bytes(_data, _name)
    with memory.admit(need, f"reading {_name}"):
        return read_recording(_data, name=_name)


def recording(sha: str, _data: bytes, name: str) -> Recording:
    """Parse a file (ATF or ABF) once per digest; raises the reader's typed error, naming ``name``.

    Copies with the same bytes under other names share the parse and get their own name (which the
    analysis reads, e.g. V2 from ``..._-60mVdepol.atf``); errors are not cached, so each names its file.
    """
    rec = _parsed(sha, PurePath(str(name)).suffix.lower(), _data, name)
    return rec if rec.name == name else dataclasses.replace(rec, name=name)


@_bytes_cached("filtered_sweep")
def filtered_sweep(sha: str, sweep: int, filters_json: str, _data: bytes, name: str) -> np.ndarray:
    """The current of one sweep after a filter chain (pA); the raw current for an empty chain."""
    rec = recording(sha, _data, name)
    chain = chain_from_json(json.loads(filters_json))
    raw = rec.current(sweep)
    active = [f for f in chain if f.enabled]
    return apply_chain(raw, rec.fs_hz, active) if active else np.array(raw)


@_bytes_cached("spectra")
def spectra(sha: str, sweep: int, filters_json: str, _data: bytes, name: str):
    """Welch spectra (Hz, pA^2/Hz) of the raw and the filtered current: ``(f, psd_raw, psd_filtered)``."""
    rec = recording(sha, _data, name)
    f, p_raw = power_spectrum(rec.current(sweep), rec.fs_hz)
    if not any(s.enabled for s in chain_from_json(json.loads(filters_json))):
        return f, p_raw, None
    _, p_filt = power_spectrum(filtered_sweep(sha, sweep, filters_json, _data, name), rec.fs_hz)
    return f, p_raw, p_filt


@_bytes_cached("analysis")
def analysis(sha: str, sweep: int, params_json: str, _data: bytes, name: str) -> ChargeResult:
    """``analyze_sweep`` of one sweep with one recipe; raises AnalysisError / ProtocolError / FilterError."""
    rec = recording(sha, _data, name)
    return analyze_sweep(rec, sweep, AnalysisParams.from_json(params_json))


# ------------------------------------------------------------------ Q–V sets (pages/6_sets.py)
@_bytes_cached("n_sweeps")
def n_sweeps(sha: str, _data: bytes, name: str) -> int:
    """The number of sweeps of a file: what the Sets page needs before analysing (tiny, so kept for a whole set)."""
    return recording(sha, _data, name).n_sweeps


@_bytes_cached("set_rows", copy=True)
def set_rows(sha: str, params_json: str, v_test_mV: float | None, label: str, _data: bytes,
             name: str) -> tuple[list[dict], float | None]:
    """Every sweep of one file analysed as the CLI's ``qv`` does it: :func:`signal_core.analysis.batch.analyze_source`.

    ``v_test_mV``: a V2 typed in the table (mV), or None for the file's own (its voltage channel's,
    or its name's for a single sweep without one: ``v_from_name``). Returns the rows (``file=label``,
    one per sweep, or the file's error row) and the V2 the file was analysed with when it is not the
    recording's own. Small (no curves), so a whole set stays cached, one entry per file and V2.

    Raises
    ------
    MemoryError
        The analysis ran out of memory (its error row is not kept: the next run may have the memory).
    """
    got = analyze_source(recording(sha, _data, name), AnalysisParams.from_json(params_json), name=label,
                         v_test_mV=v_test_mV, v_from_name=True)
    if got.recording is None:  # a recording already read gives none only when out of memory
        raise MemoryError(got.rows[0]["error"])
    return got.rows, got.v_test_mV
