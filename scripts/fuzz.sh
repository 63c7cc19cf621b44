#!/usr/bin/env bash
# Fuzzes the MP4 demuxer: builds each cargo-fuzz target of bento4/fuzz and runs it
# for SECONDS (default 20). Seeds come from the test media (their first 64 KiB:
# the index of a fast-start file, or a fragmented file's first fragments).
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
media="${CASTERPAK_TEST_MEDIA:-$root/tests/media}"
fuzz_dir="$root/bento4/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# Only the stable toolchain is installed; cargo-fuzz needs -Z flags (sanitizer,
# coverage), which RUSTC_BOOTSTRAP unlocks on stable.
export RUSTC_BOOTSTRAP=1

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
    cargo fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=131072 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
echo "fuzz: no crashes (artifacts, if any, are in $fuzz_dir/artifacts)"
