#!/usr/bin/env bash
# Create or refresh the single-user Python environments (the local images) from python/requirements:
#
#   envs/base    base.in  -> base.lock.txt   JupyterLab, jupyterhub-singleuser, ipykernel, the idle culler
#   envs/spark   spark.in -> spark.lock.txt  a LAYER on base: pyspark (+ Spark Connect client, pandas, pyarrow)
#   envs/dask    dask.in  -> dask.lock.txt   a LAYER on base: dask, distributed, pandas, pyarrow, bokeh, ...
#
#   bash scripts/setup-python.sh                     make every env match its lock (fast no-op when they do)
#   bash scripts/setup-python.sh --only base,spark   just these (plus the envs they are layered on)
#   bash scripts/setup-python.sh --force [--only X]  rebuild the named envs (default: all) from scratch
#   bash scripts/setup-python.sh --relock [--only X] re-resolve X.in into X.lock.txt, then rebuild X
#
# Every python/requirements/<name>.in is an env; a line "#@ layer-on: <parent>" makes it a layer and
# "#@ imports: a b.c" names the modules its health check imports.
#
# Layers. envs/<layer> is a venv (without pip) whose site-packages holds ONLY the packages its parent
# lacks (<layer>.lock.txt lists exactly those, computed at relock time, installed with --no-deps) and
# a file `_refinery_layer.pth` that appends the parent's site-packages to sys.path AFTER the layer's
# own (site.addsitedir, so the parent's .pth files run too): the layer's packages win, JupyterLab and
# friends are installed once. `pip check` runs with both paths. To make the layer a complete Jupyter
# environment when run as `envs/<layer>/bin/python -m jupyterhub.singleuser`, its share/jupyter and
# etc/jupyter mirror the parent's by symlinks (JupyterLab's app dir, lab extensions, server-extension
# config, the python3 kernelspec, whose "python" jupyter_client replaces by sys.executable, i.e. the
# layer's python), with the layer's own files winning; and the parent's console scripts
# (jupyterhub-singleuser, jupyter-lab, ...) are copied into its bin/ with their #! rewritten to the
# layer's python. Kernels therefore run the layer's python and see its packages; envs/base does not.
# Files a layer has byte-for-byte like a sibling layer (same parent; numpy and pyarrow in spark and
# dask) are hard-linked to the sibling's, so they take disk space once.
#
# Idempotent: each env stores a hash of its lock's pins and the Python version (a layer's also covers
# its parent's hash, so a changed base rebuilds the layers); when it matches and the env passes its
# health check (imports), nothing is done. A changed lock or Python, or a broken env (e.g. a
# half-finished earlier run) is rebuilt from scratch. Packages published only as a source archive
# (pyspark: a ~450 MB sdist) are marked "# sdist-only" in the lock; their wheel is built once into a
# wheelhouse and reused by every later build (and by every checkout on the machine); building a new
# version of such a package drops the older ones' wheels.
# Never reads stdin; works with CI=true. Installs from PyPI only. One line of output per step, with
# timings; the last line sums up.
#
# Environment: PYTHON (default python3; as root, a copy of it in .tools/python when other accounts
# cannot reach it); REFINERY_ENVS_DIR (default <repo>/envs);
# REFINERY_WHEELHOUSE (default ${XDG_CACHE_HOME:-~/.cache}/refinery/wheels).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON_CHOSEN="${PYTHON:+yes}"
PYTHON="${PYTHON:-python3}"
REQ="$REPO/python/requirements"
ENVS_DIR="${REFINERY_ENVS_DIR:-$REPO/envs}"
WHEELHOUSE="${REFINERY_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/refinery/wheels}"
# Bump when the way layers are assembled changes: it is part of every layer's hash, so layers rebuild.
LAYER_LAYOUT=1
FREEZE_MARK='# ---- pip freeze'
MODE=sync
ONLY=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --force) MODE=force ;;
    --relock) MODE=relock ;;
    --only) [ $# -ge 2 ] || { echo "setup-python: --only needs a list, e.g. --only base,spark" >&2; exit 2; }; ONLY="$2"; shift ;;
    --only=*) ONLY="${1#--only=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup-python: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

