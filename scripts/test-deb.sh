#!/usr/bin/env bash
# The Debian package, end to end on this machine: builds it (scripts/build-deb.sh), installs
# it with apt-get, starts the worker as its systemd unit would (the unit's ExecStartPre and
# ExecStart, as its User, with its Environment, RuntimeDirectory and LimitNOFILE), enables
# the packaged nginx site as the README tells an operator to (listen edited to a loopback
# test port) and starts Debian's own nginx with its own /etc/nginx/nginx.conf, puts test
# media into the default media_root, runs a cold csmil master, a media playlist, a segment
# (miss, then hit) and sweeps (the sweep unit's ExecStart) through it; with [live] and
# [token_auth] enabled in the packaged config as the README tells an operator (the worker's
# user in www-data's group), a token-protected playlist (nginx's Lua module) and ffmpeg
# publishing through Debian's nginx as www-data while the worker, as casterpak, records,
# marks the end and sweeps what nginx wrote; then stops everything,
# purges the package and checks that nothing is left. Debian's nginx is left as found:
# stopped, /etc/nginx unchanged (compared file by file).
#
# usage: sudo scripts/test-deb.sh      TEST_PORT=18080 (default) picks the loopback port
# Media: CASTERPAK_TEST_MEDIA (default tests/media): clip_low, clip_medium, clip_highdef.
# Any failed step stops the test with "test-deb: FAILED: ..." and a non-zero exit.
set -Eeuo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
port=${TEST_PORT:-18080}
media=${CASTERPAK_TEST_MEDIA:-$repo/tests/media}
base=http://127.0.0.1:$port
csmil=/i/clip_,low,medium,highdef,.mp4.csmil
unit_dir=/usr/lib/systemd/system
apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
work=$(mktemp -d /tmp/casterpak-test-deb.XXXXXX)
checks=0

fail() {
  echo "test-deb: FAILED: $*" >&2
  exit 1
}
ok() {
  checks=$((checks + 1))
  echo "test-deb: ok: $*"
}
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR
# A process that is gone or a zombie (nothing here reaps daemons whose parent exited).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_gone() {
  for _ in $(seq 100); do alive "$1" || return 0; sleep 0.1; done
  return 1
}
# unit_value UNIT KEY: the value of KEY= in an installed unit file (the first one).
unit_value() { sed -n "s/^$2=//p" "$unit_dir/$1" | head -n 1; }
etc_nginx_state() {
  find /etc/nginx -printf '%p %y %m %u:%g %l\n' | sort
  find /etc/nginx -type f -print0 | sort -z | xargs -0 sha256sum
}

# --- preconditions: what this machine must look like before, and is made to look like after
[ -x /usr/sbin/nginx ] || fail "Debian's nginx is not installed (apt-get install nginx)"
if [ -s /run/nginx.pid ] && alive "$(cat /run/nginx.pid)"; then
  fail "Debian's nginx is running (pid $(cat /run/nginx.pid)); this test starts and stops it itself"
fi
if dpkg-query -W casterpak >/dev/null 2>&1; then fail "a casterpak package is already installed"; fi
if getent passwd casterpak >/dev/null; then fail "a casterpak user already exists"; fi
if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
  fail "port $port is in use (TEST_PORT=...)"
fi
for name in clip_low clip_medium clip_highdef; do
  [ -f "$media/$name.mp4" ] || fail "missing test medium $media/$name.mp4 (scripts/make-media.sh)"
done
etc_nginx_state > "$work/etc-nginx.before"
default_site=$(readlink /etc/nginx/sites-enabled/default 2>/dev/null || true)

