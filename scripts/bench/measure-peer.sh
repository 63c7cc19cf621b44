# shellcheck shell=bash disable=SC2154 # globals (work, results, big, runs, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: the rows that set ours beside nginx-vod-module (issue 9)
# beyond the cold rows of measure.sh: a whole never-seen title 4 at a time, the peer's
# side of the 200-request burst, and memory. Each runs ours alone when the peer was not
# given (NGINX_VOD_MODULE), so quick mode keeps every path of ours exercised.

# count_segments STACK FILE: the number of segments STACK's media playlist of FILE lists.
count_segments() {
  local d n
  d=$(next_dir)
  place "$1" "$2" "$d"
  n=$(curl -fsS "$(url "$1" "/i/$d/$(basename "$2")/index_0_av.m3u8")" | grep -c '\.ts$' || true)
  rm -rf "${work:?}/$1/cache/i/$d" "${work:?}/$1/media/$d"
  [ "${n:-0}" -gt 0 ] || fail "$1: the media playlist of $(basename "$2") lists no segments"
  echo "$n"
}

# fetch_segments STACK PATH_PREFIX PARALLEL K...: GETs segments K... of the title under
# PATH_PREFIX (/i/D/name.mp4), PARALLEL at a time; fails unless every one is a 200
# with a body; prints the bytes received.
fetch_segments() {
  local stack=$1 prefix=$2 parallel=$3 k
  shift 3
  for k in "$@"; do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$(url "$stack" "$prefix/segment${k}_0_av.ts")"
  done > "$work/segments.curlrc"
  curl -sS --no-progress-meter --parallel --parallel-max "$parallel" -K "$work/segments.curlrc" \
    -w '%{http_code} %{size_download}\n' > "$work/segments.out"
  awk -v n="$#" -v s="$stack" '$1 == 200 && $2 > 0 { ok++; bytes += $2 }
    END { if (ok != n) { printf "%s: %d of %d segments answered 200\n", s, ok, n > "/dev/stderr"; exit 1 }
          print bytes }' "$work/segments.out" || fail "$stack: segments of $prefix"
}

# Every segment of a never-seen title (the big one), 4 requests at a time, as a CDN
# filling its edge: wall time from the first request to the last byte.
measure_all_segments() {
  local name stack d t0 n bytes
  name=$(basename "$big")
  echo "bench: every segment of a never-seen $big_label title, 4 at a time, $bursts runs" >&2
  for stack in $(jit_stacks); do : > "$work/all.$stack" && : > "$work/all.bytes.$stack"; done
  for _ in $(seq "$bursts"); do
    for stack in $(jit_stacks); do
      n=$([ "$stack" = jit ] && echo "$big_segments" || echo "$vod_segments")
      d=$(next_dir)
      place "$stack" "$big" "$d"
      t0=$EPOCHREALTIME
      bytes=$(fetch_segments "$stack" "/i/$d/$name" 4 $(seq "$n"))
      awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >> "$work/all.$stack"
      echo "$bytes" >> "$work/all.bytes.$stack"
      rm -rf "${work:?}/$stack/cache/i/$d" "${work:?}/$stack/media/$d"
    done
  done
  for stack in $(jit_stacks); do
    record "all.$stack" < "$work/all.$stack"
    record "all.bytes.$stack" < "$work/all.bytes.$stack"
  done
}

# vod_burst_round SEGMENT: the peer's side of one round of measure_burst, on the same
# segment of a fresh path: a lone cold request, then 200 at once for the first 188
# bytes and (on another fresh path) for the whole segment.
vod_burst_round() {
  local segment=$1 d
  cold_ms vod - "$segment" "$big" >> "$work/b.vod.lone"
  d=$(next_dir)
  place vod "$big" "$d"
  vod_one_burst range "/i/$d/$segment" 206 "bytes=0-187"
  rm -rf "${work:?}/vod/media/$d"
  d=$(next_dir)
  place vod "$big" "$d"
  vod_one_burst full "/i/$d/$segment" 200
  rm -rf "${work:?}/vod/media/$d"
}

# vod_one_burst KIND PATH STATUS [RANGE]: one burst of 200 on the peer, first byte
# counted from the request as in one_burst.
vod_one_burst() {
  local kind=$1 lines
  burst vod "$2" 200 "${4:-}" > "$work/burst.out"
  lines=$(awk -v s="$3" '$1 == s' "$work/burst.out" | wc -l)
  [ "$lines" = 200 ] || fail "vod burst ($kind): $lines of 200 answers were $3"
  awk '{ print $3 - $2 }' "$work/burst.out" > "$work/burst.ms"
  percentile 50 < "$work/burst.ms" >> "$work/b.vod.$kind.p50"
  percentile 100 < "$work/burst.ms" >> "$work/b.vod.$kind.max"
}

record_vod_bursts() {
  local kind stat
  record burst.vod.lone < "$work/b.vod.lone"
  for kind in range full; do
    for stat in p50 max; do record "burst.vod.$kind.$stat" < "$work/b.vod.$kind.$stat"; done
  done
}

# vm_mb PIDS FIELD: memory of processes in MB, summed (VmHWM: peak resident since start
# or the last reset; VmRSS: now).
vm_mb() {
  local pid pids
  read -ra pids <<< "$1"
  for pid in "${pids[@]}"; do cat "/proc/$pid/status"; done |
    awk -v k="$2:" '$1 == k { kb += $2 } END { printf "%.1f\n", kb / 1024 }'
}
# reset_peak PIDS: the kernel's high-water marks start again from the current sizes.
reset_peak() {
  local pid pids
  read -ra pids <<< "$1"
  for pid in "${pids[@]}"; do echo 5 > "/proc/$pid/clear_refs"; done
}

