# shellcheck shell=bash disable=SC2154 # globals (work, bin, results, ...) come from scripts/bench.sh
# Sourced by scripts/bench.sh: a protected cache hit (a valid hdnts token, checked by nginx
# with its Lua module) against the same hit unprotected (the jit stack: the same config
# otherwise), for the playlist (check + the filter that hands the token on in the query;
# check only when the token goes on by cookie or as an HLS variable, "define") and the
# ~1 MiB segment (check only).
# Needs measure_hits first (it picks the paths and warms the jit stack).

measure_token_hits() {
  local playlist segment token rounds s key
  key=$(openssl rand -hex 32)
  for s in token:query tokcookie:cookie tokdefine:define; do
    STACK_EXTRA_TOML="
[token_auth]
key = \"$key\"
protect = [\"/i/\"]
propagation = \"${s#*:}\"
script = \"$repo/nginx/casterpak-token.lua\"" stack_start "${s%:*}" jit || fail "the ${s%:*} stack did not start"
    place "${s%:*}" "$small" hot
  done
  place token "$big" hot
  playlist=$(awk '$1 == "playlist" { print $3 }' "$work/hit-paths")
  segment=$(awk '$1 == "segment" { print $3 }' "$work/hit-paths")
  token=$("$bin/casterpak" token --config "$work/token/casterpak.toml" --acl '/i/*' --window 86400)
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$(url token "$segment")")
  [ "$code" = 403 ] || fail "token stack: $segment without a token answered $code, not 403"
  expect_200 token "$playlist?hdnts=$token" > /dev/null
  expect_200 token "$segment?hdnts=$token" > /dev/null
  expect_200 tokcookie "$playlist?hdnts=$token" > /dev/null
  expect_200 tokdefine "$playlist?hdnts=$token" > /dev/null
  curl -s "$(url tokdefine "$playlist?hdnts=$token")" | grep -q 'EXT-X-DEFINE:QUERYPARAM' ||
    fail "tokdefine stack: $playlist declares no token variable"
  rounds=$([ "$quick" = 1 ] && echo 2 || echo 5)
  echo "bench: protected vs unprotected cache hits, $rounds x ${wrk_secs} s per column" >&2
  for s in pl.jit pl.token pl.cookie pl.define seg.jit seg.token; do : > "$work/tok.$s"; done
  for _ in $(seq "$rounds"); do
    wrk_run jit "$playlist" "$work/jit/nginx/nginx.pid" >> "$work/tok.pl.jit"
    wrk_run token "$playlist?hdnts=$token" "$work/token/nginx/nginx.pid" >> "$work/tok.pl.token"
    wrk_run tokcookie "$playlist" "$work/tokcookie/nginx/nginx.pid" "Cookie: hdnts=$token" >> "$work/tok.pl.cookie"
    wrk_run tokdefine "$playlist?hdnts=$token" "$work/tokdefine/nginx/nginx.pid" >> "$work/tok.pl.define"
    wrk_run jit "$segment" "$work/jit/nginx/nginx.pid" >> "$work/tok.seg.jit"
    wrk_run token "$segment?hdnts=$token" "$work/token/nginx/nginx.pid" >> "$work/tok.seg.token"
  done
  for s in pl.jit pl.token pl.cookie pl.define seg.jit seg.token; do
    cut -d' ' -f1 "$work/tok.$s" | record "tok.$s.rps"
    cut -d' ' -f3 "$work/tok.$s" | record "tok.$s.nginx_us"
  done
}

print_token_report() {
  load_results
  local pl_rps seg_rps pl_cpu seg_cpu ck_rps ck_cpu df_rps df_cpu
  pl_rps=$(calc "$(m tok.pl.token.rps) / $(m tok.pl.jit.rps)")
  ck_rps=$(calc "$(m tok.pl.cookie.rps) / $(m tok.pl.jit.rps)")
  df_rps=$(calc "$(m tok.pl.define.rps) / $(m tok.pl.jit.rps)")
  seg_rps=$(calc "$(m tok.seg.token.rps) / $(m tok.seg.jit.rps)")
  pl_cpu=$(calc "$(m tok.pl.token.nginx_us) / $(m tok.pl.jit.nginx_us)")
  ck_cpu=$(calc "$(m tok.pl.cookie.nginx_us) / $(m tok.pl.jit.nginx_us)")
  df_cpu=$(calc "$(m tok.pl.define.nginx_us) / $(m tok.pl.jit.nginx_us)")
  seg_cpu=$(calc "$(m tok.seg.token.nginx_us) / $(m tok.seg.jit.nginx_us)")
  echo
  echo "### Token authorization (issue 13): protected cache hit vs unprotected"
  echo
  echo "| what | protected (Lua check) | unprotected | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| playlist hit, token by cookie (check only), req/s | $(f tok.pl.cookie.rps 0) | $(f tok.pl.jit.rps 0) | $ck_rps | ≥ 0.9: $(verdict "$ck_rps >= 0.9") |"
  echo "| playlist hit, token by cookie, nginx CPU µs/request | $(f tok.pl.cookie.nginx_us 1) | $(f tok.pl.jit.nginx_us 1) | $ck_cpu | ≤ 1.1: $(verdict "$ck_cpu <= 1.1") |"
  echo "| playlist hit, token in the query (check + token added to each URI), req/s | $(f tok.pl.token.rps 0) | $(f tok.pl.jit.rps 0) | $pl_rps | ≥ 0.9: $(verdict "$pl_rps >= 0.9") |"
  echo "| playlist hit, token in the query, nginx CPU µs/request | $(f tok.pl.token.nginx_us 1) | $(f tok.pl.jit.nginx_us 1) | $pl_cpu | ≤ 1.1: $(verdict "$pl_cpu <= 1.1") |"
  echo "| playlist hit, token as an HLS variable (define: check only, the file as it is), req/s | $(f tok.pl.define.rps 0) | $(f tok.pl.jit.rps 0) | $df_rps | ≥ 0.9: $(verdict "$df_rps >= 0.9") |"
  echo "| playlist hit, token as an HLS variable, nginx CPU µs/request | $(f tok.pl.define.nginx_us 1) | $(f tok.pl.jit.nginx_us 1) | $df_cpu | ≤ 1.1: $(verdict "$df_cpu <= 1.1") |"
  echo "| segment hit (check only), req/s | $(f tok.seg.token.rps 0) | $(f tok.seg.jit.rps 0) | $seg_rps | ≥ 0.9: $(verdict "$seg_rps >= 0.9") |"
  echo "| segment hit, nginx CPU µs/request | $(f tok.seg.token.nginx_us 1) | $(f tok.seg.jit.nginx_us 1) | $seg_cpu | ≤ 1.1: $(verdict "$seg_cpu <= 1.1") |"
}
