# shellcheck shell=bash disable=SC2154 # globals (work, runs, big, clips, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: the CMAF rows, measured on the just-in-time stack beside
# its TS rows: a cold first CMAF video segment of the big title (nothing known, as the
# TS "cold first segment") and a cold DASH MPD over the 3-rendition csmil (as the
# "cold csmil master"). nginx-vod-module's fMP4/DASH would need its own locations
# (`vod fmp4` / `vod dash`): not in this run.

# cold_prefixed_ms PREFIX PATH FILE...: as cold_ms on the jit stack, under PREFIX.
cold_prefixed_ms() {
  local prefix=$1 path=$2 d f status ttfb bytes
  shift 2
  d=$(next_dir)
  for f in "$@"; do place jit "$f" "$d"; done
  read -r status ttfb _ bytes <<< "$(get jit "$prefix/$d/$path")"
  if [ "$status" != 200 ] || [ "$bytes" -le 0 ]; then
    fail "jit: GET $prefix/$d/$path answered $status with $bytes bytes"
  fi
  rm -rf "${work:?}/jit/cache/c/$d" "${work:?}/jit/cache/d/$d" "${work:?}/jit/media/$d"
  echo "$ttfb"
}

measure_cmaf() {
  local name csmil=clip_,low,medium,highdef,.mp4.csmil
  name=$(basename "$big")
  echo "bench: cold CMAF first segment ($big_label) and cold DASH MPD (csmil), $runs runs" >&2
  : > "$work/samples.cmaf.seg"
  : > "$work/samples.cmaf.mpd"
  for _ in $(seq "$runs"); do
    cold_prefixed_ms /c "$name/segment1_0_v.m4s" "$big" >> "$work/samples.cmaf.seg"
    cold_prefixed_ms /d "$csmil/manifest.mpd" "${clips[@]}" >> "$work/samples.cmaf.mpd"
  done
  record cmaf.seg.jit < "$work/samples.cmaf.seg"
  record cmaf.mpd.jit < "$work/samples.cmaf.mpd"
}
