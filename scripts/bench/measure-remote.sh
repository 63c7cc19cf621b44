# shellcheck shell=bash disable=SC2154 # globals (work, runs, big, bin, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: remote archives (issue 10). An archive (a plain nginx
# serving files with Range, its access log counting every upstream request and byte),
# the same archive at +20 ms RTT (scripts/bench/delay-proxy.py before it), and an S3
# server (s3s-fs, when installed); ours reads them as [[sources]] `arch`, `far`, `s3`,
# nginx-vod-module (when given) in `vod_mode remote` through upstream locations to the
# same archive. Each measurement is a never-seen title: the big one hard-linked under a
# fresh dir of the archive.

# remote_start: the archive, the delay proxy, s3s-fs, our stack "remote" and the peer.
remote_start() {
  local dir=$work/archive port proxy_port s3_port secret s3s
  mkdir -p "$dir/files" "$dir/logs" "$work/proxy" "$work/s3root/vod"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$dir/nginx.conf" << CONF
user $(id -un);
worker_processes 1;
pid "$dir/logs/nginx.pid";
error_log "$dir/logs/error.log" warn;
events { worker_connections 1024; }
http {
$(nginx_temp_paths "$dir")
    log_format upstream '\$uri \$status \$body_bytes_sent "\$http_range"';
    sendfile on;
    server {
        listen 127.0.0.1:$port;
        access_log "$dir/logs/access.log" upstream;
        location / { root "$dir/files"; }
    }
}
CONF
    start_nginx "$dir"
    echo "$port" > "$dir/port"
    if nginx_bound "$dir" && wait_http any "http://127.0.0.1:$port/" "$dir/nginx.pid"; then break; fi
    kill "$(cat "$dir/nginx.pid")" 2> /dev/null || true
  done
  proxy_port=$(free_port)
  python3 "$repo/scripts/bench/delay-proxy.py" "$proxy_port" "$port" 10 > "$work/proxy/log" 2>&1 &
  echo $! > "$work/proxy/worker.pid"
  echo "$proxy_port" > "$work/proxy/port"
  wait_http any "http://127.0.0.1:$proxy_port/" "$work/proxy/worker.pid" || fail "the delay proxy did not start"
  s3s=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
  local s3_toml=""
  if [ -x "$s3s" ]; then
    s3_port=$(free_port)
    secret=$(openssl rand -hex 16)
    mkdir -p "$work/s3"
    "$s3s" --host 127.0.0.1 --port "$s3_port" --access-key bench --secret-key "$secret" \
      "$work/s3root" > "$work/s3/log" 2>&1 &
    echo $! > "$work/s3/worker.pid"
    echo "http://127.0.0.1:$s3_port bench:$secret" > "$work/s3/put"
    wait_http any "http://127.0.0.1:$s3_port/" "$work/s3/worker.pid" || fail "s3s-fs did not start"
    s3_toml="
[[sources]]
prefix = \"s3\"
kind = \"s3\"
endpoint = \"http://127.0.0.1:$s3_port\"
region = \"us-east-1\"
bucket = \"vod\"
path_style = true
access_key_id = \"bench\"
secret_access_key = \"$secret\""
  fi
  STACK_EXTRA_TOML="
[[sources]]
prefix = \"arch\"
kind = \"http\"
base_url = \"http://127.0.0.1:$port\"

[[sources]]
prefix = \"far\"
kind = \"http\"
base_url = \"http://127.0.0.1:$proxy_port\"
$s3_toml

[input_cache]
root = \"$work/remote/input\"" stack_start remote jit || fail "the remote stack did not start"
  if vod_on; then vod_remote_start "$port" "$proxy_port" || fail "nginx-vod-module (remote) did not start"; fi
}

s3_on() { [ -f "$work/s3/worker.pid" ]; }

# s3_put KEY FILE: a PutObject into the bucket, as a real upload (curl's SigV4). Not a
# file linked into s3s-fs's dir: an object it did not store itself has no recorded ETag,
# and s3s-fs then hashes the whole object again on every GET (the 10-minute title's ~0.4 s
# per ranged read made this row 15.7 s in the runs of 2026-12-03).
s3_put() {
  local endpoint credentials
  read -r endpoint credentials < "$work/s3/put"
  curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$credentials" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$2" "$endpoint/vod/$1" || fail "PutObject $1 into s3s-fs"
}

