"""Audit the pinned dependencies for known vulnerabilities (``pip-audit``), as part of ``make test``.

Runs ``pip-audit --no-deps -f json`` on ``requirements.txt`` and ``requirements-dev.txt`` (every
package is pinned with ``==``, so no resolution is needed) and prints one summary line:

- a package with a known vulnerability fails the step (exit 1) and is listed with its advisories
  and the versions that fix them;
- packages the vulnerability service could not answer for (no network, a private mirror without
  PyPI's JSON API) are *not audited*: the step says so, with their count, and does not pretend
  they are clean; it passes, because a missing service is not a finding;
- ``pip-audit`` itself missing or failing is reported with its message and passes the same way
  ("when available");
- the vulnerability service unreachable (offline): one probe of :data:`SERVICE_URL`, given
  :data:`PROBE_S` seconds, says so in one line and pip-audit is not run at all, so the step takes
  at most about 3 s instead of pip-audit's 20 s of retries per package.

Usage: ``python3 scripts/audit.py [requirements files...]``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("requirements.txt", "requirements-dev.txt")
#: what pip-audit asks by default (its "pypi" vulnerability service: PyPI's JSON API)
SERVICE_URL = "https://pypi.org/pypi/pip/json"
#: how long the reachability probe may take in all, DNS included (s)
PROBE_S = 2.0


@dataclass(frozen=True)
class Audit:
    """What ``pip-audit -f json`` said, per package."""

    audited: tuple[str, ...] = ()
    vulnerable: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (name, version, advisory lines)
    skipped: tuple[tuple[str, str], ...] = ()  # (name, reason)
    problems: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return bool(self.vulnerable)


def parse(report: dict) -> Audit:
    """Sort ``pip-audit``'s JSON report into audited, vulnerable and skipped packages."""
    audited, vulnerable, skipped = [], [], []
    for dep in report.get("dependencies", []):
        name = dep.get("name", "?")
        if "skip_reason" in dep:
            skipped.append((name, dep["skip_reason"]))
            continue
        audited.append(name)
        vulns = dep.get("vulns") or []
        if vulns:
            lines = tuple(f"{v.get('id', '?')} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release'})"
                          for v in vulns)
            vulnerable.append((name, dep.get("version", "?"), lines))
    return Audit(tuple(audited), tuple(vulnerable), tuple(skipped))


def summary(audit: Audit) -> str:
    """The lines the test command prints."""
    lines = []
    if audit.vulnerable:
        lines.append(f"pip-audit: {len(audit.vulnerable)} pinned package(s) with known vulnerabilities:")
        lines += [f"  {name} {version}: {'; '.join(adv)}" for name, version, adv in audit.vulnerable]
    elif audit.audited:
        lines.append(f"pip-audit: {len(audit.audited)} package(s) audited, no known vulnerabilities")
    if audit.skipped:
        reason = audit.skipped[0][1].split(":")[0]
        lines.append(f"pip-audit: {len(audit.skipped)} package(s) NOT audited ({reason}; e.g. "
                     f"{', '.join(n for n, _ in audit.skipped[:4])}): the vulnerability service did not answer")
    lines += [f"pip-audit: {p}" for p in audit.problems]
    return "\n".join(lines)


def unreachable(url: str | None = None, timeout_s: float | None = None) -> str | None:
    """Why the vulnerability service cannot be reached, or None when it answers (any HTTP status).

    One HEAD request in a daemon thread, waited for at most ``timeout_s`` seconds in all: a socket
    timeout does not bound the name lookup, which can hang for much longer without a network.
    """
    url = SERVICE_URL if url is None else url
    timeout_s = PROBE_S if timeout_s is None else timeout_s
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s).close()  # noqa: S310
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)  # it answered: reachable
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            outcome.append(str(reason) or type(exc).__name__)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        return f"no answer within {timeout_s:g} s"
    return outcome[0]


def pinned_count(files: list[str]) -> int:
    """Pinned requirement lines (``name==version``) in ``files``."""
    count = 0
    for f in files:
        path = ROOT / f
        if path.is_file():
            count += sum("==" in line.split("#")[0] for line in path.read_text().splitlines())
    return count


def run(files: list[str]) -> Audit:
    exe = shutil.which("pip-audit")
    if exe is None:
        return Audit(problems=("not installed (pip install pip-audit); dependencies not audited",))
    why = unreachable()
    if why is not None:
        host = urllib.parse.urlsplit(SERVICE_URL).hostname
        return Audit(problems=(f"the vulnerability service ({host}) cannot be reached ({why[:120]}): "
                               f"{pinned_count(files)} pinned package(s) NOT audited (offline)",))
    args = [exe, "--no-deps", "-f", "json", "--progress-spinner", "off"]
    for f in files:
        args += ["-r", str(ROOT / f)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Audit(problems=(f"could not run (exit {proc.returncode}): {last[:300]}; dependencies not audited",))
    return parse(report)


def main(argv: list[str]) -> int:
    audit = run(argv or list(FILES))
    print(summary(audit))
    return 1 if audit.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
