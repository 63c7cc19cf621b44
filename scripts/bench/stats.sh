# shellcheck shell=bash disable=SC2154 # globals (work, bin, results, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: small statistics over one number per line.

# summary: reads numbers, prints "median min max count" (median of an even count: the
# mean of the middle two).
summary() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan nan nan 0"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%g %g %g %d\n", m, v[1], v[NR], NR }'
}

# percentile P: reads numbers, prints the nearest-rank P-th percentile.
percentile() {
  sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
    print v[r] }'
}

# fmt_spread DIGITS: "median min max n" -> "median (min–max)" rounded to DIGITS decimals.
fmt_spread() {
  awk -v d="$1" '{ f = "%." d "f"; printf f " (" f "–" f ")\n", $1, $2, $3 }'
}
