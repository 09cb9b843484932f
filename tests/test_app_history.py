"""AppTest of History and workspaces: save, list, reopen, rename, delete, search, isolation, outages, password.

Every test gets its own SQLite database (SIGNAL_ANALYZER_DATA_DIR = tmp_path) and an
empty ``st.cache_resource`` (the app keeps one Store per database URL there).
"""

from __future__ import annotations

import io
import math

import pytest
from app_helpers import click, metrics, new_app, no_errors, number, upload

from app import history
from signal_core.analysis.pipeline import analyze_sweep
from signal_core.io.read import read_recording
from signal_core.params import AnalysisParams
from signal_core.store import Store

SAMPLE = "202304_0521.atf"
CLOSED_PORT_URL = "postgresql+psycopg://u:p@127.0.0.1:1/db"

pytestmark = pytest.mark.usefixtures("own_database")  # tests/conftest.py


def store(tmp_path) -> Store:
    """The test's database, opened beside the app's (same SQLite file)."""
    from signal_core.store import database_url

    return Store.open(database_url({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path)}))


def workspace_of(at) -> str:
    key = at.query_params["ws"]
    assert Store.valid_key(key)
    return key


def analyse_and_save(at, label: str = "", note: str = ""):
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    if label:
        at.text_input(key="save_label").set_value(label)
    if note:
        at.text_input(key="save_note").set_value(note)
    click(at, "Save to history")
    no_errors(at)
    assert any("Saved as analysis #" in s.value for s in at.success), [e.value for e in at.error]
    return at


def open_history(at):
    at.switch_page("pages/5_history.py").run()
    no_errors(at)
    return at


def table(at):
    return at.dataframe[0].value


def select_rows(at, *positions: int):
    key = at.dataframe[0].key
    assert key.startswith("hist_table_")
    at.session_state[key] = {"selection": {"rows": list(positions), "columns": [], "cells": []}}
    return at.run()


@pytest.fixture()
def saved_sample(sample_bytes):
    """The sample uploaded, analysed with the default recipe and saved with a label."""
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    analyse_and_save(at, label="cell 3", note="first try")
    return at


def test_save_from_analyse_lists_it_with_the_analysis_numbers(saved_sample, sample_bytes):
    at = saved_sample
    shown_q_on = number(metrics(at)["Q_on (pC)"])
    open_history(at)
    rows = table(at)
    assert len(rows) == 1
    row = rows.iloc[0]
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, AnalysisParams())
    assert row["file"] == SAMPLE
    assert row["label"] == "cell 3" and row["note"] == "first try"
    assert math.isclose(row["Q_on (pC)"], expected.q_on_pC, rel_tol=1e-9)
    assert math.isclose(row["Q_off (pC)"], expected.q_off_pC, rel_tol=1e-9)
    assert math.isclose(row["V2 (mV)"], expected.protocol.v_test_mV, rel_tol=1e-9)
    assert math.isclose(shown_q_on, row["Q_on (pC)"], rel_tol=6e-4)
    key = workspace_of(at)
    assert row["link"].endswith(f"/?ws={key}&analysis={row['#']}")
    assert any(key in c.value for c in at.code)  # the workspace link


@pytest.mark.slow
def test_reopen_link_loads_recording_recipe_and_sweep(sample_bytes, tmp_path):
    recipe = AnalysisParams(baseline_ms=3.0, integrate_on_ms=(0.5, 30.0))
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    at.switch_page("pages/3_analyse.py").run()
    at.file_uploader(key="recipe_upload").set_value(("r.json", recipe.to_json().encode(), "application/json"))
    at.run()
    analyse_and_save(at, label="custom recipe")
    key = workspace_of(at)
    aid = int(store(tmp_path).list_analyses(key)[0].id)

    fresh = new_app()  # another session: nothing loaded, its own new workspace
    assert workspace_of(fresh) != key
    fresh.query_params["ws"] = key
    fresh.query_params["analysis"] = str(aid)
    fresh.run()
    no_errors(fresh)
    assert fresh.title[0].value.endswith(" Analyse")
    assert fresh.query_params == {"ws": key}  # the analysis parameter is used once
    assert any(f"Opened analysis #{aid}" in s.value for s in fresh.success)
    lf = history.state.LoadedFile.from_bytes(SAMPLE, sample_bytes)
    assert fresh.session_state["active_sha"] == lf.key
    assert fresh.session_state["params"] == recipe
    assert fresh.number_input(key="rp_baseline_ms").value == 3.0
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, recipe)
    assert math.isclose(number(metrics(fresh)["Q_on (pC)"]), expected.q_on_pC, rel_tol=6e-4)


