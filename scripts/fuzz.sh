#!/usr/bin/env bash
# Fuzzes the parsers that take hostile input: the MP4 box reader and demuxer
# (bento4/fuzz: boxes, demux) and the worker's URL and SCGI request parsers (fuzz/:
# url, scgi). Builds each cargo-fuzz target and runs it for SECONDS (default 20).
# MP4 seeds come from the test media (their first 64 KiB: the index of a fast-start
# file, or a fragmented file's first fragments); URL and SCGI seeds are written here.
# Usage: scripts/fuzz.sh [SECONDS]    or    scripts/fuzz.sh --build-only (build the
# targets and stop: scripts/test.sh builds them while the browser stage runs).
# FUZZ_SANITIZER (default none): libFuzzer's coverage guidance runs either way, and the
# fuzzed code is safe Rust whose failures are panics (bounds, overflow, unwrap), which
# need no sanitizer. `FUZZ_SANITIZER=address` adds AddressSanitizer for a deep run (it
# instruments every dependency too, and more than doubles the build).
# FUZZ_RELEASE=1 builds optimized (cargo-fuzz's default, one codegen unit): many more
# runs per second, for a deep run. By default the smoke run builds unoptimized
# (`--dev`): the worker's fuzz build took 228 s that way against 491 s optimized here,
# and a 10-second smoke run is mostly build.
set -euo pipefail

build_only=""
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
seconds="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
media="${CASTERPAK_TEST_MEDIA:-$root/tests/media}"
fuzz_dir="$root/bento4/fuzz"
sanitizer="${FUZZ_SANITIZER:-none}"
build=(--sanitizer "$sanitizer")
[ "${FUZZ_RELEASE:-}" = 1 ] || build+=(--dev)
# One target dir for both fuzz workspaces: libFuzzer itself (C++) and the shared crates
# are built once.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/target/fuzz}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# Only the stable toolchain is installed; cargo-fuzz needs -Z flags (sanitizer,
# coverage), which RUSTC_BOOTSTRAP unlocks on stable.
export RUSTC_BOOTSTRAP=1

if [ -n "$build_only" ]; then
    for dir in "$fuzz_dir" "$root/fuzz"; do (cd "$dir" && cargo fuzz build "${build[@]}"); done
    echo "fuzz: targets built"
    exit 0
fi

cd "$fuzz_dir"
for target in boxes demux; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    for seed in a_720p_60s_faststart.mp4 fragmented.mp4 audio_only.mp4; do
        if [ -f "$media/$seed" ]; then
            head -c 65536 "$media/$seed" > "$corpus/seed-$seed"
        fi
    done
    echo "== fuzzing $target for ${seconds}s"
    cargo fuzz run "${build[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=131072 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done

cd "$root/fuzz"
mkdir -p corpus/url corpus/scgi
printf '/i/dir/my_video_,low,medium,high,.mp4.csmil/segment3_1_av.ts?x=1' > corpus/url/seed-csmil
printf '/i/a%%20b/%%C3%%A9t%%C3%%A9.mp4/index_0_av.m3u8' > corpus/url/seed-encoded
headers=$(printf '%s\0' CONTENT_LENGTH 0 SCGI 1 REQUEST_URI /i/a.mp4/master.m3u8 REQUEST_ID ab | wc -c)
{ printf '%s:' "$headers"; printf '%s\0' CONTENT_LENGTH 0 SCGI 1 REQUEST_URI /i/a.mp4/master.m3u8 REQUEST_ID ab; printf ','; } > corpus/scgi/seed-request
for target in url scgi; do
    echo "== fuzzing $target for ${seconds}s"
    cargo fuzz run "${build[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
echo "fuzz: no crashes (sanitizer: $sanitizer; artifacts, if any, are in $fuzz_dir/artifacts and $root/fuzz/artifacts)"
