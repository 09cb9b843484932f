"""The project's documents (``docs/*.md``) as the app shows them.

The Help page renders ``docs/method.md`` read at run time, so the page and the file cannot
drift. The file is found relative to the project root (this package's parent), which is
what Heroku deploys (the whole repository) and what ``make run`` starts from.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["DOCS_DIR", "HELP_MARKER", "METHOD_MD", "method_markdown"]

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
METHOD_MD = DOCS_DIR / "method.md"
#: The Help page shows what follows this line of docs/method.md (GitHub hides the comment).
HELP_MARKER = "<!-- The Help page shows everything below this line. -->"

_HEADING = re.compile(r"#{1,5} ")


def method_markdown(path: Path = METHOD_MD) -> str:
    """The method as the Help page shows it: the part of ``docs/method.md`` after :data:`HELP_MARKER`,
    every heading one level down (the page puts them under its own "The method" header).

    Raises
    ------
    FileNotFoundError
        When the file is missing (a deployment without ``docs/``): a bug of the deployment, not
        of the user's input, so it is not hidden.
    ValueError
        When the file has lost its marker line.
    """
    text = path.read_text(encoding="utf-8")
    head, marker, body = text.partition(HELP_MARKER)
    if not marker:
        raise ValueError(f"{path} has no line {HELP_MARKER!r} marking where the Help page starts")
    lines, fenced = [], False
    for line in body.strip().splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        lines.append("#" + line if not fenced and _HEADING.match(line) else line)
    return "\n".join(lines) + "\n"