T0=$SECONDS
step() { echo "setup-python: $*"; }
fail() { echo "setup-python: error: $*" >&2; exit 1; }
show() { echo "${1#"$REPO"/}"; }

# pip must never prompt, never nag, and never show progress bars in logs.
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
unset PIP_USER PYTHONHOME PYTHONPATH 2>/dev/null || true

command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found"

# As root, people's servers run as system accounts of their own (README "Who servers run as"), and
# they run the environments' interpreter: a python3 inside a private home (pyenv under /root, mode
# 0700) cannot be run by them, and every server would fail with "permission denied". Then the
# interpreter and its standard library (not its site-packages: the envs do not use them) are copied
# once into .tools/python/<version>, where every account can run them, and the envs are built on that
# copy: the same Python, so the locks still fit. The binary finds its libpython next to it ($ORIGIN).
usable_by_others() { # usable_by_others PYTHON: its binary and standard library are reachable by any account
  "$1" - <<'PY' 2>/dev/null
import os, sys, sysconfig
for path in (os.path.realpath(sys.executable), sysconfig.get_path("stdlib")):
    d = path
    while d != os.path.dirname(d):
        d = os.path.dirname(d)
        if not os.stat(d).st_mode & 0o001:
            sys.exit(1)
PY
}
shared_python() { # shared_python PYTHON: prints the path of a copy every account can run
  local base ver exe dest tmp
  base="$("$1" -c 'import sys; print(sys.base_prefix)')"
  ver="$("$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  exe="$(basename "$("$1" -c 'import os, sys; print(os.path.realpath(sys.executable))')")"
  dest="$REPO/.tools/python/$ver"
  if [ ! -f "$dest/.copied-from" ] || [ "$(cat "$dest/.copied-from")" != "$base" ]; then
    if ! command -v patchelf >/dev/null 2>&1; then
      { apt-get install -y -q --no-install-recommends patchelf || { apt-get update -q && apt-get install -y -q --no-install-recommends patchelf; }; } </dev/null >&2 \
        || fail "patchelf is needed to copy $base (apt-get install patchelf)"
    fi
    tmp="$dest.tmp"
    rm -rf "$tmp" && mkdir -p "$tmp"
    (cd "$base" && tar --exclude='./lib/python3.*/site-packages/*' --exclude='./lib/python3.*/test' -cf - .) | (cd "$tmp" && tar -xf -)
    patchelf --set-rpath '$ORIGIN/../lib' "$tmp/bin/$exe"
    chmod -R go+rX "$tmp"
    echo "$base" >"$tmp/.copied-from"
    rm -rf "$dest" && mv "$tmp" "$dest"
    echo "setup-python: copied $base into $(show "$dest") ($(du -sh "$dest" | cut -f1)): $base cannot be reached by other accounts" >&2
  fi
  echo "$dest/bin/$exe"
}
if [ -z "$PYTHON_CHOSEN" ] && [ "$(id -u)" = 0 ] && ! usable_by_others "$PYTHON"; then
  PYTHON="$(shared_python "$PYTHON")"
  step "using $(show "$PYTHON"), which people's accounts can run"
  # proof, as an account that is not root (nobody): the interpreter, its libpython and its stdlib
  if command -v setpriv >/dev/null 2>&1 && ! setpriv --reuid=65534 --regid=65534 --clear-groups "$PYTHON" -c 'import ssl, sqlite3, json' >/dev/null 2>&1; then
    step "warning: other accounts still cannot run $(show "$PYTHON") (is the repository itself in a directory they cannot enter?); people's servers will fail to start unless spawner.local.run_as is hub"
  fi
