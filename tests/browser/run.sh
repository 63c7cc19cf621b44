#!/usr/bin/env bash
# The playback suite: starts nginx + the casterpak worker on loopback with a cold cache, runs
# node's test runner over the unit tests of our checkers and the end-to-end tests (hls.js in
# Chromium, ffmpeg, strict playlist and segment validators), then stops everything.
#
#   tests/browser/run.sh              the real stack (cargo build --workspace first)
#   STACK=ffmpeg tests/browser/run.sh HLS made by `ffmpeg -c copy -f hls`, served by plain nginx:
#                                     an independent producer for the checks (README: its deviations)
#   FULL=1 tests/browser/run.sh       the longer player scenarios (every level, playback at 1x)
#   PACKAGING_MODE=whole|jit|auto     casterpak's [tools] mode (default auto: just-in-time)
#
# Media come from CASTERPAK_TEST_MEDIA (default <repo>/tests/media); a missing file is a failure.
# Screenshots and logs go to CASTERPAK_ARTIFACTS (default <target>/browser-artifacts).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MEDIA=${CASTERPAK_TEST_MEDIA:-$ROOT/tests/media}
STACK=${STACK:-casterpak}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ARTIFACTS=${CASTERPAK_ARTIFACTS:-$TARGET/browser-artifacts}

# Every title the e2e tests request; keep in step with e2e/catalog.js.
NEEDED=(a_720p_60s a_360p_60s a_720p_60s_faststart audio_only video_only hevc irregular_gop fragmented clip_low clip_medium clip_highdef multi_audio subtitled captioned)
for name in "${NEEDED[@]}"; do
  if [ ! -f "$MEDIA/$name.mp4" ]; then
    echo "run.sh: missing test medium $MEDIA/$name.mp4 (make it with scripts/make-media.sh)" >&2
    exit 1
  fi
