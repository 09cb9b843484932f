"""AppTest of hostile input on the app side: the upload limit, the memory budget, text from files as data.

File names and ATF comments carry HTML, ``<script>``, quotes, Markdown (``**x**``, links to
``javascript:``, ``:material/…:`` icons) and 10,000-character strings.  On every page of the
menu (``app.nav.PAGES``, so a page added later is covered) every string of every element in the
AppTest tree is checked: the payload may appear raw only in elements that show plain text
(``st.text``, ``st.code``, selectbox options, input values, dataframes); everywhere Streamlit
renders Markdown it must be escaped, and once unescaped it must read as the name itself.
"""

from __future__ import annotations

import io
import json
import re

import openpyxl
import pytest
import streamlit.testing.v1.app_test as _app_test
from app_helpers import click, metrics, new_app, no_errors, upload
from conftest import BROKEN
from google.protobuf.json_format import MessageToDict
from streamlit.runtime.media_file_manager import MediaFileManager

from app import analyse_ui, nav
from app import cache as app_cache
from app.ui import WJ
from signal_core.io.atf_writer import write_atf
from signal_core.io.limits import ENV_MAX_RECORDING_MB, MAX_UPLOAD_BYTES
from signal_core.store import Store, database_url
from signal_core.synthetic import CellModel, simulate

SAMPLE = "202304_0521.atf"
#: HTML, script, quotes, Markdown emphasis, a javascript: link, a Material icon, LaTeX, a directive
PAYLOAD = ('<img src=x onerror="window.__xss=1"> <script>alert(\'x\')</script> **b** '
           '[a](javascript:alert(1)) :material/home: :material_home: :streamlit: :smile: a -> b -- c '
           '$x^2$ :red[red] `code` # h')
HOSTILE_NAME = f"{PAYLOAD}.atf"
LONG_NAME = f"{PAYLOAD} {'L' * 10_000}.atf"
LONG_COMMENT = f"{PAYLOAD} {'C' * 10_000}"

pytestmark = pytest.mark.usefixtures("own_database")  # tests/conftest.py

#: (element type, proto field) that show their text as text, never as Markdown or HTML
PLAIN_TEXT_FIELDS = {
    ("text", "body"), ("code", "codeText"), ("selectbox", "options"), ("selectbox", "rawValue"),
    ("text_input", "value"), ("text_input", "default"), ("text_area", "value"), ("text_area", "default"),
    ("multiselect", "options"), ("multiselect", "rawValues"), ("multiselect", "default"),
}
#: Plotly draws text (legend, hover, titles) with a few HTML tags of its own, never Markdown
PLOTLY_HTML = re.compile(r"<\s*(script|img|a|iframe|svg|style)\b", re.IGNORECASE)
#: the payload's active parts, as they look when NOT escaped
UNESCAPED = [re.compile(p) for p in (
    r"(?<!\\)<script", r"(?<!\\)<img", r"\*\*b\*\*", r"\[a\]\(javascript", r"(?<!\\)\$x\^2", r"(?<!\\):red\[",
    # Streamlit rewrites these in the text itself, after Markdown escapes are decoded
    r":material[/_]home:", r":streamlit:", r":smile:", r"a \\?-\\?> b", r"b \\?-\\?- c")]


def hostile_atf(sample_bytes: bytes, comment: str = LONG_COMMENT) -> bytes:
    data = sample_bytes.replace(b'"Comment="', f'"Comment={comment}"'.encode(), 1)
    assert data != sample_bytes
    return data


def unescape(markdown: str) -> str:
    """What a person reads: the app's own bold markers, Markdown's backslash escapes and word joiners removed."""
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", markdown)).replace(WJ, "")


