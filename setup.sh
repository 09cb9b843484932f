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
# Each value as a TOML basic string, whatever it holds (quotes, backslashes, newlines, any control
# character; TOML allows none of them raw): python3 escapes it, as the start command needs python anyway.
# A value that is not UTF-8 cannot be written to TOML, nor typed into the password box: say so and stop.
python3 - "$secrets" <<'PY'
import os
import sys

ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in ESCAPES:
            out.append(ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


lines = []
for var in ("DATABASE_URL", "APP_PASSWORD"):
    raw = os.environb.get(var.encode(), b"")
    if not raw:
        continue
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        sys.exit(f"setup.sh: the config var {var} is not UTF-8 text: set it again (secrets.toml not written)")
    lines.append(f"{var} = {toml_string(value)}\n")
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.writelines(lines)
PY
