"""Security basics: no code execution on user input, no HTML from user text, secrets kept out of git,
XSRF protection and CORS on in the running server.

The source checks walk the syntax tree of every Python file of the project (not a text grep, so a
word like "evaluation" in a string does not count): no ``eval``/``exec``/``compile``/``__import__``,
no ``pickle``/``marshal``/``shelve`` loads, no ``yaml.load``, no ``os.system``/``os.popen``/``os.exec*``,
no ``shell=True`` anywhere.  ``subprocess`` is allowed only in the test and bench harness (which starts
the app, PostgreSQL and git with argument lists); the app and ``signal_core`` do not start processes
(``signal_core.parallel`` uses ``multiprocessing`` workers, which run its own functions).
"""

from __future__ import annotations

import ast
import base64
import http.client
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.server import ROOT, run_app

APP_CODE = ("app", "pages", "signal_core", "streamlit_app.py")
HARNESS = ("tests", "bench", "scripts")
SKIP_DIRS = {".git", ".venv", "__pycache__", "node_modules", "test-artifacts", "data", ".hypothesis"}

FORBIDDEN_NAMES = {"eval", "exec", "compile", "__import__", "execfile"}
FORBIDDEN_ATTRS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("cPickle", "loads"), ("dill", "loads"),
    ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"), ("yaml", "load"), ("yaml", "unsafe_load"),
    ("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execve"), ("os", "execl"), ("os", "execvp"),
    ("os", "spawnl"), ("os", "spawnv"), ("os", "posix_spawn"), ("pd", "read_pickle"), ("pandas", "read_pickle"),
    ("np", "load"), ("numpy", "load"),  # np.load(allow_pickle=...) on an uploaded file would unpickle
}
UNSAFE_HTML = {"html"}  # st.html; unsafe_allow_html=True is checked as a keyword


def python_files(*tops: str) -> list[Path]:
    out = []
    for top in tops:
        path = ROOT / top
        if path.is_file():
            out.append(path)
            continue
        for p in sorted(path.rglob("*.py")):
            if not SKIP_DIRS & set(p.relative_to(ROOT).parts):
                out.append(p)
    return out


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def _truthy(node: ast.AST) -> bool:
    return not (isinstance(node, ast.Constant) and not node.value)


def findings(path: Path, *, app_code: bool, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    bad = []
    for node in ast.walk(tree):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                if root in ("pickle", "cPickle", "dill", "marshal", "shelve"):
                    bad.append(f"{line}: imports {name}")
                if app_code and root in ("subprocess", "pty", "commands"):
                    bad.append(f"{line}: the app imports {name} (only the test harness may start processes)")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
            fixed = func.id == "__import__" and all(isinstance(a, ast.Constant) for a in node.args)
            if not fixed:  # __import__("io") names a module in the source: no input in it
                bad.append(f"{line}: calls {func.id}()")
        dotted = _dotted(func)
        if dotted in FORBIDDEN_ATTRS:
            bad.append(f"{line}: calls {'.'.join(dotted)}()")
        for kw in node.keywords:
            if kw.arg == "shell" and _truthy(kw.value):
                bad.append(f"{line}: shell=True")
            if kw.arg == "unsafe_allow_html" and _truthy(kw.value):
                bad.append(f"{line}: unsafe_allow_html=True")
            if kw.arg == "allow_pickle" and _truthy(kw.value):
                bad.append(f"{line}: allow_pickle=True")
        if app_code and dotted is not None and dotted[0] in ("st", "components") and dotted[1] in UNSAFE_HTML:
            bad.append(f"{line}: {'.'.join(dotted)}() renders HTML")
    return bad


def test_the_app_never_runs_code_or_html_from_its_input():
    files = python_files(*APP_CODE)
    assert len(files) > 30 and ROOT / "streamlit_app.py" in files
    bad = [f for p in files for f in findings(p, app_code=True)]
    assert not bad, "\n".join(bad)


def test_the_harness_starts_processes_only_with_argument_lists():
    files = python_files(*HARNESS)
    assert ROOT / "tests" / "server.py" in files and ROOT / "tests" / "pg_server.py" in files
    bad = [f for p in files for f in findings(p, app_code=False)]
    assert not bad, "\n".join(bad)


def test_the_checks_catch_what_they_look_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pickle, subprocess, os\nimport streamlit as st\n"
        "pickle.loads(b'')\neval('1')\nos.system('ls')\nsubprocess.run('ls', shell=True)\n"
        "st.markdown('x', unsafe_allow_html=True)\nst.html('<b>')\n"
        "text = 'an evaluation of exec( and eval( in a string is fine'\n"
    )
    found = findings(sample, app_code=True, root=tmp_path)
    text = "\n".join(found)
    for what in ("imports pickle", "imports subprocess", "pickle.loads", "eval()", "os.system", "shell=True",
                 "unsafe_allow_html", "st.html"):
        assert what in text, (what, text)
    assert len(found) == 8, text


