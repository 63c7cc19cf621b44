# shellcheck shell=bash disable=SC2154 # globals (work, results, titles, runs, big, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: one function per row of the table. Each appends
# "KEY<TAB>median min max count" lines to $results (see record) and fails the run
# (fail) when the stack answers anything but what a working origin must.

# record KEY: reads one number per line, appends KEY and its summary to $results.
record() {
  printf '%s\t%s\n' "$1" "$(summary)" >> "$results"
}

# next_dir: a directory name never used before in this run. A source under a new path
# is unknown to the worker (no plan, no packaged files): the request is cold.
next_dir() {
  local n
  n=$(($(cat "$work/seq" 2> /dev/null || echo 0) + 1))
  echo "$n" > "$work/seq"
  echo "r$n"
}

# url STACK PATH: the URL of our PATH on STACK (in nginx-vod's names on a vod stack).
url() {
  local path=$2
  if is_vod "$1"; then path=$(vod_path "$path"); fi
  echo "http://127.0.0.1:$(stack_port "$1")$path"
}

# get STACK PATH: prints "status ttfb_ms total_ms bytes" of one GET through nginx.
get() {
  curl -sS -o /dev/null -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' \
    "$(url "$1" "$2")" |
    awk '{ printf "%s %.3f %.3f %d\n", $1, $2 * 1000, $3 * 1000, $4 }'
}

# expect_200 STACK PATH: a GET that must answer 200 with a body; prints its size.
expect_200() {
  local status bytes
  read -r status _ _ bytes <<< "$(get "$1" "$2")"
  if [ "$status" != 200 ] || [ "$bytes" -le 0 ]; then
    fail "$1: GET $2 answered $status with $bytes bytes"
  fi
  echo "$bytes"
}

# cold_ms STACK WARM PATH FILE...: puts the FILEs into a fresh dir D of the stack's
# media root, GETs /i/D/WARM first unless WARM is "-" (not timed), then prints the
# milliseconds from request to first byte of /i/D/PATH. Removes D's cache afterwards
# (whole-rendition fills of long titles would fill the disk).
cold_ms() {
  local stack=$1 warm=$2 path=$3 d f status ttfb bytes
  shift 3
  d=$(next_dir)
  for f in "$@"; do place "$stack" "$f" "$d"; done
  if [ "$warm" != - ]; then expect_200 "$stack" "/i/$d/$warm" > /dev/null; fi
  read -r status ttfb _ bytes <<< "$(get "$stack" "/i/$d/$path")"
  if [ "$status" != 200 ] || [ "$bytes" -le 0 ]; then
    fail "$stack: GET /i/$d/$path answered $status with $bytes bytes"
  fi
  rm -rf "${work:?}/$stack/cache/i/$d" "${work:?}/$stack/media/$d"
  echo "$ttfb"
}

# The stacks a just-in-time figure is compared with: ours packaging whole renditions,
# real Bento4 (whole renditions too) when BENTO4_DIR is set, nginx-vod-module when
# NGINX_VOD_MODULE is.
peer_stacks() {
  echo whole
  if [ -n "$bento4_mp42hls" ]; then echo bento4; fi
  if vod_on; then echo vod; fi
}

