#!/usr/bin/env bash
# Prepare this checkout to run Refinery (and, with --test/--bench, its test suite and benchmarks).
#
#   bash scripts/setup.sh            node deps, TypeScript build, Python env, the embedded S3 server (Go)
#   bash scripts/setup.sh --test     ... plus PostgreSQL server binaries, Chromium (and Java) via apt,
#                                    and the Kubernetes control plane (built with Go; see setup-kube.sh)
#   bash scripts/setup.sh --bench    ... plus wrk
#
# Idempotent: each step checks first and does nothing when already done, so a second run takes a
# few seconds. One line per step; on failure it says what broke and what to do, and exits non-zero.
# Starts no services: tests start their own (see test/helpers/).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REFINERY_ROOT"

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

WANT_TEST=0
WANT_BENCH=0
for arg in "$@"; do
  case "$arg" in
    --test) WANT_TEST=1 ;;
    --bench) WANT_TEST=1; WANT_BENCH=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $arg" ;;
  esac
done

mkdir -p "$REFINERY_LOG_DIR"
# One setup at a time per checkout: two concurrent `npm ci` or `tsc` runs would trample each other.
exec 9>"$REFINERY_LOG_DIR/lock"
if ! flock -n 9; then
  echo "setup: another scripts/setup.sh is running in this checkout; waiting for it..."
  flock 9
fi

T_ALL=$(now)
STEP=""
STEP_T=""
# step NAME: start a step's line; ok/skip finish it.
step() { STEP="$1"; STEP_T=$(now); printf 'setup: %-12s ' "$1"; }
ok() { printf 'ok (%ss)%s\n' "$(since "$STEP_T")" "${1:+ - $1}"; }
# fail MESSAGE HINT...: finish the step's line, then die.
fail() { printf 'FAILED (%ss)\n' "$(since "$STEP_T")"; die "$STEP: $1" "${@:2}"; }

# ---------------------------------------------------------------------------------------------
# 0. Node itself
step "node"
command -v node >/dev/null || fail "node not found" "install Node.js 20 (Debian: see https://nodejs.org; the project's machines ship it)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[[ "$NODE_MAJOR" -ge 20 ]] || fail "Node.js $(node --version) is too old" "Refinery needs Node.js >= 20"
ok "$(node --version), npm $(npm --version 2>/dev/null || echo '?')"

# ---------------------------------------------------------------------------------------------
# 1. Node dependencies
STAMP=node_modules/.refinery-stamp
NPM_LOG="$REFINERY_LOG_DIR/npm-ci.log"
want_stamp() {
  printf 'lock=%s node-abi=%s platform=%s\n' \
    "$(sha256sum package-lock.json | cut -d' ' -f1)" \
    "$(node -p process.versions.modules)" "$(node -p 'process.platform + "-" + process.arch')"
}
# The native modules must load: better-sqlite3 compiles from source here, argon2 ships prebuilds.
native_ok() {
  node -e "require('better-sqlite3')(':memory:').prepare('select 1').get(); require('argon2')" >"$REFINERY_LOG_DIR/native.log" 2>&1
}
# Does node_modules already hold exactly the versions package-lock.json asks for? True after
# `npm install X` (which updates lock and tree together), so we can skip a needless `npm ci`.
tree_matches_lock() {
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const fs = require("fs"), path = require("path");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    const bad = [];
    for (const [key, entry] of Object.entries(lock.packages ?? {})) {
      if (!key.startsWith("node_modules/") || entry.link) continue;
      let pkg;
      try { pkg = JSON.parse(fs.readFileSync(path.join(key, "package.json"), "utf8")); }
      catch { if (!entry.optional && !entry.devOptional) bad.push(key + " missing"); continue; }
      if (entry.version && pkg.version !== entry.version) bad.push(`${key} is ${pkg.version}, lock wants ${entry.version}`);
    }
    if (bad.length) { console.log(bad.slice(0, 3).join("; ") + (bad.length > 3 ? `; ${bad.length - 3} more` : "")); process.exit(1); }
  '
}

