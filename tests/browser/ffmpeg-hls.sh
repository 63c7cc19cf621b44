#!/usr/bin/env bash
# Writes the URL layout that casterpak serves (/i/<name>.mp4/{master,index_0_av}.m3u8,
# segment<K>_0_av.ts, and the csmil forms) as static files made by `ffmpeg -c copy -f hls`.
# It is the known-good reference the suite is checked against (STACK=ffmpeg run.sh).
# usage: ffmpeg-hls.sh MEDIA_DIR WWW_DIR
set -euo pipefail
MEDIA=$1
WWW=$2
TITLES=(a_720p_60s audio_only video_only hevc irregular_gop fragmented clip_low clip_medium clip_highdef)

# ffmpeg 5.1 leaves CODECS out for H.264 and never writes FRAME-RATE; players need both, and the
# suite demands them, so add them from ffprobe (H.264: avc1.<profile_idc><constraints 00><level>).
complete_stream_inf() {
  local file=$1 line=$2 codecs=() rate=""
  while IFS=, read -r type codec profile level rate_field; do
    case "$type/$codec/$profile" in
      video/h264/High) codecs+=("$(printf 'avc1.64%02X%02X' 0 "$level")") ;;
      video/h264/Main) codecs+=("$(printf 'avc1.4D%02X%02X' 0 "$level")") ;;
      audio/aac/LC) codecs+=("mp4a.40.2") ;;
    esac
    [ "$type" = video ] && rate=$(python3 -c "print(f'{$rate_field:.3f}')")
  done < <(ffprobe -v error -show_entries stream=codec_type,codec_name,profile,level,avg_frame_rate \
             -of csv=p=0:nk=1 "$file" | awk -F, '{print $3","$1","$2","$4","$5}')
  if [[ $line != *CODECS=* ]]; then
    line="$line,CODECS=\"$(IFS=,; echo "${codecs[*]}")\""
  fi
  [ -n "$rate" ] && line="$line,FRAME-RATE=$rate"
  echo "$line"
}

for name in "${TITLES[@]}"; do
  out="$WWW/i/$name.mp4"
  mkdir -p "$out"
  ffmpeg -hide_banner -v error -i "$MEDIA/$name.mp4" -map 0 -c copy -f hls -hls_time 6 \
    -hls_playlist_type vod -hls_flags independent_segments -start_number 1 \
    -hls_segment_filename "$out/segment%d_0_av.ts" -master_pl_name master.m3u8 "$out/index_0_av.m3u8"
  # ffmpeg writes EXT-X-INDEPENDENT-SEGMENTS only with video; audio segments are independent anyway.
  grep -q '^#EXT-X-INDEPENDENT-SEGMENTS' "$out/index_0_av.m3u8" ||
    sed -i 's/^#EXT-X-PLAYLIST-TYPE:VOD$/&\n#EXT-X-INDEPENDENT-SEGMENTS/' "$out/index_0_av.m3u8"
  inf=$(complete_stream_inf "$MEDIA/$name.mp4" "$(grep '^#EXT-X-STREAM-INF' "$out/master.m3u8")")
  printf '#EXTM3U\n#EXT-X-VERSION:3\n%s\nindex_0_av.m3u8\n' "$inf" >"$out/master.m3u8"
done

# The csmil master lists the renditions through ../<file>/index_0_av.m3u8, as casterpak does;
# its relative forms index_<N>_av.m3u8 / segment<K>_<N>_av.ts point at the same bytes.
csmil="$WWW/i/clip_,low,medium,highdef,.mp4.csmil"
mkdir -p "$csmil"
{
  echo '#EXTM3U'
  n=0
  for rendition in low medium highdef; do
    src="$WWW/i/clip_$rendition.mp4"
    grep '^#EXT-X-STREAM-INF' "$src/master.m3u8"
    echo "../clip_$rendition.mp4/index_0_av.m3u8"
    sed "s/_0_av\.ts/_${n}_av.ts/" "$src/index_0_av.m3u8" >"$csmil/index_${n}_av.m3u8"
    for seg in "$src"/segment*_0_av.ts; do
      base=$(basename "$seg" _0_av.ts)
      ln -s "../clip_$rendition.mp4/$(basename "$seg")" "$csmil/${base}_${n}_av.ts"
    done
    n=$((n + 1))
  done
} >"$csmil/master.m3u8"