def _nodes(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _nodes(child)


def _strings(obj, field: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, field)
    elif isinstance(obj, str):
        yield field, obj


def rendered_strings(at) -> list[tuple[str, str, str]]:
    """(element type, proto field, text) of every string in the page's element tree (blocks too)."""
    out = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = getattr(node, "type", type(node).__name__)
        out += [(kind, f, s) for f, s in _strings(MessageToDict(proto))]
    return out


def assert_text_is_data(at, where: str) -> list[tuple[str, str, str]]:
    """No active payload outside plain-text fields; returns every string for further checks."""
    strings = rendered_strings(at)
    bad = [(kind, field, s[:160]) for kind, field, s in strings
           if kind != "plotly_chart" and (kind, field) not in PLAIN_TEXT_FIELDS and field != "icon"  # the app's own
           and any(p.search(s) for p in UNESCAPED)]
    for kind, field, s in strings:
        if kind == "plotly_chart" and field == "spec":
            bad += [("plotly_chart", "spec", t[:160]) for t in _strings(json.loads(s)) if PLOTLY_HTML.search(t[1])]
    assert not bad, f"{where}: text from a file rendered as markup: {bad}"
    assert not at.get("html"), where
    return strings


def shown_literally(strings, text: str) -> bool:
    """``text`` appears as is, in a plain-text field or (unescaped) in a Markdown one."""
    return any(text in (s if (k, f) in PLAIN_TEXT_FIELDS else unescape(s)) for k, f, s in strings)


# ------------------------------------------------------------------ text from files is data
def test_hostile_names_and_comments_render_as_text_on_every_page(sample_bytes):
    at = new_app()
    upload(at, (LONG_NAME, BROKEN), (HOSTILE_NAME, hostile_atf(sample_bytes)))
    no_errors(at)
    assert at.dataframe[0].value["file"].tolist() == [HOSTILE_NAME]
    assert at.dataframe[0].value["comment"].tolist() == [LONG_COMMENT]
    assert len(at.error) == 1  # the broken file, named by its name shortened to 255 characters (issue 16)
    from signal_core.names import clean_name

    assert unescape(at.error[0].value).startswith(f"{clean_name(LONG_NAME).name} could not be read: line 4")
    pages = [path for path, _, _ in nav.PAGES]
    for page in pages:
        at.switch_page(page).run()
        no_errors(at)
        strings = assert_text_is_data(at, page)
        if page.endswith("3_analyse.py"):
            for tab in analyse_ui.TABS[1:]:  # the figures of the other (lazy) tabs
                at.session_state[analyse_ui.TAB] = tab
                at.run()
                no_errors(at)
                assert_text_is_data(at, f"{page}, tab {tab}")
            at.session_state[analyse_ui.TAB] = analyse_ui.TABS[0]
        if page.endswith(("1_load.py", "2_explore.py", "3_analyse.py")):
            assert shown_literally(strings, HOSTILE_NAME), page
    # the Analyse page computed the numbers of the hostile file, which the caption names
    at.switch_page("pages/3_analyse.py").run()
    assert "Q_on (pC)" in metrics(at)
    assert any(unescape(c.value).startswith(f"{HOSTILE_NAME} · sweep 1 of 1") for c in at.caption)


@pytest.mark.slow
def test_hostile_name_is_kept_verbatim_in_history_and_the_workbook(sample_bytes, tmp_path):
    at = new_app()
    upload(at, (HOSTILE_NAME, hostile_atf(sample_bytes)))
    at.switch_page("pages/3_analyse.py").run()
    at.text_input(key="save_label").set_value(PAYLOAD)
    at.text_input(key="save_note").set_value(LONG_COMMENT)
    click(at, "Save to history")
    no_errors(at)
    assert any("Saved as analysis #" in s.value for s in at.success), [e.value for e in at.error]
    assert_text_is_data(at, "Analyse after saving")

    # the database returns name, label and note verbatim (file names are cut at 255 characters)
    key = at.query_params["ws"]
    store = Store.open(database_url({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path)}))
    [row] = store.list_analyses(key)
    assert (row.file_name, row.label, row.note) == (HOSTILE_NAME, PAYLOAD, LONG_COMMENT)
    assert store.list_analyses(key, search="<script>")[0].id == row.id

    # History lists it as text
    at.switch_page("pages/5_history.py").run()
    no_errors(at)
    assert_text_is_data(at, "History")
    table = at.dataframe[0].value
    assert table["file"].tolist() == [HOSTILE_NAME] and table["note"].tolist() == [LONG_COMMENT]

    # reopening it from its link tells which file it was, escaped
    fresh = new_app()
    fresh.query_params.update({"ws": key, "analysis": str(row.id)})
    fresh.run()
    no_errors(fresh)
    strings = assert_text_is_data(fresh, "reopened")
    assert any(HOSTILE_NAME in unescape(s.value) and "Opened analysis" in s.value for s in fresh.success)
    assert shown_literally(strings, HOSTILE_NAME)


