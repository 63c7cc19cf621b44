#!/usr/bin/env bash
# Makes casterpak's test and demo media with ffmpeg (testsrc2 + sine, deterministic
# settings) in DIR. Files already there are kept, so reruns are fast.
# usage: scripts/make-media.sh DIR [NAME...]   (NAME without .mp4: make only those)
# SKIP_LONG=1 skips the 10-minute 1080p title (most of the run time).
# Each file made is also kept in a per-user cache keyed by this script's text and
# ffmpeg's version (CASTERPAK_MEDIA_CACHE, default ~/.cache/casterpak/media; "off"
# disables it), so a second clone on the same machine copies instead of encoding for
# minutes: the recipes are deterministic settings, but not byte-for-byte promises, so a
# new script or a new ffmpeg means a new cache directory.
set -euo pipefail

dir=${1:?usage: make-media.sh DIR [NAME...]}
scripts=$(cd "$(dirname "$0")" && pwd)
shift
mkdir -p "$dir"
cache=""
if [ "${CASTERPAK_MEDIA_CACHE:-}" != off ]; then
  key=$({ cat "$0" "$scripts/cea608-sei.py"; ffmpeg -hide_banner -version 2>/dev/null | head -n 1; } | sha256sum | cut -c1-16)
  cache=${CASTERPAK_MEDIA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/casterpak/media}/$key
  mkdir -p "$cache" 2>/dev/null || cache=""
fi
cd "$dir"
only=" $* "

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
av() { echo -f lavfi -i "testsrc2=size=$1:rate=24" -f lavfi -i "sine=frequency=440:sample_rate=48000"; }
h264() { echo -c:v libx264 -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0; }
aac() { echo -c:a aac -b:a "$1" -ac 2; }

# build NAME: runs the recipe function NAME into a temp file and renames it into place,
# so an interrupted run never leaves a half-written file that a rerun would keep.
build() {
  local name=$1
  if [ -e "$name.mp4" ]; then return 0; fi
  # A copy, never a link: a test that damaged its input must not damage the cache.
  if [ -n "$cache" ] && [ -f "$cache/$name.mp4" ] && cp "$cache/$name.mp4" ".tmp-$name.mp4"; then
    mv ".tmp-$name.mp4" "$name.mp4"
    return 0
  fi
  echo "make-media: $name.mp4"
  "$name" ".tmp-$name.mp4"
  mv ".tmp-$name.mp4" "$name.mp4"
  if [ -n "$cache" ] && cp "$name.mp4" "$cache/.tmp-$name.$$.mp4" 2>/dev/null; then
    mv "$cache/.tmp-$name.$$.mp4" "$cache/$name.mp4"
  fi
}
# make NAME: build it unless the command line named other files only.
make() {
  if [ "$only" != "  " ] && [[ $only != *" $1 "* ]]; then return 0; fi
  build "$1"
}

# 1280x720 24 fps 60 s, H.264 High with B-frames, 2 s GOP, AAC stereo; moov at the end.
a_720p_60s() {
  ff $(av 1280x720) -t 60 -map 0:v -map 1:a $(h264) -preset medium -bf 3 -b:v 2000k $(aac 128k) "$1"
}
# The 60 s title's lowest rendition (a 3-rendition csmil for clips): same GOP.
a_360p_60s() {
  ff $(av 640x360) -t 60 -map 0:v -map 1:a $(h264) -preset fast -bf 3 -b:v 500k $(aac 64k) "$1"
}
a_720p_60s_faststart() { build a_720p_60s && ff -i a_720p_60s.mp4 -c copy -movflags +faststart "$1"; }

# csmil renditions: 30 s, same GOP, constrained bit rates.
clip() {
  local size=$1 vrate=$2 arate=$3 out=$4
  ff $(av "$size") -t 30 -map 0:v -map 1:a $(h264) -preset fast -bf 3 \
    -b:v "$vrate" -maxrate "$vrate" -bufsize "$vrate" $(aac "$arate") "$out"
}
clip_low() { clip 640x360 400k 64k "$1"; }
clip_medium() { clip 960x540 800k 96k "$1"; }
clip_highdef() { clip 1280x720 1500k 128k "$1"; }

# Alternate audio (issue 12): English and French AAC (different tones, named in their
# handlers) and an English AC-3 track, 30 s, same GOP as the clips.
multi_audio() {
  ff $(av 960x540) -f lavfi -i "sine=frequency=660:sample_rate=48000" -t 30 \
    -map 0:v -map 1:a -map 2:a -map 1:a $(h264) -preset fast -bf 3 -b:v 800k \
    -c:a:0 aac -b:a:0 96k -ac:a:0 2 -c:a:1 aac -b:a:1 96k -ac:a:1 2 -c:a:2 ac3 -b:a:2 192k \
    -metadata:s:a:0 language=eng -metadata:s:a:0 handler_name="English" \
    -metadata:s:a:1 language=fra -metadata:s:a:1 handler_name="Français" \
    -metadata:s:a:2 language=eng -metadata:s:a:2 handler_name="English (AC-3)" "$1"
}