measure_cold_playlists() {
  local entry label file name stack
  for entry in "${titles[@]}"; do
    label=${entry%%|*} file=${entry#*|}
    name=$(basename "$file")
    echo "bench: cold media playlist, $label ($name), $runs runs" >&2
    for stack in jit $(peer_stacks); do : > "$work/samples.$stack"; done
    for _ in $(seq "$runs"); do
      # Interleaved, so a burst of load from elsewhere hits every column alike.
      for stack in jit $(peer_stacks); do
        cold_ms "$stack" - "$name/index_0_av.m3u8" "$file" >> "$work/samples.$stack"
      done
    done
    for stack in jit $(peer_stacks); do record "playlist.$label.$stack" < "$work/samples.$stack"; done
  done
}

# The stacks that cut single segments on request: ours just-in-time, nginx-vod.
jit_stacks() {
  echo jit
  if vod_on; then echo vod; fi
}

measure_cold_segment() {
  local name stack
  name=$(basename "$big")
  echo "bench: cold first segment and segment $mid_segment, $big_label, $runs runs" >&2
  for stack in jit jit-after $(peer_stacks); do : > "$work/samples.$stack"; done
  for stack in $(jit_stacks); do : > "$work/samples.mid.$stack"; done
  for _ in $(seq "$runs"); do
    for stack in jit $(peer_stacks); do
      cold_ms "$stack" - "$name/segment1_0_av.ts" "$big" >> "$work/samples.$stack"
    done
    # What a player does: the playlist first (plan remembered), then the segment.
    cold_ms jit "$name/index_0_av.m3u8" "$name/segment1_0_av.ts" "$big" >> "$work/samples.jit-after"
    # A seek: a segment far into the title, as the first request.
    for stack in $(jit_stacks); do
      cold_ms "$stack" - "$name/segment${mid_segment}_0_av.ts" "$big" >> "$work/samples.mid.$stack"
    done
  done
  for stack in jit jit-after $(peer_stacks); do record "segment.$stack" < "$work/samples.$stack"; done
  for stack in $(jit_stacks); do record "segmid.$stack" < "$work/samples.mid.$stack"; done
}

measure_csmil() {
  local master=clip_,low,medium,highdef,.mp4.csmil/master.m3u8 stack d variants
  echo "bench: cold csmil master over 3 renditions, $runs runs" >&2
  for stack in jit $(peer_stacks); do
    # Once, untimed: the master must list all three renditions.
    d=$(next_dir)
    for f in "${clips[@]}"; do place "$stack" "$f" "$d"; done
    variants=$(curl -fsS "$(url "$stack" "/i/$d/$master")" | grep -c '^#EXT-X-STREAM-INF' || true)
    [ "$variants" = 3 ] || fail "$stack: csmil master has $variants variants, not 3"
    : > "$work/samples.$stack"
  done
  for _ in $(seq "$runs"); do
    for stack in jit $(peer_stacks); do
      cold_ms "$stack" - "$master" "${clips[@]}" >> "$work/samples.$stack"
    done
  done
  for stack in jit $(peer_stacks); do record "csmil.$stack" < "$work/samples.$stack"; done
}

# hyper KEY DIR COMMAND: COMMAND's wall time in ms over $runs runs in an emptied DIR.
hyper() {
  local key=$1 dir=$2 command=$3
  mkdir -p "$dir"
  (cd "$dir" && hyperfine -N --warmup 1 --runs "$runs" --prepare "find $dir -mindepth 1 -delete" \
    --export-csv "$work/hyperfine.csv" "$command" > /dev/null) ||
    fail "hyperfine: $command"
  # CSV columns: command,mean,stddev,median,user,system,min,max (seconds); counted from
  # the end, as the command may hold commas.
  printf '%s\t%s\n' "$key" "$(awk -F, -v n="$runs" 'NR == 2 {
    printf "%g %g %g %d", $(NF - 4) * 1000, $(NF - 1) * 1000, $NF * 1000, n }' "$work/hyperfine.csv")" >> "$results"
}

# peak KEY DIR COMMAND...: COMMAND's peak resident memory in MB (GNU time), 3 runs.
peak() {
  local key=$1 dir=$2
  shift 2
  for _ in 1 2 3; do
    find "$dir" -mindepth 1 -delete
    (cd "$dir" && /usr/bin/time -v "$@" 2>&1 > /dev/null) |
      awk -F: '/Maximum resident/ { printf "%.1f\n", $2 / 1024 }'
  done | record "$key"
}