def test_hostile_name_in_the_downloaded_workbook(sample_bytes, monkeypatch):
    """The workbook the Analyse page's button builds: valid sheet names, the name as a text cell."""
    managers: list[MediaFileManager] = []

    class Recording(MediaFileManager):  # AppTest makes one per run: keep them to call the deferred download
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(_app_test, "MediaFileManager", Recording)
    name = "=HYPERLINK(\"http://x.invalid\")[1]:*?／\\<script>'.atf"
    at = new_app()
    upload(at, (name, hostile_atf(sample_bytes)))
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    button = next(d for d in at.get("download_button") if d.label == "Workbook (.xlsx)")
    deferred = managers[-1]._deferred_callables[button.proto.deferred_file_id]
    assert re.fullmatch(r"[A-Za-z0-9._-]+", deferred["filename"]), deferred["filename"]
    data = deferred["callable"]()
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for ws in wb.worksheets:
        assert 0 < len(ws.title) <= 31 and not set(ws.title) & set("[]:*?/\\"), ws.title
    summary = wb["Summary"]
    cols = {c.value: c.column for c in summary[1]}
    cell = summary.cell(2, cols["file"])
    assert cell.value == name and cell.data_type == "s"  # text, not a formula
    assert not any(c.data_type == "f" and "HYPERLINK" in str(c.value)
                   for ws in wb.worksheets for row in ws.iter_rows() for c in row)