fi
# the interpreter's place too: a venv points at it, so one built on another copy is rebuilt
PY_VERSION="$("$PYTHON" -c 'import os, sys; print(sys.version, os.path.realpath(sys.executable))')"
mkdir -p "$ENVS_DIR" "$WHEELHOUSE"

# ---------------------------------------------------------------------------------------------------
# The envs and how they stack

directive() { # directive FILE KEY: the value of a "#@ KEY: value" line, or nothing
  sed -n "s/^#@[[:space:]]*$2:[[:space:]]*//p" "$1" | head -n1 | sed 's/[[:space:]]*$//'
}
parent_of() { directive "$REQ/$1.in" layer-on; }

ALL_ENVS=()
for f in "$REQ"/*.in; do [ -e "$f" ] && ALL_ENVS+=("$(basename "$f" .in)"); done
[ ${#ALL_ENVS[@]} -gt 0 ] || fail "no python/requirements/*.in"
for e in "${ALL_ENVS[@]}"; do
  [[ "$e" =~ ^[a-z0-9][a-z0-9_-]*$ ]] || fail "python/requirements/$e.in: env names are lowercase letters, digits, - and _"
  p="$(parent_of "$e")"
  if [ -n "$p" ] && [ ! -f "$REQ/$p.in" ]; then fail "$e.in is layered on $p, but there is no $p.in"; fi
done

# Parents before children (the chain is checked for cycles).
ORDERED=()
placed() { local x; for x in "${ORDERED[@]:-}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
while [ ${#ORDERED[@]} -lt ${#ALL_ENVS[@]} ]; do
  progress=0
  for e in "${ALL_ENVS[@]}"; do
    placed "$e" && continue
    p="$(parent_of "$e")"
    if [ -z "$p" ] || placed "$p"; then ORDERED+=("$e"); progress=1; fi
  done
  [ $progress = 1 ] || fail "python/requirements/*.in: the layer-on lines form a cycle"
done

# Selection: --only's envs plus everything they are layered on.
declare -A NAMED=() SELECTED=()
if [ -n "$ONLY" ]; then
  IFS=', ' read -r -a only_list <<<"$ONLY"
  for e in "${only_list[@]}"; do
    [ -z "$e" ] && continue
    [ -f "$REQ/$e.in" ] || fail "--only: no env named $e (there are: ${ALL_ENVS[*]})"
    NAMED[$e]=1
    while [ -n "$e" ]; do SELECTED[$e]=1; e="$(parent_of "$e")"; done
  done
else
  for e in "${ALL_ENVS[@]}"; do NAMED[$e]=1; SELECTED[$e]=1; done
fi

# One setup at a time (parallel test runners, two terminals): the layers depend on base.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ENVS_DIR/.setup.lock"
  flock 9
fi

# ---------------------------------------------------------------------------------------------------
# Helpers

PIP_LOG=/dev/null
run_pip() { # run_pip <python> <args...>: quiet on success, log tail on failure
  local py="$1"; shift
  if ! "$py" -m pip "$@" >>"$PIP_LOG" 2>&1; then
    tail -n 40 "$PIP_LOG" >&2
    fail "pip $1 failed (full log: $PIP_LOG)"
  fi
}

pins() { # pins LOCK: the requirement lines, trailing comments and blank lines dropped
  grep -vE '^[[:space:]]*(#|$)' "$1" | sed -E 's/[[:space:]]+#.*$//; s/[[:space:]]+$//'
}
flat_pins() { # flat_pins ENV: the pins of ENV and of everything under it
  local e="$1"
  while [ -n "$e" ]; do pins "$REQ/$e.lock.txt"; e="$(parent_of "$e")"; done
}
canon() { tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/-/g'; } # PEP 503 names

declare -A WANT_CACHE=()
want_hash() { # want_hash ENV: the stamp a correct ENV carries
  local e="$1" p h
  if [ -n "${WANT_CACHE[$e]:-}" ]; then echo "${WANT_CACHE[$e]}"; return; fi
  p="$(parent_of "$e")"
  if [ -z "$p" ]; then
    # Unchanged since envs/base was the only env: existing base venvs stay valid.
    h="$( { grep -vE '^[[:space:]]*(#|$)' "$REQ/$e.lock.txt"; echo "$PY_VERSION"; } | sha256sum | cut -d' ' -f1)"
  else
    h="$( { echo "layer-layout $LAYER_LAYOUT on $p $(want_hash "$p")"; pins "$REQ/$e.lock.txt"; echo "$PY_VERSION"; } | sha256sum | cut -d' ' -f1)"
  fi
  WANT_CACHE[$e]="$h"
  echo "$h"
}

site_of() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))'; }

healthy() { # healthy ENV [full]: the env exists, is whole, and imports what it promises
  local e="$1" v="$ENVS_DIR/$1" p imports="" m
  p="$(parent_of "$e")"
  for m in $(directive "$REQ/$e.in" imports); do imports="$imports, $m"; done
  [ -x "$v/bin/python" ] && [ -x "$v/bin/jupyterhub-singleuser" ] && [ -f "$v/package.json" ] || return 1
  if [ -n "$p" ]; then
    [ -f "$(site_of "$v")/_refinery_layer.pth" ] && [ -d "$v/share/jupyter/lab/static" ] || return 1
  fi
  if [ -z "$p" ] || [ "${2:-}" = full ]; then
    # What every server needs (about 1.5 s: jupyterlab pulls in jupyter_server and tornado).
    "$v/bin/python" -c "import jupyterhub, jupyterlab, ipykernel$imports${2:+, jupyterhub.singleuser}" >/dev/null 2>&1
  else
    # A layer: its parent passed the full check, so finding the parent's packages is enough to show
    # the .pth works; the layer's own promised modules are imported.
    "$v/bin/python" -c "import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ('jupyterhub', 'jupyterlab', 'ipykernel')))${imports:+
import ${imports#, }}" >/dev/null 2>&1
  fi
}

# Wheels of the lock's "# sdist-only" pins: built once into the wheelhouse, then reused.
prebuild_wheels() { # prebuild_wheels ENV PYTHON
  local e="$1" py="$2" line req name ver norm tmp t
  while IFS= read -r line; do
    req="$(echo "${line%%#*}" | tr -d '[:space:]')"
    name="${req%%==*}"; ver="${req#*==}"
    [ -n "$name" ] && [ "$name" != "$req" ] || fail "$e.lock.txt: cannot read the sdist-only pin: $line"
    norm="$(echo "$name" | tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/_/g')"
    if compgen -G "$WHEELHOUSE/$norm-$ver-*.whl" >/dev/null; then
      step "$e: reusing the wheel of $name $ver from $WHEELHOUSE"
      continue
    fi
    t=$SECONDS
    step "$e: building a wheel of $name $ver once, from its source archive (into $WHEELHOUSE)"
    (
      # Another checkout may be building the same wheel right now.
      flock 8
      if ! compgen -G "$WHEELHOUSE/$norm-$ver-*.whl" >/dev/null; then
        tmp="$(mktemp -d "$WHEELHOUSE/.build.XXXXXX")"
        # --no-cache-dir: the sdist is used once, so it would only sit in pip's cache (450 MB for pyspark).
        run_pip "$py" wheel --no-deps --no-cache-dir -w "$tmp" "$req"
        compgen -G "$tmp/$norm-$ver-*.whl" >/dev/null || fail "pip wheel $req made no $norm-$ver-*.whl"
        # Older versions of the same package go: only the pinned one is needed.
        find "$WHEELHOUSE" -maxdepth 1 -name "$norm-*.whl" ! -name "$norm-$ver-*" -delete
        mv "$tmp"/*.whl "$WHEELHOUSE"/
        rm -rf "$tmp"
      fi
    ) 8>"$WHEELHOUSE/.lock"
    step "$e: wheel of $name $ver ready in $((SECONDS - t))s ($(du -sh "$WHEELHOUSE"/"$norm-$ver"-*.whl | cut -f1 | head -n1))"
  done < <(grep -E '^[^#].*#[[:space:]]*sdist-only' "$REQ/$e.lock.txt" || true)
}

# Make a layer a complete Jupyter environment (see the header): symlinked share/jupyter and
# etc/jupyter, and the parent's console scripts re-pointed at the layer's python.
link_parent() { # link_parent LAYER_DIR PARENT_DIR
  "$PYTHON" - "$1" "$2" <<'PY'
import os, re, stat, sys
layer, parent = (os.path.abspath(p) for p in sys.argv[1:3])

def mirror(src, dst, depth):
    """Symlink every entry of src that dst lacks; the first `depth` levels of directories are made
    real (so that writing, say, a new kernelspec into the layer never lands in the parent), and
    where both have a real directory, recurse."""
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and (depth > 0 or (os.path.isdir(d) and not os.path.islink(d))):
            if not os.path.lexists(d) or (os.path.isdir(d) and not os.path.islink(d)):
                mirror(os.path.realpath(s), d, depth - 1)
        elif not os.path.lexists(d):
            os.symlink(s, d)
        # else: the layer has its own file here, and it wins

# share/jupyter/{lab,labextensions,kernels,nbconvert}/ and etc/jupyter/*.d/ are real directories;
# what is in them is a symlink to the parent's, unless the layer installed its own.
for sub in ("share/jupyter", "etc/jupyter"):
    if os.path.isdir(os.path.join(parent, sub)):
        mirror(os.path.join(parent, sub), os.path.join(layer, sub), 1)

# Console scripts: pip writes "#!<venv>/bin/python" (or, for long paths, a /bin/sh trampoline that
# execs it on line 2). Copy the parent's into the layer's bin/ with the layer's python instead.
skip = re.compile(r"^(python[0-9.]*|pip[0-9.]*|activate.*|Activate\.ps1)$")
pybin = re.compile(re.escape(os.path.join(parent, "bin", "python")) + r"[0-9.]*")
lbin, pb = os.path.join(layer, "bin"), os.path.join(parent, "bin")
for name in sorted(os.listdir(pb)):
    s, d = os.path.join(pb, name), os.path.join(lbin, name)
    if skip.match(name) or os.path.lexists(d) or not os.path.isfile(s) or os.path.getsize(s) > 65536:
        continue
    with open(s, "rb") as f:
        data = f.read()
    if not data.startswith(b"#!"):
        continue
    lines = data.split(b"\n")
    head = [l.decode("utf-8", "replace") for l in lines[:2]]
    if not any(pybin.search(l) for l in head):
        continue
    new = [pybin.sub(os.path.join(layer, "bin", "python"), l).encode() for l in head] + lines[2:]
    with open(d, "wb") as f:
        f.write(b"\n".join(new))
    os.chmod(d, stat.S_IMODE(os.stat(s).st_mode))
PY
}

# Layers on the same parent often install the same packages (numpy, pandas, pyarrow: ~300 MB). Files
# that are byte-identical to a built sibling's become hard links to it. Safe because nothing writes
# into these files in place: a rebuild removes the env (the sibling keeps its link), and pip replaces
# files rather than rewriting them.
share_with_siblings() { # share_with_siblings ENV
  local e="$1" p s sibs=()
  p="$(parent_of "$e")"
  [ -n "$p" ] || return 0
  for s in "${ORDERED[@]}"; do
    [ "$s" != "$e" ] && [ "$(parent_of "$s")" = "$p" ] && [ -f "$ENVS_DIR/$s/.refinery-lock-hash" ] && sibs+=("$ENVS_DIR/$s")
  done
  [ ${#sibs[@]} -gt 0 ] || return 0
  "$PYTHON" - "$ENVS_DIR/$e" "${sibs[@]}" <<'PY'
import filecmp, os, sys
layer, sibs = sys.argv[1], sys.argv[2:]
rel = os.path.relpath
files = linked = saved = 0
for root, dirs, names in os.walk(layer):
    for name in names:
        f = os.path.join(root, name)
        try:
            st = os.lstat(f)
        except OSError:
            continue
        if not os.path.isfile(f) or os.path.islink(f) or st.st_size < 4096:
            continue
        files += 1
        for sib in sibs:
            t = os.path.join(sib, rel(f, layer))
            try:
                tt = os.lstat(t)
            except OSError:
                continue
            if os.path.islink(t) or tt.st_size != st.st_size or tt.st_ino == st.st_ino:
                continue
            if filecmp.cmp(f, t, shallow=False):
                tmp = f + ".refinery-link"
                os.link(t, tmp)
                os.replace(tmp, f)
                linked += 1
                saved += st.st_size
                break
print(f"{linked} files ({saved / 2**20:.0f} MB) shared with {', '.join(os.path.basename(s) for s in sibs)}")
PY
}

# ---------------------------------------------------------------------------------------------------
# Relock: resolve <env>.in (a layer with its parents' pins held fixed) into <env>.lock.txt

relock() { # relock ENV
  local e="$1" p in="$REQ/$1.in" lock="$REQ/$1.lock.txt" scratch t=$SECONDS
  p="$(parent_of "$e")"
  scratch="$(mktemp -d)"
  # A private pip cache: a relock downloads what it needs once, and leaves nothing big behind.
  export PIP_CACHE_DIR="$scratch/pip-cache"
  PIP_LOG="$ENVS_DIR/.$e.pip.log"; : >"$PIP_LOG"
  step "$e: re-resolving $(basename "$in") in a scratch venv${p:+ with the pins of $p held fixed}"
  "$PYTHON" -m venv "$scratch/v"
  run_pip "$scratch/v/bin/python" install --upgrade pip
  if [ -n "$p" ]; then
    flat_pins "$p" >"$scratch/parent-pins.txt"
    run_pip "$scratch/v/bin/python" install -r "$scratch/parent-pins.txt"
    run_pip "$scratch/v/bin/python" install -c "$scratch/parent-pins.txt" -r "$in" --report "$scratch/report.json"
  else
    run_pip "$scratch/v/bin/python" install -r "$in" --report "$scratch/report.json"
  fi
  "$scratch/v/bin/python" -m pip freeze >"$scratch/freeze.txt"
  step "$e: writing $(basename "$lock")"
  {
    if [ -f "$lock" ] && grep -q "^$FREEZE_MARK" "$lock"; then
      sed -n "1,/^$FREEZE_MARK/p" "$lock"
    else
      echo "# Lock of envs/$e, installed by scripts/setup-python.sh. Do not edit by hand: change $e.in, then run"
      echo "#   bash scripts/setup-python.sh --relock --only $e"
      echo "$FREEZE_MARK (everything below this line is generated)"
    fi
    "$PYTHON" - "$scratch/freeze.txt" "$scratch/report.json" "${p:+$scratch/parent-pins.txt}" "$p" <<'PY'
import hashlib, json, re, sys
freeze_path, report_path, parent_path, parent = sys.argv[1:5]
canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
name_of = lambda line: canon(re.split(r"[=<>!~ @;\[]", line, 1)[0])
freeze = [l.strip() for l in open(freeze_path) if l.strip() and not l.startswith("#")]
parent_pins = [l.strip() for l in open(parent_path)] if parent_path else []
parent_pins = [l for l in parent_pins if l and not l.startswith("#")]
held = {name_of(l): l for l in parent_pins}
# Which of the packages were installed from a source archive (no wheel on the index)?
sdist = set()
for item in json.load(open(report_path)).get("install", []):
    url = (item.get("download_info") or {}).get("url", "")
    if url and not url.split("#")[0].endswith(".whl"):
        sdist.add(canon(item["metadata"]["name"]))
out = []
for line in freeze:
    n = name_of(line)
    if n in held:
        if canon(line) != canon(held[n]):
            sys.exit(f"setup-python: error: resolving moved {held[n]} to {line}")
        continue
    out.append(line + ("  # sdist-only: its wheel is built once into the wheelhouse" if n in sdist else ""))
if parent:
    sha = hashlib.sha256(("\n".join(sorted(parent_pins)) + "\n").encode()).hexdigest()
    print(f"# layer-on: {parent} (this lock lists only what {parent} lacks; installed with --no-deps)")
    print(f"# parent-pins-sha256: {sha}")
print("\n".join(out))
PY
  } >"$lock.tmp"
  mv "$lock.tmp" "$lock"
  rm -rf "$scratch"
  unset PIP_CACHE_DIR
  step "$e: relocked in $((SECONDS - t))s: $(pins "$lock" | wc -l) pins$(n="$(grep -c 'sdist-only' "$lock" || true)"; [ "$n" -gt 0 ] && echo ", $n from source archives")"
}

parent_pins_sha() { flat_pins "$1" | LC_ALL=C sort | sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------------
# Build one env from scratch

build() { # build ENV
  local e="$1" v="$ENVS_DIR/$1" lock="$REQ/$1.lock.txt" p t=$SECONDS site psite recorded
  p="$(parent_of "$e")"
  PIP_LOG="$ENVS_DIR/.$e.pip.log"; : >"$PIP_LOG"
  if [ -n "$p" ]; then
    recorded="$(sed -n 's/^# parent-pins-sha256: //p' "$lock" | head -n1)"
    # `python -c 'sorted'` in relock and `sort` here must agree: both sort by code point.
    if [ -n "$recorded" ] && [ "$recorded" != "$(parent_pins_sha "$p")" ]; then
      step "$e: warning: $(basename "$lock") was resolved against other $p pins; pip check decides (fix: --relock --only $e)"
    fi
  fi
  if [ -e "$v" ]; then
    step "$e: removing old $(show "$v")"
    rm -rf "$v"
  fi
  if [ -z "$p" ]; then
    step "$e: creating venv with $("$PYTHON" --version 2>&1) at $(show "$v")"
    "$PYTHON" -m venv "$v"
  else
    step "$e: creating layer venv on $p at $(show "$v")"
    # No pip of its own: `python -m pip` finds the parent's through the .pth and installs into the layer.
    "$PYTHON" -m venv --without-pip "$v"
    site="$(site_of "$v")"; psite="$(site_of "$ENVS_DIR/$p")"
    echo "import site; site.addsitedir('$psite')" >"$site/_refinery_layer.pth"
  fi
  # The repo's package.json says "type": "module"; without a nearer package.json, node would load the
  # CommonJS .js files shipped inside Python packages (jupyterlab's yarn.js, run at every server start)
  # as ES modules and fail. This one marks everything under the venv as CommonJS again.
  echo '{ "type": "commonjs" }' >"$v/package.json"
  prebuild_wheels "$e" "$v/bin/python"
  local n; n="$(pins "$lock" | wc -l)"
  if [ -z "$p" ]; then
    step "$e: installing $n pinned packages from $(basename "$lock")"
    run_pip "$v/bin/python" install --require-virtualenv --find-links "$WHEELHOUSE" -r "$lock"
  else
    step "$e: installing the $n packages $p lacks from $(basename "$lock") (--no-deps)"
    run_pip "$v/bin/python" install --require-virtualenv --no-deps --find-links "$WHEELHOUSE" -r "$lock"
    step "$e: linking $p's Jupyter data, config and commands into the layer"
    link_parent "$v" "$ENVS_DIR/$p"
  fi
  step "$e: checking the environment (pip check${p:+ over $e and $p})"
  run_pip "$v/bin/python" check
  healthy "$e" full || fail "the new $(show "$v") does not import: jupyterhub jupyterlab ipykernel $(directive "$REQ/$e.in" imports)"
  if [ -n "$p" ]; then
    local shared; shared="$(share_with_siblings "$e")"
    [ -z "$shared" ] || step "$e: hard-linked identical files of sibling layers: $shared"
  fi
  want_hash "$e" >"$v/.refinery-lock-hash"
  step "$e: built in $((SECONDS - t))s, $(du -sh "$v" | cut -f1) on disk"
}

# ---------------------------------------------------------------------------------------------------

if [ "$MODE" = relock ]; then
  for e in "${ORDERED[@]}"; do
    [ -n "${NAMED[$e]:-}" ] || continue
    p="$(parent_of "$e")"
    if [ -n "$p" ] && [ ! -f "$REQ/$p.lock.txt" ]; then fail "relock $p before $e"; fi
    relock "$e"
  done
fi

SUMMARY=()
BUILT=0
for e in "${ORDERED[@]}"; do
  [ -n "${SELECTED[$e]:-}" ] || continue
  v="$ENVS_DIR/$e"
  [ -f "$REQ/$e.lock.txt" ] || fail "python/requirements/$e.lock.txt is missing (make it: bash scripts/setup-python.sh --relock --only $e)"
  want="$(want_hash "$e")"
  if [ "$MODE" = sync ] || [ -z "${NAMED[$e]:-}" ]; then
    if [ -f "$v/.refinery-lock-hash" ] && [ "$(cat "$v/.refinery-lock-hash")" = "$want" ]; then
      if healthy "$e"; then
        step "$e: $(show "$v") is up to date (lock hash ${want:0:12})"
        SUMMARY+=("$e")
        continue
      fi
      step "$e: $(show "$v") matches its lock but is broken (a file is missing or an import fails): rebuilding"
    elif [ -e "$v" ]; then
      step "$e: $(show "$v") is out of date or unfinished: rebuilding"
    fi
  fi
  build "$e"
  BUILT=$((BUILT + 1))
  SUMMARY+=("$e (built)")
done

# ---- refinery-publish >>> (Publish button and server extension; owned by python/refinery_publish/install.sh)
# Built from labextension/ and python/refinery_publish/ and installed into envs/base (stamped: a no-op
# when nothing changed); the layers then get links to base's new Jupyter files like to the others.
if [ -n "${SELECTED[base]:-}" ]; then
  bash "$REPO/python/refinery_publish/install.sh" "$ENVS_DIR/base" || fail "refinery-publish: building or installing the Publish extension failed (above)"
  # JupyterLab's defaults for every image (python/jupyterlab-settings): no news or update prompts,
  # which ask each person on first load and fetch from the internet
  install -D -m 644 "$REPO/python/jupyterlab-settings/overrides.json" "$ENVS_DIR/base/share/jupyter/lab/settings/overrides.json"
  for e in "${ORDERED[@]}"; do
    if [ "$(parent_of "$e")" = base ] && [ -n "${SELECTED[$e]:-}" ] && [ -f "$ENVS_DIR/$e/.refinery-lock-hash" ]; then link_parent "$ENVS_DIR/$e" "$ENVS_DIR/base"; fi
  done
fi
# <<< refinery-publish

versions="$("$ENVS_DIR/base/bin/python" -c 'import jupyterhub, jupyterlab; print("jupyterhub", jupyterhub.__version__, "jupyterlab", jupyterlab.__version__)' 2>/dev/null || true)"
if [ $BUILT -eq 0 ]; then
  step "all up to date in $((SECONDS - T0))s: ${SUMMARY[*]} ($versions)"
else
  step "done in $((SECONDS - T0))s: $(IFS=,; echo "${SUMMARY[*]}" | sed 's/,/, /g') ($versions)"
fi
