#!/usr/bin/env bash
# Run the test suite (the compiled tests in dist/test/**/*.test.js) with node's built-in runner.
#
#   bash scripts/test.sh                       everything
#   bash scripts/test.sh test/proxy            files under test/proxy (a path prefix, .ts or not)
#   bash scripts/test.sh test/db/pg.test.ts    one file
#   bash scripts/test.sh proxy spawn           files whose path contains "proxy" or "spawn"
#   bash scripts/test.sh test/api --test-name-pattern='pagination'   (--options go to node)
#
# Build first (npm test does: bash scripts/setup.sh --test). Environment knobs:
#   REFINERY_TEST_CONCURRENCY  test files run at once (default: 1 when CI is set, else 2)
#   REFINERY_TEST_TIMEOUT_S    limit for each test AND each whole file (default 900)
#
# Concurrency: the machines (and CI) have 2 cores, and the integration tests start real things
# (jupyterhub-singleuser and kernels, a JVM for Spark, Chromium, PostgreSQL). Much of their time
# is waiting, so two files at once is much quicker (13 files, Nov 2026: 105 s at 1, 59 s at 2),
# but two start-ups at once share the 2 cores, which is exactly when deadlines in the product and
# the tests turn into flakes. CI is the gate and has time to spare (90 min), so it runs one file
# at a time; developers get the quicker 2, which also shows contention-sensitive tests early.
# Files are isolated (own ports, temp dirs, databases), so either setting is correct.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REFINERY_ROOT" || exit 1

if is_ci; then DEFAULT_CONCURRENCY=1; else DEFAULT_CONCURRENCY=2; fi
CONCURRENCY="${REFINERY_TEST_CONCURRENCY:-$DEFAULT_CONCURRENCY}"
TIMEOUT_S="${REFINERY_TEST_TIMEOUT_S:-900}"
RESULTS_DIR="$REFINERY_ROOT/test-results"
LOG_FILE="$RESULTS_DIR/run.log"

NODE_ARGS=()
FILTERS=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --*) NODE_ARGS+=("$arg") ;;
    *) FILTERS+=("$arg") ;;
  esac
done

[[ -d dist/test ]] || die "dist/test does not exist: nothing is built" "run: bash scripts/setup.sh --test   (or npm test)"

# All compiled tests, sorted, whose TypeScript source still exists (tsc never deletes outputs, so a
# renamed or removed test would otherwise keep running from dist/).
ALL=()
STALE=0
while IFS= read -r f; do
  src="${f#dist/}"
  if [[ -f "${src%.js}.ts" ]]; then ALL+=("$f"); else STALE=$((STALE + 1)); fi
done < <(find dist/test -type f -name '*.test.js' | LC_ALL=C sort)
[[ $STALE -eq 0 ]] || echo "test: ignoring $STALE compiled test file(s) in dist/test whose .ts source is gone"

