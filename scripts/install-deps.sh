#!/usr/bin/env bash
# Installs what casterpak's tests and demo need on Debian, only when something is missing,
# so a rerun costs a few command lookups. Rust itself is expected on the machine.
# usage: scripts/install-deps.sh           what the demo origin needs (start-origin.sh)
#        scripts/install-deps.sh --tests   that, plus the test-only tools (scripts/test.sh)
set -euo pipefail
tests=0
[ "${1:-}" = --tests ] && tests=1

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
  # the media script's caption injector and a few test helpers
  python3:python3
  chromium:chromium
  node:nodejs
  npm:npm
  # nginx's Lua module (it pulls in the development kit and LuaJIT): nginx checks
  # casterpak's tokens with it ([token_auth]); a module, not a command.
  /usr/lib/nginx/modules/ngx_http_lua_module.so:libnginx-mod-http-lua
  # the Lua file run outside nginx, against src/token.rs (luajit2: the build nginx's module
  # uses; Debian's plain luajit package would replace it and remove the module)
  luajit:luajit2
)


# The S3 server tests/e2e/remote_s3.rs starts on loopback: a test tool from crates.io,
# never part of the release build, so the demo's first run does not wait for it.
# 0.14.1 is the newest that builds with Rust 1.95 (0.17 needs 1.96); `cargo install`
# took 1,247 s on 2 cores shared with other builds.
install_test_tools() {
  [ "$tests" = 1 ] || return 0
  if ! command -v s3s-fs >/dev/null 2>&1 && ! [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]; then
    echo "install-deps: installing s3s-fs (cargo install, several minutes)"
    cargo install s3s-fs@0.14.1 --locked --features binary
  fi
}

missing=()
for pair in "${needs[@]}"; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! { [[ $cmd == /* ]] && [ -e "$cmd" ]; }; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  install_test_tools
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
install_test_tools
