#!/usr/bin/env bash
# Where a cache hit's cost goes: serves one cached playlist through the generated nginx
# config and through variants of it with one feature taken out at a time, and prints
# req/s and CPU µs per request of nginx's worker process and of casterpak's worker
# (which reads the hit feed). CPU per request is what to compare on a busy machine.
#
# usage: scripts/bench/hit-anatomy.sh [ROUNDS] [playlist|segment]
#        (default 3 rounds of 3 s per variant, on the playlist; segment: a 1.6 MB one)
# env: CARGO_TARGET_DIR, CASTERPAK_TEST_MEDIA, PROFILE (release, default, or debug)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}
what=${2:-playlist}
bin=${CARGO_TARGET_DIR:-$repo/target}/${PROFILE:-release}
media=${CASTERPAK_TEST_MEDIA:-$repo/tests/media}
[ -x "$bin/casterpak" ] || { echo "hit-anatomy: build first ($bin/casterpak)" >&2; exit 1; }
[ -s "$media/a_720p_60s.mp4" ] || { echo "hit-anatomy: $media/a_720p_60s.mp4 missing" >&2; exit 1; }
fail() { echo "hit-anatomy: $*" >&2; exit 1; }
source "$repo/scripts/bench/stack.sh"

work=$(mktemp -d /tmp/casterpak-hits.XXXXXX)
trap 'stack_stop_all; rm -rf "$work"' EXIT
stack_start jit jit
place jit "$media/a_720p_60s.mp4" hot
case "$what" in
  playlist) path=/i/hot/a_720p_60s.mp4/index_0_av.m3u8 ;;
  segment) path=/i/hot/a_720p_60s.mp4/segment2_0_av.ts ;;
  *) fail "usage: hit-anatomy.sh [ROUNDS] [playlist|segment]" ;;
esac
curl -fsS -o /dev/null "http://127.0.0.1:$(stack_port jit)$path" || fail "fill $path"
generated=$work/jit/nginx/nginx.conf
grep -q 'casterpak_hits buffer=' "$generated" || fail "the generated config has no buffered hit log line"
grep -q '^    open_file_cache max=' "$generated" || fail "the generated config has no open_file_cache line"

# variant NAME SED-EXPRESSION...: the generated config edited, on its own port and prefix.
variant() {
  local name=$1 port
  shift
  mkdir -p "$work/$name/logs"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    sed -e "s|$work/jit/nginx/|$work/$name/|g" -e "s|listen 127.0.0.1:[0-9]*;|listen 127.0.0.1:$port;|" \
      "$@" "$generated" > "$work/$name/nginx.conf"
    echo "$port" > "$work/$name/port"
    start_nginx "$work/$name"
    if nginx_bound "$work/$name" && wait_http 200 "http://127.0.0.1:$port$path" "$work/$name/nginx.pid"; then
      return 0
    fi
    stop_pidfile "$work/$name/nginx.pid"
  done
  tail -n 5 "$work/$name/logs/error.log" >&2 || true
  fail "variant $name did not start"
}
feed='/casterpak_hits buffer=/'
variant no-hit-feed -e "${feed}d"
variant no-feed-no-headers -e "${feed}d" -e '/^        add_header /d'
# Descriptors reopened for every hit, as before open_file_cache was turned on.
variant no-open-cache -e 's|^    open_file_cache max=.*|    open_file_cache off;|' \
  -e '/^    open_file_cache_\(valid\|errors\)/d'
static_start static "$work/jit/cache"

printf '%-20s %10s %12s %12s\n' variant req/s "nginx µs" "worker µs"
for _ in $(seq "$rounds"); do
  for v in jit no-hit-feed no-feed-no-headers no-open-cache static; do
    pidfile=$work/$v/nginx.pid
    [ "$v" = jit ] && pidfile=$work/jit/nginx/nginx.pid
    npid=$(nginx_worker_pids "$pidfile") wpid=$(stack_pid jit)
    n0=$(cpu_snapshot "$npid") w0=$(cpu_snapshot "$wpid")
    read -r tag requests _ micros non2xx errors <<< "$(wrk -t1 -c16 -d3s \
      -s "$repo/scripts/bench/wrk-report.lua" "http://127.0.0.1:$(stack_port "$v")$path" | grep '^wrk-report')"
    if [ "$tag" != wrk-report ] || [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
      fail "$v: wrk failed or saw ${non2xx:-?} non-2xx answers, ${errors:-?} socket errors"
    fi
    awk -v v="$v" -v n="$requests" -v us="$micros" -v nt="$(cpu_delta_us "$n0" "$(cpu_snapshot "$npid")")" \
      -v wt="$(cpu_delta_us "$w0" "$(cpu_snapshot "$wpid")")" \
      'BEGIN { printf "%-20s %10.0f %12.1f %12.1f\n", v == "jit" ? "shipped" : v, n / us * 1e6, nt / n, wt / n }'
  done
done