# Embedded subtitles (issue 12): an English mov_text (tx3g) track, and a chapter list
# (which ffmpeg writes as a QuickTime text track that is no subtitle); 20 s.
subtitled() {
  local srt=".tmp-subtitled.$$.srt" chapters=".tmp-subtitled.$$.txt"
  printf '1\n00:00:01,000 --> 00:00:04,000\nHello from the track\n\n2\n00:00:07,500 --> 00:00:12,000\nFish & chips\n' > "$srt"
  printf ';FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=10000\ntitle=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=10000\nEND=20000\ntitle=Two\n' > "$chapters"
  ff $(av 640x360) -i "$srt" -f ffmetadata -i "$chapters" -t 20 -map 0:v -map 1:a -map 2:s \
    -map_chapters 3 $(h264) -preset fast -b:v 400k $(aac 64k) -c:s mov_text \
    -metadata:s:s:0 language=eng "$1"
  rm -f "$srt" "$chapters"
}

# CEA-608 captions in the video's SEI (issue 12): no encoder here writes CEA-608 from
# text, so ffmpeg encodes raw H.264 (no B-frames: a raw stream carries no timestamps),
# cea608-sei.py adds ATSC GA94 cc_data to every frame (a pop-on "HELLO" from 1 s to 4 s), and
# ffmpeg muxes it with audio; 12 s.
captioned() {
  local h264=".tmp-captioned.$$.h264" with=".tmp-captioned-cc.$$.h264"
  ff -f lavfi -i testsrc2=size=640x360:rate=24 -t 12 -c:v libx264 -profile:v high -pix_fmt yuv420p \
    -g 48 -keyint_min 48 -sc_threshold 0 -bf 0 -preset fast -b:v 400k -f h264 "$h264"
  python3 "$scripts/cea608-sei.py" "$h264" "$with"
  ff -framerate 24 -i "$with" -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 12 \
    -map 0:v -map 1:a -c:v copy $(aac 64k) "$1"
  rm -f "$h264" "$with"
}

video_only() {
  ff -f lavfi -i testsrc2=size=1280x720:rate=24 -t 30 $(h264) -preset fast -b:v 1500k "$1"
}
audio_only() { ff -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 $(aac 128k) "$1"; }

# Keyframes at scene cuts only (four different sources), long maximum GOP.
irregular_gop() {
  ff -f lavfi -i testsrc2=size=1280x720:rate=24:duration=7 \
    -f lavfi -i smptebars=size=1280x720:rate=24:duration=5 \
    -f lavfi -i mandelbrot=size=1280x720:rate=24 \
    -f lavfi -i testsrc=size=1280x720:rate=24:duration=9 \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -filter_complex "[2:v]trim=duration=6,setpts=PTS-STARTPTS,format=yuv420p[m];[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[3:v]format=yuv420p[c];[a][b][m][c]concat=n=4:v=1:a=0[v]" \
    -map "[v]" -map 4:a -t 27 -c:v libx264 -profile:v high -preset fast -g 250 -keyint_min 25 \
    -b:v 1500k -pix_fmt yuv420p $(aac 128k) "$1"
}

hevc() {
  ff $(av 1280x720) -t 30 -map 0:v -map 1:a -c:v libx265 -preset fast \
    -x265-params "keyint=48:min-keyint=48:scenecut=0:log-level=error" -b:v 1500k \
    -pix_fmt yuv420p -tag:v hvc1 $(aac 128k) "$1"
}

fragmented() { build a_720p_60s && ff -i a_720p_60s.mp4 -c copy -movflags frag_keyframe+empty_moov "$1"; }

long_1080p_10min() {
  ff $(av 1920x1080) -t 600 -map 0:v -map 1:a $(h264) -preset ultrafast \
    -b:v 1500k -maxrate 2000k -bufsize 3000k $(aac 128k) "$1"
}

# Broken inputs. The first 60 % of the file: with moov at the end it is missing;
# with faststart the moov is intact and the mdat is cut short.
head60() { local size; size=$(stat -c %s "$1"); head -c $((size * 60 / 100)) "$1" > "$2"; }
truncated() { build a_720p_60s && head60 a_720p_60s.mp4 "$1"; }
truncated_faststart() { build a_720p_60s_faststart && head60 a_720p_60s_faststart.mp4 "$1"; }
# 1 MiB of deterministic pseudo-random bytes (AES-CTR keystream of zeros).
garbage() {
  head -c $((1 << 20)) /dev/zero |
    openssl enc -aes-128-ctr -nosalt -K 00112233445566778899aabbccddeeff -iv 00000000000000000000000000000000 > "$1"
}
empty() { : > "$1"; }

for name in a_720p_60s a_360p_60s a_720p_60s_faststart clip_low clip_medium clip_highdef multi_audio subtitled captioned video_only \
  audio_only irregular_gop fragmented truncated truncated_faststart garbage empty; do
  make "$name"
done
# A French SubRip sidecar of the subtitled title (a text file: made here, not cached).
if [ "$only" = "  " ] || [[ $only == *" subtitled "* ]]; then
  if [ ! -e subtitled_fr.srt ]; then
    printf '1\n00:00:02,000 --> 00:00:05,000\nBonjour\n\n2\n00:00:14,000 --> 00:00:18,000\nAu revoir\n' > .tmp-subtitled_fr.srt
    mv .tmp-subtitled_fr.srt subtitled_fr.srt
  fi
fi
# Not `ffmpeg … | grep -q`: with pipefail, grep quitting early fails the pipeline.
encoders=$(ffmpeg -hide_banner -encoders 2>/dev/null || true)
if [[ $encoders == *libx265* ]]; then
  make hevc
fi
if [ -z "${SKIP_LONG:-}" ]; then
  make long_1080p_10min
fi
echo "make-media: done in $PWD"