def test_open_button_on_history_switches_to_analyse(saved_sample):
    at = open_history(saved_sample)
    # start from a clean slate in the same session: unload the file, then open it from History
    at.session_state["files"] = {}
    select_rows(at, 0)
    no_errors(at)
    at.button(key="btn_hist_open").click().run()
    no_errors(at)
    assert at.title[0].value.endswith(" Analyse")
    assert "Q_on (pC)" in metrics(at)


def test_rename_label_and_note(saved_sample):
    at = open_history(saved_sample)
    aid = int(table(at).iloc[0]["#"])
    select_rows(at, 0)
    at.text_input(key=f"rn_label_{aid}").set_value("cell 3 **bold**")
    at.text_area(key=f"rn_note_{aid}").set_value("<script>alert(1)</script>")
    click(at, "Save label and note")
    no_errors(at)
    assert any(f"#{aid} renamed" in s.value for s in at.success)
    row = table(at).iloc[0]
    assert row["label"] == "cell 3 **bold**" and row["note"] == "<script>alert(1)</script>"
    assert not at.get("html")


def test_delete_asks_for_confirmation(saved_sample):
    at = open_history(saved_sample)
    select_rows(at, 0)
    at.button(key="btn_hist_delete").click().run()
    no_errors(at)
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="btn_hist_delete_no").click().run()  # cancel keeps it
    assert len(table(at)) == 1
    select_rows(at, 0)
    at.button(key="btn_hist_delete").click().run()
    at.button(key="btn_hist_delete_yes").click().run()
    no_errors(at)
    assert any("Deleted 1 analysis" in s.value for s in at.success)
    assert not at.dataframe  # empty again: the explanation
    assert any("keeps the analyses you save" in i.value for i in at.info)


@pytest.mark.slow
def test_search_and_sort(sample_bytes):
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    analyse_and_save(at, label="alpha cell")
    at.switch_page("pages/1_load.py").run()
    click(at, "demo")
    analyse_and_save(at, label="beta cell", note="demo run")
    open_history(at)
    assert table(at)["label"].tolist() == ["beta cell", "alpha cell"]  # newest first
    at.radio(key="hist_order").set_value("ascending").run()
    assert table(at)["label"].tolist() == ["alpha cell", "beta cell"]
    at.selectbox(key="hist_sort").set_value("Q_on").run()
    q = table(at)["Q_on (pC)"].tolist()
    assert q == sorted(q)
    at.text_input(key="hist_search").set_value("ALPHA").run()
    no_errors(at)
    assert table(at)["label"].tolist() == ["alpha cell"]
    at.text_input(key="hist_search").set_value("demo").run()  # a note or a file name
    assert table(at)["label"].tolist() == ["beta cell"]
    at.text_input(key="hist_search").set_value("nothing like this").run()
    assert not at.dataframe and any("No saved analysis matches" in i.value for i in at.info)


@pytest.mark.slow
def test_export_selected_rows_rebuilds_the_analyses(sample_bytes, tmp_path):
    from openpyxl import load_workbook

    from app import history_ui

    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    analyse_and_save(at, label="one")
    at.switch_page("pages/1_load.py").run()
    click(at, "demo")
    analyse_and_save(at, label="two")
    open_history(at)
    select_rows(at, 0, 1)
    no_errors(at)
    labels = {d.label for d in at.get("download_button")}
    assert "Export selected (.xlsx, 2)" in labels
    key = workspace_of(at)
    s = store(tmp_path)
    rows = s.list_analyses(key)
    data = history_ui.export_workbook(s, key, [r.id for r in rows])
    wb = load_workbook(io.BytesIO(data), read_only=True)
    summary = list(wb["Summary"].iter_rows(values_only=True))
    header = summary[0]
    q_col = next(i for i, h in enumerate(header) if h and str(h).startswith("Q_on"))
    exported = sorted(r[q_col] for r in summary[1:] if r[q_col] is not None)
    assert exported == pytest.approx(sorted(r.q_on_pC for r in rows), rel=1e-9)


@pytest.mark.postgres
def test_save_list_reopen_on_postgresql(pg_server, monkeypatch, sample_bytes):  # noqa: F811
    url = pg_server.new_database()
    monkeypatch.setenv("DATABASE_URL", url)
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    analyse_and_save(at, label="on postgres")
    shown_q_on = number(metrics(at)["Q_on (pC)"])
    open_history(at)
    row = table(at).iloc[0]
    assert row["label"] == "on postgres" and math.isclose(shown_q_on, row["Q_on (pC)"], rel_tol=6e-4)
    assert Store.open(url).backend == "postgresql"
    fresh = new_app()
    fresh.query_params.update({"ws": workspace_of(at), "analysis": str(row["#"])})
    fresh.run()
    no_errors(fresh)
    assert fresh.title[0].value.endswith(" Analyse")
    assert number(metrics(fresh)["Q_on (pC)"]) == shown_q_on