measure_whole_rendition() {
  local wd=$work/whole-run ff
  echo "bench: whole rendition, $big_label, $runs runs each" >&2
  mkdir -p "$wd/ours" "$wd/ffmpeg" "$wd/bento4"
  hyper whole.ours "$wd/ours" "$bin/mp42hls $big"
  [ -s "$wd/ours/stream.m3u8" ] || fail "our mp42hls wrote no stream.m3u8"
  ff=(ffmpeg -nostdin -v error -y -i "$big" -c copy -map 0 -f hls -hls_time 6 -hls_playlist_type vod
    -hls_segment_filename "$wd/ffmpeg/seg%d.ts" "$wd/ffmpeg/index.m3u8")
  hyper whole.ffmpeg "$wd/ffmpeg" "${ff[*]}"
  peak mem.ours "$wd/ours" "$bin/mp42hls" "$big"
  # Flat memory: the same tool on a title a tenth as long must peak about as high.
  peak mem.ours.small "$wd/ours" "$bin/mp42hls" "$small"
  # ... and on the longest title: memory follows the index, never the media.
  peak mem.ours.long "$wd/ours" "$bin/mp42hls" "${titles[-1]#*|}"
  peak mem.ffmpeg "$wd/ffmpeg" "${ff[@]}"
  if [ -n "$bento4_mp42hls" ]; then
    hyper whole.bento4 "$wd/bento4" "$bento4_mp42hls $big"
    peak mem.bento4 "$wd/bento4" "$bento4_mp42hls" "$big"
  fi
}

# wrk_run STACK PATH NGINX_PIDFILE: one wrk run (1 thread, 16 connections); prints
# "req/s MiB/s nginx_us worker_us": throughput, and the CPU time nginx's worker processes
# and casterpak's worker spent per request (robust to other load on the machine,
# unlike req/s).
wrk_run() {
  local npid n0 w0 wpid tag requests bytes micros non2xx errors nginx_us worker_us
  # $4, optional: one request header (e.g. a cookie) every request carries.
  local header=()
  if [ -n "${4:-}" ]; then header=(-H "$4"); fi
  npid=$(nginx_worker_pids "$3")
  wpid=$(stack_pid jit)
  n0=$(cpu_snapshot "$npid") w0=$(cpu_snapshot "$wpid")
  read -r tag requests bytes micros non2xx errors <<< "$(wrk -t1 -c16 -d"${wrk_secs}s" "${header[@]}" \
    -s "$repo/scripts/bench/wrk-report.lua" "$(url "$1" "$2")" | grep '^wrk-report')"
  nginx_us=$(cpu_delta_us "$n0" "$(cpu_snapshot "$npid")")
  worker_us=$(cpu_delta_us "$w0" "$(cpu_snapshot "$wpid")")
  if [ "$tag" != wrk-report ] || [ "$requests" -le 0 ] || [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
    fail "wrk on $1 $2: ${requests:-no} requests, ${non2xx:-?} non-2xx answers, ${errors:-?} socket errors"
  fi
  awk -v n="$requests" -v b="$bytes" -v us="$micros" -v nt="$nginx_us" -v wt="$worker_us" 'BEGIN {
    printf "%.1f %.1f %.2f %.2f\n", n / us * 1e6, b / us * 1e6 / 1048576, nt / n, wt / n }'
}

