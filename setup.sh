#!/bin/sh
# Heroku start-up: turn config vars into .streamlit/secrets.toml (git-ignored), nothing else.
# Config vars used: DATABASE_URL (set by the Postgres add-on), APP_PASSWORD (optional gate).
set -eu
# nothing to write: leave a developer's own secrets.toml alone
[ -n "${DATABASE_URL:-}${APP_PASSWORD:-}" ] || exit 0
dir="$(dirname "$0")/.streamlit"
mkdir -p "$dir"
secrets="$dir/secrets.toml"
umask 077
: > "$secrets"
for var in DATABASE_URL APP_PASSWORD; do
  eval "value=\${$var:-}"
  if [ -n "$value" ]; then
    # TOML basic string: escape backslashes and double quotes
    escaped=$(printf '%s' "$value" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
    printf '%s = "%s"\n' "$var" "$escaped" >> "$secrets"
  fi
done
