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
SKIPPED = {"name": "streamlit", "skip_reason": "Dependency not found on PyPI and could not be audited: streamlit (1.67.0)"}


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
