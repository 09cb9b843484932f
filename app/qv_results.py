"""The results of the Q–V sets page (``pages/6_sets.py``): fit options, the fit table per set, the downloads.

The downloads are built only when clicked (``data=callable``): every sweep is analysed again in full
(the workbooks need the curves) with the same function and V2 as the table's rows, so the workbooks
hold the table's numbers. Text from files goes out as text (escaped Markdown, text cells, CSV cells
that cannot run as formulas).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from signal_core import export
from signal_core.analysis.pipeline import ChargeResult, analyze_recording
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.protocol.filenames import parse_filename
from signal_core.qv import QvFit
from signal_core.sets import DEFAULT_SET_ID, QvPoint, fit_points

from . import downloads, state
from .figures_qv import QUANTITY_LABELS, set_label, set_values
from .sets_ui import Analysed
from .state import LoadedFile
from .ui import md_escape

__all__ = ["DL_SET", "EXCLUDE_FLAGGED", "FRAME", "JOINT", "OFFSET", "QUANTITY", "download_row", "fit_frame",
           "fit_options", "fit_results", "fit_warnings", "frame_points", "hygiene_options", "min_points", "table_csv"]

# session keys
QUANTITY = "qv_quantity"
OFFSET = "qv_offset"
DL_SET = "qv_download_set"


# ------------------------------------------------------------------ the fit
QUANTITY_CHOICES = {"q_on_pC": "Q_on", "minus_q_off_pC": "−Q_off", "q_on_per_c_m": "Q_on / C_m (nC/µF)"}


def fit_options(params: AnalysisParams) -> tuple[str, bool]:
    """Quantity radio and the offset toggle; the temperature comes from the recipe."""
    quantity = st.radio("Quantity", list(QUANTITY_CHOICES), key=state.keep(QUANTITY, "q_on_pC"),
                        format_func=QUANTITY_CHOICES.get,
                        help="Fit Q_on, the return charge −Q_off (should agree with Q_on), or Q_on normalised by "
                             "each cell's C_m (nC/µF) to compare cells of different sizes.")
    with_offset = st.toggle("Fit with offset", key=state.keep(OFFSET, False),
                            help="Add a constant to the Boltzmann (needs at least 4 points per set).")
    st.markdown("**Q(V2) = Q_max / (1 + exp(−(V2 − V_half) / k))**" + (" **+ c**" if with_offset else ""))
    st.caption(f"z = RT/(F k), the effective valence, at {params.temperature_C:g} °C: the recipe's temperature "
               "(change it on **Analyse**). Dotted lines mark V_half; hollow grey points are excluded.")
    return quantity, with_offset


FRAME = "qv_frame"
EXCLUDE_FLAGGED = "qv_exclude_flagged"
JOINT = "qv_joint"


def hygiene_options(params: AnalysisParams) -> dict:
    """The membrane-frame, exclude-flagged and joint switches (defaults from the recipe); ``fit_sets`` keywords."""
    membrane = st.toggle("Membrane frame (correct for R_s)", key=state.keep(FRAME, params.qv_frame == "membrane"),
                         help="Fit Q × (R_s + R_m) / R_m against the membrane potential V_m = V2 − I R_s instead of "
                              "the charge and V2 the pipette saw. Points without R_m are left out.")
    exclude = st.toggle("Leave out flagged points", key=state.keep(EXCLUDE_FLAGGED, params.qv_exclude_flagged),
                        help="Points whose analysis carries a warning are not fitted.")
    joint = st.toggle("Fit Q_on and −Q_off together", key=state.keep(JOINT, params.qv_joint),
                      help="One Boltzmann through both charges of every point (charges in pC).")
    return {"frame": "membrane" if membrane else "pipette", "exclude_flagged": exclude, "joint": joint}


def frame_points(pts: Sequence[QvPoint], frame: str) -> list[QvPoint]:
    """The points as the figure and table should show them: in the membrane frame V_m and the corrected charges."""
    if frame != "membrane":
        return list(pts)
    return [replace(p, v_test_mV=p.v_test_m_mV, q_on_pC=p.q_on_corr_pC, q_off_pC=p.q_off_corr_pC) for p in pts]


def fit_warnings(fits: Mapping[str, QvFit | str]) -> None:
    """Each fit's warnings (signal_core.qv.fit_warnings), one box per set."""
    for s_id, fit in fits.items():
        if isinstance(fit, QvFit) and fit.warnings:
            st.warning(f"Set {md_escape(set_label(s_id))}: " + "; ".join(md_escape(w) for w in fit.warnings) + ".",
                       icon=":material/warning:")


def min_points(with_offset: bool) -> int:
    return 4 if with_offset else 3