worker_pid=""
nginx_pid=""
publisher_pid=""
added_media=()
media_root_created=""
cleanup() {
  local status=$?
  trap - ERR
  set +e
  if [ -n "$publisher_pid" ] && alive "$publisher_pid"; then kill "$publisher_pid"; fi
  if [ -n "$worker_pid" ] && alive "$worker_pid"; then kill "$worker_pid"; wait_gone "$worker_pid"; fi
  if [ -n "$nginx_pid" ] && alive "$nginx_pid"; then kill -QUIT "$nginx_pid"; wait_gone "$nginx_pid"; fi
  rm -f /etc/nginx/sites-enabled/casterpak
  if [ -n "$default_site" ] && [ ! -e /etc/nginx/sites-enabled/default ]; then
    ln -s "$default_site" /etc/nginx/sites-enabled/default
  fi
  if dpkg-query -W casterpak >/dev/null 2>&1; then "${apt[@]}" purge casterpak >/dev/null; fi
  rm -f "${added_media[@]}"
  if [ -n "$media_root_created" ]; then rmdir "$media_root"; fi
  rm -f /var/log/nginx/casterpak.access.log
  etc_nginx_state > "$work/etc-nginx.after"
  if ! diff -u "$work/etc-nginx.before" "$work/etc-nginx.after"; then
    echo "test-deb: FAILED: /etc/nginx differs from before the test (diff above)" >&2
    status=1
  fi
  rm -rf "$work"
  if [ "$status" -eq 0 ]; then echo "test-deb: $checks checks passed"; fi
  exit "$status"
}
trap cleanup EXIT

# --- build and install
echo "test-deb: building the package"
deb=$("$repo/scripts/build-deb.sh" | tail -n 1)
[ -f "$deb" ] || fail "build-deb.sh printed no package ($deb)"
ok "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb -c "$deb" | awk '{print $6}' > "$work/contents"
for path in ./usr/bin/casterpak ./usr/bin/mp4info ./usr/bin/mp42hls ./etc/casterpak/casterpak.toml \
  ./etc/nginx/sites-available/casterpak ./usr/lib/systemd/system/casterpak.service \
  ./usr/lib/systemd/system/casterpak-sweep.service ./usr/lib/systemd/system/casterpak-sweep.timer; do
  grep -qx "$path" "$work/contents" || fail "the package lacks $path"
done
dpkg-deb -e "$deb" "$work/control"
for conffile in /etc/casterpak/casterpak.toml /etc/nginx/sites-available/casterpak; do
  grep -qx "$conffile" "$work/control/conffiles" || fail "$conffile is not a conffile"
done
ok "package holds the three binaries, three units, the config and the nginx site (conffiles)"

echo "test-deb: apt-get install $deb"
"${apt[@]}" install "$deb"
[ "$(dpkg-query -W -f='${Status}' casterpak)" = "install ok installed" ] || fail "casterpak is not installed"
for bin in casterpak mp4info mp42hls; do [ -x "/usr/bin/$bin" ] || fail "/usr/bin/$bin missing"; done
/usr/bin/casterpak --version
[ "$(id -u casterpak)" -lt 1000 ] || fail "casterpak is not a system user"
[ "$(getent passwd casterpak | cut -d: -f7)" = /usr/sbin/nologin ] || fail "casterpak has a login shell"
[ "$(stat -c '%U:%G %a' /var/cache/casterpak)" = "casterpak:casterpak 755" ] || fail "/var/cache/casterpak: $(stat -c '%U:%G %a' /var/cache/casterpak)"
[ "$(stat -c '%U:%G %a' /var/lib/casterpak)" = "casterpak:casterpak 750" ] || fail "/var/lib/casterpak: $(stat -c '%U:%G %a' /var/lib/casterpak)"
[ ! -e /etc/nginx/sites-enabled/casterpak ] && [ ! -e /etc/nginx/conf.d/casterpak.conf ] ||
  fail "installing enabled an nginx site by itself"
ok "installed: binaries, system user casterpak (nologin), cache 755 and database 750 dirs, nginx site not enabled"
systemd-analyze verify "$unit_dir"/casterpak.service "$unit_dir"/casterpak-sweep.service "$unit_dir"/casterpak-sweep.timer
ok "systemd-analyze verify passes the three installed units"
/usr/bin/casterpak nginx-conf --config /etc/casterpak/casterpak.toml | cmp - /etc/nginx/sites-available/casterpak ||
  fail "the packaged nginx site is not what the packaged binary generates for the packaged config"
ok "the packaged nginx site equals \`casterpak nginx-conf\` of the packaged config"

# --- media into the default media_root, owned by root and readable, as an archive would be
media_root=$(sed -n 's/^media_root = "\(.*\)"$/\1/p' /etc/casterpak/casterpak.toml)
[ "$media_root" = /srv/media ] || fail "unexpected default media_root $media_root"
if [ ! -d "$media_root" ]; then media_root_created=1; fi
install -d -m 0755 "$media_root"
for name in clip_low clip_medium clip_highdef; do
  [ ! -e "$media_root/$name.mp4" ] || fail "$media_root/$name.mp4 exists already; this test would replace it"
  added_media+=("$media_root/$name.mp4")
  install -m 0644 "$media/$name.mp4" "$media_root/"