measure_hits() {
  local playlist segment best=0 bestdiff=-1 k size diff worker_before rounds
  playlist=/i/hot/$(basename "$small")/index_0_av.m3u8
  place jit "$small" hot
  place jit "$big" hot
  expect_200 jit "$playlist" > /dev/null
  # The segment among the first ten nearest 1 MiB: "a 1 MiB segment".
  for k in $(seq 10); do
    size=$(expect_200 jit "/i/hot/$(basename "$big")/segment${k}_0_av.ts")
    diff=$((size > 1048576 ? size - 1048576 : 1048576 - size))
    if [ "$bestdiff" -lt 0 ] || [ "$diff" -lt "$bestdiff" ]; then best=$k bestdiff=$diff; fi
  done
  segment=/i/hot/$(basename "$big")/segment${best}_0_av.ts
  curl -fsSI "http://127.0.0.1:$(stack_port jit)$segment" | grep -qi '^X-Casterpak-Cache: HIT' ||
    fail "a second GET of $segment was not a cache hit"
  # The peer serves the very files the first GETs put into the cache.
  static_start static "$work/jit/cache"
  size=$(expect_200 static "$playlist")
  echo "playlist $size" > "$work/hit-sizes"
  size=$(expect_200 static "$segment")
  echo "segment $size" >> "$work/hit-sizes"
  printf 'playlist - %s\nsegment - %s\n' "$playlist" "$segment" > "$work/hit-paths"
  if vod_on; then
    # The peer re-muxes the same segment of the same file on every request.
    place vod "$big" hot
    size=$(expect_200 vod "$segment")
    echo "segment.vod $size" >> "$work/hit-sizes"
  fi
  rounds=$([ "$quick" = 1 ] && echo 2 || echo 5)
  echo "bench: cache hits, wrk 1 thread 16 connections, $rounds x ${wrk_secs} s per column" >&2
  worker_before=$(metric jit '^casterpak_requests_total')
  : > "$work/hit.pl.jit" && : > "$work/hit.pl.static" && : > "$work/hit.seg.jit" && : > "$work/hit.seg.static"
  for _ in $(seq "$rounds"); do
    wrk_run jit "$playlist" "$work/jit/nginx/nginx.pid" >> "$work/hit.pl.jit"
    wrk_run static "$playlist" "$work/static/nginx.pid" >> "$work/hit.pl.static"
    wrk_run jit "$segment" "$work/jit/nginx/nginx.pid" >> "$work/hit.seg.jit"
    wrk_run static "$segment" "$work/static/nginx.pid" >> "$work/hit.seg.static"
    if vod_on; then wrk_run vod "$segment" "$work/vod/nginx.pid" >> "$work/hit.seg.vod"; fi
  done
  if vod_on; then
    cut -d' ' -f1 "$work/hit.seg.vod" | record hit.seg.rps.vod
    cut -d' ' -f3 "$work/hit.seg.vod" | record hit.seg.nginx_us.vod
  fi
  for s in jit static; do
    cut -d' ' -f1 "$work/hit.pl.$s" | record "hit.pl.rps.$s"
    cut -d' ' -f1 "$work/hit.seg.$s" | record "hit.seg.rps.$s"
    cut -d' ' -f2 "$work/hit.seg.$s" | record "hit.seg.mibs.$s"
    cut -d' ' -f3 "$work/hit.pl.$s" | record "hit.pl.nginx_us.$s"
    cut -d' ' -f4 "$work/hit.pl.$s" | record "hit.pl.worker_us.$s"
    cut -d' ' -f3 "$work/hit.seg.$s" | record "hit.seg.nginx_us.$s"
    cut -d' ' -f4 "$work/hit.seg.$s" | record "hit.seg.worker_us.$s"
  done
  # The worker must see nothing of hits: its request count stays where it was.
  echo $(($(metric jit '^casterpak_requests_total') - worker_before)) | record hit.worker_requests
}

# burst STACK PATH N [RANGE]: N concurrent GETs of PATH (curl --parallel, one
# connection each, optionally with a Range header); prints one line per request:
# "status connect_ms first_byte_ms last_byte_ms".
burst() {
  local target
  target=$(url "$1" "$2")
  for _ in $(seq "$3"); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$target"
    if [ -n "${4:-}" ]; then printf 'header = "Range: %s"\n' "$4"; fi
  done > "$work/burst.curlrc"
  curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max "$3" -K "$work/burst.curlrc" \
    -w '%{http_code} %{time_connect} %{time_starttransfer} %{time_total}\n' |
    awk '{ printf "%s %.3f %.3f %.3f\n", $1, $2 * 1000, $3 * 1000, $4 * 1000 }'
}

