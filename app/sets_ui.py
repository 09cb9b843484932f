"""Glue of the Q–V sets page (``pages/6_sets.py``): files in, Q–V points, one Boltzmann per set.

Every sweep is analysed in this process by the function ``python -m signal_core qv`` runs per file
(:func:`signal_core.analysis.batch.analyze_source`: V2 from the file name for single-sweep recordings
without a voltage channel), through :func:`app.cache.set_rows`: digest-keyed, one entry per file
and V2, so a page change and back, or an edit that does not touch V2, is instant. A V2 typed in
the table re-runs that file with ``v_test_mV`` set (the charges depend on V2 through the control
subtraction), and only that file. This module keeps what is the page's: the session's edits, the
progress bar and the list of failures shown.

What the user edits (set, V2, exclude) lives in ``st.session_state[EDITS]`` keyed by
``(SHA-256, sweep)``, not in the editor: the editor's ``on_change`` moves each edit there and
draws a fresh editor (:func:`apply_edits`), so the table always shows what the analysis used.

The fit options, the fit table and the downloads are in :mod:`app.qv_results`.
Text from files (names, set ids) is shown as text only: in dataframes, escaped Markdown
(:func:`app.ui.md_escape`) or HTML-escaped Plotly labels (:mod:`app.figures_qv`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from signal_core.params import AnalysisParams
from signal_core.sets import QvPoint, qv_points
from signal_core.values import finite_or_none

from . import cache
from .state import LoadedFile
from .ui import md_escape

__all__ = [
    "Analysed",
    "analyse",
    "apply_edits",
    "edit_table",
    "file_label",
    "flag_details",
    "has_edits",
    "pick_files",
    "points",
    "reset_edits",
    "table_frame",
]

logger = logging.getLogger(__name__)

# session keys
PICK = "qv_files"
PICK_OPTIONS = "qv_files_options"
UNPICKED = "qv_unpicked"
EDITS = "qv_edits"
EDITOR = "qv_table"
EDITOR_VER = "qv_table_ver"
ROW_IDS = "qv_row_ids"
DONE = "qv_done"

#: largest |V2| accepted in the table (mV)
MAX_V2_MV = 500.0

RowId = tuple[str, int]  # (the file's key, LoadedFile.key: SHA-256 and name; sweep 1-based)


def _ss() -> MutableMapping[str, Any]:
    return st.session_state


def _edits() -> dict[RowId, dict]:
    return _ss().setdefault(EDITS, {})


def file_label(lf: LoadedFile) -> str:
    """The ``file`` of a file's rows and points: unique per content, and its last part is the file's name.

    Two recordings may share a name (``0001_0_-100.atf`` on two days); the digest keeps them apart,
    and :func:`signal_core.protocol.filenames.parse_filename` reads only the last part, so set and V2 still
    come from the name.
    """
    return f"{lf.sha256[:12]}/{lf.name}"


# ------------------------------------------------------------------ files
def _on_pick() -> None:
    ss = _ss()
    ss[UNPICKED] = set(ss.get(PICK_OPTIONS, ())) - set(ss.get(PICK) or ())


def pick_files(files: Mapping[str, LoadedFile]) -> list[LoadedFile]:
    """The files of the set: every loaded file unless taken out here (new files join automatically)."""
    ss = _ss()
    options = list(files)
    unpicked = ss.get(UNPICKED, set())
    ss[PICK_OPTIONS] = options
    ss[PICK] = [s for s in options if s not in unpicked]
    n = len(ss[PICK])
    with st.expander(f"Recordings in the set: {n} of {len(options)} loaded", expanded=n == 0,
                     icon=":material/inventory_2:"):
        st.multiselect(
            "Recordings in the set", options, key=PICK, on_change=_on_pick, label_visibility="collapsed",
            format_func=lambda s: files[s].name, placeholder="Pick the recordings of the set",
            help="Every loaded recording takes part unless you remove it here. A file with several sweeps "
                 "gives one point per sweep.")
        st.caption("Every loaded recording takes part unless you remove it here; recordings loaded later join "
                   "the set. A file with several sweeps gives one point per sweep.")
    return [files[s] for s in ss[PICK] if s in files]


# ------------------------------------------------------------------ analysis
@dataclass
class Analysed:
    """The rows of the picked files, as :func:`signal_core.parallel.analyze_files` would give them."""

    rows_per_file: list[list[dict]] = field(default_factory=list)
    #: (file label, sweep) -> the V2 (mV) the sweep was analysed with, when not its voltage channel's
    overrides: dict[tuple[str, int], float] = field(default_factory=dict)
    #: (file label, sweep) -> (SHA-256, sweep), the key of the user's edits
    ids: dict[tuple[str, int], RowId] = field(default_factory=dict)
    codes: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    #: file label -> the loaded file
    files: dict[str, LoadedFile] = field(default_factory=dict)
    #: (file name, sweep or None for the whole file, reason)
    failures: list[tuple[str, int | None, str]] = field(default_factory=list)
    #: keys (LoadedFile.key) of the files without a voltage channel that failed for want of timings
    no_timing: set[str] = field(default_factory=set)

    @property
    def names(self) -> dict[str, str]:
        return {label: lf.name for label, lf in self.files.items()}


def _edits_v2(edit: dict | None) -> float | None:
    return finite_or_none((edit or {}).get("v2"))


def _sweeps(lf: LoadedFile) -> list[tuple[int, float | None]]:
    """(sweep, the V2 typed for it or None for the file's own) of one file; raises what reading raises."""
    edits = _edits()
    return [(k, _edits_v2(edits.get((lf.key, k)))) for k in range(1, cache.n_sweeps(lf.sha256, lf.data, lf.name) + 1)]


def _run(lf: LoadedFile, params_json: str, v: float | None) -> tuple[list[dict], float | None] | str:
    """The cached rows of one file and the V2 set (:func:`app.cache.set_rows`), or why there are none."""
    try:
        return cache.set_rows(lf.sha256, params_json, v, file_label(lf), lf.data, lf.name)
    except MemoryError:
        return "not enough memory to analyse this file"
    except Exception:  # noqa: BLE001 - one file's bug must not hide the set; logged with its traceback
        logger.exception("analysing %r (sha256 %s) for the set failed", lf.name, lf.sha256)
        return "the analysis failed unexpectedly (written to the server log)"


def analyse(files: Sequence[LoadedFile], params: AnalysisParams) -> Analysed:
    """Analyse every sweep of ``files`` with the recipe (and each sweep's V2); a progress bar when not cached.

    File by file (each file is read once even when the recording cache is smaller than the set); the
    session remembers what it analysed, so the bar shows only when something is new.
    """
    an = Analysed()
    done: set = _ss().setdefault(DONE, set())
    base = params.to_json(indent=None)
    bar = None
    for i, lf in enumerate(files, 1):
        label = file_label(lf)
        try:
            sweeps = _sweeps(lf)
        except Exception:  # noqa: BLE001 - a loaded file was readable; say so and go on with the others
            logger.exception("reading %r (sha256 %s) for the set failed", lf.name, lf.sha256)
            an.failures.append((lf.name, None, "the file could not be read again (written to the server log)"))
            continue
        results = {}
        for v in dict.fromkeys(v for _k, v in sweeps):
            key = (lf.sha256, base, v)
            if key not in done and bar is None:
                bar = st.progress(0.0, text=f"Analysing {len(files)} recording(s)…")
            results[v] = _run(lf, base, v)
            if not isinstance(results[v], str):
                done.add(key)
        if bar is not None:
            bar.progress(i / len(files), text=f"Analysed {i} of {len(files)}: {md_escape(lf.name)}")
        an.files[label] = lf
        file_rows: list[dict] = []
        for k, v in sweeps:
            got = results[v]
            if isinstance(got, str):
                an.failures.append((lf.name, k, got))
                continue
            rows, v_set = got
            match = [r for r in rows if r["sweep"] == k]
            if not match:  # the file as a whole failed (one row, sweep None)
                if k == 1:
                    an.failures.extend((lf.name, None, r["error"]) for r in rows if r["error"])
                continue
            row = match[0]
            file_rows.append(row)
            if row["error"]:
                an.failures.append((lf.name, k, row["error"]))
                if params.timing is None and "no voltage channel" in row["error"].lower():
                    an.no_timing.add(lf.key)
                continue
            an.ids[(label, k)] = (lf.key, k)
            an.codes[(label, k)] = row["flag_codes"]
            if v_set is not None:
                an.overrides[(label, k)] = v_set
        an.rows_per_file.append(file_rows)
    if bar is not None:
        bar.empty()
    return an


def points(an: Analysed, params: AnalysisParams) -> list[QvPoint]:
    """The Q–V points (:func:`signal_core.sets.qv_points`) with the user's sets and exclusions."""
    edits = _edits()
    excluded = [key for key, rid in an.ids.items() if edits.get(rid, {}).get("exclude")]
    pts = qv_points(an.rows_per_file, v_overrides=an.overrides, excluded=excluded, params=params)
    out = []
    for p in pts:
        s = edits.get(an.ids.get((p.file, p.sweep), ("", 0)), {}).get("set")
        out.append(p if s is None else dataclasses.replace(p, set_id=s))
    return out


# ------------------------------------------------------------------ the table
COLUMNS = ["exclude", "file", "sweep", "set", "V2 (mV)", "V2 from", "Q_on (pC)", "Q_off (pC)", "Q_off/Q_on",
           "C_m (nF)", "Q_on/C_m (nC/µF)", "flags", "note"]
EDITABLE = ("exclude", "set", "V2 (mV)")


def table_frame(pts: Sequence[QvPoint], an: Analysed) -> pd.DataFrame:
    """One row per point (file and sweep): the numbers, the V2 and its source, the set, flags and notes."""
    rows = []
    for p in pts:
        rows.append({
            "exclude": p.excluded, "file": an.names.get(p.file, p.file), "sweep": p.sweep, "set": p.set_id,
            "V2 (mV)": p.v_test_mV, "V2 from": p.v_source, "Q_on (pC)": p.q_on_pC, "Q_off (pC)": p.q_off_pC,
            "Q_off/Q_on": p.q_off_over_on, "C_m (nF)": p.c_m_nF, "Q_on/C_m (nC/µF)": p.q_on_per_c_m_nC_per_uF,
            "flags": ", ".join(an.codes.get((p.file, p.sweep), [])), "note": p.note,
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("V2 (mV)", "Q_on (pC)", "Q_off (pC)", "Q_off/Q_on", "C_m (nF)", "Q_on/C_m (nC/µF)"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["exclude"] = df["exclude"].astype(bool)
    df["sweep"] = df["sweep"].astype("int64")
    for col in ("file", "set", "V2 from", "flags", "note"):
        df[col] = df[col].astype(object)
    return df


def apply_edits(edited_rows: Mapping, row_ids: Sequence[RowId], edits: MutableMapping[RowId, dict]) -> None:
    """Move the editor's changes (``edited_rows``: row position -> {column: value}) into ``edits``.

    ``set``: text; cleared, the file name's set again. ``V2 (mV)``: a number within ±500 mV; cleared,
    the voltage channel's (or the file name's) V2 again. ``exclude``: True or False.
    """
    for pos, change in (edited_rows or {}).items():
        try:
            rid = tuple(row_ids[int(pos)])
        except (IndexError, TypeError, ValueError):
            continue
        edit = dict(edits.get(rid, {}))
        for col, value in (change or {}).items():
            if col == "exclude":
                edit["exclude"] = bool(value)
            elif col == "set":
                text = "" if value is None else str(value).strip()
                edit["set"] = text or None
            elif col == "V2 (mV)":
                try:
                    v = None if value is None else float(value)
                except (TypeError, ValueError):
                    v = None
                edit["v2"] = v if v is not None and math.isfinite(v) and abs(v) <= MAX_V2_MV else None
        edits[rid] = {k: v for k, v in edit.items() if v not in (None, False)}  # type: ignore[index]
        if not edits[rid]:  # type: ignore[index]
            del edits[rid]  # type: ignore[arg-type]


def _on_edit(key: str) -> None:
    ss = _ss()
    apply_edits((ss.get(key) or {}).get("edited_rows", {}), ss.get(ROW_IDS, []), _edits())
    ss[EDITOR_VER] = ss.get(EDITOR_VER, 0) + 1  # a fresh editor that shows what the analysis used


def has_edits() -> bool:
    return bool(_ss().get(EDITS))


def reset_edits() -> None:
    _ss()[EDITS] = {}
    _ss()[EDITOR_VER] = _ss().get(EDITOR_VER, 0) + 1


def edit_table(pts: Sequence[QvPoint], an: Analysed) -> pd.DataFrame:
    """The editable table of the points (exclude, set, V2); returns the frame shown."""
    df = table_frame(pts, an)
    ss = _ss()
    ss[ROW_IDS] = [an.ids[(p.file, p.sweep)] for p in pts]
    key = f"{EDITOR}_{ss.get(EDITOR_VER, 0)}"
    num = st.column_config.NumberColumn
    st.data_editor(
        df, key=key, on_change=_on_edit, args=(key,), hide_index=True, width="stretch",
        height=min(38 + 35 * max(len(df), 1), 560),
        disabled=[c for c in COLUMNS if c not in EDITABLE],
        column_config={
            "exclude": st.column_config.CheckboxColumn(
                "exclude", width=76, help="Leave this point out of the fit (drawn hollow and grey)."),
            "file": st.column_config.TextColumn("file", width=200),
            "sweep": num("sweep", width=56, format="%d"),
            "set": st.column_config.TextColumn(
                "set", width=56, max_chars=40,
                help="One Boltzmann per set. From the file name (…_NNNN_<set>_<V2>mV); type another set to "
                     "move the point, clear it to go back to the file name's."),
            "V2 (mV)": num("V2 (mV)", format="%.1f", min_value=-MAX_V2_MV, max_value=MAX_V2_MV,
                           help="Test potential. Type a value to analyse this sweep again with it (it enters "
                                "the control subtraction); clear it to go back to the voltage channel."),
            "V2 from": st.column_config.TextColumn("V2 from", width=112,
                                                   help="voltage channel, file name or manual"),
            "Q_on (pC)": num("Q_on (pC)", format="%.3f", width=80),
            "Q_off (pC)": num("Q_off (pC)", format="%.3f", width=80),
            "Q_off/Q_on": num("Q_off/Q_on", format="%.2f", width=80, help="−1 for pure gating charge."),
            "C_m (nF)": num("C_m (nF)", format="%.3f", width=72),
            "Q_on/C_m (nC/µF)": num("Q_on/C_m (nC/µF)", format="%.2f", width=116),
            "flags": st.column_config.TextColumn("flags", width=100,
                                                 help="Quality flag codes: see below and the Help page."),
            "note": st.column_config.TextColumn("note", width="large",
                                                help="Why this V2 may need a look (file name and voltage "
                                                     "channel disagree by more than 2 mV, …)."),
        },
    )
    return df


def flag_details(pts: Sequence[QvPoint], an: Analysed) -> None:
    """Every flag message and note in full, and the sweeps that could not be analysed."""
    flagged = [{"file": an.names.get(p.file, p.file), "sweep": p.sweep, "flag": c, "message": m}
               for p in pts for c, m in zip(an.codes.get((p.file, p.sweep), []), p.flags)]
    if flagged:
        with st.expander(f"Quality flags in full ({len(flagged)})"):
            st.dataframe(pd.DataFrame(flagged), hide_index=True, width="stretch")
    if an.failures:
        with st.expander(f":material/warning: {len(an.failures)} sweep(s) or file(s) could not be analysed",
                         expanded=True):
            st.dataframe(pd.DataFrame(an.failures, columns=["file", "sweep", "reason"]).astype({"sweep": "Int64"}),
                         hide_index=True, width="stretch")
