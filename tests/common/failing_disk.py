#!/usr/bin/env python3
"""A disk that fails on demand: a FUSE file system (the kernel's protocol on
/dev/fuse, mounted with mount(2), so root is needed and no libfuse) holding one
read-only file, NAME, whose bytes are those of BACKING. While the file CONTROL
exists and holds a byte offset, every read that reaches that offset or beyond
answers EIO, as a failing disk's sector would; "OFFSET short" instead makes such
a read end at OFFSET, as a file cut shorter than its size would (end of file);
without CONTROL reads succeed.
Direct I/O (no page cache), so each read the tool makes is the read it gets.

usage: failing_disk.py MOUNTPOINT NAME BACKING CONTROL
Prints "mounted" once mounted; runs until unmounted (or killed).
"""

import ctypes
import errno
import os
import struct
import sys

INIT, LOOKUP, FORGET, GETATTR, OPEN, READ = 26, 1, 2, 3, 14, 15
RELEASE, FLUSH, OPENDIR, READDIR, RELEASEDIR = 18, 25, 27, 28, 29
INTERRUPT, DESTROY, BATCH_FORGET = 36, 38, 42
NO_REPLY = (FORGET, BATCH_FORGET, INTERRUPT)
ROOT, FILE = 1, 2
FOPEN_DIRECT_IO = 1
IN_HEADER = struct.Struct("<IIQQIIIHH")


def attr(node, size, mtime):
    if node == ROOT:
        mode, nlink, size = 0o40555, 2, 0
    else:
        mode, nlink = 0o100444, 1
    # fuse_attr: ino size blocks atime mtime ctime, their nsecs, mode nlink uid gid
    # rdev blksize flags.
    return struct.pack(
        "<QQQQQQIIIIIIIIII",
        node, size, (size + 511) // 512, mtime, mtime, mtime, 0, 0, 0,
        mode, nlink, 0, 0, 0, 4096, 0,
    )


def failure(control):
    """(offset, short) from CONTROL, or None: reads succeed."""
    try:
        with open(control) as f:
            words = f.read().split()
        return int(words[0]), words[1:] == ["short"]
    except (FileNotFoundError, ValueError, IndexError):
        return None


def main():
    mountpoint, name, backing, control = sys.argv[1:5]
    name = name.encode()
    size = os.stat(backing).st_size
    mtime = int(os.stat(backing).st_mtime)
    source = os.open(backing, os.O_RDONLY)
    dev = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    options = f"fd={dev},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    MS_NOSUID, MS_NODEV, MS_RDONLY = 2, 4, 1
    if libc.mount(b"failing-disk", mountpoint.encode(), b"fuse",
                  MS_NOSUID | MS_NODEV | MS_RDONLY, options) != 0:
        sys.exit(f"mount: {os.strerror(ctypes.get_errno())}")
    print("mounted", flush=True)

    def reply(unique, error=0, body=b""):
        os.write(dev, struct.pack("<IiQ", 16 + len(body), -error, unique) + body)

    while True:
        try:
            request = os.read(dev, (1 << 20) + 8192)
        except OSError as e:
            if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                continue
            return  # ENODEV: unmounted
        _, opcode, unique, node, *_ = IN_HEADER.unpack_from(request)
        args = request[IN_HEADER.size:]
        if opcode in NO_REPLY:
            continue
        if opcode == INIT:
            major, minor, readahead, _flags = struct.unpack_from("<IIII", args)
            out = struct.pack("<IIIIHHIIHH", 7, min(minor, 31), readahead, 0,
                              1, 1, 128 << 10, 1, 32, 0)
            reply(unique, body=out + bytes(64 - len(out)))
        elif opcode == LOOKUP:
            if node == ROOT and args.rstrip(b"\0") == name:
                entry = struct.pack("<QQQQII", FILE, 0, 1, 1, 0, 0)
                reply(unique, body=entry + attr(FILE, size, mtime))
            else:
                reply(unique, errno.ENOENT)
        elif opcode == GETATTR:
            reply(unique, body=struct.pack("<QII", 1, 0, 0) + attr(node, size, mtime))
        elif opcode in (OPEN, OPENDIR):
            reply(unique, body=struct.pack("<QII", 0, FOPEN_DIRECT_IO if opcode == OPEN else 0, 0))
        elif opcode == READ:
            _fh, offset, want = struct.unpack_from("<QQI", args)
            cut = failure(control)
            if cut is None or offset + want <= cut[0]:
                reply(unique, body=os.pread(source, want, offset))
            elif cut[1]:
                reply(unique, body=os.pread(source, max(0, cut[0] - offset), offset))
            else:
                reply(unique, errno.EIO)
        elif opcode in (RELEASE, FLUSH, RELEASEDIR, READDIR):
            reply(unique)
        elif opcode == DESTROY:
            reply(unique)
            return
        else:
            reply(unique, errno.ENOSYS)


if __name__ == "__main__":
    main()
