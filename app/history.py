"""History glue: the optional password, the workspace key in the URL, the store, save and reopen.

- :func:`unlocked` shows the password form when ``APP_PASSWORD`` is set (environment or
  ``st.secrets``) and nothing else until the right password was typed.
- :func:`workspace` keeps the session's workspace key in the URL (``?ws=<key>``): a
  fresh key on a first visit, a fresh one (with a quiet note) for a malformed key.
- :func:`get_store` opens the history database once per process (``st.cache_resource``,
  keyed on the URL).  A failed open is not cached: it is tried again on a later rerun (at
  most every :data:`RETRY_AFTER_S` seconds, so an unreachable server does not slow every
  rerun); the pages then show :func:`unavailable` and analysis goes on without history.
- :func:`save` / :func:`save_panel` save the active analysis; :func:`open_from_link`
  reopens ``?analysis=<id>`` (recording, recipe, sweep) on the Analyse page.

Text from files and users (names, labels, notes, database messages) goes through
:func:`app.ui.md_escape` where Streamlit renders Markdown.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import streamlit as st

from signal_core.analysis.pipeline import ChargeResult
from signal_core.params import AnalysisParams, ParamsError
from signal_core.store import (
    Store,
    StoredAnalysis,
    StoreError,
    check_password,
    database_url,
    password_required,
)
from signal_core.values import clean_json

from . import nav, state, streamlit_fixes, ui
from .meta import APP_VERSION
from .ui import md_escape

__all__ = [
    "RETRY_AFTER_S",
    "analysis_link",
    "base_url",
    "current_key",
    "get_store",
    "open_from_link",
    "reopen",
    "results_json",
    "save",
    "save_panel",
    "show_flash",
    "sweep_of",
    "unavailable",
    "unlocked",
    "workspace",
    "workspace_link",
]

logger = logging.getLogger("signal_analyzer.app")

# session keys
WS = "workspace_key"
AUTH = "app_unlocked"
FLASH = "history_flash"
AUTOSAVE = "hist_autosave"
SAVED_SIGS = "hist_saved_signatures"
ANALYSE_PAGE = "pages/3_analyse.py"

#: after a failed open, wait this long (s) before the next attempt (a button retries at once)
RETRY_AFTER_S = 10.0


# ------------------------------------------------------------------ password gate
def unlocked() -> bool:
    """True when no password is set or this session typed it; else draw only the password form."""
    if st.session_state.get(AUTH) or not password_required(os.environ, st.secrets):
        streamlit_fixes.allow_uploads()  # the upload route refuses this session until now
        return True
    # st.navigation with only the sign-in form: the pages/ folder is never offered while locked.  The
    # form answers under every page's URL path, so a deep link (/history?ws=...) shows it instead of
    # "Page not found", and the rerun after the right password opens the page the link named.
    # (same URL path, same page hash: Streamlit hashes st.Page's url_path, "" only *shown* for the default)
    gate = [st.Page(_password_page, title="Sign in", icon=":material/lock:", url_path=p._url_path,
                    default=(k == 0)) for k, p in enumerate(nav.pages())]
    st.navigation(gate, position="hidden").run()
    return False


def _password_page() -> None:
    st.title(":material/bolt: Signal Analyzer")
    with st.form("password_form"):
        given = st.text_input("Password", type="password", key="app_password")
        sent = st.form_submit_button("Open the app")
    if sent:
        if check_password(given, os.environ, st.secrets):
            st.session_state[AUTH] = True
            st.rerun()
        time.sleep(1.0)  # slows guessing down
        st.error("That is not the password of this deployment.", icon=":material/lock:")


# ------------------------------------------------------------------ workspace key in the URL
def workspace() -> str:
    """The session's workspace key, kept in the URL's ``ws`` parameter (set when missing)."""
    ss = st.session_state
    given = st.query_params.get("ws")
    if given is not None and Store.valid_key(given):
        key = given
    elif given is not None:
        key = Store.new_workspace_key()
        st.info("The workspace key in this link is not valid, so a new, empty workspace was started. "
                "Check the link if you expected saved analyses.", icon=":material/info:")
    else:  # a first visit, or the page menu dropped the query string
        key = ss[WS] if Store.valid_key(ss.get(WS)) else Store.new_workspace_key()
    ss[WS] = key
    if st.query_params.get("ws") != key:
        st.query_params["ws"] = key
    return key


def current_key() -> str:
    """The workspace key :func:`workspace` chose on this run."""
    return st.session_state[WS]


def base_url() -> str:
    """The app's address without page path and query ("" when unknown, e.g. in AppTest)."""
    url = st.context.url or ""
    if not url:
        headers = st.context.headers or {}
        host = headers.get("Host")
        if host:
            url = f"{headers.get('X-Forwarded-Proto', 'http')}://{host}"
    url = url.rstrip("/")
    for page in nav.pages():
        suffix = "/" + page.url_path if page.url_path else ""
        if suffix and url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def workspace_link(key: str) -> str:
    """The URL that reopens the workspace."""
    return f"{base_url()}/?ws={key}"


