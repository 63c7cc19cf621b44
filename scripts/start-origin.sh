#!/usr/bin/env bash
# Starts a working casterpak origin on this machine: installs what is missing, builds,
# makes sample media, installs the demo page's pinned hls.js, writes a config and a
# standalone nginx.conf into .run/, starts the worker and nginx, waits until both answer
# and prints the URLs to open.
#
# usage: scripts/start-origin.sh              run until Ctrl-C (stops both)
#        scripts/start-origin.sh --background leave both running and return
#        scripts/start-origin.sh --stop       stop what --background started
# PORT=8081 scripts/start-origin.sh picks another port (default 8080).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
run=$repo/.run
port=${PORT:-8080}
mode=${1:-foreground}

# Gone or a zombie: the daemons outlive this script, and nothing may reap them here.
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

stop() {
  for name in nginx worker; do
    local pidfile=$run/$name.pid
    if [ -f "$pidfile" ]; then
      local pid
      pid=$(cat "$pidfile")
      # Only a process that still is ours: a stale pid may belong to something else now.
      if grep -qs -e casterpak -e nginx "/proc/$pid/cmdline" && kill "$pid" 2>/dev/null; then
        # Give it a moment to shut down cleanly (nginx stops its worker process too).
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        echo "stopped $name ($pid)"
      fi
      rm -f "$pidfile"
    fi
  done
}

case "$mode" in
  --stop) stop; exit 0 ;;
  --background | foreground) ;;
  *) echo "usage: $0 [--background | --stop]" >&2; exit 2 ;;
esac

stop # a previous run's processes would hold the port and sockets

"$repo/scripts/install-deps.sh"
echo "building (release)..."
(cd "$repo" && cargo build --release --workspace --quiet)
bin=$repo/target/release
[ -n "${CARGO_TARGET_DIR:-}" ] && bin=$CARGO_TARGET_DIR/release

mkdir -p "$run/media" "$run/cache" "$run/nginx/logs" "$run/nginx/www"
"$repo/scripts/make-media.sh" "$run/media" clip_low clip_medium clip_highdef

config=$run/casterpak.toml
cat > "$config" <<TOML
# Written by scripts/start-origin.sh; see casterpak.example.toml for every key.
listen = "$run/worker.sock"
control_socket = "$run/control.sock"
hit_log = "$run/hits.log"
media_root = "$run/media"
cache_root = "$run/cache"
db_path = "$run/db"
TOML
"$bin/casterpak" check-config --config "$config"
"$bin/casterpak" nginx-conf --config "$config" --standalone --listen "127.0.0.1:$port" \
  --prefix "$run/nginx" > "$run/nginx/nginx.conf"

# The demo page and its player, hls.js at the version and checksum nginx/demo/package-lock.json
# pins (npm ci verifies the integrity hash). Installed under the run dir, not the source tree;
# the stamp (a copy of the lock it was installed from) skips npm on a rerun.
player=$run/demo-player
if ! cmp -s "$repo/nginx/demo/package-lock.json" "$player/installed.lock"; then
  echo "installing the demo player (hls.js, pinned by nginx/demo/package-lock.json)..."
  rm -rf "$player"
  mkdir -p "$player"
  cp "$repo/nginx/demo/package.json" "$repo/nginx/demo/package-lock.json" "$player/"
  (cd "$player" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$repo/nginx/demo/package-lock.json" "$player/installed.lock"
fi
cp "$repo/nginx/demo/index.html" "$player/node_modules/hls.js/dist/hls.min.js" "$run/nginx/www/"

RUST_LOG=${RUST_LOG:-info} "$bin/casterpak" serve --config "$config" >> "$run/worker.log" 2>&1 &
echo $! > "$run/worker.pid"
nginx -p "$run/nginx/" -e "$run/nginx/logs/error.log" -c "$run/nginx/nginx.conf" \
  -g 'daemon off;' >> "$run/nginx/logs/stderr.log" 2>&1 &
echo $! > "$run/nginx.pid"
if [ "$mode" = foreground ]; then trap 'echo; stop; exit 0' INT TERM; fi

base=http://127.0.0.1:$port
for i in $(seq 100); do
  if curl -fsS -o /dev/null "$base/_casterpak/health" 2>/dev/null; then break; fi
  if [ "$i" = 100 ]; then
    echo "the origin did not come up; logs: $run/worker.log $run/nginx/logs/error.log" >&2
    tail -n 20 "$run/worker.log" "$run/nginx/logs/error.log" >&2 || true
    stop
    exit 1
  fi
  sleep 0.2
done

cat <<TEXT

casterpak is running (worker log: $run/worker.log, nginx logs: $run/nginx/logs/).
  csmil master (3 renditions): $base/i/clip_,low,medium,highdef,.mp4.csmil/master.m3u8
  single rendition master:     $base/i/clip_low.mp4/master.m3u8
  demo page:                   $base/
  metrics:                     $base/_casterpak/metrics
  try: ffplay '$base/i/clip_,low,medium,highdef,.mp4.csmil/master.m3u8'
TEXT

if [ "$mode" = foreground ]; then
  echo "Ctrl-C stops both."
  wait
else
  echo "stop with: scripts/start-origin.sh --stop"
fi
