"""Stands between the worker and a real `mp42hls --serve` (tests only).

The worker's jobs arrive on stdin (a SOCK_SEQPACKET socket, the source's
descriptor attached); each is logged as the arguments of the one-shot run it
stands for, with the file behind the descriptor, so tests count and inspect jobs
as they count one-shot runs. While the slow flag exists, a job is logged as
`started <pid> <args>` and waits that many seconds first, with a background
child in the process group that logs `straggler <pid>` after the same time.
Then the job goes on to the real tool, unchanged, and its answer comes back.
`stats` jobs are not runs and are not logged.

usage: serve_proxy.py <real mp42hls> <log> <slow flag> --serve [options]
"""
import json
import os
import socket
import subprocess
import sys
import time

real, log, slow = sys.argv[1:4]
worker = socket.socket(fileno=0)
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
tool = subprocess.Popen([real] + sys.argv[4:], stdin=theirs, stdout=subprocess.PIPE)
theirs.close()


def append(line):
    with open(log, "a") as f:
        f.write(line + "\n")


def one_shot_args(job, path):
    seconds = "%g" % job.get("segment_duration", 0)
    first = str(job.get("first_segment_number", 1))
    common = ["--first-segment-number", first, "--segment-duration", seconds]
    if job.get("cmaf"):
        common = ["--cmaf", str(job["cmaf"])] + common
    if job.get("op") == "init":
        return " ".join(["--init-segment"] + common + [path])
    if job.get("op") == "plan":
        return " ".join(["--plan"] + common + [path])
    if job.get("op") == "segment":
        template = ["--segment-filename-template", os.path.basename(job.get("output", ""))]
        return " ".join(["--segments", str(job.get("k"))] + common + template + [path])
    return None


while True:
    message, fds, _, _ = socket.recv_fds(worker, 1 << 16, 4)
    if not message and not fds:
        break
    try:
        job = json.loads(message)
    except ValueError:
        job = {}
    path = os.readlink("/proc/self/fd/%d" % fds[0]) if fds else ""
    args = one_shot_args(job, path)
    if args is not None:
        if os.path.exists(slow):
            seconds = open(slow).read().strip()
            append("started %d %s" % (os.getpid(), args))
            subprocess.Popen(
                ["sh", "-c", "sleep %s; echo 'straggler %d' >> '%s'" % (seconds, os.getpid(), log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(float(seconds))
        append(args)
    socket.send_fds(ours, [message], fds)
    for fd in fds:
        os.close(fd)
    answer = tool.stdout.readline()
    if not answer:
        sys.exit(1)
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.flush()

ours.close()
sys.exit(tool.wait())