done

# --- live ingest and a token-protected title, enabled as an operator would: the packaged
# config edited, the site regenerated, and (README "Live streams and recordings") the
# worker's user in nginx's group, so both may write the live dir. Short live times, so
# the end of a stream and its sweep happen within the test.
live_token=$(openssl rand -hex 16)
python3 - /etc/casterpak/casterpak.toml "$live_token" "$(openssl rand -hex 32)" <<'EOF_PY'
import sys
path, live, key = sys.argv[1:]
settings = {
    "live": {"enabled": "true", "ingest_token": f'"{live}"', "ended_after_secs": "3",
             "live_ttl_secs": "1", "ended_ttl_secs": "2"},
    "token_auth": {"key": f'"{key}"', "protect": '["/i/clip_medium.mp4/"]'},
}
out, section, seen = [], None, set()
for line in open(path).read().split("\n"):
    if line.startswith("["):
        section = line.strip("[]")
    name = line.split(" = ")[0] if " = " in line and not line.startswith("#") else None
    if section in settings and name in settings[section]:
        line = f"{name} = {settings[section][name]}"
        seen.add((section, name))
    out.append(line)
missing = {(s, n) for s in settings for n in settings[s]} - seen
assert not missing, f"no such lines in the packaged config: {missing}"
open(path, "w").write("\n".join(out))
EOF_PY
/usr/bin/casterpak check-config --config /etc/casterpak/casterpak.toml > /dev/null
/usr/bin/casterpak nginx-conf --config /etc/casterpak/casterpak.toml > /etc/nginx/sites-available/casterpak
adduser --quiet casterpak www-data
ok "[live] and [token_auth] enabled in the packaged config, the site regenerated, casterpak in group www-data"

# --- the worker, as casterpak.service starts it (systemd is not PID 1 here, so by hand)
user=$(unit_value casterpak.service User)
group=$(unit_value casterpak.service Group)
runtime=/run/$(unit_value casterpak.service RuntimeDirectory)
nofile=$(unit_value casterpak.service LimitNOFILE)
environment=$(unit_value casterpak.service Environment)
[ "$user" = casterpak ] && [ "$group" = casterpak ] || fail "the unit runs as $user:$group"
install -d -o "$user" -g "$group" -m "$(unit_value casterpak.service RuntimeDirectoryMode)" "$runtime"
# systemd's User=/Group= (with the user's supplementary groups) and its clean environment.
read -r -a unit_env <<< "$environment"
as_unit_user=(setpriv --reuid="$user" --regid="$group" --init-groups --
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/casterpak
  USER="$user" LOGNAME="$user" "${unit_env[@]}")
read -r -a pre <<< "$(unit_value casterpak.service ExecStartPre)"
read -r -a start <<< "$(unit_value casterpak.service ExecStart)"
"${as_unit_user[@]}" "${pre[@]}"
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ]; then
  # Raising it needs CAP_SYS_RESOURCE, which this container lacks; systemd would have it.
  echo "test-deb: note: LimitNOFILE=$nofile is above this machine's hard limit $hard; the worker gets $hard"
  nofile=$hard
fi
(ulimit -n "$nofile" && exec "${as_unit_user[@]}" "${start[@]}") > "$work/worker.log" 2>&1 &
worker_pid=$! # the subshell execs setpriv, env and the worker: one pid
for _ in $(seq 100); do [ -S "$runtime/worker.sock" ] && break; alive "$worker_pid" || break; sleep 0.1; done
[ -S "$runtime/worker.sock" ] || { cat "$work/worker.log" >&2; fail "the worker did not open $runtime/worker.sock"; }
[ "$(stat -c %U "/proc/$worker_pid")" = casterpak ] || fail "the worker runs as $(stat -c %U "/proc/$worker_pid")"
grep -q "^Max open files *$nofile " "/proc/$worker_pid/limits" || fail "the worker's open-file limit is not $nofile"
ok "worker started as the unit does: ${start[*]} (user casterpak, pid $worker_pid, nofile $nofile)"
# The worker made the live dir (setgid, group-writable); the README's second step.
chgrp www-data /var/cache/casterpak/live
[ "$(stat -c '%U:%G %a' /var/cache/casterpak/live)" = "casterpak:www-data 2775" ] ||
  fail "/var/cache/casterpak/live: $(stat -c '%U:%G %a' /var/cache/casterpak/live)"

