"""Widgets every page shares: sidebar, file intake, errors, result cards, flags, downloads.

User-provided text (file names, header records, reader messages quoting a file's line) is
shown as plain text: through :func:`md_escape` where Streamlit renders Markdown, or in
``st.text`` / ``st.code`` / ``st.dataframe``; never with ``unsafe_allow_html``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import streamlit as st

from signal_core.analysis.pipeline import ChargeResult, with_unit_override
from signal_core.errors import RecordingFormatError, SignalCoreError
from signal_core.flags import AnalysisError
from signal_core.io.limits import RecordingTooLargeError
from signal_core.params import AnalysisParams
from signal_core.quantities import CARD_QUANTITIES
from signal_core.recording import Recording, RecordingError

from . import cache, charts, downloads, state
from .memory import ServerBusyError
from .meta import APP_VERSION

__all__ = [
    "USER_ERRORS",
    "active_analysis",
    "download_row",
    "flags",
    "guard",
    "ingest_pending",
    "md_escape",
    "need_active_file",
    "recipe_upload",
    "result_cards",
    "show_error",
    "sidebar",
]

logger = logging.getLogger("signal_analyzer.app")

#: errors a user can cause (a bad file, a parameter out of range): their message is shown as is
USER_ERRORS = SignalCoreError

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")
#: U+2060 WORD JOINER: invisible, zero width, and not a character any of the patterns below accept
WJ = "\u2060"
#: Streamlit's Markdown also rewrites *text* after the Markdown escapes are decoded: ``:material/x:`` and
#: ``:material_x:`` become icons, ``:streamlit:`` a logo, ``:smile:`` an emoji, and ``->``, ``<-``, ``<->``,
#: ``--``, ``>=``, ``<=``, ``~=`` arrows and signs.  A word joiner after such a colon and inside such a pair
#: breaks those patterns without changing what is shown.
_SHORTCODE = re.compile(r":(?=[\w+-])")
_ARROW = re.compile(r"(?<=[<>~-])(?=[<>=-])")


def md_escape(text: object) -> str:
    """Escape Markdown (and Streamlit's ``:directive[...]``, icons, emoji, arrows) so untrusted text shows literally.

    Every Markdown character gets a backslash; Streamlit's text substitutions (see :data:`WJ`) are
    broken with invisible word joiners, so the page shows exactly the characters of ``text``.
    """
    raw = _ARROW.sub(WJ, _SHORTCODE.sub(":" + WJ, str(text)))
    return _MD_SPECIAL.sub(r"\\\1", raw)


# ------------------------------------------------------------------ errors
def show_error(exc: BaseException, what: str) -> None:
    """A short message on the page; unexpected errors are logged with their traceback, never shown."""
    if isinstance(exc, USER_ERRORS):
        st.error(f"{what}: {md_escape(exc)}", icon=":material/error:")
    else:
        logger.error("%s failed", what, exc_info=exc)
        st.error(f"{what} failed unexpectedly. The details were written to the server log; "
                 "please report them with the file's SHA-256 and the recipe.", icon=":material/error:")


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Show any error raised inside as :func:`show_error` does (Streamlit's reruns pass through)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the page's safety net: show_error logs the unexpected ones
        show_error(exc, what)


# ------------------------------------------------------------------ files
def ingest_pending() -> None:
    """Read the files queued by the uploader or the demo button; progress for several or large ones."""
    pending = state.take_pending()
    if not pending:
        return
    n = len(pending)
    big = n > 1 or sum(lf.size for lf in pending) > 5_000_000
    box = st.status(f"Reading {n} file(s)…", expanded=True) if big else nullcontext()
    with box as status:
        bar = st.progress(0.0) if big else None
        ok = 0
        for k, lf in enumerate(pending, 1):
            try:
                if state.is_too_large(lf.size):  # the uploader refused it already; other paths get here
                    raise RecordingTooLargeError(state.too_large_message(lf.name, lf.size))
                cache.recording(lf.sha256, lf.data, lf.name)
            except (RecordingFormatError, RecordingError, ServerBusyError) as exc:
                state.reject(lf, str(exc))
            except Exception:
                logger.exception("reading %r (sha256 %s) failed unexpectedly", lf.name, lf.sha256)
                state.reject(lf, "the file could not be read because of an unexpected error "
                                 "(written to the server log)")
            else:
                state.accept(lf)
                ok += 1
            if bar is not None:
                bar.progress(k / n, text=f"{k} of {n}: {md_escape(lf.name)}")
        if status is not None:
            status.update(label=f"Read {ok} of {n} file(s)", state="complete" if ok == n else "error",
                          expanded=ok != n)


def active_recording() -> tuple[state.LoadedFile, Recording] | None:
    lf = state.active()
    if lf is None:
        return None
    try:
        rec = cache.recording(lf.sha256, lf.data, lf.name)
    except ServerBusyError as exc:  # parsed before, evicted since, and no memory to parse it again now
        st.error(f"**{md_escape(lf.name)}**: {md_escape(exc)}", icon=":material/memory:")
        st.stop()
    try:  # the recipe's unit override (Load page), so every page shows what the analysis uses
        return lf, with_unit_override(rec, state.params())
    except AnalysisError:  # no such channel: the analysis says so where it runs
        return lf, rec


def sidebar() -> None:
    """Active file, sweep (1-based) and a short note, on every page."""
    with st.sidebar:
        st.markdown("### :material/bolt: Signal Analyzer")
        files = state.files()
        if not files:
            st.caption("No recording loaded yet: open **Load** to upload files or try the demo.")
        else:
            shas = list(files)
            # re-assign so the choice survives a page change (see recipe_ui._seed)
            ss = st.session_state
            ss[state.ACTIVE] = ss[state.ACTIVE] if ss.get(state.ACTIVE) in files else shas[-1]
            st.selectbox("Active file", shas, key=state.ACTIVE, format_func=lambda s: files[s].name)
            if len(files) > 1:  # buttons: reachable with Tab, pressed with Enter or Space
                c1, c2 = st.columns(2)
                c1.button("Prev. file", key="btn_prev_file", on_click=state.step_file, args=(-1,),
                          width="stretch", help="The file above in the list")
                c2.button("Next file", key="btn_next_file", on_click=state.step_file, args=(1,),
                          width="stretch", help="The file below in the list")
            ar = active_recording()
            if ar is not None:
                rec = ar[1]
                sweep = int(ss.get(state.SWEEP, 1) or 1)
                ss[state.SWEEP] = sweep if 1 <= sweep <= rec.n_sweeps else 1
                st.number_input(f"Sweep (1 to {rec.n_sweeps})", min_value=1, max_value=rec.n_sweeps, step=1,
                                key=state.SWEEP, disabled=rec.n_sweeps == 1)
                if rec.n_sweeps > 1:
                    c1, c2 = st.columns(2)
                    c1.button("Prev. sweep", key="btn_prev_sweep", on_click=state.step_sweep,
                              args=(-1, rec.n_sweeps), width="stretch",
                              disabled=ss[state.SWEEP] <= 1)
                    c2.button("Next sweep", key="btn_next_sweep", on_click=state.step_sweep,
                              args=(1, rec.n_sweeps), width="stretch",
                              disabled=ss[state.SWEEP] >= rec.n_sweeps)
                st.caption(f"{len(files)} file(s) loaded · {rec.n_sweeps} sweep(s) · "
                           f"{rec.fs_hz / 1e3:g} kHz · {rec.duration_s * 1e3:.1f} ms per sweep")
        n_bad = len(state.errors())
        if n_bad:
            st.caption(f":material/warning: {n_bad} file(s) could not be read: see **Load**.")
        charts.format_picker()
        st.caption(f"Signal Analyzer {APP_VERSION}")


def need_active_file(title: str | None = None) -> tuple[state.LoadedFile, Recording]:
    """The active file and its recording, or a pointer to the Load page and stop.

    ``title``: the page's title, drawn here only when there is no file (the page draws it otherwise).
    """
    ar = active_recording()
    if ar is None:
        if title:
            st.title(title)
        st.info("No recording loaded yet. Upload ATF/ABF files or load the demo recording first.",
                icon=":material/folder_open:")
        st.page_link("pages/1_load.py", label="Go to Load", icon=":material/folder_open:")
        st.stop()
    return ar


def active_analysis(params: AnalysisParams | None = None, *, show: bool = True) -> ChargeResult | None:
    """The analysis of the active file and sweep with the recipe; errors shown (``show``) and None."""
    lf = state.active()
    if lf is None:
        return None
    params = state.params() if params is None else params
    try:
        return cache.analysis(lf.sha256, state.sweep_index(), params.to_json(indent=None), lf.data, lf.name)
    except Exception as exc:  # noqa: BLE001 - user errors are shown, the others logged with traceback
        if show:
            show_error(exc, "Analysis")
        elif not isinstance(exc, USER_ERRORS):
            logger.error("analysis failed", exc_info=exc)
        return None


# ------------------------------------------------------------------ results
#: The metric cards: the quantities of the table marked ``card``, in its order.
CARDS = CARD_QUANTITIES
CARDS_PER_ROW = 5


def fmt(value: float | None, unit: str = "", digits: int = 4) -> str:
    """A number with ``digits`` significant digits and its unit; "—" for a missing value."""
    if value is None or value != value:
        return "—"
    text = f"{value:.{digits}g}".replace("-", "−")
    return f"{text} {unit}".strip()


def result_cards(result: ChargeResult, *, details: bool = True, border: bool = True) -> None:
    """The numbers of one analysis as metric cards (units in the value, help on hover).

    ``border``: framed cards (without, the labels have room for their units in a narrow column).
    ``details``: also the levels, the protocol's source and the filters below them
    (:func:`result_details`; Analyse shows them in its folded flags summary instead).
    """
    flagged = {f.code for f in result.flags}
    cols = [c for _ in range(0, len(CARDS), CARDS_PER_ROW) for c in st.columns(CARDS_PER_ROW)]
    for col, q in zip(cols, CARDS):
        value = getattr(result, q.key)
        extra = ""
        if value is None and "passive_model" in flagged:
            extra = " Not estimated: see the flag 'passive_model' below."
        se = getattr(result, f"{q.name}_se_{q.unit}", None) if q.unit else None  # e.g. q_on_se_pC
        # the standard error under the value, grey and without an arrow: the value keeps the card's width
        delta = None if value is None or se is None else f"± {fmt(se, digits=2)}"
        if delta is not None:
            extra += " ± is the standard error, from this sweep's own noise."
        col.metric(q.card_title, fmt(value), delta=delta, delta_color="off", delta_arrow="off",
                   help=q.help + extra, border=border)
    if details:
        result_details(result)


def result_details(result: ChargeResult) -> None:
    """Levels, steps, I0, I_ss, guard, where the protocol came from, the sweep(s) and the filters, as captions."""
    p = result.protocol
    avg = result.params.average_sweeps
    which = f"average of sweeps {', '.join(map(str, avg))}" if avg else f"sweep {result.sweep + 1}"
    st.caption(
        f"V0 {fmt(p.v_hold_mV, 'mV')} · Vc {fmt(p.v_control_mV, 'mV')} · V2 {fmt(p.v_test_mV, 'mV')} · "
        f"test step {'+' if p.test_step_mV > 0 else ''}{fmt(p.test_step_mV, 'mV')} · I0 {fmt(result.i0_pA, 'pA')} · "
        f"I_ss {fmt(result.i_ss_pA, 'pA')} · guard {fmt(result.guard_ms, 'ms', 3)} · "
        f"protocol from the {p.source} · {which}"
    )
    on = [f.label() for f in result.params.filters if f.enabled]
    st.caption("Filters: " + (md_escape("; ".join(on)) if on else "none (raw current)"))


def flags(result: ChargeResult) -> None:
    """The quality flags in plain language (warnings yellow, remarks blue)."""
    if not result.flags:
        st.success("No quality flag raised for this sweep.", icon=":material/check_circle:")
    for f in result.flags:
        text = f"{md_escape(f.message)} (flag `{f.code}`)"
        if f.severity == "warning":
            st.warning(text, icon=":material/warning:")
        else:
            st.info(text, icon=":material/info:")


def download_row(result: ChargeResult | None, *, key: str, params: AnalysisParams | None = None) -> None:
    """Workbook, results CSV, curves CSV and recipe JSON of the active analysis, built on click."""
    params = state.params() if params is None else params
    lf = state.active()
    exp = downloads.export
    cols = st.columns(2)
    if result is not None and lf is not None:
        stem = f"{downloads.safe_stem(lf.name)}_sweep{result.sweep + 1}"
        one = [downloads.entry(lf.name, lf.sha256, lf.size, result)]
        cols[0].download_button(
            "Workbook (.xlsx)", data=downloads.logged(lambda: exp.analysis_workbook(one), "workbook"),
            file_name=f"{stem}_analysis.xlsx", mime=downloads.XLSX_MIME, on_click="ignore", key=f"{key}_xlsx",
            icon=":material/table_view:", help="Results, parameters, curves and native charts of this analysis.")
        cols[1].download_button(
            "Results (.csv)", data=downloads.logged(lambda: exp.results_csv(one), "results CSV"),
            file_name=f"{stem}_results.csv", mime=downloads.CSV_MIME, on_click="ignore", key=f"{key}_csv",
            icon=":material/description:", help="The numbers of this analysis, units in the headers.")
        cols[0].download_button(
            "Curves (.csv)", data=downloads.logged(lambda: exp.curves_csv(one), "curves CSV"),
            file_name=f"{stem}_curves.csv", mime=downloads.CSV_MIME, on_click="ignore", key=f"{key}_curves",
            icon=":material/show_chart:", help="Purple, magenta, dark blue and orange curves, time in ms.")
    else:
        cols[0].caption("No analysis to download yet.")
    recipe = lambda: exp.recipe_json(params)  # noqa: E731
    cols[1].download_button(
        "Recipe (.json)", data=downloads.logged(recipe, "recipe"), file_name="recipe.json",
        mime=downloads.JSON_MIME, on_click="ignore", key=f"{key}_recipe", icon=":material/receipt_long:",
        help="Every parameter of the analysis: load it back to reproduce the numbers.")


def _on_recipe_upload() -> None:
    up = st.session_state.get("recipe_upload")
    if up is None:
        return
    try:
        p = AnalysisParams.from_json(up.getvalue())
    except (SignalCoreError, TypeError) as exc:
        st.session_state["recipe_error"] = f"{up.name}: {exc}"
        return
    st.session_state.pop("recipe_error", None)
    state.set_params(p, reset_widgets=True)
    st.session_state["recipe_loaded"] = up.name


def recipe_upload() -> None:
    """Load a recipe JSON (from a download or the CLI) back into every widget."""
    st.file_uploader("Load a recipe (.json)", type=["json"], key="recipe_upload", on_change=_on_recipe_upload,
                     help="A recipe saved with 'Recipe (.json)' sets every parameter at once.")
    if "recipe_error" in st.session_state:
        st.error(f"The recipe was not loaded: {md_escape(st.session_state['recipe_error'])}", icon=":material/error:")
    elif "recipe_loaded" in st.session_state:
        st.success(f"Recipe loaded from {md_escape(st.session_state.pop('recipe_loaded'))}.",
                   icon=":material/check_circle:")
