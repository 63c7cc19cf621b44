#!/bin/bash
# Speed of our mp42hls alone, beside the peers, on one file (default: the 10-minute
# 1080p title). Prints wall-clock medians (hyperfine) and peak RSS (/usr/bin/time -v).
#
# usage: scripts/bench-bento4.sh [input.mp4]
# env:   CASTERPAK_TEST_MEDIA (media dir), CARGO_TARGET_DIR, RUNS (default 15)
#
# Bento4 1.6.0-641 is not installable here; its numbers on the same machine class
# (shared/docs/quality.md) are printed beside ours: 184 ms wall, 3.8 MB peak for
# long_1080p_10min.mp4. The target is <= 0.8 of its wall time with flat memory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
media=${CASTERPAK_TEST_MEDIA:-$repo/tests/media}
input=$(realpath "${1:-$media/long_1080p_10min.mp4}")
runs=${RUNS:-15}
target=${CARGO_TARGET_DIR:-$repo/target}
[ -f "$input" ] || { echo "bench-bento4: no input $input" >&2; exit 1; }
for tool in hyperfine ffmpeg jq; do
  command -v $tool >/dev/null || { echo "bench-bento4: $tool is needed" >&2; exit 1; }
done
if [ ! -x /usr/bin/time ]; then
  echo "bench-bento4: installing GNU time for peak RSS" >&2
  apt-get install -y time >/dev/null
fi

(cd "$repo" && cargo build --release -p bento4 --bin mp42hls >&2)
tool="$target/release/mp42hls"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ours" "$work/ffmpeg" "$work/one"
cat "$input" > /dev/null # page cache warm for everyone

median_ms() { # hyperfine JSON -> median wall time in ms
  jq -r '.results[0].median * 1000 | . * 10 | round / 10' "$1"
}
cpu_ms() { # hyperfine JSON -> mean user + system time in ms (what the run itself costs;
           # wall time also counts waiting for a CPU other work holds)
  jq -r '(.results[0].user + .results[0].system) * 1000 | . * 10 | round / 10' "$1"
}
peak_mb() { # command... -> peak RSS in MB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident/ {printf "%.1f", $2/1024}'
}

cd "$work/ours"
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/whole.json" \
  --prepare "rm -rf $work/ours/*" "$tool $input" >&2
whole_ms=$(median_ms "$work/whole.json")
whole_cpu=$(cpu_ms "$work/whole.json")
whole_mb=$(peak_mb "$tool" "$input")
segments=$(grep -c '^#EXTINF' stream.m3u8)
middle=$((segments / 2))

cd "$work/one"
hyperfine -N --warmup 3 --runs $((runs * 2)) --export-json "$work/one.json" \
  "$tool --segments $middle $input" >&2
one_ms=$(median_ms "$work/one.json")
one_cpu=$(cpu_ms "$work/one.json")
hyperfine -N --warmup 3 --runs $((runs * 2)) --export-json "$work/plan.json" \
  "$tool --plan $input" >&2
plan_ms=$(median_ms "$work/plan.json")
plan_cpu=$(cpu_ms "$work/plan.json")
plan_mb=$(peak_mb "$tool" --plan "$input")

cd "$work/ffmpeg"
ff="ffmpeg -v error -y -i $input -c copy -map 0 -f hls -hls_time 6 -hls_playlist_type vod -hls_segment_filename $work/ffmpeg/seg%d.ts $work/ffmpeg/index.m3u8"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/ffmpeg.json" \
  --prepare "rm -rf $work/ffmpeg/*" "$ff" >&2
ffmpeg_ms=$(median_ms "$work/ffmpeg.json")
ffmpeg_cpu=$(cpu_ms "$work/ffmpeg.json")
ffmpeg_mb=$(peak_mb $ff)

ratio=$(echo "$whole_ms / 184" | bc -l | xargs printf "%.2f")
echo
echo "mp42hls on $(basename "$input") ($(du -m "$input" | cut -f1) MB, $segments segments of 6 s), median of $runs runs"
printf "%-34s %10s %10s %10s\n" "run" "wall ms" "cpu ms" "peak MB"
printf "%-34s %10s %10s %10s\n" "ours, whole rendition" "$whole_ms" "$whole_cpu" "$whole_mb"
printf "%-34s %10s %10s %10s\n" "Bento4 1.6.0 (quality.md)" "184" "-" "3.8"
printf "%-34s %10s %10s %10s\n" "ffmpeg -c copy -f hls" "$ffmpeg_ms" "$ffmpeg_cpu" "$ffmpeg_mb"
printf "%-34s %10s %10s %10s\n" "ours, --segments $middle (one 6 s)" "$one_ms" "$one_cpu" ""
printf "%-34s %10s %10s %10s\n" "ours, --plan" "$plan_ms" "$plan_cpu" "$plan_mb"
ff_ratio=$(echo "$whole_ms / $ffmpeg_ms" | bc -l | xargs printf "%.2f")
echo "ours / Bento4 wall time: $ratio (target <= 0.80); ours / ffmpeg measured here: $ff_ratio"
echo "(quality.md: Bento4 / ffmpeg = 184 / 201 = 0.92 on a quiet machine); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