step "node deps"
WANT=$(want_stamp)
REASON=""
if [[ ! -d node_modules ]]; then
  REASON="node_modules missing"
elif [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  if native_ok; then ok "up to date with package-lock.json"; else REASON="native modules fail to load"; fi
elif MISMATCH=$(tree_matches_lock); then
  if native_ok; then
    printf '%s\n' "$WANT" >"$STAMP"
    ok "node_modules already matches package-lock.json (stamp written)"
  else
    REASON="native modules fail to load"
  fi
else
  REASON="node_modules differs from package-lock.json: $MISMATCH"
fi
if [[ -n "$REASON" ]]; then
  printf 'npm ci (%s; better-sqlite3 compiles from source, ~1 min) ... ' "$REASON"
  rm -f "$STAMP"
  if ! npm ci --no-audit --no-fund >"$NPM_LOG" 2>&1; then
    show_log "$NPM_LOG"
    fail "npm ci failed (log: $NPM_LOG)" \
      "read the npm error above; the npm registry must be reachable" \
      "if package-lock.json is out of sync with package.json, run 'npm install' and commit package-lock.json"
  fi
  if ! native_ok; then
    show_log "$REFINERY_LOG_DIR/native.log"
    show_log "$NPM_LOG"
    fail "better-sqlite3 or argon2 does not load after npm ci" \
      "native builds need python3, make and g++: apt-get install -y --no-install-recommends python3 make g++" \
      "then: npm rebuild better-sqlite3 argon2 --foreground-scripts   (and check package.json 'allowScripts')"
  fi
  printf '%s\n' "$WANT" >"$STAMP"
  ok "installed"
fi

# ---------------------------------------------------------------------------------------------
# 2. TypeScript build (incremental: dist/.tsbuildinfo)
step "build"
TSC_LOG="$REFINERY_LOG_DIR/tsc.log"
if ! node node_modules/typescript/bin/tsc -p tsconfig.json >"$TSC_LOG" 2>&1; then
  printf 'FAILED (%ss)\n' "$(since "$STEP_T")"
  cat "$TSC_LOG" >&2
  die "build: TypeScript errors (above)" "fix them, then re-run; the build is: npx tsc -p tsconfig.json"
fi
ok "tsc -p tsconfig.json -> dist/"

# ---------------------------------------------------------------------------------------------
# 3. Python environment (envs/base), owned by scripts/setup-python.sh
step "python env"
PY_LOG="$REFINERY_LOG_DIR/setup-python.log"
if [[ ! -f scripts/setup-python.sh ]]; then
  printf 'SKIPPED - scripts/setup-python.sh does not exist yet; tests that need Jupyter/Spark/Dask will fail\n'
elif bash scripts/setup-python.sh >"$PY_LOG" 2>&1; then
  ok "$(grep -v '^[[:space:]]*$' "$PY_LOG" | tail -n1 | cut -c1-120)"
else
  show_log "$PY_LOG"
  fail "scripts/setup-python.sh failed (log: $PY_LOG)" "read its output above; re-run: bash scripts/setup-python.sh"
fi

# ---------------------------------------------------------------------------------------------
# 3b. Spark's s3a:// jars (hadoop-aws and the AWS SDK modules it uses, not the SDK's 686 MB bundle)
#     from Maven Central into envs/jars/s3a; python/jars/s3a/pom.xml says which and why. The stamp
#     holds the pom's hash and every jar's: when both match, nothing runs (no network needed).
step "s3a jars"
S3A_POM=python/jars/s3a/pom.xml
S3A_DIR=envs/jars/s3a
S3A_STAMP="$S3A_DIR/.refinery-stamp"
S3A_WANT="pom $(sha256sum "$S3A_POM" | cut -d' ' -f1)"
s3a_current() { # the stamp is this pom's, and the directory holds exactly the stamped jars, unchanged
  [[ -f "$S3A_STAMP" && "$(head -n1 "$S3A_STAMP")" == "$S3A_WANT" ]] || return 1
  [[ "$(tail -n +2 "$S3A_STAMP" | awk '{ print $2 }' | sort)" == "$(cd "$S3A_DIR" && ls -1 -- *.jar 2>/dev/null | sort)" ]] || return 1
  (cd "$S3A_DIR" && tail -n +2 .refinery-stamp | sha256sum --quiet --strict -c - >/dev/null 2>&1)
}
if s3a_current; then
  ok "up to date ($(tail -n +2 "$S3A_STAMP" | wc -l) jars, $(du -sh "$S3A_DIR" | cut -f1))"
elif ! command -v mvn >/dev/null; then
  printf 'SKIPPED - mvn not found; s3a:// in Spark needs it once: apt-get install -y --no-install-recommends maven, then re-run\n'
else
  S3A_LOG="$REFINERY_LOG_DIR/s3a-jars.log"
  # Into a fresh directory, swapped in whole: a failed or interrupted run leaves the old set (or none).
  S3A_NEW="$S3A_DIR.new.$$"
  rm -rf "$S3A_NEW" && mkdir -p "$S3A_NEW"
  if ! mvn -q -B -f "$S3A_POM" dependency:copy-dependencies -DoutputDirectory="$REFINERY_ROOT/$S3A_NEW" </dev/null >"$S3A_LOG" 2>&1; then
    rm -rf "$S3A_NEW"
    show_log "$S3A_LOG"
    fail "mvn dependency:copy-dependencies failed (log: $S3A_LOG)" \
      "read the Maven error above; Maven Central must be reachable the first time (later runs use ~/.m2)" \
      "re-run: mvn -B -f $S3A_POM dependency:copy-dependencies -DoutputDirectory=$S3A_DIR"
  fi
  { echo "$S3A_WANT"; (cd "$S3A_NEW" && sha256sum -- *.jar); } >"$S3A_NEW/.refinery-stamp"
  rm -rf "$S3A_DIR.old.$$"
  if [[ -e "$S3A_DIR" ]]; then mv "$S3A_DIR" "$S3A_DIR.old.$$"; fi
  mv "$S3A_NEW" "$S3A_DIR"
  rm -rf "$S3A_DIR.old.$$"
  ok "fetched $(ls -1 "$S3A_DIR"/*.jar | wc -l) jars ($(du -sh "$S3A_DIR" | cut -f1)) into $S3A_DIR"
fi

# ---------------------------------------------------------------------------------------------
# 4. System packages for tests and benchmarks (Debian), installed only when missing
if [[ "$WANT_TEST" == 1 ]]; then
  step "system pkgs"
  MISSING=()
  [[ -n "$(pg_initdb)" ]] || MISSING+=(postgresql)
  [[ -x /usr/bin/chromium ]] || MISSING+=(chromium)
  command -v java >/dev/null || MISSING+=(openjdk-17-jre-headless)
  if [[ "$WANT_BENCH" == 1 ]]; then command -v wrk >/dev/null || MISSING+=(wrk); fi

  if [[ ${#MISSING[@]} -gt 0 ]]; then
    APT_CMD="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${MISSING[*]}"
    if [[ "$(id -u)" != 0 ]]; then
      fail "missing system packages: ${MISSING[*]}" "run as root: $APT_CMD" "then re-run this script"
    fi
    printf 'apt-get install %s ... ' "${MISSING[*]}"
    APT_LOG="$REFINERY_LOG_DIR/apt.log"
    # Package installs must not start services (postgresql's would start a cluster on :5432); tests
    # start their own. policy-rc.d exit 101 is Debian's standard "don't start services" switch.
    POLICY_CREATED=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && POLICY_CREATED=1
      trap '[[ $POLICY_CREATED == 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update && apt-get install -y --no-install-recommends "${MISSING[@]}"; } </dev/null >"$APT_LOG" 2>&1; then
      show_log "$APT_LOG"
      fail "apt-get failed (log: $APT_LOG)" "read the apt error above; then run: $APT_CMD"
    fi
    if [[ $POLICY_CREATED == 1 ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_CREATED=0; fi
    STILL=()
    [[ -n "$(pg_initdb)" ]] || STILL+=("postgresql (no /usr/lib/postgresql/*/bin/initdb)")
    [[ -x /usr/bin/chromium ]] || STILL+=("chromium (no /usr/bin/chromium)")
    command -v java >/dev/null || STILL+=("java")
    if [[ "$WANT_BENCH" == 1 ]]; then command -v wrk >/dev/null || STILL+=(wrk); fi
    [[ ${#STILL[@]} -eq 0 ]] || fail "still missing after apt-get install: ${STILL[*]}" "see $APT_LOG"
    ok "installed ${MISSING[*]}"
  else
    ok "postgresql $(basename "$(dirname "$(dirname "$(pg_initdb)")")"), chromium, java$([[ "$WANT_BENCH" == 1 ]] && echo ', wrk')"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 5. versitygw, the S3 server Refinery embeds by default (src/storage/embedded-store.ts) and the
#    storage tests run against (test/helpers/s3-server.ts). Built from source with Go into .tools/bin
#    (gitignored): no distribution packages it, and a pinned module version keeps every machine on
#    the same server. Without Go, Refinery still starts, without object storage (it says so).
if command -v go >/dev/null || [[ "$WANT_TEST" == 1 ]]; then
  step "versitygw"
  VERSITYGW_VERSION=v1.8.0
  VGW_BIN="$REFINERY_ROOT/.tools/bin/versitygw"
  # The build stamps the version in (-X main.Version), so `--version` tells a stale binary apart.
  vgw_version() { "$VGW_BIN" --version 2>/dev/null | awk '$1 == "Version" { print $3 }'; }
  if [[ -x "$VGW_BIN" && "$(vgw_version)" == "$VERSITYGW_VERSION" ]]; then
    ok "$VERSITYGW_VERSION (.tools/bin/versitygw)"
  else
    command -v go >/dev/null || fail "go not found (needed to build versitygw $VERSITYGW_VERSION)" \
      "install Go >= 1.25 (Debian: apt-get install -y golang-go, if new enough; or the project's machine image)"
    printf 'go install versitygw@%s (a cold build takes ~3 min) ... ' "$VERSITYGW_VERSION"
    VGW_LOG="$REFINERY_LOG_DIR/versitygw-build.log"
    # GOTOOLCHAIN=local: build with the Go that is here rather than silently fetching another one.
    if ! GOBIN="$REFINERY_ROOT/.tools/bin" GOTOOLCHAIN=local \
      go install -ldflags "-X main.Version=$VERSITYGW_VERSION" \
      "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" </dev/null >"$VGW_LOG" 2>&1; then
      show_log "$VGW_LOG"
      fail "go install versitygw@$VERSITYGW_VERSION failed (log: $VGW_LOG)" \
        "read the Go error above; the Go module proxy must be reachable and Go must be >= 1.25 ($(go version 2>/dev/null | cut -d' ' -f3))"
    fi
    [[ "$(vgw_version)" == "$VERSITYGW_VERSION" ]] || fail "built .tools/bin/versitygw but it reports version '$(vgw_version)'" "see $VGW_LOG"
    ok "built $VERSITYGW_VERSION into .tools/bin"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 5a. helm, which the deployment tests (test/deploy) lint and render the chart in deploy/chart with.
#     Built from the pinned module like versitygw; the version is stamped in so a stale binary shows.
if [[ "$WANT_TEST" == 1 ]]; then
  step "helm"
  HELM_VERSION=v4.3.2
  HELM_BIN="$REFINERY_ROOT/.tools/bin/helm"
  helm_version() { "$HELM_BIN" version --template '{{.Version}}' 2>/dev/null; }
  if [[ -x "$HELM_BIN" && "$(helm_version)" == "$HELM_VERSION" ]]; then
    ok "$HELM_VERSION (.tools/bin/helm)"
  else
    command -v go >/dev/null || fail "go not found (needed to build helm $HELM_VERSION)" "install Go >= 1.25"
    printf 'go install helm@%s (a cold build takes ~5 min) ... ' "$HELM_VERSION"
    HELM_LOG="$REFINERY_LOG_DIR/helm-build.log"
    if ! GOBIN="$REFINERY_ROOT/.tools/bin" GOTOOLCHAIN=local nice \
      go install -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" </dev/null >"$HELM_LOG" 2>&1; then
      show_log "$HELM_LOG"
      fail "go install helm@$HELM_VERSION failed (log: $HELM_LOG)" "read the Go error above; the Go module proxy must be reachable"
    fi
    [[ "$(helm_version)" == "$HELM_VERSION" ]] || fail "built .tools/bin/helm but it reports version '$(helm_version)'" "see $HELM_LOG"
    ok "built $HELM_VERSION into .tools/bin"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 5b. The Kubernetes control plane the tests in test/kubernetes run (test/helpers/kube-cluster.ts):
#     etcd, kube-apiserver, kube-controller-manager, kube-scheduler, built by scripts/setup-kube.sh
#     into .tools/bin from the wrapper module in scripts/kube, which pins every version and hash.
if [[ "$WANT_TEST" == 1 ]]; then
  step "kubernetes"
  if KUBE_STATE=$(bash scripts/setup-kube.sh --check 2>&1); then
    ok "$KUBE_STATE"
  else
    KUBE_LOG="$REFINERY_LOG_DIR/setup-kube.log"
    printf 'building %s (a cold build takes ~10 min, longer on a busy machine; log: %s) ... ' "${KUBE_STATE#to build: }" "${KUBE_LOG#"$REFINERY_ROOT"/}"
    if ! bash scripts/setup-kube.sh </dev/null >"$KUBE_LOG" 2>&1; then
      show_log "$KUBE_LOG"
      fail "scripts/setup-kube.sh failed (log: $KUBE_LOG)" "read its output above; re-run: bash scripts/setup-kube.sh"
    fi
    ok "$(tail -n1 "$KUBE_LOG")"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 6. Schemas tests validate against, into .tools (gitignored), each from a pinned package through its
#    registry's own client and checked by sha256; present and matching = nothing to do:
#      k8s-schemas/kubernetes/_definitions.json   Kubernetes v1.33.0 API types as JSON Schema, strict (no
#                                     unknown fields), from the PyPI package kubernetes-validate 1.37.0
#                                     (test/helpers/fake-kube.ts checks every manifest against them)
#      k8s-schemas/crds/daskclusters.yaml   the DaskCluster CRD of the PyPI package dask-kubernetes 2026.3.0
#      k8s-schemas/crds/sparkconnects.yaml  the SparkConnect CRD of the Go module kubeflow/spark-operator v2.5.2
#      api-schemas/jupyterhub-rest-api.yml  JupyterHub's REST API description (OpenAPI), from the source
#                                     archive of the PyPI package jupyterhub 5.5.4 (the version the
#                                     single-user servers run); test/e2e/jupyterhub-openapi.test.ts
if [[ "$WANT_TEST" == 1 ]]; then
  step "schemas"
  K8S_DIR="$REFINERY_ROOT/.tools"
  K8S_LOG="$REFINERY_LOG_DIR/schemas.log"
  # target|sha256|source kind|package or module@version|path inside it
  K8S_FILES=(
    "k8s-schemas/kubernetes/_definitions.json|c6ac7ea7360edb7fd6fbcfabd1fe272d44e30c5d25621b8af889830f5cb21cd3|pypi|kubernetes-validate==1.37.0|kubernetes_validate/kubernetes-json-schema/v1.33.0-local-strict/_definitions.json"
    "k8s-schemas/crds/daskclusters.yaml|2da8d66739b4c98c8aadb2d1653b6ae6171d35f4e6c17db14d5ab0873943b9c6|pypi|dask-kubernetes==2026.3.0|dask_kubernetes/operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
    "k8s-schemas/crds/sparkconnects.yaml|e80c54cc086e7f0a4ed39de713138f5c9aa5506219584b528cc1a00e65163986|go|github.com/kubeflow/spark-operator/v2@v2.5.2|config/crd/bases/sparkoperator.k8s.io_sparkconnects.yaml"
    "api-schemas/jupyterhub-rest-api.yml|44067e5c8bc1b2fa79d1a2d35cd92f91b1f52f7dd06428d7589dbc21e7bb7eb6|pypi-sdist|jupyterhub==5.5.4|jupyterhub-5.5.4/docs/source/_static/rest-api.yml"
  )
  K8S_FETCHED=0
  : >"$K8S_LOG"
  for entry in "${K8S_FILES[@]}"; do
    IFS='|' read -r target sum kind source inner <<<"$entry"
    dest="$K8S_DIR/$target"
    [[ -f "$dest" ]] && echo "$sum  $dest" | sha256sum --quiet --strict -c - >/dev/null 2>&1 && continue
    tmp=$(mktemp -d)
    if [[ "$kind" == pypi-sdist ]]; then
      # the description is in the source archive only (a .tar.gz): taken out with Python's tarfile
      if ! { "${PYTHON:-python3}" -m pip download --no-deps --no-binary=:all: -d "$tmp" "$source" </dev/null >>"$K8S_LOG" 2>&1 \
        && "${PYTHON:-python3}" -c 'import sys, tarfile; sys.stdout.buffer.write(tarfile.open(sys.argv[1]).extractfile(sys.argv[2]).read())' "$tmp"/*.tar.gz "$inner" >"$tmp/file" 2>>"$K8S_LOG"; }; then
        rm -rf "$tmp"; show_log "$K8S_LOG"
        fail "could not get $inner from $source (log: $K8S_LOG)" "PyPI must be reachable; try: ${PYTHON:-python3} -m pip download --no-deps --no-binary=:all: $source"
      fi
    elif [[ "$kind" == pypi ]]; then
      # a wheel is a zip: take the one file out with Python's zipfile (no unzip needed)
      if ! { "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: -d "$tmp" "$source" </dev/null >>"$K8S_LOG" 2>&1 \
        && "${PYTHON:-python3}" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$tmp"/*.whl "$inner" >"$tmp/file" 2>>"$K8S_LOG"; }; then
        rm -rf "$tmp"; show_log "$K8S_LOG"
        fail "could not get $inner from $source (log: $K8S_LOG)" "PyPI must be reachable; try: ${PYTHON:-python3} -m pip download --no-deps $source"
      fi
    else
      # the module cache verifies the module against go.sum's checksum database
      if ! { mod_dir=$(GOTOOLCHAIN=local go mod download -json "$source" 2>>"$K8S_LOG" </dev/null | "${PYTHON:-python3}" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' 2>>"$K8S_LOG") \
        && cp "$mod_dir/$inner" "$tmp/file" 2>>"$K8S_LOG"; }; then
        rm -rf "$tmp"; show_log "$K8S_LOG"
        fail "could not get $inner from $source (log: $K8S_LOG)" "the Go module proxy must be reachable and go installed; try: go mod download -json $source"
      fi
    fi
    if ! echo "$sum  $tmp/file" | sha256sum --quiet --strict -c - >/dev/null 2>&1; then
      got=$(sha256sum "$tmp/file" | cut -d' ' -f1); rm -rf "$tmp"
      fail "$inner from $source has sha256 $got, expected $sum" "the package changed under a pinned version, or the pin in scripts/setup.sh is wrong: compare before updating it"
    fi
    chmod 644 "$tmp/file" && mkdir -p "$(dirname "$dest")" && mv "$tmp/file" "$dest" && rm -rf "$tmp"
    K8S_FETCHED=$((K8S_FETCHED + 1))
  done
  if [[ $K8S_FETCHED -eq 0 ]]; then ok "up to date (${#K8S_FILES[@]} files)"
  else ok "fetched $K8S_FETCHED of ${#K8S_FILES[@]} files into .tools/k8s-schemas and .tools/api-schemas"; fi
fi

printf 'setup: done in %ss\n' "$(since "$T_ALL")"