# vod_remote_start ARCHIVE_PORT PROXY_PORT: the peer in remote mode, /r/ reading the
# archive, /rf/ the archive at +20 ms, each through an upstream location (its files
# at <archive>/r/… and /rf/…), otherwise as vod_start.
vod_remote_start() {
  local dir=$work/vodr port
  mkdir -p "$dir/logs"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$dir/nginx.conf" << CONF
load_module "$vod_module";
user $(id -un);
worker_processes $(our_nginx_workers);
pid "$dir/logs/nginx.pid";
error_log "$dir/logs/error.log" warn;
events { worker_connections 4096; }
http {
$(nginx_temp_paths "$dir")
    keepalive_timeout 65;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$port;
        access_log "$dir/logs/access.log";
        vod_metadata_cache metadata_cache 512m;
        vod_response_cache response_cache 128m;
        vod_segment_duration 6000;
        vod_align_segments_to_key_frames on;
        location /r/ {
            vod hls;
            vod_mode remote;
            vod_upstream_location /archive_near;
        }
        location /rf/ {
            vod hls;
            vod_mode remote;
            vod_upstream_location /archive_far;
        }
        location /archive_near/ {
            internal;
            proxy_pass http://127.0.0.1:$1/;
        }
        location /archive_far/ {
            internal;
            proxy_pass http://127.0.0.1:$2/;
        }
    }
}
CONF
    start_nginx "$dir"
    echo "$port" > "$dir/port"
    if nginx_bound "$dir" && wait_http any "http://127.0.0.1:$port/" "$dir/nginx.pid"; then return 0; fi
    kill "$(cat "$dir/nginx.pid")" 2> /dev/null || true
  done
  return 1
}

# upstream_of D: "requests bytes" the archive logged for paths under a dir named D.
upstream_of() {
  sleep 0.2 # nginx logs a request when it ends
  awk -v d="/$1/" 'index($1, d) { n++; b += $3 } END { printf "%d %d\n", n, b }' "$work/archive/logs/access.log"
}

# remote_first_segment WHO NEAR_OR_FAR: one never-seen title's first segment, straight
# away (no playlist first); appends first byte ms, upstream requests and bytes.
remote_first_segment() {
  local who=$1 where=$2 name d status ttfb bytes path files requests fetched stack
  name=$(basename "$big")
  d=$(next_dir)
  if [ "$who" = ours ]; then
    files=$work/archive/files
    path=/i/$([ "$where" = near ] && echo arch || echo far)/$d/$name/segment1_0_av.ts
    stack=remote
  else
    files=$work/archive/files/$([ "$where" = near ] && echo r || echo rf)
    path=/$([ "$where" = near ] && echo r || echo rf)/$d/$name/seg-1-v1-a1.ts
    stack=vodr
  fi
  mkdir -p "$files/$d"
  ln -f "$big" "$files/$d/"
  read -r status ttfb _ bytes <<< "$(curl -sS -o /dev/null -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' \
    "http://127.0.0.1:$(stack_port "$stack")$path" | awk '{ printf "%s %.3f %.3f %d\n", $1, $2 * 1000, $3 * 1000, $4 }')"
  if [ "$status" != 200 ] || [ "$bytes" -le 0 ]; then fail "$stack: GET $path answered $status with $bytes bytes"; fi
  read -r requests fetched <<< "$(upstream_of "$d")"
  echo "$ttfb" >> "$work/rm.$who.$where.ttfb"
  echo "$requests" >> "$work/rm.$who.$where.req"
  echo "$fetched" >> "$work/rm.$who.$where.bytes"
  rm -rf "${files:?}/$d" "${work:?}/remote/cache/i/arch/$d" "${work:?}/remote/cache/i/far/$d"
}

# remote_all_segments FILES PREFIX OUT: the big title hard-linked under a fresh dir D
# of FILES, every segment of it asked of our stack under PREFIX/D, 4 at a time; the
# wall time (ms) appended to OUT, then the title and what was packaged of it removed.
remote_all_segments() {
  local files=$1 prefix=$2 out=$3 d t0
  d=$(next_dir)
  if [ "$prefix" = /i/s3 ]; then
    s3_put "$d/$(basename "$big")" "$big"
  else
    mkdir -p "$files/$d" && ln -f "$big" "$files/$d/"
  fi
  t0=$EPOCHREALTIME
  fetch_segments remote "$prefix/$d/$(basename "$big")" 4 $(seq "$big_segments") > /dev/null
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >> "$out"
  rm -rf "${files:?}/$d" "${work:?}/remote/cache$prefix/$d"
}