# --- Debian's nginx with its own nginx.conf, the site enabled as the README says
rm /etc/nginx/sites-enabled/default # its port 80 is not this test's business; restored after
sed -i "s/^    listen 80;\$/    listen 127.0.0.1:$port;/" /etc/nginx/sites-available/casterpak
grep -q "^    listen 127.0.0.1:$port;\$" /etc/nginx/sites-available/casterpak || fail "no 'listen 80;' line to edit in the site"
ln -s ../sites-available/casterpak /etc/nginx/sites-enabled/casterpak
/usr/sbin/nginx -t -q
/usr/sbin/nginx
nginx_pid=$(cat /run/nginx.pid)
for _ in $(seq 50); do curl -fsS -o /dev/null "$base/_casterpak/health" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$base/_casterpak/health" || fail "nginx + worker do not answer $base/_casterpak/health"
ok "Debian's nginx (pid $nginx_pid, /etc/nginx/nginx.conf) serves the site on $base"

# get PATH NAME: fetches into $work/NAME, the headers into $work/NAME.h; prints the status.
get() {
  curl -sS -D "$work/$2.h" -o "$work/$2" -w '%{http_code}' "$base$1"
}
cache_header() { tr -d '\r' < "$work/$1.h" | sed -n 's/^X-Casterpak-Cache: //Ip'; }

[ "$(get "$csmil/master.m3u8" master)" = 200 ] || fail "cold csmil master: $(head -c 300 "$work/master")"
[ "$(cache_header master)" = MISS ] || fail "cold csmil master was not a miss: $(cache_header master)"
variants=$(grep -c '^#EXT-X-STREAM-INF' "$work/master")
[ "$variants" = 3 ] || fail "csmil master lists $variants variants"
ok "cold csmil master: 200 MISS, 3 variants"
# The master's URIs are relative to it; resolve the first variant and its first segment.
playlist=$(python3 -c 'import sys, urllib.parse as u; print(u.urljoin(sys.argv[1], sys.argv[2]))' \
  "$csmil/master.m3u8" "$(grep -v '^#' "$work/master" | head -n 1)")
[ "$(get "$playlist" playlist)" = 200 ] || fail "media playlist $playlist"
segment=$(python3 -c 'import sys, urllib.parse as u; print(u.urljoin(sys.argv[1], sys.argv[2]))' \
  "$playlist" "$(grep -v '^#' "$work/playlist" | head -n 1)")
ok "media playlist $playlist: 200, $(grep -c '^#EXTINF' "$work/playlist") segments"
[ "$(get "$segment" segment)" = 200 ] || fail "segment $segment"
[ "$(cache_header segment)" = MISS ] || fail "cold segment was not a miss"
size=$(stat -c %s "$work/segment")
[ "$size" -gt 0 ] && [ $((size % 188)) -eq 0 ] && [ "$(head -c 1 "$work/segment" | od -An -tx1 | tr -d ' ')" = 47 ] ||
  fail "segment is not MPEG-TS ($size bytes)"
streams=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$work/segment" | grep . | sort -u | tr '\n' ' ')
[ "$streams" = "aac h264 " ] || fail "segment streams: $streams"
mv "$work/segment" "$work/segment.miss"
[ "$(get "$segment" segment)" = 200 ] && [ "$(cache_header segment)" = HIT ] || fail "second request of the segment was no hit"
cmp "$work/segment" "$work/segment.miss" || fail "the hit's bytes differ from the miss's"
ok "segment $segment: 200 MISS ($size bytes, h264 + aac), then 200 HIT with the same bytes"

