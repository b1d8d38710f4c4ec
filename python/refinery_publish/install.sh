#!/usr/bin/env bash
# Build Refinery's Publish for JupyterLab and install it into a Python environment (default envs/base):
#
#   1. labextension/: `npm ci` (pinned by labextension/package-lock.json, only when that lock changed),
#      `tsc`, then `jupyter labextension build` with the environment's JupyterLab (a prebuilt,
#      federated extension: JupyterLab loads it as it is, no `jupyter lab build` at run time);
#   2. python/refinery_publish (the server extension) with the built extension inside, installed with
#      pip from a scratch copy (--no-deps --no-index --no-build-isolation: nothing is downloaded), which
#      places share/jupyter/labextensions/@refinery/publish and
#      etc/jupyter/jupyter_server_config.d/refinery_publish.json under the environment's prefix.
#
# Idempotent: a stamp in the environment records a hash of every input (sources, locks, the
# environment's own lock hash, Node's version); when it matches and the installed files are there,
# nothing is done. Called by scripts/setup-python.sh; run by hand as
#   bash python/refinery_publish/install.sh [ENV_DIR]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENV_DIR="${1:-$REPO/envs/base}"
LABEXT="$REPO/labextension"
PKG="$REPO/python/refinery_publish"
STAMP="$ENV_DIR/.refinery-publish-stamp"
LOG="$ENV_DIR/.refinery-publish.log"
T0=$SECONDS

say() { echo "refinery-publish: $*"; }
die() { echo "refinery-publish: error: $*" >&2; exit 1; }
run() { # run CMD...: quiet on success, the log's tail on failure
  if ! "$@" >>"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    die "$* failed (full log: $LOG)"
  fi
}

[ -x "$ENV_DIR/bin/python" ] || die "no Python environment at $ENV_DIR (run scripts/setup-python.sh first)"
[ -x "$ENV_DIR/bin/jupyter-labextension" ] || die "$ENV_DIR has no JupyterLab"
command -v node >/dev/null || die "node not found"

inputs_hash() {
  {
    (cd "$LABEXT" && find src style schema -type f | LC_ALL=C sort | xargs sha256sum && sha256sum package.json package-lock.json tsconfig.json)
    (cd "$PKG" && find . -path ./build -prune -o -path '*/__pycache__' -prune -o -path ./refinery_publish/labextension -prune -o -name '*.egg-info' -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum)
    cat "$ENV_DIR/.refinery-lock-hash" 2>/dev/null || true
    node --version
  } | sha256sum | cut -d' ' -f1
}

installed() {
  [ -f "$ENV_DIR/share/jupyter/labextensions/@refinery/publish/package.json" ] &&
    [ -f "$ENV_DIR/etc/jupyter/jupyter_server_config.d/refinery_publish.json" ] &&
    "$ENV_DIR/bin/python" -c 'import refinery_publish.handlers' >/dev/null 2>&1
}

WANT="$(inputs_hash)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && installed; then
  say "up to date in $(basename "$ENV_DIR") ($((SECONDS - T0))s)"
  exit 0
fi
: >"$LOG"
rm -f "$STAMP"

# 1. node dependencies of the extension, pinned by its own lock
NODE_STAMP="$LABEXT/node_modules/.refinery-stamp"
NODE_WANT="$(sha256sum "$LABEXT/package-lock.json" | cut -d' ' -f1) $(node -p process.versions.modules)"
if [ ! -f "$NODE_STAMP" ] || [ "$(cat "$NODE_STAMP")" != "$NODE_WANT" ]; then
  t=$SECONDS
  say "npm ci in labextension/ (pinned by its package-lock.json)"
  (cd "$LABEXT" && run npm ci --ignore-scripts --no-audit --no-fund)
  echo "$NODE_WANT" >"$NODE_STAMP"
  say "node dependencies installed in $((SECONDS - t))s"
fi

# 2. compile and build the federated extension against this environment's JupyterLab
t=$SECONDS
CORE="$("$ENV_DIR/bin/python" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging", "package.json"))')"
rm -rf "$LABEXT/lib" "$LABEXT/build" "$LABEXT/tsconfig.tsbuildinfo"
(cd "$LABEXT" && run node node_modules/typescript/bin/tsc -p tsconfig.json)
(cd "$LABEXT" && PATH="$ENV_DIR/bin:$PATH" run jupyter labextension build --core-package-file "$CORE" .)
[ -f "$LABEXT/build/labextension/package.json" ] || die "jupyter labextension build made no build/labextension/package.json"
say "lab extension built in $((SECONDS - t))s"

# 3. the Python package, with the built extension inside, from a scratch copy (the source stays clean)
t=$SECONDS
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
cp -r "$PKG" "$SCRATCH/pkg"
rm -rf "$SCRATCH/pkg/build" "$SCRATCH/pkg/refinery_publish/labextension" "$SCRATCH"/pkg/*.egg-info
cp -r "$LABEXT/build/labextension" "$SCRATCH/pkg/refinery_publish/labextension"
# a reinstall must not leave the previous build's hashed bundles behind
rm -rf "$ENV_DIR/share/jupyter/labextensions/@refinery/publish"
run env PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$ENV_DIR/bin/python" -m pip install --no-deps --no-index --no-build-isolation --force-reinstall --no-cache-dir "$SCRATCH/pkg"
installed || die "installed, but the extension's files or the refinery_publish module are missing in $ENV_DIR"
echo "$WANT" >"$STAMP"
say "installed into $(basename "$ENV_DIR") in $((SECONDS - t))s (total $((SECONDS - T0))s)"
