#!/usr/bin/env python3
"""Times `mp42hls --serve` jobs as the worker sends them: over a SOCK_SEQPACKET
socketpair with the source's descriptor attached. Prints per-job wall time of the
round trip (send, tool works, answer line read), warm (index cached) and, with
--index-cache-entries 0, cold (parsed on every job).

usage: serve-bench.py <mp42hls> <input.mp4> [segment K] [runs]
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def bench(tool, source, k, runs, cache_entries):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    args = [tool, "--serve"]
    if cache_entries is not None:
        args += ["--index-cache-entries", str(cache_entries)]
    child = subprocess.Popen(args, stdin=theirs, stdout=subprocess.PIPE)
    theirs.close()
    answers = child.stdout
    out_dir = tempfile.mkdtemp(prefix="serve-bench-")
    fd = os.open(source, os.O_RDONLY)
    results = {}
    try:
        for op in ("plan", "segment"):
            times = []
            for i in range(runs + 3):
                job = {"id": i, "op": op, "segment_duration": 6, "first_segment_number": 1}
                output = os.path.join(out_dir, f"s{i}.ts")
                if op == "segment":
                    job.update(k=k, output=output)
                started = time.perf_counter()
                socket.send_fds(ours, [json.dumps(job).encode()], [fd])
                answer = json.loads(answers.readline())
                elapsed = time.perf_counter() - started
                if not answer.get("ok"):
                    sys.exit(f"job failed: {answer}")
                if op == "segment":
                    os.unlink(output)
                if i >= 3:  # the first jobs parse and warm up
                    times.append(elapsed * 1e3)
            results[op] = times
    finally:
        os.close(fd)
        ours.close()
        child.wait()
        os.rmdir(out_dir)
    return results


def main():
    tool, source = sys.argv[1], sys.argv[2]
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    for label, entries in (("warm", None), ("cold (--index-cache-entries 0)", 0)):
        for op, times in bench(tool, source, k, runs, entries).items():
            times.sort()
            print(f"{label:32} {op:8} mean {statistics.mean(times):.3f} ms  "
                  f"median {statistics.median(times):.3f} ms  min {times[0]:.3f} ms  "
                  f"({len(times)} jobs)")


if __name__ == "__main__":
    main()