# ------------------------------------------------------------------ secrets
def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_secrets_are_git_ignored_and_not_tracked():
    if _git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git work tree")
    for path in (".streamlit/secrets.toml", "data/history.sqlite"):
        assert _git("check-ignore", "-q", path).returncode == 0, f"{path} is not git-ignored"
    tracked = _git("ls-files").stdout.splitlines()
    leaks = [p for p in tracked if Path(p).name in ("secrets.toml", ".env", ".pgpass", ".netrc")
             or p.endswith((".pem", ".key", ".sqlite"))]
    assert not leaks, leaks


def test_no_credentials_in_the_app_code():
    """Database URLs and passwords come from the environment or st.secrets, never from the source."""
    url_with_password = re.compile(r"[a-z+]+://[^/\s:@'\"`]+:([^/\s@'\"`]+)@")
    placeholders = {"pw", "pass", "password", "secret", "PASSWORD"}  # examples in docstrings
    bad = []
    for p in python_files(*APP_CODE):
        for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            m = url_with_password.search(line)
            if m and m.group(1) not in placeholders:
                bad.append(f"{p.relative_to(ROOT)}:{k}: {line.strip()}")
    assert not bad, "\n".join(bad)
    config = (ROOT / "signal_core" / "store" / "config.py").read_text()
    assert "DATABASE_URL" in config and "APP_PASSWORD" in config