def fit_frame(fits: Mapping[str, QvFit | str], pts: Sequence[QvPoint], quantity: str,
              with_offset: bool) -> pd.DataFrame:
    """One row per set: Q_max, V_half, k, z with their standard errors, R², points used, and why a fit failed."""
    _label, unit = QUANTITY_LABELS[quantity]
    usable: dict[str, int] = {}
    for p, _v, _y in set_values(pts, quantity):
        if not p.excluded:
            usable[p.set_id] = usable.get(p.set_id, 0) + 1
    need = min_points(with_offset)
    rows = []
    for s, fit in fits.items():
        row: dict = {"set": set_label(s)}
        if isinstance(fit, QvFit):
            row.update({
                "n": fit.n_points, f"Q_max ({unit})": fit.q_max_pC, "± Q_max": fit.q_max_pC_se,
                "V_half (mV)": fit.v_half_mV, "± V_half": fit.v_half_mV_se, "k (mV)": fit.k_mV, "± k": fit.k_mV_se,
                "z": fit.z, "± z": fit.z_se, "R²": fit.r_squared,
            })
            if with_offset:
                row[f"offset ({unit})"] = fit.offset_pC
            row["note"] = ""
        else:
            n = usable.get(s, 0)
            row["n"] = n
            row["note"] = (f"not fitted: {n} usable point(s), the fit needs at least {need}"
                           f"{' with offset' if with_offset else ' (4 with offset)'}" if n < need else
                           f"not fitted: {fit}")
        rows.append(row)
    cols = ["set", "n", f"Q_max ({unit})", "± Q_max", "V_half (mV)", "± V_half", "k (mV)", "± k", "z", "± z", "R²"]
    if with_offset:
        cols.append(f"offset ({unit})")
    df = pd.DataFrame(rows, columns=[*cols, "note"])
    for c in cols[2:]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["n"] = df["n"].astype("int64")
    return df


def fit_results(fits: Mapping[str, QvFit | str], pts: Sequence[QvPoint], quantity: str, with_offset: bool) -> None:
    """The fit table (missing numbers as "—"), then why any set was not fitted."""
    df = fit_frame(fits, pts, quantity, with_offset)
    unit = QUANTITY_LABELS[quantity][1]
    formats = {f"Q_max ({unit})": "{:.3f}", "± Q_max": "{:.3f}", "V_half (mV)": "{:.2f}", "± V_half": "{:.2f}",
               "k (mV)": "{:.2f}", "± k": "{:.2f}", "z": "{:.2f}", "± z": "{:.2f}", "R²": "{:.4f}",
               f"offset ({unit})": "{:.3f}"}
    styled = df.style.format({c: f for c, f in formats.items() if c in df.columns}, na_rep="—")
    num = st.column_config.NumberColumn
    st.dataframe(styled, hide_index=True, width="stretch", key="qv_fits", column_config={
        "set": st.column_config.TextColumn("set"),
        "n": num("n", help="points in the fit"),
        "± Q_max": num(help="standard error"), "± V_half": num(help="standard error"),
        "± k": num(help="standard error"), "z": num(help="effective valence (RT/F)/k"),
        "± z": num(help="standard error"),
        "note": st.column_config.TextColumn("note", width="large"),
    })
    n_usable = sum(1 for p, _v, _y in set_values(pts, quantity) if not p.excluded)
    need = min_points(with_offset)
    if n_usable < need:
        st.info(f"Not enough points for a fit yet: a Boltzmann needs at least {need} points with a V2 and a "
                f"charge ({n_usable} now; 3 without offset, 4 with).", icon=":material/scatter_plot:")
    else:
        for s_id, note in zip(fits, df["note"]):
            if note:
                st.warning(f"Set {md_escape(set_label(s_id))}: {md_escape(note)}", icon=":material/warning:")


# ------------------------------------------------------------------ downloads
@dataclass(frozen=True)
class _Job:
    lf: LoadedFile
    sweep: int
    v2: float | None
    set_id: str
    excluded: bool


def _jobs(an: Analysed, pts: Sequence[QvPoint]) -> list[_Job]:
    return [_Job(an.files[p.file], p.sweep, an.overrides.get((p.file, p.sweep)), p.set_id, p.excluded) for p in pts]


def _entries(jobs: Sequence[_Job], params: AnalysisParams) -> list:
    """The ExportEntry of every job, analysed again in full (curves): the numbers of the table."""
    outcomes: dict[tuple[str, float | None], list] = {}
    out = []
    for j in jobs:
        key = (j.lf.sha256, j.v2)
        if key not in outcomes:
            rec = read_recording(j.lf.data, name=j.lf.name)
            outcomes[key] = analyze_recording(rec, params if j.v2 is None else params.replace(v_test_mV=j.v2))
        o = outcomes[key][j.sweep - 1]
        if isinstance(o, ChargeResult):
            out.append(downloads.entry(j.lf.name, j.lf.sha256, j.lf.size, o))
    return out