matches() { # matches FILE FILTER
  local file="$1" p="${2#./}"
  p="${p#dist/}"; p="${p%.ts}"; p="${p%.js}"; p="${p%/}"
  if [[ "$p" == */* || -e "$p" || -e "$p.ts" ]]; then
    [[ "$file" == "dist/$p"* ]]   # a path: prefix match (a folder, a file, or a file-name start)
  else
    [[ "$file" == *"$p"* ]]
  fi
}

FILES=()
if [[ ${#FILTERS[@]} -eq 0 ]]; then
  FILES=("${ALL[@]}")
else
  for f in "${ALL[@]}"; do
    for flt in "${FILTERS[@]}"; do
      if matches "$f" "$flt"; then FILES+=("$f"); break; fi
    done
  done
fi
if [[ ${#FILES[@]} -eq 0 ]]; then
  echo "test: no compiled test file matches: ${FILTERS[*]:-(all)}" >&2
  echo "  -> tests live in test/**/*.test.ts and compile to dist/test/; build with: bash scripts/setup.sh --test" >&2
  echo "0 passed, 0 failed, 0 skipped"
  exit 1
fi

mkdir -p "$RESULTS_DIR"
rm -f "$LOG_FILE" "$RESULTS_DIR/run.tap"

# Mark every process of this run, so leftovers can be told apart from other people's.
export REFINERY_TEST_RUN_ID="refinery-test-$$-$RANDOM"
singleuser_pids() { pgrep -f 'jupyterhub-singleuser' 2>/dev/null | sort || true; }
BEFORE_SINGLEUSER=$(singleuser_pids)

echo "test: ${#FILES[@]} file(s), concurrency $CONCURRENCY, timeout ${TIMEOUT_S}s per test and per file"
T0=$(now)
# The spec report goes to the terminal and to test-results/run.log, whose closing block (ℹ pass N,
# ...) gives the counts. (A second, file-destination reporter would lose its closing block to
# --test-force-exit on node 20; stdout through a pipe is written synchronously and is complete.)
node --enable-source-maps --test \
  --test-concurrency="$CONCURRENCY" \
  --test-timeout="$((TIMEOUT_S * 1000))" \
  --test-force-exit \
  --test-reporter=spec --test-reporter-destination=stdout \
  "${NODE_ARGS[@]}" "${FILES[@]}" | tee -p "$LOG_FILE"   # -p: a closed reader (| head) does not stop the run
RC=${PIPESTATUS[0]}
ELAPSED=$(since "$T0")

# --test-force-exit ends a file once its tests are done even if it leaked a socket or timer (so a
# leak cannot hang CI); leaked processes are what matter, and are reported here.
RUN_ID="$REFINERY_TEST_RUN_ID"
unset REFINERY_TEST_RUN_ID   # so the commands below don't carry the mark themselves
LEFTOVER=$(grep -lsza "^REFINERY_TEST_RUN_ID=$RUN_ID\$" /proc/[0-9]*/environ 2>/dev/null \
  | sed -E 's#/proc/([0-9]+)/environ#\1#' || true)
if [[ -n "$LEFTOVER" ]]; then
  echo "test: WARNING: processes started by this run are still alive (tests should stop what they start):"
  for pid in $LEFTOVER; do
    printf '  pid %s: %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
  done
fi
# jupyterhub-singleuser servers that appeared during the run, run from this checkout, but carry no
# mark (a spawner that builds a clean environment): maybe this run's, maybe a colleague's.
NEW_SINGLEUSER=$(comm -13 <(echo "$BEFORE_SINGLEUSER") <(singleuser_pids) | grep -v '^$' || true)
UNMARKED=()
for pid in $NEW_SINGLEUSER; do
  grep -qx "$pid" <<<"$LEFTOVER" && continue
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)
  [[ "$cmd" == *"$REFINERY_ROOT/"* ]] && UNMARKED+=("  pid $pid: $cmd")
done
if [[ ${#UNMARKED[@]} -gt 0 ]]; then
  echo "test: WARNING: jupyterhub-singleuser processes of this checkout appeared during the run and are still running (this run's, or another run's in the same checkout):"
  printf '%s\n' "${UNMARKED[@]}"
fi

# Counts from the spec report's closing block (the last "ℹ pass N" etc.).
count() { awk -v k="$1" '$1 == "ℹ" && $2 == k && $3 ~ /^[0-9]+$/ && NF == 3 { n = $3 } END { print n + 0 }' "$LOG_FILE"; }
if ! grep -qE '^ℹ tests [0-9]+$' "$LOG_FILE" 2>/dev/null; then
  echo "test: the runner printed no summary (exit code $RC); it probably crashed before running tests"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
TOTAL=$(count tests)
PASS=$(count pass)
FAIL=$(( $(count fail) + $(count cancelled) ))
SKIP=$(( $(count skipped) + $(count todo) ))
echo "test: ${#FILES[@]} file(s) in ${ELAPSED}s; node exit code $RC; report: ${LOG_FILE#"$REFINERY_ROOT"/}"
if [[ "$TOTAL" -eq 0 ]]; then
  echo "test: no test ran"
  echo "0 passed, 0 failed, 0 skipped"
  exit 1
fi
echo "$PASS passed, $FAIL failed, $SKIP skipped"
if [[ $RC -ne 0 || $FAIL -ne 0 ]]; then exit 1; fi
exit 0
