#!/usr/bin/env bash
# Create or refresh the single-user Python environment envs/base from python/requirements/base.lock.txt.
#
#   bash scripts/setup-python.sh            # make envs/base match the lock (fast no-op when it already does)
#   bash scripts/setup-python.sh --force    # rebuild envs/base from scratch
#   bash scripts/setup-python.sh --relock   # re-resolve base.in into base.lock.txt, then rebuild envs/base
#
# Idempotent: a hash of the lock's pins (and of the Python version) is stored inside the venv; when it
# matches and the venv imports jupyterhub, jupyterlab and ipykernel, nothing is done. A changed lock, a
# changed Python or a broken venv (e.g. a half-finished earlier run) is rebuilt from scratch.
# Never reads stdin; works with CI=true. Installs from PyPI only. One line of output per step.
#
# Environment: PYTHON (default python3), REFINERY_BASE_ENV (default <repo>/envs/base).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${REFINERY_BASE_ENV:-$REPO/envs/base}"
IN="$REPO/python/requirements/base.in"
LOCK="$REPO/python/requirements/base.lock.txt"
STAMP="$VENV/.refinery-lock-hash"
PIP_LOG="$(dirname "$VENV")/.$(basename "$VENV").pip.log"
MODE=sync
SHOW="${VENV#"$REPO"/}"

for arg in "$@"; do
  case "$arg" in
    --force) MODE=force ;;
    --relock) MODE=relock ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup-python: unknown argument $arg" >&2; exit 2 ;;
  esac
done

step() { echo "setup-python: $*"; }
fail() { echo "setup-python: error: $*" >&2; exit 1; }

# pip must never prompt, never nag, and never show progress bars in logs.
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
unset PIP_USER PYTHONHOME 2>/dev/null || true

command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found"
mkdir -p "$(dirname "$VENV")"

# One setup at a time per venv (parallel test runners, two terminals).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$(dirname "$VENV")/.$(basename "$VENV").setup.lock"
  flock 9
fi

run_pip() { # run_pip <python> <args...>: quiet on success, log tail on failure
  local py="$1"; shift
  if ! "$py" -m pip "$@" >>"$PIP_LOG" 2>&1; then
    tail -n 40 "$PIP_LOG" >&2
    fail "pip $1 failed (full log: $PIP_LOG)"
  fi
}

if [ "$MODE" = relock ]; then
  TMP_VENV="$(mktemp -d)/lockvenv"
  step "re-resolving $(basename "$IN") in a scratch venv"
  : >"$PIP_LOG"
  "$PYTHON" -m venv "$TMP_VENV"
  run_pip "$TMP_VENV/bin/python" install --upgrade pip
  run_pip "$TMP_VENV/bin/python" install -r "$IN"
  step "writing $(basename "$LOCK")"
  { sed -n '1,/^# ---- pip freeze/p' "$LOCK"; "$TMP_VENV/bin/python" -m pip freeze; } >"$LOCK.tmp"
  mv "$LOCK.tmp" "$LOCK"
  rm -rf "$(dirname "$TMP_VENV")"
  MODE=force
fi

[ -f "$LOCK" ] || fail "$LOCK is missing"
# The hash covers the pins (comments and blank lines do not matter) and the exact Python version.
WANT="$( { grep -vE '^[[:space:]]*(#|$)' "$LOCK"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

healthy() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/jupyterhub-singleuser" ] && [ -f "$VENV/package.json" ] \
    && "$VENV/bin/python" -c 'import jupyterhub, jupyterlab, ipykernel' >/dev/null 2>&1
}

if [ "$MODE" = sync ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  if healthy; then
    step "$SHOW is up to date (lock hash ${WANT:0:12})"
    exit 0
  fi
  step "$SHOW matches the lock but is broken (a file is missing or jupyterhub/jupyterlab/ipykernel do not import): rebuilding"
elif [ "$MODE" = sync ] && [ -e "$VENV" ]; then
  step "$SHOW is out of date or unfinished: rebuilding"
fi

START=$SECONDS
: >"$PIP_LOG"
step "removing old $VENV"
rm -rf "$VENV"
step "creating venv with $("$PYTHON" --version 2>&1) at $VENV"
"$PYTHON" -m venv "$VENV"
# The repo's package.json says "type": "module"; without a nearer package.json, node would load the
# CommonJS .js files shipped inside Python packages (jupyterlab's yarn.js, run at every server start)
# as ES modules and fail. This one marks everything under the venv as CommonJS again.
echo '{ "type": "commonjs" }' >"$VENV/package.json"
step "installing $(grep -cE '^[A-Za-z0-9]' "$LOCK") pinned packages from $(basename "$LOCK")"
run_pip "$VENV/bin/python" install --require-virtualenv -r "$LOCK"
step "checking the environment"
run_pip "$VENV/bin/python" check
healthy || fail "the new venv cannot import jupyterhub, jupyterlab and ipykernel"
echo "$WANT" >"$STAMP"
step "done in $((SECONDS - START))s: $VENV ($("$VENV/bin/python" -c 'import jupyterhub, jupyterlab; print("jupyterhub", jupyterhub.__version__, "jupyterlab", jupyterlab.__version__)'))"
