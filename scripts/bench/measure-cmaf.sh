# shellcheck shell=bash disable=SC2154 # globals (work, runs, big, clips, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: the CMAF rows, measured on the just-in-time stack beside
# its TS rows: a cold first CMAF video segment of the big title (nothing known, as the
# TS "cold first segment") and a cold DASH MPD over the 3-rendition csmil (as the
# "cold csmil master"); with NGINX_VOD_MODULE, nginx-vod-module's own fMP4 HLS video
# segment (`vod_hls_container_format fmp4`) and DASH MPD (`vod dash`) beside them.

# cold_prefixed_ms STACK PREFIX PATH FILE...: as cold_ms, under PREFIX.
cold_prefixed_ms() {
  local stack=$1 prefix=$2 path=$3 d f status ttfb bytes
  shift 3
  d=$(next_dir)
  for f in "$@"; do place "$stack" "$f" "$d"; done
  read -r status ttfb _ bytes <<< "$(get "$stack" "$prefix/$d/$path")"
  if [ "$status" != 200 ] || [ "$bytes" -le 0 ]; then
    fail "$stack: GET $prefix/$d/$path answered $status with $bytes bytes"
  fi
  rm -rf "${work:?}/$stack/cache/c/$d" "${work:?}/$stack/cache/d/$d" "${work:?}/$stack/media/$d"
  echo "$ttfb"
}

measure_cmaf() {
  local name csmil=clip_,low,medium,highdef,.mp4.csmil
  name=$(basename "$big")
  echo "bench: cold CMAF first segment ($big_label) and cold DASH MPD (csmil), $runs runs" >&2
  local stack stacks=(jit)
  if vod_on; then stacks+=(vod); fi
  for stack in "${stacks[@]}"; do
    : > "$work/samples.cmaf.seg.$stack"
    : > "$work/samples.cmaf.mpd.$stack"
  done
  # Interleaved, as the TS rows: each run asks every stack in turn.
  for _ in $(seq "$runs"); do
    for stack in "${stacks[@]}"; do
      cold_prefixed_ms "$stack" /c "$name/segment1_0_v.m4s" "$big" >> "$work/samples.cmaf.seg.$stack"
      cold_prefixed_ms "$stack" /d "$csmil/manifest.mpd" "${clips[@]}" >> "$work/samples.cmaf.mpd.$stack"
    done
  done
  for stack in "${stacks[@]}"; do
    record "cmaf.seg.$stack" < "$work/samples.cmaf.seg.$stack"
    record "cmaf.mpd.$stack" < "$work/samples.cmaf.mpd.$stack"
  done
}
