#!/usr/bin/env bash
# Makes a long benchmark title: 640x360 24 fps H.264 (ultrafast, 2 s GOP like the
# reference media) + AAC stereo, MINUTES long, into DIR/bench_360p_<MINUTES>min.mp4.
# What the benchmark needs from it is the index size and the duration, not the picture,
# so it is cheap to encode; a finished file is kept and reused (temp name, then rename).
# usage: scripts/bench/make-long.sh DIR MINUTES [SIZE]   (prints the file's path)
set -euo pipefail
dir=${1:?usage: make-long.sh DIR MINUTES [SIZE]}
minutes=${2:?usage: make-long.sh DIR MINUTES [SIZE]}
size=${3:-640x360}
mkdir -p "$dir"
out=$dir/bench_${size#*x}p_${minutes}min.mp4
if [ ! -s "$out" ]; then
  echo "make-long: $out (one-time encode)" >&2
  tmp=$dir/.tmp-$(basename "$out")
  ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "testsrc2=size=$size:rate=24" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t $((minutes * 60)) -map 0:v -map 1:a \
    -c:v libx264 -profile:v high -pix_fmt yuv420p -preset ultrafast -g 48 -keyint_min 48 -sc_threshold 0 \
    -b:v 400k -maxrate 600k -bufsize 800k -c:a aac -b:a 64k -ac 2 "$tmp"
  mv "$tmp" "$out"
fi
echo "$out"
