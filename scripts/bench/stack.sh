# shellcheck shell=bash disable=SC2154 # globals (work, bin, results, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: starts and stops the real stack (casterpak worker +
# Debian's nginx with the config `casterpak nginx-conf --standalone` generates) and a
# plain static nginx peer, each in its own dir under $work, on a free loopback port.
# Needs: $work (scratch dir), $bin (dir of casterpak, mp4info, mp42hls).
# Every process started here has its pid in $work/*/...pid; stack_stop_all ends them.

# A loopback port nobody listens on right now (nginx retries if it was taken meanwhile).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
      echo "$port"
      return
    fi
  done
}

# wait_http CODE URL PIDFILE...: polls URL until it answers CODE ("any": any HTTP
# answer); fails when one of the processes died.
wait_http() {
  local want=$1 url=$2
  shift 2
  local pidfile code
  for _ in $(seq 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url" 2> /dev/null || true)
    if [ "$code" = "$want" ] || { [ "$want" = any ] && [ "$code" != 000 ]; }; then return 0; fi
    for pidfile in "$@"; do
      if ! kill -0 "$(cat "$pidfile")" 2> /dev/null; then
        echo "bench: $pidfile's process died" >&2
        return 1
      fi
    done
    sleep 0.05
  done
  echo "bench: $url did not answer" >&2
  return 1
}

# start_nginx DIR: runs nginx on DIR/nginx.conf (which listens on $(cat DIR/port)).
start_nginx() {
  local dir=$1
  mkdir -p "$dir/logs"
  nginx -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" -g 'daemon off;' \
    >> "$dir/logs/stderr.log" 2>&1 &
  echo $! > "$dir/nginx.pid"
}

# nginx_bound DIR: waits until the nginx started in DIR wrote its own pid file, which it
# does only after binding its port: until then an answer on the port may come from
# someone else's server that took the port meanwhile. Fails when nginx exited.
nginx_bound() {
  local dir=$1 pid
  pid=$(cat "$dir/nginx.pid")
  for _ in $(seq 200); do
    if [ "$(cat "$dir/logs/nginx.pid" 2> /dev/null)" = "$pid" ]; then return 0; fi
    kill -0 "$pid" 2> /dev/null || return 1
    sleep 0.05
  done
  return 1
}

# stack_start NAME MODE [MP4INFO MP42HLS]: the worker in packaging MODE (auto, whole,
# jit) with the given tools (default: ours, beside the worker) behind the shipped nginx
# config. Prints nothing; the port is in $work/NAME/port.
stack_start() {
  local name=$1 mode=$2 mp4info=${3:-} mp42hls=${4:-}
  local dir=$work/$name
  mkdir -p "$dir/media" "$dir/cache" "$dir/nginx/logs"
  cat > "$dir/casterpak.toml" << TOML
listen = "$dir/worker.sock"
control_socket = "$dir/control.sock"
hit_log = "$dir/hits.log"
media_root = "$dir/media"
cache_root = "$dir/cache"
db_path = "$dir/db"

[tools]
mode = "$mode"
mp4info = "$mp4info"
mp42hls = "$mp42hls"
TOML
  # STACK_EXTRA_TOML: more tables for this stack (measure-token.sh's [token_auth]).
  if [ -n "${STACK_EXTRA_TOML:-}" ]; then echo "$STACK_EXTRA_TOML" >> "$dir/casterpak.toml"; fi
  "$bin/casterpak" check-config --config "$dir/casterpak.toml" > /dev/null
  RUST_LOG=${RUST_LOG:-info} "$bin/casterpak" serve --config "$dir/casterpak.toml" \
    >> "$dir/worker.log" 2>&1 &
  echo $! > "$dir/worker.pid"
  local port
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    "$bin/casterpak" nginx-conf --config "$dir/casterpak.toml" --standalone \
      --listen "127.0.0.1:$port" --prefix "$dir/nginx" > "$dir/nginx/nginx.conf"
    start_nginx "$dir/nginx"
    echo "$port" > "$dir/port"
    if nginx_bound "$dir/nginx" &&
      wait_http 200 "http://127.0.0.1:$port/_casterpak/health" "$dir/worker.pid" "$dir/nginx/nginx.pid"; then
      return 0
    fi
    kill "$(cat "$dir/nginx/nginx.pid")" 2> /dev/null || true
    kill -0 "$(cat "$dir/worker.pid")" 2> /dev/null || break
  done
  echo "bench: stack $name did not start; worker log:" >&2
  tail -n 20 "$dir/worker.log" "$dir/nginx/logs/error.log" >&2 || true
  return 1
}

# nginx_temp_paths DIR: the http block's temp dirs, inside DIR (nginx's defaults are
# system paths a bench must not write to).
nginx_temp_paths() {
  local t
  for t in client_body proxy fastcgi uwsgi scgi; do
    printf '    %s_temp_path "%s/%s_temp";\n' "$t" "$1" "$t"
  done
}

# static_start NAME ROOT: nginx serving ROOT as plain static files, with the same
# process and I/O settings the generated config uses (its worker_processes, sendfile,
# tcp_nopush, an access log to a file), and nothing else: the peer of a cache hit.
static_start() {
  local name=$1 root=$2
  local dir=$work/$name port
  mkdir -p "$dir/logs"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    # The user line as in the generated config: the worker process reads the cache as
    # the user who started nginx (ignored with a warning when that is not root).
    cat > "$dir/nginx.conf" << CONF
user $(id -un);
worker_processes $(our_nginx_workers);
pid "$dir/logs/nginx.pid";
error_log "$dir/logs/error.log" warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
$(nginx_temp_paths "$dir")
    keepalive_timeout 65;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$port;
        access_log "$dir/logs/access.log";
        location / { root "$root"; }
    }
}
CONF
    start_nginx "$dir"
    echo "$port" > "$dir/port"
    if nginx_bound "$dir" && wait_http any "http://127.0.0.1:$port/" "$dir/nginx.pid"; then return 0; fi
    kill "$(cat "$dir/nginx.pid")" 2> /dev/null || true
  done
  echo "bench: static nginx did not start" >&2
  return 1
}

