# shellcheck shell=bash disable=SC2154 # globals (R, titles, big_label, ...) come from scripts/bench.sh and report.sh
# Sourced by scripts/bench.sh: the issue 9 table, ours beside nginx-vod-module on each
# row with the ratio, the goal and whether it is met. Call after print_report (which
# loads $results into R). Without NGINX_VOD_MODULE the peer's cells say "not given".

# pv KEY DIGITS: the peer's "median (min–max)" of KEY.
pv() { if vod_on; then f "$1" "$2"; else echo "not given"; fi; }
# rt OURS VOD: ours ÷ the peer, 2 decimals ("–" without the peer).
rt() { if vod_on; then calc "$1 / $2"; else echo "–"; fi; }
# below RATIO LIMIT [FLOOR]: met when RATIO ≤ LIMIT; with FLOOR, "floor met" up to it.
below() {
  if ! vod_on; then
    echo "– (no peer)"
  elif [ -n "${3:-}" ]; then
    awk -v r="$1" -v l="$2" -v f="$3" 'BEGIN { print (r <= l) ? "met" : (r <= f) ? "floor met, goal **NOT met**" : "**NOT met**" }'
  else
    verdict "$1 <= $2"
  fi
}
# n0 KEY: the median of KEY, no decimals.
n0() { echo "${R[$1]:-nan}" | awk '{ printf "%.0f", $1 }'; }
# sum A B...: A + B + ..., 1 decimal.
sum() { awk 'BEGIN { for (i = 1; i < ARGC; i++) s += ARGV[i]; printf "%.1f", s }' "$@"; }

