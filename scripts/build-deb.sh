#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (installed from crates.io first when missing):
# the release binaries, the systemd units, the default config and the nginx site, as
# [package.metadata.deb] in Cargo.toml lists them. Prints the .deb's path last.
# usage: scripts/build-deb.sh      then: sudo apt-get install ./target/debian/casterpak_*.deb
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: installing cargo-deb (cargo install cargo-deb --locked)"
  cargo install cargo-deb --locked
fi
# dpkg-shlibdeps computes Depends from the binaries' libraries ($auto); it is in dpkg-dev.
if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpkg-dev
fi
# cargo-deb builds the workspace (mp4info and mp42hls are the bento4 crate's) in release mode.
cargo deb -p casterpak --quiet
target=${CARGO_TARGET_DIR:-$repo/target}
deb=$(ls -t "$target"/debian/casterpak_*.deb | head -n 1)
echo "$deb"
