# shellcheck shell=bash disable=SC2154 # globals (work, bin, results, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: prints $results as one markdown table (ours beside the
# peer, "median (min–max)" of the repeated runs), the quality.md targets as met / not
# met with their figures, and the machine.

declare -A R

load_results() {
  local key value
  while IFS=$'\t' read -r key value; do R[$key]=$value; done < "$results"
}

# f KEY DIGITS: "median (min–max)" of KEY, or "n/a".
f() {
  if [ -n "${R[$1]:-}" ]; then echo "${R[$1]}" | fmt_spread "$2"; else echo "n/a"; fi
}
# m KEY: the median of KEY, 1 decimal.
m() { echo "${R[$1]:-nan}" | awk '{ printf "%.1f", $1 }'; }
# calc EXPR: awk arithmetic, 2 decimals.
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
# verdict CONDITION: "met" or "NOT met" (awk boolean expression).
verdict() { awk "BEGIN { print (($1) ? \"met\" : \"**NOT met**\") }"; }

# peers KEY_PREFIX DIGITS: "whole: X; Bento4: Y" over the peer stacks.
peers() {
  local text
  text="ours whole-rendition: $(f "$1.whole" "$2")"
  if [ -n "$bento4_mp42hls" ]; then text="$text; Bento4 whole-rendition: $(f "$1.bento4" "$2")"; fi
  if vod_on; then text="$text; nginx-vod: $(f "$1.vod" "$2")"; fi
  echo "$text"
}