# ------------------------------------------------------------------ XSRF and CORS in the running server
def _ws_handshake(url: str, origin: str | None) -> int:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Protocol": "streamlit"}
    if origin:
        headers["Origin"] = origin
    try:
        conn.request("GET", "/_stcore/stream", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_server_refuses_cross_site_requests(tmp_path):
    evil = "http://evil.example"
    with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path)}, log_path=tmp_path / "app.log") as url:
        # XSRF: an upload without the token from the _streamlit_xsrf cookie is refused
        req = urllib.request.Request(url + "/_stcore/upload_file/session/file", method="PUT", data=b"--b--\r\n",
                                     headers={"Origin": evil, "Content-Type": "multipart/form-data; boundary=b"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 403
        # CORS: another site's page cannot open the app's websocket nor get its preflight allowed
        assert _ws_handshake(url, evil) == 403
        assert _ws_handshake(url, url) == 101
        pre = urllib.request.Request(url + "/_stcore/upload_file/session/file", method="OPTIONS",
                                     headers={"Origin": evil, "Access-Control-Request-Method": "PUT"})
        try:
            with urllib.request.urlopen(pre, timeout=10) as r:
                allowed = r.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as exc:
            allowed = exc.headers.get("Access-Control-Allow-Origin")
        assert allowed not in (evil, "*")


# ------------------------------------------------------------------ the password gate in the running server
def _locked_session_flow(url: str, sample: bytes) -> dict:
    """Drive two sessions of a password-protected server over its websocket (tests/st_client.py)."""
    import asyncio

    from tests.st_client import StreamlitClient, http_request, run_coroutine

    ws = "ws=" + "A" * 32
    seen: dict = {}

    async def one(tag: str) -> None:
        c = await StreamlitClient(url).connect()
        try:
            c.query_string = ws
            locked = await c.run(page="history")  # a deep link, as the first request of the process
            seen[f"{tag}:locked"] = [(e.kind, e.label) for e in locked.elements]
            seen[f"{tag}:locked_not_found"] = locked.page_not_found
            urls = await c.request_upload_urls(["202304_0521.atf"])
            target = urls.file_urls[0]
            seen[f"{tag}:put_locked"] = await c.put_file(target.upload_url, "202304_0521.atf", sample)
            seen[f"{tag}:metrics"] = (await asyncio.to_thread(http_request, url, "GET", "/_stcore/metrics"))[0]
            c.fill("text_input", "s3cret pass", label="Password")
            opened = await c.click(label="Open the app")
            seen[f"{tag}:opened"] = opened.texts("heading")
            seen[f"{tag}:opened_not_found"] = opened.page_not_found
            seen[f"{tag}:query"] = c.query_string
            # the refused upload was not kept: naming its file id gives the uploader nothing
            load = await c.run(page="")
            uploader = load.find("file_uploader", key="uploader")
            from streamlit.proto.WidgetStates_pb2 import WidgetState

            state = WidgetState(id=uploader.id)
            info = state.file_uploader_state_value.uploaded_file_info.add()
            info.name, info.size, info.file_id = "202304_0521.atf", len(sample), target.file_id
            info.file_urls.CopyFrom(target)
            c.widgets[uploader.id] = state
            r = await c.run()
            seen[f"{tag}:after_refused"] = r.texts("alert", "markdown", "heading")
            seen[f"{tag}:put_unlocked"] = await c.put_file(target.upload_url, "202304_0521.atf", sample)
            seen[f"{tag}:after_put"] = (await c.run()).texts("alert", "markdown", "heading")
        finally:
            await c.close()

    async def both() -> None:
        await one("first")  # the first session of a fresh process (Streamlit's pages/ folder mode)
        await one("second")

    run_coroutine(both())
    return seen


@pytest.mark.slow
def test_a_locked_session_cannot_upload_and_a_deep_link_opens_after_the_password(tmp_path, sample_bytes):
    """Issue 16, items 4 and 10: with APP_PASSWORD set, a session that has not typed it gets its PUT to
    /_stcore/upload_file refused (nothing stored), /_stcore/metrics is off, a deep link shows the password
    form (not the page, not "Page not found") and, once the password is typed, the page it named, with its
    workspace key."""
    env = {"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path), "APP_PASSWORD": "s3cret pass"}
    # secrets_file=False: setup.sh would write the password into the shared tree's .streamlit/secrets.toml
    with run_app(env, log_path=tmp_path / "app.log", secrets_file=False) as url:
        seen = _locked_session_flow(url, sample_bytes)
    for tag in ("first", "second"):
        assert ("text_input", "Password") in seen[f"{tag}:locked"], seen[f"{tag}:locked"]
        assert not any(kind == "heading" and "History" in label for kind, label in seen[f"{tag}:locked"])
        assert not seen[f"{tag}:locked_not_found"] and not seen[f"{tag}:opened_not_found"]
        assert seen[f"{tag}:put_locked"] == 400
        assert seen[f"{tag}:metrics"] == 404
        assert any("History" in h for h in seen[f"{tag}:opened"]), seen[f"{tag}:opened"]
        assert seen[f"{tag}:query"] == "ws=" + "A" * 32
        assert any("No file loaded yet" in t for t in seen[f"{tag}:after_refused"]), seen[f"{tag}:after_refused"]
        assert seen[f"{tag}:put_unlocked"] == 204
        assert not any("No file loaded yet" in t for t in seen[f"{tag}:after_put"])
        assert any("1 file(s) loaded" in t for t in seen[f"{tag}:after_put"]), seen[f"{tag}:after_put"]


@pytest.mark.slow
def test_odd_upload_names_reach_the_app_and_load_stays_usable(tmp_path, sample_bytes):
    """Issue 16, item 10, through the upload route: a NUL in a name made every later run of the session
    fail (Streamlit re-checks names before the script runs); a name over ~4,100 characters was refused
    by the multipart parser (HTTP 400) without a word.  Each now loads under its cleaned name with a note
    saying what changed, and the next upload still works."""
    from tests.st_client import StreamlitClient, run_coroutine

    names = ["a\x00b.atf", "\u202eabc.atf", "L" * 6000 + ".atf"]
    seen = {}

    async def flow(url: str) -> None:
        for name in names:
            c = await StreamlitClient(url).connect()
            try:
                await c.run()
                first = await c.upload([(name, sample_bytes)], key="uploader")
                again = await c.run()
                second = await c.upload([("202304_0521.atf", sample_bytes)], key="uploader")
                seen[name] = (first.errors(), again.errors(), second.errors(),
                              first.texts("markdown"), second.texts("markdown"), first.texts("alert"))
            finally:
                await c.close()

    with run_app({"SIGNAL_ANALYZER_DATA_DIR": str(tmp_path)}, log_path=tmp_path / "app.log") as url:
        run_coroutine(flow(url))
    for name in names:
        first_err, again_err, second_err, first_md, second_md, alerts = seen[name]
        # the name was cleaned (signal_core.names) and the page says what changed
        assert any("file name was changed" in a for a in alerts), (name[:20], alerts)
        assert not first_err and not again_err and not second_err, (name[:20], first_err, again_err, second_err)
        assert any("1 file(s) loaded" in t for t in first_md), (name[:20], first_md)
        assert any("2 file(s) loaded" in t for t in second_md), (name[:20], second_md)
