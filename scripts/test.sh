#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then lints and tests.
# Usage: make test   (or: bash scripts/test.sh [extra pytest args])
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_apt[*]} (run as root or install them)" >&2
    exit 1
  fi
fi

echo "== installing Python packages (requirements-dev.txt)"
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt

echo "== pip-audit (known vulnerabilities in the pinned dependencies)"
python3 scripts/audit.py

echo "== ruff"
python3 -m ruff check .

echo "== pytest (2 processes: pytest-xdist; tests/conftest.py keeps a module, the browser tests and the"
echo "   PostgreSQL tests each on one worker)"
# CI=1 turns a missing PostgreSQL or Chromium into a failure instead of a skip
CI=1 python3 -m pytest -n 2 --dist loadgroup "$@"
