# shellcheck shell=bash
# The clipped cold playlist (issue 13): a media playlist `?start=12&end=40` of the
# 1-minute title against the same playlist unclipped, both cold (a source path the
# worker has never seen, so each makes its plan), interleaved run by run.
measure_clip() {
  local name
  name=$(basename "$small")
  echo "bench: cold clipped media playlist (?start=12&end=40) vs unclipped, $name, $runs runs" >&2
  : > "$work/samples.clip"
  : > "$work/samples.clip-plain"
  for _ in $(seq "$runs"); do
    cold_ms jit - "$name/index_0_av.m3u8?start=12&end=40" "$small" >> "$work/samples.clip"
    cold_ms jit - "$name/index_0_av.m3u8" "$small" >> "$work/samples.clip-plain"
  done
  record clip.jit < "$work/samples.clip"
  record clip.plain < "$work/samples.clip-plain"
}
