"""The dependency audit step of the test command (scripts/audit.py): what fails it, what it admits."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit.py"
_spec = importlib.util.spec_from_file_location("audit", SCRIPT)
audit = importlib.util.module_from_spec(_spec)
sys.modules["audit"] = audit  # dataclasses look their module up there
_spec.loader.exec_module(audit)

CLEAN = {"name": "numpy", "version": "2.4.6", "vulns": []}
VULNERABLE = {"name": "jinja2", "version": "3.1.2", "vulns": [
    {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"], "description": "xss"}]}
SKIPPED = {"name": "streamlit",
           "skip_reason": "Dependency not found on PyPI and could not be audited: streamlit (1.67.0)"}


def test_a_known_vulnerability_fails_the_step_and_names_the_fix():
    result = audit.parse({"dependencies": [CLEAN, VULNERABLE], "fixes": []})
    assert result.failed
    assert result.audited == ("numpy", "jinja2")
    text = audit.summary(result)
    assert "1 pinned package(s) with known vulnerabilities" in text
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in text


def test_clean_packages_pass():
    result = audit.parse({"dependencies": [CLEAN], "fixes": []})
    assert not result.failed
    assert audit.summary(result) == "pip-audit: 1 package(s) audited, no known vulnerabilities"


def test_packages_the_service_could_not_answer_for_are_reported_as_not_audited():
    result = audit.parse({"dependencies": [SKIPPED, CLEAN]})
    assert not result.failed
    text = audit.summary(result)
    assert "1 package(s) audited" in text
    assert "1 package(s) NOT audited (Dependency not found on PyPI and could not be audited; e.g. streamlit)" in text


def test_nothing_audited_does_not_claim_the_packages_are_clean():
    text = audit.summary(audit.parse({"dependencies": [SKIPPED]}))
    assert "no known vulnerabilities" not in text and "NOT audited" in text


def test_a_missing_pip_audit_is_said_not_hidden(monkeypatch):
    monkeypatch.setattr(audit.shutil, "which", lambda _: None)
    result = audit.run(["requirements.txt"])
    assert not result.failed
    assert "not installed" in audit.summary(result)


def test_every_dependency_is_pinned_so_the_audit_needs_no_resolution():
    root = SCRIPT.parents[1]
    for name in audit.FILES:
        for line in (root / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                assert "==" in line, f"{name}: {line!r} is not pinned"


def _black_hole():
    """A listening socket that never answers (connects, then silence): like a firewalled service."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_an_unreachable_service_is_one_line_within_3_s_and_pip_audit_is_not_run(monkeypatch):
    # offline, pip-audit spent 21 s to audit 0 of 94 packages
    import time

    hole = _black_hole()
    monkeypatch.setattr(audit, "SERVICE_URL", f"https://127.0.0.1:{hole.getsockname()[1]}/pypi/pip/json")
    monkeypatch.setattr(audit.shutil, "which", lambda _: "/usr/bin/pip-audit")

    def no_pip_audit(*args, **kwargs):
        raise AssertionError("pip-audit was run although the service cannot be reached")

    monkeypatch.setattr(audit.subprocess, "run", no_pip_audit)
    start = time.monotonic()
    result = audit.run(list(audit.FILES))
    elapsed = time.monotonic() - start
    hole.close()
    text = audit.summary(result)
    assert elapsed <= 3.0, elapsed
    assert not result.failed and "\n" not in text
    assert text.startswith("pip-audit: the vulnerability service (127.0.0.1) cannot be reached (")
    assert text.endswith(f"{audit.pinned_count(list(audit.FILES))} pinned package(s) NOT audited (offline)")
    assert audit.pinned_count(list(audit.FILES)) > 10


def test_the_probe_says_reachable_for_any_http_answer_and_why_not_otherwise():
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert audit.unreachable(f"http://127.0.0.1:{server.server_port}/pypi/pip/json") is None
    finally:
        server.shutdown()
        server.server_close()
    closed = _black_hole()
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: refused at once
    why = audit.unreachable(f"http://127.0.0.1:{port}/")
    assert why is not None and "refused" in why.lower()
