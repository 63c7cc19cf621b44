#!/usr/bin/env bash
# Runs every check casterpak has, as CI does (.ci/run calls this): installs what is
# missing, makes the test media, then format, lint, unit + end-to-end tests, and the
# browser, first-run (start-origin.sh's demo page plays), Debian package, fuzz and
# benchmark stages when their scripts exist.
# Ends with "N passed, M failed" (stages) and exits non-zero if any stage failed.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CASTERPAK_TEST_MEDIA=${CASTERPAK_TEST_MEDIA:-$repo/tests/media}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

passed=0
failed=0
failed_names=()
# Each stage's output is also kept, so the end of the run can repeat what failed:
# CI shows only the tail of a long log.
logs=$repo/.run/test-logs
mkdir -p "$logs"

# stage NAME COMMAND...: runs one stage, timing it, and keeps going on failure.
stage() {
  local name=$1
  shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@" 2>&1 | tee "$logs/$name.log"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

make_media() {
  # The 10-minute title takes most of the media time: make it only if a test names it.
  local skip_long=${SKIP_LONG:-}
  if [ -z "$skip_long" ] && [ -n "${CI:-}" ] &&
    ! grep -rqs --include="*.rs" long_1080p_10min tests src bento4/src bento4/tests; then
    skip_long=1
  fi
  SKIP_LONG=$skip_long scripts/make-media.sh "$CASTERPAK_TEST_MEDIA"
}

stage install-deps scripts/install-deps.sh --tests
stage media make_media
stage fmt cargo fmt --all --check
stage clippy cargo clippy --workspace --all-targets -- -D warnings
# Four test threads on two cores: the end-to-end tests mostly wait (nginx and worker
# start-up, real-time ffmpeg publishing, timeouts they provoke), so the suite took 110 s
# instead of 157 s here with the same CPU time.
stage test cargo test --workspace --no-fail-fast -- --test-threads=4
# The release build (the package, first-run and the benchmark use it) and the fuzz
# targets' build run at the lowest CPU priority while the browser stage plays media in
# real time, which leaves most of a core idle; the later stages then find them built
# (cargo locks target/release and target/fuzz, not target/debug, which the browser
# stage uses). A failure here is not a stage's: those stages build again and say why.
prebuild() {
  nice -n 19 cargo build --workspace --release --quiet || return
  if [ -f scripts/fuzz.sh ]; then nice -n 19 bash scripts/fuzz.sh --build-only; fi
}
prebuild > "$logs/prebuild.log" 2>&1 &
prebuild_pid=$!
if [ -x tests/browser/run.sh ] || [ -f tests/browser/run.sh ]; then
  stage browser bash tests/browser/run.sh
fi
prebuild_start=$SECONDS
wait "$prebuild_pid" || echo "test.sh: the background build failed (the stages below build again): $(tail -n 3 "$logs/prebuild.log")"
echo "=== (waited $((SECONDS - prebuild_start)) s for the background release and fuzz builds)"
# The package's release build comes first: first-run and the benchmark reuse it (one
# release build of the dependencies for the whole run).
if [ -f scripts/test-deb.sh ]; then
  stage deb bash scripts/test-deb.sh
fi
if [ -f tests/browser/first-run.sh ]; then
  stage first-run bash tests/browser/first-run.sh
fi
if [ -f scripts/bench.sh ]; then
  stage bench env BENCH_PROFILE=release bash scripts/bench.sh --quick
fi
if [ -f scripts/fuzz.sh ]; then
  stage fuzz bash scripts/fuzz.sh 6
fi

echo
if [ "$failed" -gt 0 ]; then
  for name in "${failed_names[@]}"; do
    echo "--- what failed in $name (from $logs/$name.log):"
    grep -E '^test .* FAILED$|panicked at|^error(\[|:)|FAILED|failed:|^    [a-z_:]+$' "$logs/$name.log" | head -60
    # node's spec reporter ends with each failing test and its error.
    sed -n '/failing tests:/,$p' "$logs/$name.log" | head -60
  done
  echo "failed stages: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
