#!/usr/bin/env bash
# Installs what casterpak's tests and demo need on Debian, only when something is missing,
# so a rerun costs a few command lookups. Rust itself is expected on the machine.
set -euo pipefail

# command-that-proves-it-is-there : Debian package that provides it
needs=(
  nginx:nginx
  ffmpeg:ffmpeg
  ffprobe:ffmpeg
  curl:curl
  openssl:openssl
  pkill:procps
  /usr/bin/time:time
  wrk:wrk
  hyperfine:hyperfine
  jq:jq
  chromium:chromium
  node:nodejs
  npm:npm
  # njs: nginx checks casterpak's tokens with it ([token_auth]); a module, not a command.
  /usr/lib/nginx/modules/ngx_http_js_module.so:libnginx-mod-http-js
)

missing=()
for pair in "${needs[@]}"; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! { [[ $cmd == /* ]] && [ -e "$cmd" ]; }; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# With recommends: that is how chromium (fonts, codec libraries) was checked to play here.
$sudo apt-get install -y -q "${missing[@]}"
# Debian's nginx package may start a server on port 80; casterpak runs its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  $sudo systemctl stop nginx || true
fi