def analysis_link(key: str, analysis_id: int, base: str | None = None) -> str:
    """The URL that reopens one analysis of the workspace on the Analyse page."""
    return f"{base_url() if base is None else base}/?ws={key}&analysis={int(analysis_id)}"


# ------------------------------------------------------------------ the store
def _close(store: Store) -> None:
    store.close()


@st.cache_resource(max_entries=4, show_spinner=False, on_release=_close)
def _open(url: str) -> Store:
    """One Store per database URL and process (migrated on open); a raised error is not cached."""
    return Store.open(url)


_failed: dict[str, tuple[float, str]] = {}
_failed_lock = threading.Lock()


def get_store(*, retry_now: bool = False) -> tuple[Store | None, str]:
    """The history store, or ``(None, reason)`` when it cannot be opened now.

    ``retry_now`` tries at once even within :data:`RETRY_AFTER_S` of a failure (a button, Save).
    """
    try:
        url = database_url(os.environ, st.secrets)
    except OSError as exc:  # the SQLite data directory cannot be created
        return None, f"the data directory cannot be used: {exc.strerror or exc}"
    with _failed_lock:
        failed = _failed.get(url)
    if failed is not None and not retry_now and time.monotonic() - failed[0] < RETRY_AFTER_S:
        return None, failed[1]
    try:
        store = _open(url)
    except (StoreError, OSError) as exc:
        reason = str(exc) if isinstance(exc, StoreError) else f"the database cannot be opened: {exc}"
        with _failed_lock:
            _failed[url] = (time.monotonic(), reason)
        logger.warning("history store unavailable: %s", reason)
        return None, reason
    with _failed_lock:
        _failed.pop(url, None)
    return store, ""


def _retry() -> None:
    with _failed_lock:
        _failed.clear()


def unavailable(reason: str, *, key: str = "btn_store_retry") -> None:
    """The warning shown while the database cannot be reached, with a button to try again."""
    st.warning(f"History is unavailable: {md_escape(reason.rstrip('.'))}. Analysis still works.",
               icon=":material/warning:")
    st.button("Try the database again", key=key, on_click=_retry, icon=":material/refresh:")


