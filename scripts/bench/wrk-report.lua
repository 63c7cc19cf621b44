-- wrk script: at the end prints one machine-readable line for scripts/bench.sh:
--   wrk-report <requests> <bytes> <duration_us> <non2xx> <socket_errors>
-- (wrk's own summary rounds and scales its figures; these are the raw counts.)
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-report %d %d %d %d %d\n", summary.requests, summary.bytes,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
end
