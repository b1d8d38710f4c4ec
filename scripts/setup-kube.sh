#!/usr/bin/env bash
# Build the Kubernetes control plane the tests run against (test/helpers/kube-cluster.ts) into
# .tools/bin: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.
#
#   bash scripts/setup-kube.sh           build what is missing or stale; one line per binary
#   bash scripts/setup-kube.sh --check   exit 0 when everything is built and current, 1 otherwise
#
# The sources are the wrapper module in scripts/kube (go.mod and go.sum pin every version and
# hash; kubernetes and etcd versions are read from its go.mod). Each binary gets a stamp holding a
# hash of that module's files, the build recipe and the Go version; a binary whose stamp matches
# and whose --version answers as expected is left alone, so a warm run takes about a second.
# A cold build is ~14 CPU-minutes: about 10 minutes on an idle 2-core machine, up to 45 on one busy
# with other test suites; it fills ~2.7 GB of Go build cache and ~0.6 GB of module cache. With the
# build cache warm a rebuild takes about a minute. The binaries are reproducible bit for bit.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REFINERY_ROOT"

MODULE=scripts/kube
BIN="$REFINERY_ROOT/.tools/bin"
COMMANDS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

# Versions come from the module's go.mod, the one place they are pinned.
required_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$MODULE/go.mod"; }
KUBE_VERSION=$(required_version k8s.io/kubernetes)
ETCD_VERSION=$(required_version go.etcd.io/etcd/server/v3)
[[ -n "$KUBE_VERSION" && -n "$ETCD_VERSION" ]] || die "cannot read the kubernetes/etcd versions from $MODULE/go.mod"

# What `<binary> --version` prints (its first line) when the build is the pinned one.
expected_version() {
  case "$1" in
    etcd) echo "etcd Version: ${ETCD_VERSION#v}" ;;
    *) echo "Kubernetes $KUBE_VERSION" ;;
  esac
}

# Bump when ldflags_for or the go build flags below change, so that every binary is rebuilt.
BUILD_RECIPE=1

# The inputs of every build: the module's files, the build recipe and Go.
inputs_hash() {
  {
    (cd "$MODULE" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) | LC_ALL=C sort | xargs sha256sum)
    echo "recipe $BUILD_RECIPE"
    go version 2>/dev/null || echo "no go"
  } | sha256sum | cut -d' ' -f1
}

stamp_of() { echo "$BIN/.$1.stamp"; }

is_current() { # NAME HASH
  local bin="$BIN/$1"
  [[ -x "$bin" && -f "$(stamp_of "$1")" && "$(cat "$(stamp_of "$1")")" == "$2" ]] || return 1
  # capture first: `prog | head` under pipefail can fail on SIGPIPE
  local out
  out=$("$bin" --version 2>/dev/null) || return 1
  [[ "$(head -n1 <<<"$out")" == "$(expected_version "$1")" ]]
}

command -v go >/dev/null || die "go not found (needed to build the Kubernetes control plane for the tests)" \
  "install Go >= 1.25 (the version $MODULE/go.mod asks for)"
HASH=$(inputs_hash)
SUMMARY="etcd $ETCD_VERSION, kubernetes $KUBE_VERSION in .tools/bin"

STALE=()
for name in "${COMMANDS[@]}"; do is_current "$name" "$HASH" || STALE+=("$name"); done
if [[ $CHECK_ONLY == 1 ]]; then
  if [[ ${#STALE[@]} -eq 0 ]]; then echo "up to date: $SUMMARY"; exit 0; fi
  echo "to build: ${STALE[*]}"
  exit 1
fi

# Gentle on a shared 2-core machine; never fetch another Go toolchain; go.mod/go.sum are the truth.
export GOMAXPROCS=2 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
NICE=(nice -n 19)

ldflags_for() {
  local flags="-s -w"
  if [[ "$1" != etcd ]]; then
    # What upstream's build stamps in (hack/lib/version.sh); the apiserver derives its binary and
    # emulation versions from gitVersion, so an unstamped build misbehaves. buildDate is the
    # release's own date (from the module proxy) so two builds of one version are identical.
    local minor build_date
    minor=$(cut -d. -f2 <<<"$KUBE_VERSION")
    build_date=$(cd "$MODULE" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
    local pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
    done
  fi
  echo "$flags"
}

mkdir -p "$BIN" "$REFINERY_LOG_DIR"
BUILT=()
for name in "${COMMANDS[@]}"; do
  t0=$(now)
  if is_current "$name" "$HASH"; then
    printf 'setup-kube: %-24s ok (%ss) - up to date: %s\n' "$name" "$(since "$t0")" "$(expected_version "$name")"
    continue
  fi
  log="$REFINERY_LOG_DIR/build-$name.log"
  # Into a temporary name, then renamed: a test never sees half a binary, and .tools/bin may be
  # shared by several checkouts of the repository.
  tmp="$BIN/.$name.new.$$"
  if ! (cd "$MODULE" && "${NICE[@]}" go build -p 2 -trimpath -ldflags "$(ldflags_for "$name")" -o "$tmp" "./cmd/$name") \
    </dev/null >"$log" 2>&1; then
    rm -f "$tmp"
    show_log "$log"
    die "building $name failed (log: $log)" \
      "the Go module proxy must be reachable on a cold module cache; Go must be >= the go line of $MODULE/go.mod ($(go version | cut -d' ' -f3) here)"
  fi
  mv -f "$tmp" "$BIN/$name"
  echo "$HASH" >"$(stamp_of "$name")"
  is_current "$name" "$HASH" || die "built $name but '$BIN/$name --version' does not say '$(expected_version "$name")'"
  BUILT+=("$name $(since "$t0")s")
  printf 'setup-kube: %-24s built (%ss) - %s, %s\n' "$name" "$(since "$t0")" "$(expected_version "$name")" "$(du -h "$BIN/$name" | cut -f1)"
done
# The last line is the summary scripts/setup.sh shows.
if [[ ${#BUILT[@]} -eq 0 ]]; then echo "up to date: $SUMMARY"
else echo "$SUMMARY (built: $(IFS=,; echo "${BUILT[*]}" | sed 's/,/, /g'))"; fi