# ------------------------------------------------------------------ flash messages (survive one rerun)
def flash(kind: str, text: str) -> None:
    """Show ``text`` (Markdown, already escaped) on the next run: kind success, info, warning or error."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    kind, text = st.session_state.pop(FLASH, (None, None))
    if kind is not None:
        getattr(st, kind)(text, icon={"success": ":material/check_circle:", "info": ":material/info:",
                                      "warning": ":material/warning:"}.get(kind, ":material/error:"))


# ------------------------------------------------------------------ save
def results_json(result: ChargeResult) -> str:
    """The saved results: ``[result.to_dict()]`` (NaN and inf as null, so PostgreSQL's JSON takes it)."""
    return json.dumps([clean_json(result.to_dict())], allow_nan=False)


def _signature(key: str, sha: str, sweep: int, recipe_json: str) -> tuple:
    return (key, sha, int(sweep), recipe_json)


def _saved_sigs() -> set:
    return st.session_state.setdefault(SAVED_SIGS, set())


def save(store: Store, key: str, lf: state.LoadedFile, result: ChargeResult, *, label: str = "",
         note: str = "") -> int:
    """Save the analysis of ``lf`` (recording, recipe, results) in the workspace; its id.

    Raises StoreError (database) or ValueError (label too long).
    """
    recipe = result.params.to_json(indent=None)
    aid = store.save_analysis(key, recording_name=lf.name, recording_bytes=lf.data, recipe_json=recipe,
                              results_json=results_json(result), app_version=APP_VERSION, label=label,
                              note=note)
    _saved_sigs().add(_signature(key, lf.sha256, result.sweep, recipe))
    return aid


def _seed_toggle(key: str, default: bool) -> str:
    ss = st.session_state
    ss[key] = ss[key] if key in ss else default  # keeps the choice across page changes
    return key


def save_panel(lf: state.LoadedFile, result: ChargeResult | None) -> None:
    """"Save to history" on the Analyse page: label, note, the button and the auto-save switch."""
    key = current_key()
    store, reason = get_store()
    with st.container(border=True):
        st.markdown("**Save to history** (the recording, the recipe and the numbers, in this workspace)")
        if store is None:
            unavailable(reason, key="btn_store_retry_analyse")
        with st.form("save_form", clear_on_submit=True, border=False):
            cols = st.columns([2, 3, 1.4], vertical_alignment="bottom")
            label = cols[0].text_input("Label", max_chars=200, key="save_label", placeholder="e.g. cell 3")
            note = cols[1].text_input("Note", key="save_note", placeholder="anything worth remembering")
            sent = cols[2].form_submit_button("Save to history", icon=":material/save:", disabled=result is None,
                                              width="stretch")
        auto = st.toggle("Save every new analysis automatically", key=_seed_toggle(AUTOSAVE, False),
                         help="Each new combination of file, sweep and recipe is saved once, without a "
                              "label (note 'auto-saved'). Every change of the recipe makes a new one.")
        if result is None:
            st.caption("Nothing to save: this analysis did not run.")
            return
        if sent:
            if store is None:
                store, reason = get_store(retry_now=True)
            if store is None:
                st.error(f"Not saved: {md_escape(reason)}", icon=":material/error:")
                return
            try:
                aid = save(store, key, lf, result, label=label, note=note)
            except (StoreError, ValueError) as exc:
                st.error(f"Not saved: {md_escape(exc)}", icon=":material/error:")
            else:
                st.success(f"Saved as analysis #{aid}: see **History**.", icon=":material/check_circle:")
            return
        sig = _signature(key, lf.sha256, result.sweep, result.params.to_json(indent=None))
        if auto and store is not None and sig not in _saved_sigs():
            _saved_sigs().add(sig)  # tried once, saved or not: no retry on every rerun
            try:
                aid = save(store, key, lf, result, note="auto-saved")
            except (StoreError, ValueError) as exc:
                st.error(f"Auto-save failed: {md_escape(exc)}. Press 'Save to history' to try again.",
                         icon=":material/error:")
            else:
                st.caption(f"Auto-saved as analysis #{aid}.")


# ------------------------------------------------------------------ reopen
def sweep_of(saved: StoredAnalysis) -> int:
    """The saved analysis's sweep, 0-based (the results JSON counts from 1)."""
    try:
        first = saved.results()
        first = first[0] if isinstance(first, list) else first
        return max(0, int(first.get("sweep", 1)) - 1)
    except (ValueError, TypeError, AttributeError, IndexError):
        return 0


def reopen(store: Store, key: str, analysis_id: object) -> bool:
    """Load a saved analysis (recording, recipe, sweep) like an upload and switch to Analyse.

    Returns False (with a message for the next run) when it cannot; never returns on success.
    """
    saved = store.get_analysis(key, analysis_id)  # type: ignore[arg-type]
    if saved is None:
        flash("info", f"Analysis {md_escape(analysis_id)} is not in this workspace: it was deleted, or the "
                      "link belongs to another workspace.")
        return False
    data = store.get_recording_bytes(key, saved.sha256)
    if data is None:
        flash("error", f"The recording of analysis #{saved.id} is no longer stored.")
        return False
    try:
        params = saved.params()
    except (ParamsError, ValueError, TypeError) as exc:
        flash("error", f"The recipe of analysis #{saved.id} cannot be read by this version: {md_escape(exc)}")
        return False
    lf = state.queue(saved.file_name, data)
    ui.ingest_pending()  # the uploader's path: read, keep, make active
    if lf.key not in state.files():
        flash("error", f"The recording of analysis #{saved.id} could not be read again.")
        return False
    sweep = sweep_of(saved)
    ss = st.session_state
    ss[state.ACTIVE] = lf.key
    ss[state.SWEEP] = sweep + 1
    state.set_params(params, reset_widgets=True)
    _saved_sigs().add(_signature(key, lf.sha256, sweep, params.to_json(indent=None)))
    label = f" ({md_escape(saved.label)})" if saved.label else ""
    flash("success", f"Opened analysis #{saved.id}{label}: {md_escape(saved.file_name)}, sweep {sweep + 1}, "
                     f"saved {saved.created_at:%Y-%m-%d %H:%M} UTC.")
    st.switch_page(ANALYSE_PAGE, query_params={"ws": key})
    return True  # not reached: switch_page reruns


def open_from_link(key: str) -> None:
    """Reopen ``?analysis=<id>`` once (the parameter is removed from the URL)."""
    aid = st.query_params.get("analysis")
    if aid is None:
        return
    del st.query_params["analysis"]
    store, reason = get_store(retry_now=True)
    if store is None:
        flash("warning", f"The analysis in the link could not be opened. History is unavailable: "
                         f"{md_escape(reason.rstrip('.'))}. Analysis still works.")
        return
    try:
        reopen(store, key, aid)
    except StoreError as exc:
        flash("warning", f"The analysis in the link could not be opened: {md_escape(exc)}")


def params_json(saved: StoredAnalysis) -> str:
    """The saved recipe as the Analyse page keys its cache (compact JSON of the parsed recipe)."""
    return AnalysisParams.from_json(saved.recipe_json).to_json(indent=None)
