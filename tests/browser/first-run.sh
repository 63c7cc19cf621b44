#!/usr/bin/env bash
# The README's first command, as a new user runs it: in a copy of the repository's files alone
# (what git tracks, as a fresh clone has them: no node_modules, no .run, no media),
# scripts/start-origin.sh --background on a spare port (it builds, makes its media and
# installs the demo's pinned hls.js itself; the build shares this checkout's target dir and
# make-media.sh its per-user media cache, so a rerun costs the copy's own crates, not the
# dependencies or minutes of encoding), then first-run/demo.test.js plays the demo page
# in Debian's Chromium, then scripts/start-origin.sh --stop, which must leave neither
# process running.
# Exit code non-zero on any failure. Screenshot and logs go to CASTERPAK_ARTIFACTS.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ARTIFACTS=${CASTERPAK_ARTIFACTS:-$TARGET/browser-artifacts}

for tool in node npm python3 curl; do
  command -v "$tool" >/dev/null || { echo "first-run.sh: $tool is not installed" >&2; exit 1; }
done
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || { echo "first-run.sh: node $(node --version) is older than 20 (playwright-core)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "first-run.sh: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }

# The test's own machinery (playwright-core); the demo's hls.js is start-origin.sh's business.
cd "$HERE"
if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/casterpak-first-run.XXXXXX")
chmod 755 "$TMP" # run as root, nginx's workers are "nobody" and must reach the web root
CLONE=$TMP/casterpak
RUN=$CLONE/.run
mkdir "$CLONE"
# Tracked and new (not ignored) files of this checkout, including uncommitted edits;
# --ignore-failed-read skips files deleted but not yet committed.
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
  tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$CLONE"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE_URL="http://127.0.0.1:$PORT"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS/first-run-demo.png"

# A process that is gone or a zombie (nothing here may reap the daemons' parent).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
stop_origin() {
  "$CLONE/scripts/start-origin.sh" --stop
}
cleanup() {
  local status=$?
  stop_origin || status=1
  cp "$RUN/worker.log" "$ARTIFACTS/first-run-worker.log" 2>/dev/null || true
  cp "$RUN/nginx/logs/error.log" "$ARTIFACTS/first-run-nginx-error.log" 2>/dev/null || true
  rm -rf "$TMP"
  echo "first-run.sh: artifacts in $ARTIFACTS"
  exit "$status"
}
trap cleanup EXIT

[ ! -e "$CLONE/tests/browser/node_modules" ] && [ ! -e "$RUN" ] || { echo "first-run.sh: the copy is not fresh" >&2; exit 1; }
echo "first-run.sh: in $CLONE: PORT=$PORT scripts/start-origin.sh --background"
# The checkout's target dir, so the dependencies' release build is not repeated: the
# copy's own sources are still built (their path differs, so cargo rebuilds them).
(cd "$CLONE" && CARGO_TARGET_DIR=$TARGET PORT=$PORT scripts/start-origin.sh --background)

PIDS=("$(cat "$RUN/worker.pid")" "$(cat "$RUN/nginx.pid")")
CASTERPAK_BASE_URL="$BASE_URL" CASTERPAK_ARTIFACTS="$ARTIFACTS" \
  node --test --test-reporter=spec first-run/*.test.js

# --stop must stop both, and the port must stop answering.
stop_origin
for pid in "${PIDS[@]}"; do
  if alive "$pid"; then
    echo "first-run.sh: process $pid still runs after --stop" >&2
    exit 1
  fi
done
if curl -fsS -o /dev/null --max-time 2 "$BASE_URL/_casterpak/health" 2>/dev/null; then
  echo "first-run.sh: $BASE_URL still answers after --stop" >&2
  exit 1
fi
echo "first-run.sh: --stop stopped worker and nginx (pids ${PIDS[*]})"