# stop_pidfile FILE: TERM the process if it is still the one we started, then KILL.
stop_pidfile() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if grep -qs -e casterpak -e nginx "/proc/$pid/cmdline" && kill "$pid" 2> /dev/null; then
    for _ in $(seq 50); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$pidfile"
}

stack_stop_all() {
  local pidfile
  for pidfile in "$work"/*/nginx.pid "$work"/*/nginx/nginx.pid "$work"/*/worker.pid; do
    stop_pidfile "$pidfile"
  done
}

stack_port() { cat "$work/$1/port"; }
stack_pid() { cat "$work/$1/worker.pid"; }

# metric NAME REGEX: sum of the worker's Prometheus samples whose line matches REGEX.
metric() {
  curl -fsS "http://127.0.0.1:$(stack_port "$1")/_casterpak/metrics" |
    awk -v re="$2" '$0 !~ /^#/ && $0 ~ re { sum += $NF } END { print sum + 0 }'
}

# vm_hwm_mb NAME: the worker's peak resident memory so far (VmHWM), in MB.
vm_hwm_mb() {
  awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$(stack_pid "$1")/status"
}

# place NAME FILE DIR: puts FILE into the stack's media root as DIR/<basename> — a hard
# link when the file system allows (no copy, same page cache), else a copy. A new DIR
# is a new source path, so the worker knows nothing about it: a cold request.
place() {
  local target=$work/$1/media/$3
  mkdir -p "$target"
  ln -f "$2" "$target/" 2> /dev/null || cp "$2" "$target/"
}

# cpu_snapshot PIDS: one "tid nanoseconds-on-CPU" line per thread of the processes
# (PIDS: one string, pids separated by white space; the scheduler's accounting:
# /proc/PID/stat's clock ticks are too coarse for short bursts).
cpu_snapshot() {
  local pid task pids
  read -ra pids <<< "$*"
  for pid in "${pids[@]}"; do
    for task in /proc/"$pid"/task/*; do
      echo "${task##*/} $(cut -d' ' -f1 "$task/schedstat" 2> /dev/null || echo 0)"
    done
  done
}

# cpu_delta_us BEFORE AFTER: µs of CPU between two snapshots (strings). Threads are
# matched by id: a thread that ended meanwhile (tokio's idle blocking threads do) is
# left out rather than subtracted, a new one counts from zero.
cpu_delta_us() {
  awk -v before="$1" -v after="$2" 'BEGIN {
    n = split(before, b, "\n"); for (i = 1; i <= n; i++) { split(b[i], f, " "); was[f[1]] = f[2] }
    n = split(after, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], f, " "); if (f[1] != "") ns += f[2] - was[f[1]] }
    printf "%d\n", ns / 1000 }'
}

# nginx_worker_pids PIDFILE: the worker processes of the nginx master in PIDFILE, on
# one line (the generated config may run one per core).
nginx_worker_pids() { pgrep -P "$(cat "$1")" | paste -sd' '; }

# our_nginx_workers: worker_processes of the generated config ("1", "auto"), which the
# nginx peers use too, so that each side has the same processes and cores.
our_nginx_workers() {
  awk '$1 == "worker_processes" { sub(/;$/, "", $2); print $2; found = 1; exit }
    END { if (!found) print 1 }' "$work/jit/nginx/nginx.conf"
}
