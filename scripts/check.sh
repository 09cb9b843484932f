#!/usr/bin/env bash
# The inner loop (about a minute): ruff, then the tests not marked slow, browser or postgres.
# Installs nothing: run `make test` once first (or pip install -r requirements-dev.txt).
# Usage: make check   (or: bash scripts/check.sh [extra pytest args], e.g. -k tail)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"
python3 -m ruff check .

echo "== pytest (fast tests)"
parallel=()
if python3 -c "import xdist" 2>/dev/null; then
  parallel=(-n 2 --dist loadgroup)
fi
python3 -m pytest -q "${parallel[@]}" -m "not slow and not browser and not postgres" "$@"
