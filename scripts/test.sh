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

# The audit mostly waits for the vulnerability service (a minute or two here): it runs beside the lint
# and the tests, and its report is printed, and can fail the command, at the end.
echo "== pip-audit (known vulnerabilities in the pinned dependencies): started, reported at the end"
audit_log="$(mktemp)"
pytest_log="$(mktemp)"
trap 'rm -f "$audit_log" "$pytest_log"' EXIT
python3 scripts/audit.py > "$audit_log" 2>&1 &
audit_pid=$!

echo "== ruff"
python3 -m ruff check .

echo "== pytest (2 processes: pytest-xdist; tests/conftest.py keeps a module, the browser tests and the"
echo "   PostgreSQL tests each on one worker)"
# CI=1 turns a missing PostgreSQL or Chromium into a failure instead of a skip
status=0
CI=1 python3 -m pytest -n 2 --dist loadgroup "$@" 2>&1 | tee "$pytest_log" || status=$?

echo "== pip-audit"
audit_status=0
wait "$audit_pid" || audit_status=$?
cat "$audit_log"
# pytest's closing line again, last, so that it is what a reader (or CI) sees at the end
echo "== pytest"
grep -E "(passed|failed|errors?|skipped|no tests ran).* in [0-9.]+s" "$pytest_log" | tail -n 1 || true
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
exit "$audit_status"