def _set_of_failure(name: str) -> str:
    return parse_filename(name).set_id or DEFAULT_SET_ID


def _set_book(jobs: Sequence[_Job], failures: Sequence, pts: Sequence[QvPoint], set_id: str,
              params: AnalysisParams, with_offset: bool) -> bytes:
    mine = [j for j in jobs if j.set_id == set_id and not j.excluded]
    fit = fit_points([p for p in pts if p.set_id == set_id], quantity="q_on_pC", with_offset=with_offset,
                     temperature_C=params.temperature_C)
    fails = [f for f in failures if _set_of_failure(f[0]) == set_id]
    return export.set_workbook(_entries(mine, params), fit=fit if isinstance(fit, QvFit) else None,
                               set_name=set_label(set_id), failures=fails)


def _sets_zip(jobs, failures, pts, set_ids, params, with_offset) -> bytes:
    return export.sets_zip((s, _set_book(jobs, failures, pts, s, params, with_offset)) for s in set_ids)


def _analysis_book(jobs, failures, pts, set_ids, params, with_offset) -> bytes:
    fit = None
    if len(set_ids) == 1:
        got = fit_points(pts, quantity="q_on_pC", with_offset=with_offset, temperature_C=params.temperature_C)
        fit = got if isinstance(got, QvFit) else None
    return export.analysis_workbook(_entries(jobs, params), failures=failures, fit=fit, params=params)


def table_csv(an: Analysed, pts: Sequence[QvPoint]) -> bytes:
    """The table as CSV (:func:`signal_core.export.qv_table_csv`) with each file's SHA-256 and the flag messages."""
    return export.qv_table_csv(pts, names=an.names, sha256={k: lf.sha256 for k, lf in an.files.items()},
                               flag_codes=an.codes)


def download_row(an: Analysed, pts: Sequence[QvPoint], df: pd.DataFrame, params: AnalysisParams,
                 with_offset: bool) -> None:
    """Set workbook (one set, or every set as a zip), the analysis workbook of every row, the table as CSV."""
    jobs = _jobs(an, pts)
    failures = list(an.failures)
    set_ids = list(dict.fromkeys(p.set_id for p in pts))
    pts = list(pts)
    log = downloads.logged
    st.subheader("Downloads")
    st.caption("Built when you click. The **set workbook** is the lab's: a summary sheet with Q_on against V2, "
               "the Boltzmann fit of Q_on (whatever quantity is plotted) and its chart, then one sheet per file "
               "named by its file number; excluded points are left out. The **analysis workbook** holds every "
               "row with its parameters, curves and provenance.")
    c1, c2, c_zip, c3, c4 = st.columns([1, 1, 0.85, 1.35, 0.85], vertical_alignment="bottom")
    if set_ids:
        if st.session_state.get(state.KEPT_PREFIX + DL_SET) not in set_ids:
            state.forget(DL_SET)  # the set it showed is gone
        if len(set_ids) > 1:
            chosen = c1.selectbox("Set", set_ids, key=state.keep(DL_SET, set_ids[0]), format_func=set_label,
                                  help="Which set the set workbook holds; the zip holds one workbook per set.")
        else:
            chosen = set_ids[0]
            c1.caption(f"One set: {md_escape(set_label(chosen))}, {len(pts)} point(s)")
        c2.download_button(
            "Set workbook (.xlsx)", icon=":material/table_view:", on_click="ignore", key="dl_qv_set",
            mime=downloads.XLSX_MIME,
            file_name=export.set_workbook_name(chosen),
            data=log(lambda: _set_book(jobs, failures, pts, chosen, params, with_offset), "set workbook"),
            help="The chosen set: summary with the fit and the Q–V chart, one sheet per file.")
        if len(set_ids) > 1:
            c_zip.download_button(
                f"All {len(set_ids)} sets (.zip)", icon=":material/folder_zip:", on_click="ignore",
                key="dl_qv_sets_zip",
                mime="application/zip", file_name="qv_sets.zip",
                data=log(lambda: _sets_zip(jobs, failures, pts, set_ids, params, with_offset), "set workbooks"),
                help="One set workbook per set.")
    c3.download_button(
        "Analysis workbook (.xlsx)", icon=":material/menu_book:", on_click="ignore", key="dl_qv_analysis",
        mime=downloads.XLSX_MIME,
        file_name="qv_analysis.xlsx",
        data=log(lambda: _analysis_book(jobs, failures, pts, set_ids, params, with_offset), "analysis workbook"),
        help="Every row (excluded ones too) with parameters, curves, charts and provenance.")
    c4.download_button(
        "Table (.csv)", icon=":material/description:", on_click="ignore", key="dl_qv_csv", mime=downloads.CSV_MIME,
        file_name="qv_table.csv", data=log(lambda: table_csv(an, pts), "Q–V table"),
        help="The table above with each file's SHA-256 and the flag messages.")
