#!/usr/bin/env bash
# casterpak's benchmark: starts the real stack (release build, Debian's nginx with the
# generated config, the worker, our tools) beside its peers and prints one table, each
# figure the median over repeated runs with its spread (min–max), then the speed
# targets of docs (quality.md) as met / not met, and the machine it ran on.
#
# usage: scripts/bench.sh [--quick] [--out FILE]
#   --quick     CI mode (< 2 min): debug build, small media, few runs, no hour-long
#               title; every row's code path still runs and any stack failure fails it.
#   --out FILE  also write the table and the targets as markdown to FILE.
#   BENCH_ROWS=token  only the token authorization rows.
# env: RUNS (repetitions of each cold measurement), BENTO4_DIR (real Bento4: its
#      mp4info/mp42hls in BENTO4_DIR or BENTO4_DIR/bin), CASTERPAK_TEST_MEDIA,
#      CARGO_TARGET_DIR, KEEP=1 (keep the scratch dir with logs), BENCH_PROFILE=release
#      (--quick with the release build, when one is at hand), NGINX_VOD_MODULE (path of
#      an nginx-vod-module dynamic module built by hand for this nginx; its column says
#      "not given" without it), BENCH_TMP (a dir on another file system for the stacks'
#      media roots and caches, e.g. a journaled ext4; default /tmp).
# Peers: nginx serving the same file as plain static; the worker in whole-rendition
# mode (`[tools] mode = "whole"`, what CasterPak and Bento4 do); ffmpeg -c copy -f hls;
# nginx-vod-module (muxing each segment per request, and in remote mode over the same
# archive as ours) when NGINX_VOD_MODULE is set.
# Load generator: wrk (Debian), 1 thread: the machine has 2 cores for nginx and wrk.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
quick=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=${2:?--out needs a file}; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done

source "$repo/scripts/bench/stack.sh"
source "$repo/scripts/bench/stats.sh"
source "$repo/scripts/bench/measure.sh"
source "$repo/scripts/bench/report.sh"
source "$repo/scripts/bench/vod.sh"
source "$repo/scripts/bench/measure-peer.sh"
source "$repo/scripts/bench/report-peer.sh"
source "$repo/scripts/bench/measure-clip.sh"
source "$repo/scripts/bench/measure-token.sh"
source "$repo/scripts/bench/measure-cmaf.sh"
source "$repo/scripts/bench/measure-remote.sh"