# Our tools run for milliseconds, too briefly to sample: on the memory stack each runs
# under GNU time, which appends its peak resident KB to $work/memtools/peaks.
make_measured_tools() {
  local t
  mkdir -p "$work/memtools"
  for t in mp4info mp42hls; do
    printf '#!/bin/sh\nexec /usr/bin/time -f %%M -a -o "%s" "%s" "$@"\n' \
      "$work/memtools/peaks" "$bin/$t" > "$work/memtools/$t"
    chmod +x "$work/memtools/$t"
  done
}

# live_tools PID: the tool processes below PID (through the GNU time wrappers) alive
# now, on one line: the long-lived ones (mp42hls --serve) have not reported a peak yet.
live_tools() {
  local p
  for p in $(pgrep -P "$1"); do
    case $(cat "/proc/$p/comm" 2> /dev/null) in mp42hls | mp4info) echo "$p" ;; esac
    live_tools "$p"
  done | paste -sd' '
}

# tools_peak_mb: the largest peak (MB) among the tool runs since peaks was emptied.
tools_peak_mb() {
  awk '/^[0-9]+$/ { if ($1 > max) max = $1 } END { printf "%.1f\n", max / 1024 }' "$work/memtools/peaks"
}

# memory_phase NAME: records ours (worker peak, one-shot tools' largest peak, the
# long-lived tools' peaks summed, tool runs, our nginx workers)
# and the peer's worker for the phase just run (since the last start_phase).
start_phase() {
  reset_peak "$(stack_pid mem)"
  reset_peak "$(nginx_worker_pids "$work/mem/nginx/nginx.pid")"
  reset_peak "$(live_tools "$(stack_pid mem)")"
  if vod_on; then reset_peak "$(vod_worker_pids vodmem)"; fi
  : > "$work/memtools/peaks"
  phase_runs=$(metric mem '^casterpak_tool_runs_total')
}
memory_phase() {
  local pid
  pid=$(stack_pid mem)
  vm_mb "$pid" VmHWM | record "mem.$1.worker"
  vm_mb "$pid" VmRSS | record "mem.$1.worker_after"
  tools_peak_mb | record "mem.$1.tools"
  # Long-lived tools are resident side by side: their peaks add up.
  vm_mb "$(live_tools "$pid")" VmHWM | record "mem.$1.live"
  live_tools "$pid" | wc -w | record "mem.$1.live_n"
  echo $(($(metric mem '^casterpak_tool_runs_total') - phase_runs)) | record "mem.$1.runs"
  vm_mb "$(nginx_worker_pids "$work/mem/nginx/nginx.pid")" VmHWM | record "mem.$1.nginx"
  if vod_on; then
    pid=$(vod_worker_pids vodmem)
    vm_mb "$pid" VmHWM | record "mem.$1.vod"
    vm_mb "$pid" VmRSS | record "mem.$1.vod_after"
  fi
}

# Memory under the 200-request burst (whole segment 1 of the big title, a fresh path)
# and over packaging distinct long titles one after another (each: its playlist, then
# ten segments spread over it, 4 at a time), on a fresh stack of ours (tools measured)
# and a fresh nginx-vod.
measure_memory() {
  local name stack d i k n count
  name=$(basename "$big")
  count=$title_count
  echo "bench: memory under the burst and over $count distinct titles" >&2
  make_measured_tools
  stack_start mem jit "$work/memtools/mp4info" "$work/memtools/mp42hls"
  # One worker process: the goal compares with "nginx-vod's worker", all work in one.
  if vod_on; then vod_start vodmem 1; fi
  vm_mb "$(stack_pid mem)" VmRSS | record mem.start.worker
  if vod_on; then vm_mb "$(vod_worker_pids vodmem)" VmRSS | record mem.start.vod; fi
  start_phase
  for stack in mem $(vod_on && echo vodmem); do
    d=$(next_dir)
    place "$stack" "$big" "$d"
    burst "$stack" "/i/$d/$name/segment1_0_av.ts" 200 > "$work/burst.out"
    [ "$(awk '$1 == 200' "$work/burst.out" | wc -l)" = 200 ] || fail "$stack: memory burst had answers other than 200"
  done
  memory_phase burst
  # The titles: the big title under $count names in a media root of their own.
  mkdir -p "$work/titles"
  for i in $(seq -w "$count"); do ln -f "$big" "$work/titles/title$i.mp4" 2> /dev/null || cp "$big" "$work/titles/title$i.mp4"; done
  start_phase
  for i in $(seq -w "$count"); do
    for stack in mem $(vod_on && echo vodmem); do
      place "$stack" "$work/titles/title$i.mp4" titles
      expect_200 "$stack" "/i/titles/title$i.mp4/index_0_av.m3u8" > /dev/null
      n=$([ "$stack" = mem ] && echo "$big_segments" || echo "$vod_segments")
      fetch_segments "$stack" "/i/titles/title$i.mp4" 4 $(for k in $(seq 0 9); do echo $((1 + k * (n - 1) / 9)); done) > /dev/null
    done
  done
  memory_phase titles
}