done
for tool in node npm nginx ffmpeg ffprobe curl python3 openssl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
# playwright-core needs node 20 (Debian 12's own nodejs is 18; the machine image ships 20).
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || { echo "run.sh: node $(node --version) is older than 20" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "run.sh: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }

cd "$HERE"
# npm ci wipes node_modules; skip it when the installed tree was made from this lock file
# (a copy kept beside it: npm's own node_modules/.package-lock.json never equals it).
if ! cmp -s package-lock.json node_modules/.casterpak-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.casterpak-lock.json
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/casterpak-browser.XXXXXX")
# Run as root, nginx's workers drop to "nobody": they must be able to read the tree.
chmod 755 "$TMP"
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  mkdir -p "$ARTIFACTS"
  cp "$TMP"/*.log "$TMP"/nginx/logs/*.log "$ARTIFACTS"/ 2>/dev/null || true
  rm -rf "$TMP"
  echo "run.sh: artifacts (screenshots, logs) in $ARTIFACTS"
  exit "$status"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE_URL="http://127.0.0.1:$PORT"
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/www" "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png "$ARTIFACTS"/*.log # nothing stale from an earlier run

# The demo page, its hls.js and our test page, served by the same nginx as the media.
cp "$ROOT/nginx/demo/index.html" "$TMP/nginx/www/index.html"
cp node_modules/hls.js/dist/hls.min.js "$TMP/nginx/www/hls.min.js"
cp page/player-test.html "$TMP/nginx/www/player-test.html"
cp node_modules/dashjs/dist/dash.all.min.js "$TMP/nginx/www/dash.all.min.js"
cp page/dash-test.html "$TMP/nginx/www/dash-test.html"

start_casterpak() {
  (cd "$ROOT" && cargo build --workspace --quiet)
  local TOKEN_KEY LIVE_TOKEN S3S_FS S3_PORT S3_SECRET name
  TOKEN_KEY=$(openssl rand -hex 32)
  # e2e/remote.test.js: the csmil's renditions also live in a bucket of a real S3 server
  # (s3s-fs, SigV4), read with range requests under /i/s3/.
  S3S_FS=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
  [ -x "$S3S_FS" ] || { echo "run.sh: s3s-fs is missing (scripts/install-deps.sh --tests)" >&2; exit 1; }
  mkdir -p "$TMP/s3/vod/t"
  for name in clip_low clip_medium clip_highdef; do cp "$MEDIA/$name.mp4" "$TMP/s3/vod/t/"; done
  S3_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  S3_SECRET=$(openssl rand -hex 16)
  "$S3S_FS" --host 127.0.0.1 --port "$S3_PORT" --access-key casterpak --secret-key "$S3_SECRET" \
    "$TMP/s3" >"$TMP/s3s-fs.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if (: >"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null; then break; fi
    sleep 0.1
  done
  # e2e/encryption.test.js: one title no other test plays alone is AES-128 encrypted
  # (not with whole packaging: the worker rightly refuses to start with it).
  ENCRYPTION=
  if [ "${PACKAGING_MODE:-auto}" != whole ]; then
    ENCRYPTION="[encryption]
master_key = \"$(openssl rand -hex 16)\"
paths = [\"a_720p_60s_faststart.mp4\"]"
  fi
  LIVE_TOKEN=$(openssl rand -hex 16)
  export CASTERPAK_LIVE_TOKEN=$LIVE_TOKEN CASTERPAK_CONFIG="$TMP/casterpak.toml" CASTERPAK_BIN="$TARGET/debug/casterpak"
  # The worker refuses sources whose real path leaves the media root (symlinks included), so
  # the root is the media folder itself (read only), not a folder of links to it.
  cat >"$TMP/casterpak.toml" <<EOF
listen = "$TMP/worker.sock"
control_socket = "$TMP/control.sock"
hit_log = "$TMP/hits.log"
media_root = "$(readlink -f "$MEDIA")"
cache_root = "$TMP/cache"
db_path = "$TMP/db"

[tools]
mode = "${PACKAGING_MODE:-auto}"

# e2e/token.test.js: two csmils no other test requests need a token (checked by nginx):
# one hands it on in the query (nginx appends it), one as an HLS variable (hls.js fills
# it in from the playlist's URL).
[token_auth]
key = "$TOKEN_KEY"
protect = ["/i/clip_,low,.mp4.csmil/", "/i/clip_,medium,.mp4.csmil/"]
define_prefixes = ["/i/clip_,medium,.mp4.csmil/"]
script = "$ROOT/nginx/casterpak-token.lua"

$ENCRYPTION

# e2e/subtitles.test.js: subtitled.mp4 has a French SubRip sidecar (and its own English track).
[subtitles]
languages = ["fr"]

[[sources]]
prefix = "s3"
kind = "s3"
endpoint = "http://127.0.0.1:$S3_PORT"
region = "us-east-1"
bucket = "vod"
key_prefix = "t/"
path_style = true
access_key_id = "casterpak"
secret_access_key = "$S3_SECRET"

[input_cache]
root = "$TMP/input-cache"

# e2e/live.test.js: ffmpeg publishes a live stream, hls.js plays it and a recording of it.
[live]
enabled = true
ingest_token = "$LIVE_TOKEN"
post_socket = "$TMP/live-post.sock"
ingest_log = "$TMP/live-ingest.log"
EOF
  # With [live], nginx makes its body temp dir inside the cache root at start.
  mkdir -p "$TMP/cache"
  CASTERPAK_TOKEN=$("$TARGET/debug/casterpak" token --config "$TMP/casterpak.toml" \
    --acl '/i/clip_,low,.mp4.csmil/*!/i/clip_,medium,.mp4.csmil/*' --window 3600)
  export CASTERPAK_TOKEN
  "$TARGET/debug/casterpak" nginx-conf --config "$TMP/casterpak.toml" --standalone \
    --listen "127.0.0.1:$PORT" --prefix "$TMP/nginx" >"$TMP/nginx/nginx.conf"
  RUST_LOG=${RUST_LOG:-info} "$TARGET/debug/casterpak" serve --config "$TMP/casterpak.toml" \
    >"$TMP/worker.log" 2>&1 &
  PIDS+=($!)
  HEALTH_URL="$BASE_URL/_casterpak/health"
}

start_ffmpeg_hls() {
  bash "$HERE/ffmpeg-hls.sh" "$MEDIA" "$TMP/nginx/www"
  cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log $TMP/nginx/logs/access.log;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $TMP/nginx/www;
    add_header Access-Control-Allow-Origin "*";
  }
}
EOF
  HEALTH_URL="$BASE_URL/index.html"
}

case "$STACK" in
  casterpak) start_casterpak ;;
  ffmpeg) start_ffmpeg_hls ;;
  *) echo "run.sh: STACK must be casterpak or ffmpeg, not $STACK" >&2; exit 2 ;;
esac

nginx -p "$TMP/nginx/" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

stack_alive() {
  local pid
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
}
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "$HEALTH_URL" 2>/dev/null || ! stack_alive; then break; fi
  sleep 0.2
done
if ! curl -fsS -o /dev/null "$HEALTH_URL"; then
  echo "run.sh: the stack did not answer $HEALTH_URL" >&2
  tail -n 20 "$TMP"/*.log "$TMP/nginx/logs/error.log" >&2 2>/dev/null || true
  exit 1
fi
echo "run.sh: $STACK stack on $BASE_URL"

export CASTERPAK_BASE_URL="$BASE_URL" CASTERPAK_ARTIFACTS="$ARTIFACTS" CASTERPAK_STACK="$STACK"
# E2E_TESTS: a subset of the files to run (default: all of them).
# shellcheck disable=SC2086
node --test --test-reporter=spec ${E2E_TESTS:-unit/*.test.js e2e/*.test.js}
