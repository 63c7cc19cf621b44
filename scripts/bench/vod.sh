# shellcheck shell=bash disable=SC2154 # globals (work, vod_module, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: the nginx-vod-module peer. Its module is built by hand
# outside this repository and given as NGINX_VOD_MODULE=/path/to/ngx_http_vod_module.so
# (loaded into Debian's nginx with load_module); nothing of it lives here.
# A vod "stack" looks like ours to the measurements: $work/NAME/{media,port,nginx.pid},
# the same /i/ prefix, so place, next_dir and cold_ms work unchanged; only the file
# names inside a title differ (vod_path).

# vod_on: true when the peer was given.
vod_on() { [ -n "$vod_module" ]; }

# is_vod STACK: the nginx-vod stacks are named vod*.
is_vod() { [[ $1 == vod* ]]; }

# vod_path PATH: our URL of the same thing in nginx-vod's names: the media playlist
# index_0_av.m3u8 -> index.m3u8, segmentK_0_av.ts -> seg-K-v1-a1.ts (both count from
# 1, both muxing all tracks), a csmil master or MPD -> its multi-URL (.urlset) form,
# a CMAF video segment /c/…/segmentK_0_v.m4s -> its fMP4 seg-K-v1.m4s.
vod_path() {
  local p=$1
  if [[ $p =~ ^(.*)/index_0_av\.m3u8$ ]]; then
    p=${BASH_REMATCH[1]}/index.m3u8
  elif [[ $p =~ ^(.*)/segment([0-9]+)_0_av\.ts$ ]]; then
    p=${BASH_REMATCH[1]}/seg-${BASH_REMATCH[2]}-v1-a1.ts
  elif [[ $p =~ ^(.*)\.csmil/master\.m3u8$ ]]; then
    p=${BASH_REMATCH[1]}.urlset/master.m3u8
  elif [[ $p =~ ^(/c/.*)/segment([0-9]+)_0_v\.m4s$ ]]; then
    p=${BASH_REMATCH[1]}/seg-${BASH_REMATCH[2]}-v1.m4s
  elif [[ $p =~ ^(.*)\.csmil/manifest\.mpd$ ]]; then
    p=${BASH_REMATCH[1]}.urlset/manifest.mpd
  fi
  echo "$p"
}

# vod_start NAME [WORKERS]: Debian's nginx with the module loaded, serving
# $work/NAME/media under /i/ with the settings of docs/benchmarks.md: local mode,
# metadata and response caches on (the sizes its README suggests), 6 s segments cut at
# key frames, and the same process and I/O settings as our generated config (its
# worker_processes unless WORKERS is given, sendfile, tcp_nopush, open_file_cache, an
# access log to a file).
vod_start() {
  local name=$1 workers=${2:-$(our_nginx_workers)}
  local dir=$work/$name port
  mkdir -p "$dir/media" "$dir/logs"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$dir/nginx.conf" << CONF
load_module "$vod_module";
user $(id -un);
worker_processes $workers;
pid "$dir/logs/nginx.pid";
error_log "$dir/logs/error.log" warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
$(nginx_temp_paths "$dir")
    keepalive_timeout 65;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=10000 inactive=30s;
    open_file_cache_valid 2s;
    server {
        listen 127.0.0.1:$port;
        access_log "$dir/logs/access.log";
        vod_mode local;
        vod_metadata_cache metadata_cache 512m;
        vod_response_cache response_cache 128m;
        vod_segment_duration 6000;
        vod_align_segments_to_key_frames on;
        location /i/ {
            alias "$dir/media/";
            vod hls;
        }
        # Its fMP4 HLS and DASH, for the CMAF rows (ours: /c and /d).
        location /c/ {
            alias "$dir/media/";
            vod hls;
            vod_hls_container_format fmp4;
        }
        location /d/ {
            alias "$dir/media/";
            vod dash;
            vod_dash_manifest_format segmenttimeline;
        }
    }
}
CONF
    start_nginx "$dir"
    echo "$port" > "$dir/port"
    if nginx_bound "$dir" && wait_http any "http://127.0.0.1:$port/" "$dir/nginx.pid"; then return 0; fi
    kill "$(cat "$dir/nginx.pid")" 2> /dev/null || true
    # A module this nginx refuses (not built for it) ends it at once: no retry.
    if grep -qs -e 'is not binary compatible' -e 'dlopen' "$dir/logs/stderr.log" "$dir/logs/error.log"; then break; fi
  done
  echo "bench: nginx with $vod_module did not start:" >&2
  tail -n 5 "$dir/logs/stderr.log" "$dir/logs/error.log" >&2 2> /dev/null || true
  return 1
}

# vod_worker_pids NAME: the pids of that nginx's worker processes, on one line.
vod_worker_pids() { nginx_worker_pids "$work/$1/nginx.pid"; }