fail() {
  echo "bench: FAILED: $*" >&2
  local log
  for log in "${work:-/nonexistent}"/*/worker.log; do
    [ -f "$log" ] && { echo "--- last lines of $log" && tail -n 5 "$log"; } >&2
  done
  [ -n "${KEEP:-}" ] || echo "bench: KEEP=1 keeps the scratch dir with every log" >&2
  exit 1
}

for tool in nginx curl wrk hyperfine ffmpeg openssl /usr/bin/time; do
  command -v "$tool" > /dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

target=${CARGO_TARGET_DIR:-$repo/target}
media=${CASTERPAK_TEST_MEDIA:-$repo/tests/media}
bench_media=$target/bench-media
if [ "$quick" = 1 ]; then
  # CI has just built the debug profile for the tests; a release build would take
  # longer than the whole budget. Quick figures only prove the paths work.
  profile=${BENCH_PROFILE:-debug}
  runs=${RUNS:-3}
  wrk_secs=${WRK_SECS:-1}
  bursts=1
  title_count=3
  echo "bench: quick mode ($profile build, small media, $runs runs): figures are not comparable" >&2
  build_flags=(--workspace --quiet)
  if [ "$profile" = release ]; then build_flags+=(--release); fi
  (cd "$repo" && cargo build "${build_flags[@]}")
else
  profile=release
  runs=${RUNS:-7}
  wrk_secs=5
  bursts=5
  title_count=20 # distinct long titles packaged for the memory row
  (cd "$repo" && cargo build --release --workspace --quiet)
fi
bin=$target/$profile

# Media: the reference set (scripts/make-media.sh, reused when present) plus long titles.
if [ "$quick" = 1 ]; then
  SKIP_LONG=1 "$repo/scripts/make-media.sh" "$media" a_720p_60s clip_low clip_medium clip_highdef > /dev/null
  titles=("1 min|$media/a_720p_60s.mp4"
    "2 min|$("$repo/scripts/bench/make-long.sh" "$bench_media" 2 320x180)"
    "5 min|$("$repo/scripts/bench/make-long.sh" "$bench_media" 5 320x180)")
  big=$media/a_720p_60s.mp4 # stands in for the 10-minute 1080p title
  big_label="720p 1 min"
else
  "$repo/scripts/make-media.sh" "$media" a_720p_60s clip_low clip_medium clip_highdef long_1080p_10min > /dev/null
  titles=("1 min|$media/a_720p_60s.mp4"
    "10 min|$media/long_1080p_10min.mp4"
    "60 min|$("$repo/scripts/bench/make-long.sh" "$bench_media" 60)")
  big=$media/long_1080p_10min.mp4
  big_label="1080p 10 min"
fi
small=$media/a_720p_60s.mp4
clips=("$media/clip_low.mp4" "$media/clip_medium.mp4" "$media/clip_highdef.mp4")
for f in "$small" "$big" "${clips[@]}"; do [ -s "$f" ] || fail "media $f is missing"; done

bento4_mp4info="" bento4_mp42hls=""
if [ -n "${BENTO4_DIR:-}" ]; then
  for d in "$BENTO4_DIR/bin" "$BENTO4_DIR"; do
    if [ -x "$d/mp42hls" ] && [ -x "$d/mp4info" ]; then
      bento4_mp4info=$d/mp4info bento4_mp42hls=$d/mp42hls
      break
    fi
  done
  [ -n "$bento4_mp42hls" ] || fail "BENTO4_DIR=$BENTO4_DIR has no mp4info and mp42hls"
fi

vod_module=${NGINX_VOD_MODULE:-}
if [ -n "$vod_module" ] && [ ! -r "$vod_module" ]; then fail "NGINX_VOD_MODULE=$vod_module is not a readable file"; fi

work=$(mktemp -d "${BENCH_TMP:-/tmp}/casterpak-bench.XXXXXX")
cleanup() {
  stack_stop_all
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# BENCH_TMP: the stacks' media roots and caches on another file system (the cache's
# file system decides what a fill's new files and dirs cost). Cold rows hard-link a
# title per repetition, so the media are copied there once.
if [ -n "${BENCH_TMP:-}" ]; then
  copies=$work/media-copies
  mkdir -p "$copies"
  copy_in() {
    [ -e "$copies/$(basename "$1")" ] || cp "$1" "$copies/" || return 1
    echo "$copies/$(basename "$1")"
  }
  small=$(copy_in "$small") && big=$(copy_in "$big") || fail "copying the media into $BENCH_TMP"
  for i in "${!clips[@]}"; do clips[i]=$(copy_in "${clips[i]}") || fail "copying ${clips[i]}"; done
  for i in "${!titles[@]}"; do
    titles[i]="${titles[i]%%|*}|$(copy_in "${titles[i]#*|}")" || fail "copying ${titles[i]}"
  done
fi
results=$work/results.tsv
: > "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

echo "bench: starting the stacks" >&2
stack_start jit jit
# BENCH_ROWS=token: the token rows alone (beside the unprotected hits they compare with),
# for working on the check; the full run is what docs/benchmarks.md reports.
if [ "${BENCH_ROWS:-}" = token ]; then
  measure_hits
  measure_token_hits
  print_token_report | tee "${out:-/dev/null}"
  exit 0
fi
stack_start whole whole
if [ -n "$bento4_mp42hls" ]; then stack_start bento4 auto "$bento4_mp4info" "$bento4_mp42hls"; fi
if vod_on; then vod_start vod || fail "nginx-vod-module did not start"; fi
remote_start
# Every file the stacks read is in the page cache first, for everyone alike.
cat "$small" "$big" "${clips[@]}" "${titles[@]#*|}" > /dev/null
# Segments of the big title as each lists them (untimed, on a path then forgotten), and
# the one a seek asks for: 40 % into the title.
big_segments=$(count_segments jit "$big")
vod_segments=$(if vod_on; then count_segments vod "$big"; fi)
mid_segment=$(((big_segments * 2 + 4) / 5))

measure_cold_playlists
measure_cold_segment
measure_csmil
measure_cmaf
measure_whole_rendition
measure_hits
measure_token_hits
measure_burst
measure_all_segments
measure_memory
measure_clip
measure_remote

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
{ print_report && print_peer_report && print_token_report && print_remote_report && print_machine; } | tee "${out:-/dev/null}"
echo "bench: done in $((SECONDS - started)) s" >&2