# --- sweeps, as casterpak-sweep.service runs them
read -r -a sweep <<< "$(unit_value casterpak-sweep.service ExecStart)"
[ "$(unit_value casterpak-sweep.service User)" = "$user" ] || fail "the sweep unit runs as another user"
"${as_unit_user[@]}" "${sweep[@]}" > "$work/sweep1"
grep -q '^sweep: evicted 0 entries' "$work/sweep1" || fail "sweep of a fresh cache: $(cat "$work/sweep1")"
ok "sweep (${sweep[*]}): $(cat "$work/sweep1")"
# A replaced source: the next sweep evicts what was packaged from it. Another rendition's
# playlist, packaged by a miss and never hit (the hit feed may re-stat a hit one first).
hit_source=$(basename "$(dirname "$segment")")
other=$(grep -v '^#' "$work/master" | sed 's#^\.\./##; s#/.*##' | grep -vx "$hit_source" | tail -n 1)
[ -f "$media_root/$other" ] || fail "no other rendition in the master ($other)"
[ "$(get "/i/$other/index_0_av.m3u8" other)" = 200 ] && [ "$(cache_header other)" = MISS ] || fail "/i/$other/index_0_av.m3u8"
[ -f "/var/cache/casterpak/i/$other/index_0_av.m3u8" ] || fail "/i/$other/index_0_av.m3u8 is not in the cache"
touch -d '1 hour ago' "$media_root/$other"
"${as_unit_user[@]}" "${sweep[@]}" > "$work/sweep2"
grep -Eq '^sweep: evicted [1-9][0-9]* entries .* [1-9][0-9]* stale' "$work/sweep2" || fail "sweep after $other changed: $(cat "$work/sweep2")"
[ ! -e "/var/cache/casterpak/i/$other/index_0_av.m3u8" ] || fail "the stale playlist of $other is still in the cache"
ok "sweep after $other changed: $(cat "$work/sweep2")"
# nginx keeps serving a deleted file from its open_file_cache until it re-checks the name,
# open_file_cache_valid (2 s) after it last did (nginx/README.md); a wait, not a race.
sleep 3
status=$(get "/i/$other/index_0_av.m3u8" other)
[ "$status" = 200 ] && [ "$(cache_header other)" = MISS ] ||
  fail "the evicted playlist did not refill: $status $(cache_header other) $(head -c 200 "$work/other")"
ok "the evicted playlist of $other refills: 200 MISS"
[ "$(get /_casterpak/metrics metrics)" = 200 ] || fail "metrics"
alive "$worker_pid" || fail "the worker died"

# --- a token-protected title: nginx's Lua module (Debian's modules-enabled) runs the
# packaged script
protected=/i/clip_medium.mp4/index_0_av.m3u8
[ "$(get "$protected" tok0)" = 403 ] || fail "$protected without a token: $(head -c 200 "$work/tok0")"
tok=$(/usr/bin/casterpak token --config /etc/casterpak/casterpak.toml --acl '/i/clip_medium.mp4/*' --window 600)
[ "$(get "$protected?hdnts=$tok" tok1)" = 200 ] || fail "$protected with a token: $(head -c 200 "$work/tok1")"
grep -v '^#' "$work/tok1" | grep -q . || fail "$protected lists no segment"
if grep -v "^#" "$work/tok1" | grep -vF "?hdnts=$tok" | grep -q .; then fail "a URI of $protected lacks the token"; fi
[ "$(get "$protected?hdnts=$tok" tok2)" = 200 ] && [ "$(cache_header tok2)" = HIT ] && cmp -s "$work/tok1" "$work/tok2" ||
  fail "the protected playlist's hit differs from its miss"
ok "$protected: 403 without a token, 200 with one (miss, then the same hit), its URIs carry it"

# --- live: ffmpeg publishes through Debian's nginx (www-data); the worker (casterpak)
# records it, marks its end in nginx's playlist and sweeps what nginx wrote
live_dir=/var/cache/casterpak/live/deb1
ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440 \
  -t 14 -c:v libx264 -preset ultrafast -g 25 -c:a aac -f hls -hls_time 2 -hls_list_size 6 \
  -hls_flags delete_segments -method PUT -headers "Authorization: Bearer $live_token"$'\r\n' \
  "$base/live/deb1/index.m3u8" 2> "$work/publisher.log" &
publisher_pid=$!
live_segments() { grep -c '^#EXTINF' "$work/live" 2>/dev/null || true; }
for _ in $(seq 150); do
  [ "$(get /live/deb1/index.m3u8 live)" = 200 ] && [ "$(live_segments)" -ge 3 ] && break
  sleep 0.2