# one_burst KIND STACK PATH STATUS [RANGE]: a burst of 200 that must all answer STATUS;
# appends its p50, p99 and max first byte (counted from the request, i.e. after the
# client's connect, and from the start) to $work/b.KIND.*, and the tool runs it caused.
one_burst() {
  local kind=$1 stack=$2 path=$3 status=$4 range=${5:-} before plans lines tools_before
  local cpu_before
  tools_before=$(metric "$stack" '^casterpak_tool_run_seconds_sum')
  before=$(metric "$stack" 'casterpak_tool_runs_total.*kind="segment"')
  cpu_before=$(cpu_snapshot "$(stack_pid "$stack")")
  plans=$(metric "$stack" 'casterpak_tool_runs_total.*kind="plan"')
  burst "$stack" "$path" 200 "$range" > "$work/burst.out"
  # The worker's own CPU (not its children's) for the whole burst, in ms.
  cpu_delta_us "$cpu_before" "$(cpu_snapshot "$(stack_pid "$stack")")" | awk '{ printf "%.1f\n", $1 / 1000 }' >> "$work/b.$kind.cpu"
  lines=$(awk -v s="$status" '$1 == s' "$work/burst.out" | wc -l)
  [ "$lines" = 200 ] ||
    fail "burst ($kind): $lines of 200 answers were $status: $(cut -d' ' -f1 "$work/burst.out" | sort | uniq -c | tr '\n' ' ')"
  awk '{ print $3 - $2 }' "$work/burst.out" > "$work/burst.ms"
  percentile 50 < "$work/burst.ms" >> "$work/b.$kind.p50"
  percentile 99 < "$work/burst.ms" >> "$work/b.$kind.p99"
  percentile 100 < "$work/burst.ms" >> "$work/b.$kind.max"
  cut -d' ' -f3 "$work/burst.out" | percentile 100 >> "$work/b.$kind.rawmax"
  echo $(($(metric "$stack" 'casterpak_tool_runs_total.*kind="segment"') - before)) >> "$work/b.$kind.runs"
  echo $(($(metric "$stack" 'casterpak_tool_runs_total.*kind="plan"') - plans)) >> "$work/b.$kind.plans"
  tool_ms "$tools_before" >> "$work/b.$kind.tools"
}

# tool_ms BEFORE: milliseconds of tool runs in the burst stack since the histogram sum
# was BEFORE (seconds): how long the subprocesses themselves took.
tool_ms() {
  awk -v a="$1" -v b="$(metric burst '^casterpak_tool_run_seconds_sum')" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'
}

# 200 concurrent cold requests for one segment, each burst on a source path never seen:
# once for the first 188 bytes (one TS packet: the answer's latency without moving
# 200 x the segment through loopback), once for the whole segment; each again once
# cached (what client, nginx and loopback cost without the worker).
measure_burst() {
  local name d kind stat segment tools_before
  name=$(basename "$big")
  segment=$name/segment1_0_av.ts
  echo "bench: 200 concurrent cold requests for one segment, $bursts bursts" >&2
  stack_start burst jit
  vm_hwm_mb burst | record burst.hwm_before
  rm -f "$work"/b.*
  for _ in $(seq "$bursts"); do
    tools_before=$(metric burst '^casterpak_tool_run_seconds_sum')
    cold_ms burst - "$segment" "$big" >> "$work/b.lone"
    tool_ms "$tools_before" >> "$work/b.lone.tools"
    d=$(next_dir)
    place burst "$big" "$d"
    one_burst range burst "/i/$d/$segment" 206 "bytes=0-187"
    one_burst rangehit burst "/i/$d/$segment" 206 "bytes=0-187"
    rm -rf "${work:?}/burst/cache/i/$d" "${work:?}/burst/media/$d"
    d=$(next_dir)
    place burst "$big" "$d"
    one_burst full burst "/i/$d/$segment" 200
    one_burst hit burst "/i/$d/$segment" 200
    rm -rf "${work:?}/burst/cache/i/$d" "${work:?}/burst/media/$d"
    if vod_on; then vod_burst_round "$segment"; fi
  done
  if vod_on; then record_vod_bursts; fi
  record burst.lone < "$work/b.lone"
  record burst.lone.tools < "$work/b.lone.tools"
  for kind in range rangehit full hit; do
    for stat in p50 p99 max rawmax runs plans tools cpu; do
      record "burst.$kind.$stat" < "$work/b.$kind.$stat"
    done
  done
  vm_hwm_mb burst | record burst.hwm_after
}