def test_another_workspace_sees_nothing(saved_sample):
    other = new_app()
    open_history(other)
    assert workspace_of(other) != workspace_of(saved_sample)
    assert not other.dataframe
    assert any("keeps the analyses you save" in i.value for i in other.info)
    # a link to the first workspace's analysis does not open it from another workspace
    open_history(saved_sample)
    aid = str(table(saved_sample).iloc[0]["#"])
    other.query_params["analysis"] = aid
    other.run()
    no_errors(other)
    assert any("not in this workspace" in i.value for i in other.info)
    assert not other.session_state["files"]


@pytest.mark.parametrize("bad", ["short", "../../etc/passwd", "x" * 200, "<script>alert(1)</script>" * 2])
def test_malformed_key_gets_a_fresh_empty_workspace(bad):
    at = new_app()
    at.query_params["ws"] = bad
    at.switch_page("pages/5_history.py").run()
    no_errors(at)
    key = workspace_of(at)
    assert key != bad
    assert any("not valid" in i.value for i in at.info)
    assert not at.dataframe
    at.run()  # said once
    assert not any("not valid" in i.value for i in at.info)
    assert workspace_of(at) == key


def test_guessed_key_is_an_empty_workspace(saved_sample):
    at = new_app()
    at.query_params["ws"] = Store.new_workspace_key()
    open_history(at)
    assert not at.dataframe and not at.exception


def test_key_survives_page_changes_without_query_string():
    at = new_app()
    key = workspace_of(at)
    at.query_params.clear()  # the page menu drops the query string
    at.switch_page("pages/4_help.py").run()
    assert workspace_of(at) == key


def test_database_down_analysis_still_works(monkeypatch, sample_bytes):
    monkeypatch.setenv("DATABASE_URL", CLOSED_PORT_URL)
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    assert any("History is unavailable" in w.value and "Analysis still works" in w.value for w in at.warning)
    expected = analyze_sweep(read_recording(sample_bytes, name=SAMPLE), 0, AnalysisParams())
    assert math.isclose(number(metrics(at)["Q_on (pC)"]), expected.q_on_pC, rel_tol=6e-4)
    click(at, "Save to history")
    no_errors(at)
    assert any(e.value.startswith("Not saved") and "unavailable" in e.value for e in at.error)
    assert "Q_on (pC)" in metrics(at)
    open_history(at)
    assert any("History is unavailable" in w.value for w in at.warning)
    for page in ("pages/1_load.py", "pages/2_explore.py", "pages/4_help.py"):
        at.switch_page(page).run()
        no_errors(at)


def test_database_back_after_an_outage(monkeypatch, sample_bytes):
    monkeypatch.setenv("DATABASE_URL", CLOSED_PORT_URL)
    at = new_app()
    click(at, "demo")
    at.switch_page("pages/3_analyse.py").run()
    assert any("History is unavailable" in w.value for w in at.warning)
    monkeypatch.delenv("DATABASE_URL")  # the database is reachable again (here: the SQLite default)
    at.run()
    no_errors(at)
    assert not any("History is unavailable" in w.value for w in at.warning)
    analyse_and_save(at)


def test_autosave_saves_each_new_analysis_once(tmp_path):
    at = new_app()
    click(at, "demo")
    at.switch_page("pages/3_analyse.py").run()
    at.toggle(key="hist_autosave").set_value(True).run()
    no_errors(at)
    key = workspace_of(at)
    assert store(tmp_path).count(key) == 1
    at.run()
    assert store(tmp_path).count(key) == 1
    at.number_input(key="rp_baseline_ms").set_value(3.0).run()
    no_errors(at)
    rows = store(tmp_path).list_analyses(key)
    assert len(rows) == 2 and all(r.note == "auto-saved" for r in rows)


def test_password_gate_blocks_until_the_right_password(monkeypatch):
    monkeypatch.setenv("APP_PASSWORD", "s3cret pass")
    at = new_app()
    no_errors(at)
    assert not at.file_uploader and not at.metric and not at.sidebar.children
    assert "ws" not in at.query_params
    at.text_input(key="app_password").set_value("wrong")
    click(at, "Open the app")
    no_errors(at)
    assert any("not the password" in e.value for e in at.error)
    assert not at.file_uploader
    at.query_params["analysis"] = "1"  # a link does not go around the gate
    at.run()
    assert not at.file_uploader and not at.metric and at.text_input(key="app_password")
    # no page script is registered while locked (the sign-in form answers under every page's URL path)
    assert "Could not find a navigation page for '" in _switch_error(at)
    at.text_input(key="app_password").set_value("s3cret pass")
    click(at, "Open the app")
    no_errors(at)
    assert at.file_uploader or at.title[0].value.endswith(" Analyse")
    assert Store.valid_key(at.query_params["ws"])


def _switch_error(at) -> str:
    """The other pages are not even registered while the app is locked."""
    try:
        at.switch_page("pages/3_analyse.py")
    except ValueError as exc:
        return str(exc)
    return ""