print_report() {
  load_results
  local pl_size seg_size entry label worst=0 bento_ms bento_src
  pl_size=$(awk '$1 == "playlist" { print $2 }' "$work/hit-sizes")
  seg_size=$(awk '$1 == "segment" { print $2 }' "$work/hit-sizes")
  echo
  echo "## casterpak benchmark ($([ "$quick" = 1 ] && echo "QUICK: debug build, stand-in media" || echo "release build"))"
  echo
  echo "Each figure: median (min–max) over the repeated runs. ms = request to first byte"
  echo "(curl time_starttransfer) through nginx; cold = a source path the worker has never seen."
  echo
  echo "| what | ours | peer |"
  echo "|---|---|---|"
  echo "| cache hit, small playlist ($pl_size B), req/s | $(f hit.pl.rps.jit 0) (shipped config) | $(f hit.pl.rps.static 0) (nginx plain static) |"
  echo "| cache hit, segment ($seg_size B), req/s | $(f hit.seg.rps.jit 0) | $(f hit.seg.rps.static 0) |"
  echo "| cache hit, segment, MiB/s | $(f hit.seg.mibs.jit 0) | $(f hit.seg.mibs.static 0) |"
  echo "| cache hit, CPU µs per request: playlist | nginx $(f hit.pl.nginx_us.jit 1) + worker (hit feed) $(f hit.pl.worker_us.jit 1) | nginx $(f hit.pl.nginx_us.static 1) |"
  echo "| cache hit, CPU µs per request: segment | nginx $(f hit.seg.nginx_us.jit 1) + worker (hit feed) $(f hit.seg.worker_us.jit 1) | nginx $(f hit.seg.nginx_us.static 1) |"
  for entry in "${titles[@]}"; do
    label=${entry%%|*}
    echo "| cold media playlist, $label title ($(basename "${entry#*|}")), ms | $(f "playlist.$label.jit" 1) (just-in-time) | $(peers "playlist.$label" 1) |"
  done
  echo "| cold clipped media playlist (?start=12&end=40), $(basename "$small"), ms | $(f clip.jit 1) (clipped) | $(f clip.plain 1) (the same playlist unclipped) |"
  echo "| cold first segment, $big_label, ms | $(f segment.jit 1) (just-in-time, nothing known); $(f segment.jit-after 1) (after its playlist) | $(peers segment 1) |"
  echo "| whole rendition, $big_label, ms | $(f whole.ours 1) (our mp42hls) | ffmpeg -c copy -f hls: $(f whole.ffmpeg 1)$([ -n "$bento4_mp42hls" ] && echo "; Bento4 mp42hls: $(f whole.bento4 1)") |"
  echo "| whole rendition, peak MB | $(f mem.ours 1) (on $(basename "$small"): $(f mem.ours.small 1); on $(basename "${titles[-1]#*|}"): $(f mem.ours.long 1)) | ffmpeg: $(f mem.ffmpeg 1)$([ -n "$bento4_mp42hls" ] && echo "; Bento4: $(f mem.bento4 1)") |"
  echo "| cold csmil master over 3 renditions, ms | $(f csmil.jit 1) (just-in-time) | $(peers csmil 1) |"
  echo "| cold CMAF first video segment, $big_label, ms | $(f cmaf.seg.jit 1) (just-in-time, mp42hls --cmaf job) | TS beside it: $(f segment.jit 1) |"
  echo "| cold DASH MPD over the 3-rendition csmil, ms | $(f cmaf.mpd.jit 1) (3 CMAF plans) | TS csmil master beside it: $(f csmil.jit 1) |"
  echo "| 200 concurrent cold requests for one segment ($big_label, segment 1), first 188 bytes | segment tool runs per burst: $(f burst.range.runs 0), plan runs: $(f burst.range.plans 0); first byte p50 $(f burst.range.p50 1), p99 $(f burst.range.p99 1), max $(f burst.range.max 1) ms (max from before connecting: $(f burst.range.rawmax 1)); the same burst once cached (nginx alone): max $(f burst.rangehit.max 1) ms; the tool runs took $(f burst.range.tools 1) ms, the worker's own CPU $(f burst.range.cpu 1) ms | a lone cold request: $(f burst.lone 1) ms, its tool runs $(f burst.lone.tools 1) ms |"
  echo "| the same, whole segment | segment tool runs: $(f burst.full.runs 0); first byte p50 $(f burst.full.p50 1), p99 $(f burst.full.p99 1), max $(f burst.full.max 1) ms | that burst again, cached (nginx alone): p50 $(f burst.hit.p50 1), max $(f burst.hit.max 1) ms |"
  echo "| worker peak memory (VmHWM) under that load, MB | $(f burst.hwm_after 1) (at start: $(f burst.hwm_before 1)) | |"
  echo
  echo "Worker requests during the cache-hit runs: ${R[hit.worker_requests]%% *} (nginx alone serves hits)."
  echo

  for entry in "${titles[@]}"; do
    label=${entry%%|*}
    worst=$(awk -v a="$worst" -v b="$(m "playlist.$label.jit")" 'BEGIN { print (b > a) ? b : a }')
  done
  if [ -n "$bento4_mp42hls" ]; then
    bento_ms=$(m whole.bento4) bento_src="measured here"
  else
    bento_ms=184 bento_src="quality.md reference, BENTO4_DIR not set"
  fi
  local pl_ratio seg_ratio whole_ratio mem_ratio burst_ratio
  pl_ratio=$(calc "$(m hit.pl.rps.jit) / $(m hit.pl.rps.static)")
  seg_ratio=$(calc "$(m hit.seg.rps.jit) / $(m hit.seg.rps.static)")
  whole_ratio=$(calc "$(m whole.ours) / $bento_ms")
  mem_ratio=$(calc "$(m mem.ours) / $(m mem.ours.small)")
  burst_ratio=$(calc "$(m burst.range.max) / $(m burst.lone)")
  echo "### Targets (docs: quality.md)"
  echo
  local pl_cpu seg_cpu
  pl_cpu=$(calc "$(m hit.pl.nginx_us.static) / ($(m hit.pl.nginx_us.jit) + $(m hit.pl.worker_us.jit))")
  seg_cpu=$(calc "$(m hit.seg.nginx_us.static) / ($(m hit.seg.nginx_us.jit) + $(m hit.seg.worker_us.jit))")
  echo "- cache hit ≥ 0.95 × nginx plain static req/s: playlist $pl_ratio ($(verdict "$pl_ratio >= 0.95")), segment $seg_ratio ($(verdict "$seg_ratio >= 0.95")); by CPU per request (static ÷ ours, nginx + worker): playlist $pl_cpu, segment $seg_cpu"
  echo "- cold media playlist ≤ 30 ms for any length: slowest median $worst ms ($(verdict "$worst <= 30"))"
  echo "- cold first segment ($big_label) ≤ 50 ms to first byte: $(m segment.jit) ms nothing known ($(verdict "$(m segment.jit) <= 50")); $(m segment.jit-after) ms after its playlist ($(verdict "$(m segment.jit-after) <= 50"))"
  echo "- our mp42hls ≤ 0.8 × Bento4's wall time: $(m whole.ours) / $bento_ms ms = $whole_ratio ($bento_src) ($(verdict "$whole_ratio <= 0.8")); flat memory: peak $(m mem.ours) MB vs $(m mem.ours.small) MB on $(basename "$small") = $mem_ratio× ($(verdict "$mem_ratio <= 1.5"))"
  echo "- cold csmil master over 3 renditions ≤ 30 ms: $(m csmil.jit) ms ($(verdict "$(m csmil.jit) <= 30"))"
  local most_runs
  most_runs=$(echo "${R[burst.range.runs]} ${R[burst.full.runs]}" | awk '{ print ($3 > $7) ? $3 : $7 }')
  echo "- 200 concurrent cold requests: one packaging run: at most $most_runs segment runs in a burst ($(verdict "$most_runs == 1")); slowest first byte (188-byte answers, from the request) within 2× a lone request: $(m burst.range.max) / $(m burst.lone) ms = $burst_ratio ($(verdict "$burst_ratio <= 2")), of which nginx and the client alone take $(m burst.rangehit.max) ms when cached; whole segments: slowest $(m burst.full.max) ms, when cached $(m burst.hit.max) ms"
  echo
}

print_machine() {
  echo "### Machine"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo unknown)"
  echo "- $(nproc) CPUs: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'); memory $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
  echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk 1 thread 16 connections ${wrk_secs} s per run, $runs runs per cold figure, $bursts bursts; build: $profile"
  echo "- nginx-vod-module: $(if vod_on; then echo "$vod_module"; else echo "not given (NGINX_VOD_MODULE)"; fi)"
  echo "- load average before: $load_before, after: $load_after"
}