# ------------------------------------------------------------------ limits
def test_file_over_the_upload_limit_is_refused_and_the_others_stay(sample_bytes):
    size = int(61.2 * 2**20)
    assert size > MAX_UPLOAD_BYTES
    big = b"0\t0\t0\n" * (size // 6) + b"0" * (size % 6)
    at = new_app()
    upload(at, (SAMPLE, sample_bytes), ("huge <b>.atf", big))
    no_errors(at)
    assert len(at.error) == 1, [e.value for e in at.error]
    text = unescape(at.error[0].value)
    assert text.startswith("huge <b>.atf is 61.2 MB; the limit is 50 MB per file"), text
    assert "\\<b\\>" in at.error[0].value
    assert at.dataframe[0].value["file"].tolist() == [SAMPLE]
    kept = at.session_state["files"]
    assert [lf.name for lf in kept.values()] == [SAMPLE]  # the bytes of the big file are not kept
    assert not at.session_state["pending_files"]
    # the refusal can be dismissed; the good file is analysed
    at.button(key=next(b.key for b in at.button if (b.key or "").startswith("btn_dismiss_"))).click().run()
    assert not at.error
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    assert "Q_on (pC)" in metrics(at)


def test_other_ways_in_are_held_to_the_upload_limit_too():
    from app import state

    def script():
        import streamlit as st

        from app import state, ui

        state.init()
        if "queued" not in st.session_state:
            st.session_state["queued"] = True
            state.queue("queued.atf", b"x" * (50 * 2**20 + 1))
        ui.ingest_pending()

    at = _app_test.AppTest.from_function(script).run()
    assert not at.exception
    assert not at.session_state["files"]
    [(name, message)] = at.session_state["file_errors"].values()
    assert name == "queued.atf" and message.startswith("queued.atf is 50.0 MB; the limit is 50 MB per file")
    assert state.too_large_message("a", 64_172_851).startswith("a is 61.2 MB; the limit is 50 MB per file")


def test_recording_over_the_memory_budget_is_refused_with_the_readers_message(sample_bytes, monkeypatch):
    monkeypatch.setenv(ENV_MAX_RECORDING_MB, "1")  # the sample needs ~2.6 MB of float64
    app_cache.clear()  # the budget is checked when a file is parsed, not on a cache hit
    small = simulate(CellModel(), fs_hz=10_000.0, duration_ms=700.0, name="small.atf").recording
    at = new_app()
    upload(at, (SAMPLE, sample_bytes), ("small.atf", write_atf(small)))
    no_errors(at)
    assert len(at.error) == 1
    text = unescape(at.error[0].value)
    assert text.startswith(f"{SAMPLE} could not be read: ") and "budget" in text and "MB" in text, text
    assert at.dataframe[0].value["file"].tolist() == ["small.atf"]
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    assert "Q_on (pC)" in metrics(at)


# ------------------------------------------------------------------ the corpus of odd and broken files
@pytest.mark.slow
def test_every_corpus_file_is_loaded_or_refused_by_name_and_every_page_survives_it(sample_bytes):
    """All of tests/corpus.py at once with the sample: each refused file gets its own error box with the
    reader's message, every readable one is kept, and Explore and Analyse draw each loaded file
    (a file the analysis refuses shows the reason) without an exception."""
    import hashlib

    from tests.corpus import Refused, all_cases

    cases = all_cases()
    at = new_app()
    upload(at, (SAMPLE, sample_bytes), *[(c.name, c.data) for c in cases])
    no_errors(at)
    loaded = at.dataframe[0].value["file"].tolist()
    errors = [unescape(e.value) for e in at.error]
    assert SAMPLE in loaded
    # every upload is a file of its own, also with the same bytes as another (only the same name and
    # the same bytes again are the same file)
    same = {(hashlib.sha256(c.data).hexdigest(), c.name) for c in cases}
    assert len(loaded) + len(errors) == len(same) + 1
    for c in cases:
        names = [c.name]
        mine = [e for e in errors if e.startswith(f"{c.name} could not be read: ")]
        shown = f"{c.name} could not be read: "
        if isinstance(c.expect, Refused):
            assert len(mine) == 1, (c.name, mine)
            # the app gives no sampling rate
            if c.fs_hz is None:
                assert re.search(c.expect.pattern, mine[0][len(shown):]), (c.name, mine)
        elif c.fs_hz is None:  # the app gives no sampling rate: files without a time column may be refused
            assert any(n in loaded for n in names), (c.name, mine)
        else:
            assert any(n in loaded for n in names) or mine, c.name
    assert_text_is_data(at, "Load with the corpus")

    for sha in list(at.session_state["files"]):
        at.session_state["active_sha"] = sha
        for page in ("pages/2_explore.py", "pages/3_analyse.py"):
            at.switch_page(page).run()
            no_errors(at)
            assert not any("failed unexpectedly" in e.value for e in at.error), (page, sha, [e.value for e in at.error])
    assert_text_is_data(at, "Analyse with the corpus")


# ------------------------------------------------------------------ a user's value is never replaced silently
def _cutoff(at) -> float:
    [box] = [n for n in at.number_input if n.label == "cutoff (Hz)"]
    return box.value


def _choose(at, name: str) -> None:
    """Make the file called ``name`` the active one (the sidebar's selectbox) and rerun."""
    files = at.session_state["files"]
    [key] = [k for k in files if files[k].name == name]
    at.selectbox(key="active_sha").set_value(key).run()


def test_a_cutoff_the_active_file_cannot_take_is_kept_and_named_not_clamped(sample_bytes):
    """Issue 16, item 6: a Butterworth cutoff above the Nyquist frequency of the active file stays in its
    box and an error names the limit (Nyquist = fs / 2, from the file's sampling rate); switching to a file
    that can take it, and back, keeps the user's value."""
    small = simulate(CellModel(), fs_hz=10_000.0, duration_ms=700.0, name="small.atf").recording
    at = new_app()
    upload(at, (SAMPLE, sample_bytes), ("small.atf", write_atf(small)))
    _choose(at, SAMPLE)  # 100 kHz: Nyquist 50 kHz
    at.switch_page("pages/3_analyse.py").run()
    recipe = {"filters": [{"kind": "butter", "cutoff_hz": 8000.0, "order": 4}]}
    at.file_uploader(key="recipe_upload").set_value(("r.json", json.dumps(recipe).encode(), "application/json"))
    at.run()
    no_errors(at)
    assert _cutoff(at) == 8000.0 and not at.error
    assert "Q_on (pC)" in metrics(at)

    _choose(at, "small.atf")  # 10 kHz: Nyquist 5 kHz
    no_errors(at)
    assert _cutoff(at) == 8000.0
    assert any("8000 Hz" in e.value and "Nyquist frequency 5000 Hz" in e.value for e in at.error), \
        [e.value for e in at.error]

    _choose(at, SAMPLE)
    no_errors(at)
    assert _cutoff(at) == 8000.0 and not at.error
    assert "Q_on (pC)" in metrics(at)


@pytest.mark.parametrize("cutoff_hz", [49_990.0, 60_000.0, 1e9])
def test_a_recipe_cutoff_at_or_above_nyquist_is_shown_as_given_with_the_limit(sample_bytes, cutoff_hz):
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    at.switch_page("pages/3_analyse.py").run()
    recipe = {"filters": [{"kind": "butter", "cutoff_hz": cutoff_hz, "order": 4},
                          {"kind": "notch", "freq_hz": cutoff_hz, "q": 30.0}]}
    at.file_uploader(key="recipe_upload").set_value(("r.json", json.dumps(recipe).encode(), "application/json"))
    at.run()
    no_errors(at)
    assert _cutoff(at) == cutoff_hz
    [centre] = [n for n in at.number_input if n.label == "centre (Hz)"]
    assert centre.value == cutoff_hz
    if cutoff_hz >= 50_000.0:
        assert any("Nyquist frequency 50000 Hz" in e.value for e in at.error), [e.value for e in at.error]


# ------------------------------------------------------------------ odd file names (issue 16, item 10)
@pytest.mark.parametrize("raw", ["cell\x00_1.atf", "report\u202efdp.atf", "n" * 6000 + ".atf"],
                         ids=["nul", "rtl-override", "6000-chars"])
def test_an_odd_upload_name_is_cleaned_said_and_load_stays_usable(sample_bytes, raw):
    """A NUL, an RTL override or a name over 5,000 characters: the file loads under the cleaned name
    (signal_core.names.clean_name), a note says what changed, and the next upload works."""
    from signal_core.names import clean_name

    expected = clean_name(raw)
    assert expected.changed and expected.name != raw
    at = new_app()
    upload(at, (raw, sample_bytes))
    no_errors(at)
    assert [lf.name for lf in at.session_state["files"].values()] == [expected.name]
    notes = [unescape(i.value) for i in at.info if "file name was changed" in i.value]
    assert len(notes) == 1 and all(n in notes[0] for n in expected.notes), notes
    assert "\u202e" not in notes[0] and "\x00" not in notes[0] and len(notes[0]) < 1000
    at.file_uploader(key="uploader").set_value([(raw, sample_bytes, "text/plain"),
                                                ("second.atf", sample_bytes, "text/plain")]).run()
    no_errors(at)
    assert sorted(lf.name for lf in at.session_state["files"].values()) == sorted([expected.name, "second.atf"])
    at.switch_page("pages/3_analyse.py").run()
    no_errors(at)
    assert "Q_on (pC)" in metrics(at)