print_peer_report() {
  local entry label r ours vod pool ours_cpu burst_ratio vod_ratio verdict_burst mb
  echo "### Beside nginx-vod-module (issue 9)"
  echo
  if vod_on; then
    echo "Peer: $vod_module in Debian's nginx; vod_mode local, metadata cache 512m and response"
    echo "cache 128m, vod_segment_duration 6000, vod_align_segments_to_key_frames on,"
    echo "worker_processes $(our_nginx_workers) as ours (1 on the memory rows). Cold for both = a path never"
    echo "requested (a hard link in a fresh directory: its caches are keyed by path, ours by"
    echo "source identity). Ratio = ours ÷ nginx-vod."
  else
    echo "NGINX_VOD_MODULE not given: ours alone."
  fi
  echo
  echo "| row | ours | nginx-vod-module | ratio | goal | met |"
  echo "|---|---|---|---|---|---|"
  r=$(rt "$(m segment.jit)" "$(m segment.vod)")
  echo "| cold segment 1, $big_label, first byte, ms | $(f segment.jit 1) | $(pv segment.vod 1) | $r | ≤ 1.0 (floor 1.5) | $(below "$r" 1.0 1.5) |"
  r=$(rt "$(m segmid.jit)" "$(m segmid.vod)")
  echo "| cold segment $mid_segment (a seek), $big_label, first byte, ms | $(f segmid.jit 1) | $(pv segmid.vod 1) | $r | ≤ 1.0 (floor 1.5) | $(below "$r" 1.0 1.5) |"
  for entry in "${titles[@]}"; do
    label=${entry%%|*}
    r=$(rt "$(m "playlist.$label.jit")" "$(m "playlist.$label.vod")")
    echo "| cold media playlist, $label ($(basename "${entry#*|}")), ms | $(f "playlist.$label.jit" 1) | $(pv "playlist.$label.vod" 1) | $r | ≤ 1.0 | $(below "$r" 1.0) |"
  done
  r=$(rt "$(m csmil.jit)" "$(m csmil.vod)")
  echo "| cold master over 3 renditions (ours .csmil, vod .urlset), ms | $(f csmil.jit 1) | $(pv csmil.vod 1) | $r | ≤ 1.0 | $(below "$r" 1.0) |"
  r=$(rt "$(m cmaf.seg.jit)" "$(m cmaf.seg.vod)")
  echo "| cold CMAF video segment 1 (ours /c, vod fMP4 HLS), $big_label, ms | $(f cmaf.seg.jit 1) | $(pv cmaf.seg.vod 1) | $r | (context: issue 11) | |"
  r=$(rt "$(m cmaf.mpd.jit)" "$(m cmaf.mpd.vod)")
  echo "| cold DASH MPD over 3 renditions (ours .csmil, vod .urlset), ms | $(f cmaf.mpd.jit 1) | $(pv cmaf.mpd.vod 1) | $r | (context: issue 11) | |"
  mb=$(awk -v b="${R[all.bytes.jit]%% *}" 'BEGIN { printf "%.0f", b / 1e6 }')
  r=$(rt "$(m all.jit)" "$(m all.vod)")
  ours="$(f all.jit 0) ($(calc "$big_segments / $(m all.jit) * 1000") segments/s)"
  vod=$(if vod_on; then echo "$(f all.vod 0) ($(calc "$vod_segments / $(m all.vod) * 1000") segments/s; $vod_segments segments)"; else echo "not given"; fi)
  echo "| every segment of a never-seen $big_label title ($big_segments segments, $mb MB), 4 at a time, ms | $ours | $vod | $r | ≥ nginx-vod's throughput (ratio ≤ 1.0) | $(below "$r" 1.0) |"
  ours_cpu=$(sum "$(m hit.seg.nginx_us.jit)" "$(m hit.seg.worker_us.jit)")
  r=$(rt "$ours_cpu" "$(m hit.seg.nginx_us.vod)")
  vod=$(if vod_on; then echo "nginx $(f hit.seg.nginx_us.vod 1), re-muxed; $(f hit.seg.rps.vod 0) req/s"; else echo "not given"; fi)
  echo "| warm segment, server CPU µs per request (wrk c16) | $ours_cpu: nginx $(f hit.seg.nginx_us.jit 1) + worker $(f hit.seg.worker_us.jit 1), cache hit; $(f hit.seg.rps.jit 0) req/s | $vod | $r | ≤ 1.0 | $(below "$r" 1.0) |"
  burst_ratio=$(calc "$(m burst.range.max) / $(m burst.lone)")
  vod_ratio=$(if vod_on; then calc "$(m burst.vod.range.max) / $(m burst.vod.lone)"; fi)
  r=$(rt "$(m burst.range.max)" "$(m burst.vod.range.max)")
  verdict_burst=$(verdict "${R[burst.range.runs]%% *} == 1 && ${R[burst.range.runs]##* } > 0 && $burst_ratio <= 2")
  vod=$(if vod_on; then echo "slowest $(f burst.vod.range.max 1), p50 $(f burst.vod.range.p50 1); a lone one $(f burst.vod.lone 1): $vod_ratio×"; else echo "not given"; fi)
  echo "| 200 concurrent cold requests for segment 1 (188 bytes each), first byte, ms | slowest $(f burst.range.max 1), p50 $(f burst.range.p50 1); a lone one $(f burst.lone 1): $burst_ratio×; segment tool runs per burst $(f burst.range.runs 0) | $vod | $r (slowest) | one tool job, slowest ≤ 2× a lone one | $verdict_burst |"
  r=$(rt "$(m burst.full.max)" "$(m burst.vod.full.max)")
  vod=$(if vod_on; then echo "$(f burst.vod.full.max 1) (p50 $(f burst.vod.full.p50 1))"; else echo "not given"; fi)
  echo "| the same, whole segments, slowest first byte, ms | $(f burst.full.max 1) (p50 $(f burst.full.p50 1)) | $vod | $r | (context) | |"
  ours=$(sum "$(m mem.burst.worker)" "$(m mem.burst.live)" "$(m mem.burst.tools)")
  r=$(rt "$ours" "$(m mem.burst.vod)")
  vod=$(if vod_on; then echo "worker peak $(m mem.burst.vod)"; else echo "not given"; fi)
  echo "| memory under a 200-request burst (whole segment 1), MB | $ours: worker peak $(m mem.burst.worker) + $(n0 mem.burst.live_n) long-lived tools $(m mem.burst.live) + one-shot tool peak $(m mem.burst.tools) ($(n0 mem.burst.runs) tool runs; our nginx workers $(m mem.burst.nginx) besides) | $vod | $r | bounded; ≤ nginx-vod's worker | $(below "$r" 1.0) |"
  pool=$(nproc)
  ours=$(sum "$(m mem.titles.worker)" "$(m mem.titles.live)" "$(calc "$pool * $(m mem.titles.tools)")")
  r=$(rt "$ours" "$(m mem.titles.vod)")
  vod=$(if vod_on; then echo "worker peak $(m mem.titles.vod), $(m mem.titles.vod_after) after (at start $(m mem.start.vod))"; else echo "not given"; fi)
  echo "| memory over packaging $title_count distinct long titles (each: playlist + 10 segments, 4 at a time), MB | ≤ $ours: worker peak $(m mem.titles.worker), $(m mem.titles.worker_after) after (at start $(m mem.start.worker)) + $(n0 mem.titles.live_n) long-lived tools $(m mem.titles.live) + one-shot tools up to $pool (pool) × peak $(m mem.titles.tools) ($(n0 mem.titles.runs) tool runs; our nginx workers $(m mem.titles.nginx) besides) | $vod | $r | bounded; ≤ nginx-vod's worker | $(below "$r" 1.0) |"
  echo
}
