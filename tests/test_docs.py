"""The documentation: the README stays a first screen, its notebook example runs, every link
resolves, and the Help page shows docs/method.md itself (so the two cannot drift)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from app_helpers import new_app, no_errors
from conftest import ROOT, SAMPLE_ATF

from app.docs import HELP_MARKER, METHOD_MD, method_markdown

DOCS = sorted((ROOT / "docs").glob("*.md"))
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_docs_the_readme_links_exist():
    for name in ("method.md", "app-guide.md", "cli.md", "operations.md", "benchmarks.md"):
        assert (ROOT / "docs" / name).is_file(), name


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(path):
    text = re.sub(r"`[^`\n]*`", "", path.read_text(encoding="utf-8"))  # not links in code
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        assert dest.exists(), f"{path.name}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), flags=re.MULTILINE)
            assert anchor in {_anchor(h) for h in headings}, f"{path.name}: no heading for #{anchor} in {dest.name}"


def test_readme_is_a_first_screen():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 170
    assert "make run" in text and "make test" in text
    assert "signal-analyzer analyze" in text and "signal-analyzer qv" in text
    assert "![" in text  # the screenshot


@pytest.mark.slow
def test_readme_notebook_example_is_three_lines_and_runs():
    """Run as written, in the directory of the lab's sample (the example names it without a folder)."""
    if not SAMPLE_ATF.exists():
        pytest.skip(f"the sample recording is missing: {SAMPLE_ATF}")
    (code,) = _code_blocks(README.read_text(encoding="utf-8"), "python")
    assert len(code.strip().splitlines()) == 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=SAMPLE_ATF.parent, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    q_on, q_off = (float(x) for x in out.split()[:2])
    # ../shared/data/README.md: Q_on about +3.6 pC with the tail correction, Q_off of the opposite sign
    assert 3.0 < q_on < 4.5 and -4.5 < q_off < -3.0


def test_method_has_the_marker_and_formulas():
    text = METHOD_MD.read_text(encoding="utf-8")
    assert text.count(HELP_MARKER) == 1
    shown = method_markdown()
    for formula in ("g_{on}(t)", "I_{on}(t)", "Q_{on}", "C_{lin}", "C_m", "V_{half}"):
        assert formula in shown
    assert "$$" in shown and shown.count("$$") % 2 == 0  # display formulas open and close
    assert not re.search(r"^# ", shown, flags=re.MULTILINE)  # headings sit under the page's own header


def test_method_markdown_demotes_headings_but_not_code(tmp_path):
    doc = tmp_path / "m.md"
    doc.write_text(f"# Title\nintro\n{HELP_MARKER}\n## A\ntext\n```python\n# a comment\n```\n### B\n")
    assert method_markdown(doc) == "### A\ntext\n```python\n# a comment\n```\n#### B\n"
    doc.write_text("# no marker\n")
    with pytest.raises(ValueError, match="marking where the Help page starts"):
        method_markdown(doc)


def test_help_page_renders_docs_method_md():
    at = new_app()
    at.switch_page("pages/4_help.py").run()
    no_errors(at)
    assert method_markdown().strip() in [m.value.strip() for m in at.markdown]


def test_docs_are_deployed_with_the_app():
    """Heroku deploys the repository's tracked files, less what .slugignore names: the Help page's method is one."""
    tracked = subprocess.run(["git", "ls-files", "docs"], cwd=ROOT, capture_output=True, text=True, check=True,
                             timeout=60).stdout.split()
    assert "docs/method.md" in tracked
    ignore = ROOT / ".slugignore"
    patterns = ignore.read_text().split() if ignore.exists() else []
    assert not any(p.strip("/").startswith(("docs", "*.md")) for p in patterns)
    assert METHOD_MD == ROOT / "docs" / "method.md"  # found from the project root, whatever the working directory