done
[ "$(live_segments)" -ge 3 ] || fail "no live playlist with 3 segments: $(cat "$work/publisher.log")"
segment_file=$(find "$live_dir" -name '*.ts' | head -n 1)
ok "ffmpeg publishes /live/deb1 through Debian's nginx ($(stat -c '%U:%G %a' "$segment_file") $(basename "$segment_file"))"
/usr/bin/casterpak record start deb1 --from -4s --config /etc/casterpak/casterpak.toml > "$work/record-start"
recording=$(awk '{print $3}' "$work/record-start")
sleep 4
/usr/bin/casterpak record stop "$recording" --config /etc/casterpak/casterpak.toml > "$work/record-stop"
wait "$publisher_pid" || fail "the publisher failed: $(cat "$work/publisher.log")"
publisher_pid=""
# recording_plays WHEN: the recording's master answers and decodes without a message.
recording_plays() {
  [ "$(get "/i/recordings/$recording/master.m3u8" recording)" = 200 ] ||
    fail "$1: recording master: $(head -c 200 "$work/recording")"
  ffmpeg -nostdin -v error -i "$base/i/recordings/$recording/master.m3u8" -f null - 2> "$work/recording.decode" &&
    [ ! -s "$work/recording.decode" ] || fail "$1: decoding the recording: $(head -c 500 "$work/recording.decode")"
}
recording_plays "after stop"
ok "recording $recording ($(cat "$work/record-stop")) served and decoded silently"
for _ in $(seq 100); do grep -q '^#EXT-X-ENDLIST' "$live_dir/index.m3u8" 2>/dev/null && break; sleep 0.1; done
grep -q '^#EXT-X-ENDLIST' "$live_dir/index.m3u8" ||
  fail "the worker did not mark nginx's playlist ended: $(tail -n 5 "$work/worker.log")"
ok "the worker appended ENDLIST to the playlist nginx wrote ($(stat -c '%U:%G %a' "$live_dir/index.m3u8"))"
sleep 3 # past ended_ttl_secs
"${as_unit_user[@]}" "${sweep[@]}" > "$work/sweep3"
[ ! -e "$live_dir" ] || fail "the ended stream was not swept: $(cat "$work/sweep3"); $(ls -la "$live_dir")"
recording_plays "after the sweep"
ok "sweep as casterpak removed the ended stream nginx wrote and kept the recording: $(cat "$work/sweep3")"
alive "$worker_pid" || fail "the worker died"

# --- stop, purge, and nothing left
/usr/sbin/nginx -s quit
wait_gone "$nginx_pid" || fail "Debian's nginx did not stop"
nginx_pid=""
kill "$worker_pid"
wait_gone "$worker_pid" || fail "the worker did not stop on SIGTERM"
ok "nginx and the worker stopped"
echo "test-deb: apt-get purge casterpak"
"${apt[@]}" purge casterpak
if dpkg-query -W casterpak >/dev/null 2>&1; then fail "dpkg still knows casterpak: $(dpkg-query -W -f='${Status}' casterpak)"; fi
for path in /usr/bin/casterpak /usr/bin/mp4info /usr/bin/mp42hls /etc/casterpak /etc/nginx/sites-available/casterpak \
  /etc/nginx/sites-enabled/casterpak /var/cache/casterpak /var/lib/casterpak /run/casterpak \
  /var/log/nginx/casterpak.access.log /usr/share/doc/casterpak "$unit_dir"/casterpak.service \
  "$unit_dir"/casterpak-sweep.service "$unit_dir"/casterpak-sweep.timer; do
  if [ -e "$path" ] || [ -L "$path" ]; then fail "$path is left after purge"; fi
done
if ls /var/lib/systemd/deb-systemd-helper-*/ 2>/dev/null | grep -q casterpak; then fail "deb-systemd-helper state is left"; fi
if getent passwd casterpak >/dev/null || getent group casterpak >/dev/null; then fail "the casterpak user or group is left"; fi
if pgrep -f '^/usr/bin/casterpak' >/dev/null; then fail "a /usr/bin/casterpak process is left"; fi
if pgrep -f '^nginx: master process /usr/sbin/nginx$' >/dev/null || [ -e /run/nginx.pid ]; then fail "Debian's nginx still runs"; fi
ok "purged: no files, no user or group, no process left"
