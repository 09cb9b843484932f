"""Digest-keyed caches of the heavy work, bounded for a 512 MB dyno.

``st.cache_data`` hashes big arrays from a sample only, so nothing here is keyed on an
array: every function takes the file's SHA-256 (``sha``) and, where it matters, the
parameters as JSON text; the bytes come in as ``_data`` (leading underscore: not hashed).
Return values are pickled by ``st.cache_data``; a parsed 110k-sample recording pickles to
~1.8 MB in ~1 ms and a ChargeResult to ~1.4 MB, so copies are cheap and every caller gets
its own (nobody can change a cached object by accident).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import PurePath

import numpy as np
import streamlit as st

from signal_core.analysis.batch import result_row
from signal_core.analysis.pipeline import ChargeResult, analyze_recording, analyze_sweep
from signal_core.filters.chain import apply_chain, power_spectrum
from signal_core.filters.specs import chain_from_json
from signal_core.io.atf import write_atf
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.recording import Recording
from signal_core.synthetic import demo_recording

__all__ = ["analysis", "demo_file", "file_info", "filtered_sweep", "recording", "set_rows", "spectra"]

TTL_S = 3600
DEMO_NAME = "demo_0001_-20mV.atf"


@st.cache_data(max_entries=1, show_spinner="Simulating the demo cell…")
def demo_file() -> tuple[str, bytes]:
    """The demo "file": the simulated recording written as ATF bytes, with its name."""
    return DEMO_NAME, write_atf(demo_recording().recording)


@st.cache_data(max_entries=8, ttl=TTL_S, show_spinner=False)
def _parsed(sha: str, suffix: str, _data: bytes, _name: str) -> Recording:
    """The parse of a file's bytes, keyed on the digest (and the extension, which can pick the reader)."""
    return read_recording(_data, name=_name)


def recording(sha: str, _data: bytes, name: str) -> Recording:
    """Parse a file (ATF or ABF) once per digest; raises the reader's typed error, naming ``name``.

    Copies with the same bytes under other names share the parse and get their own name (which the
    analysis reads, e.g. V2 from ``..._-60mVdepol.atf``); errors are not cached, so each names its file.
    """
    rec = _parsed(sha, PurePath(str(name)).suffix.lower(), _data, name)
    return rec if rec.name == name else dataclasses.replace(rec, name=name)


@st.cache_data(max_entries=16, ttl=TTL_S, show_spinner=False)
def filtered_sweep(sha: str, sweep: int, filters_json: str, _data: bytes, name: str) -> np.ndarray:
    """The current of one sweep after a filter chain (pA); the raw current for an empty chain."""
    rec = recording(sha, _data, name)
    chain = chain_from_json(json.loads(filters_json))
    raw = rec.current(sweep)
    active = [f for f in chain if f.enabled]
    return apply_chain(raw, rec.fs_hz, active) if active else np.array(raw)


@st.cache_data(max_entries=16, ttl=TTL_S, show_spinner=False)
def spectra(sha: str, sweep: int, filters_json: str, _data: bytes, name: str):
    """Welch spectra (Hz, pA^2/Hz) of the raw and the filtered current: ``(f, psd_raw, psd_filtered)``."""
    rec = recording(sha, _data, name)
    f, p_raw = power_spectrum(rec.current(sweep), rec.fs_hz)
    if not any(s.enabled for s in chain_from_json(json.loads(filters_json))):
        return f, p_raw, None
    _, p_filt = power_spectrum(filtered_sweep(sha, sweep, filters_json, _data, name), rec.fs_hz)
    return f, p_raw, p_filt


@st.cache_data(max_entries=32, ttl=TTL_S, show_spinner=False)
def analysis(sha: str, sweep: int, params_json: str, _data: bytes, name: str) -> ChargeResult:
    """``analyze_sweep`` of one sweep with one recipe; raises AnalysisError / ProtocolError / FilterError."""
    rec = recording(sha, _data, name)
    return analyze_sweep(rec, sweep, AnalysisParams.from_json(params_json))


# ------------------------------------------------------------------ Q–V sets (pages/6_sets.py)
@st.cache_data(max_entries=4096, ttl=TTL_S, show_spinner=False)
def file_info(sha: str, _data: bytes, name: str) -> tuple[int, bool]:
    """(number of sweeps, has a voltage channel) of a file: what the Sets page needs before analysing."""
    rec = recording(sha, _data, name)
    return rec.n_sweeps, rec.voltage_channel is not None


@st.cache_data(max_entries=2048, ttl=TTL_S, show_spinner=False)
def set_rows(sha: str, params_json: str, label: str, _data: bytes, name: str) -> tuple[list[dict], list[list[str]]]:
    """Every sweep of one file analysed as the CLI's ``qv`` does it (``analyze_recording``).

    Returns the rows (:func:`signal_core.analysis.batch.result_row` with ``file=label``; one per sweep) and
    each row's flag codes. Small (no curves), so a whole set stays cached; the params JSON carries
    any V2 set by hand (``v_test_mV``), so each V2 of a file is its own entry.
    """
    rec = recording(sha, _data, name)
    outcomes = analyze_recording(rec, AnalysisParams.from_json(params_json))
    codes = [[f.code for f in o.flags] if isinstance(o, ChargeResult) else [] for o in outcomes]
    return [result_row(label, o) for o in outcomes], codes
