# Shared helpers for scripts/setup.sh and scripts/test.sh. Source it; don't run it.
# shellcheck shell=bash

REFINERY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034  # used by the scripts that source this file
REFINERY_LOG_DIR="$REFINERY_ROOT/.cache/setup"   # .cache/ is gitignored

# Seconds since the epoch with microseconds (bash 5).
now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }

# Seconds elapsed since a `now` value, one decimal.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

is_ci() { [[ -n "${CI:-}" && "${CI:-}" != "false" && "${CI:-}" != "0" ]]; }

# die MESSAGE [HINT...]: print what went wrong and what to do, then exit 1.
die() {
  printf '\nsetup FAILED: %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf '  -> %s\n' "$line" >&2; done
  exit 1
}

# show_log FILE: print a captured log after a failure (all of it on CI, the tail locally).
show_log() {
  local file="$1"
  [[ -s "$file" ]] || return 0
  if is_ci; then
    printf -- '----- %s -----\n' "$file" >&2
    cat "$file" >&2
  else
    printf -- '----- last 80 lines of %s -----\n' "$file" >&2
    tail -n 80 "$file" >&2
  fi
  printf -- '-----\n' >&2
}

# PostgreSQL server binaries: path of initdb of the newest installed major version, or nothing.
pg_initdb() {
  { ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null || true; } | sort -t/ -k5,5n | tail -n1
}