measure_remote() {
  local who where k whos=(ours)
  if vod_on; then whos+=(vod); fi
  echo "bench: first segment of a never-seen $big_label title over the archive (loopback, +20 ms RTT), $runs runs" >&2
  for who in "${whos[@]}"; do
    for where in near far; do
      for k in ttfb req bytes; do : > "$work/rm.$who.$where.$k"; done
    done
  done
  for _ in $(seq "$runs"); do
    for where in near far; do
      for who in "${whos[@]}"; do remote_first_segment "$who" "$where"; done
    done
  done
  for who in "${whos[@]}"; do
    for where in near far; do
      for k in ttfb req bytes; do record "remote.$who.$where.$k" < "$work/rm.$who.$where.$k"; done
    done
  done
  echo "bench: every segment of a never-seen $big_label title from S3, the HTTP archive and local disk, 4 at a time, $bursts runs" >&2
  : > "$work/rm.s3.all" && : > "$work/rm.http.all" && : > "$work/rm.local.all"
  for _ in $(seq "$bursts"); do
    if s3_on; then remote_all_segments "$work/s3root/vod" /i/s3 "$work/rm.s3.all"; fi
    remote_all_segments "$work/archive/files" /i/arch "$work/rm.http.all"
    remote_all_segments "$work/remote/media" /i "$work/rm.local.all"
  done
  if s3_on; then record remote.s3.all < "$work/rm.s3.all"; fi
  record remote.http.all < "$work/rm.http.all"
  record remote.local.all < "$work/rm.local.all"
}

print_remote_report() {
  local size vod_near vod_far
  size=$(stat -c %s "$big")
  echo
  echo "### Remote archives (issue 10)"
  echo
  echo "The archive: a plain nginx serving the files with Range (requests and bytes from its"
  echo "access log); +20 ms RTT: scripts/bench/delay-proxy.py before it (10 ms each way on"
  echo "every byte, one round trip more before a connection's first byte). Cold = a title"
  echo "never seen (a fresh dir), its first segment asked for straight away."
  echo
  echo "| row | ours | nginx-vod-module (remote) | goal | met |"
  echo "|---|---|---|---|---|"
  vod_near=$(pv remote.vod.near.ttfb 1)
  vod_far=$(pv remote.vod.far.ttfb 1)
  echo "| first segment, $big_label, loopback, first byte ms | $(f remote.ours.near.ttfb 1) | $vod_near | (context) | |"
  echo "| the same: upstream requests, bytes | $(n0 remote.ours.near.req), $(n0 remote.ours.near.bytes) | $(if vod_on; then echo "$(n0 remote.vod.near.req), $(n0 remote.vod.near.bytes)"; else echo "not given"; fi) | fewer requests and bytes than nginx-vod | $(if vod_on; then verdict "$(n0 remote.ours.near.req) < $(n0 remote.vod.near.req) && $(n0 remote.ours.near.bytes) < $(n0 remote.vod.near.bytes)"; else echo "– (no peer)"; fi) |"
  echo "| first segment at +20 ms RTT, first byte ms | $(f remote.ours.far.ttfb 1) | $vod_far | ≤ half of nginx-vod's | $(if vod_on; then verdict "$(m remote.ours.far.ttfb) <= 0.5 * $(m remote.vod.far.ttfb)"; else echo "– (no peer)"; fi) |"
  echo "| the same: upstream requests, bytes | $(n0 remote.ours.far.req), $(n0 remote.ours.far.bytes) | $(if vod_on; then echo "$(n0 remote.vod.far.req), $(n0 remote.vod.far.bytes)"; else echo "not given"; fi) | | |"
  echo "| CasterPak's approach (the whole file before any answer), bytes | $size | | (context) | |"
  local s3_cell="s3s-fs not installed (scripts/install-deps.sh --tests)"
  if s3_on; then s3_cell=$(f remote.s3.all 0); fi
  echo "| every segment ($big_segments) of a never-seen $big_label title, 4 at a time, ms: from S3 (s3s-fs) / the HTTP archive / local disk | $s3_cell / $(f remote.http.all 0) / $(f remote.local.all 0) | | (context) | |"
  echo
}
