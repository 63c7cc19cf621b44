#!/usr/bin/env python3
"""Adds CEA-608 captions to an H.264 Annex B stream (for the test media): before each
access unit's first slice, an SEI with ATSC A/53 "GA94" cc_data, field 1, CC1. From
frame 24 on, the pairs of a pop-on caption (RCL, a preamble for row 15, "HELLO", EOC),
then null pairs, one pair per frame as broadcast streams send them, and from frame 96
(3 s on) the caption erased (EDM): a caption on screen ends only when something
replaces or erases it, and players such as hls.js emit its cue only then.

usage: cea608-sei.py IN.h264 OUT.h264
"""
import sys


def odd_parity(byte):
    """A 7-bit CEA-608 byte with its parity bit set so the ones are odd."""
    return byte | (0x80 if bin(byte).count("1") % 2 == 0 else 0)


def caption_pairs():
    """The byte pairs of the pop-on caption "HELLO", each control code sent twice."""
    control = [(0x14, 0x20), (0x14, 0x20), (0x14, 0x70), (0x14, 0x70)]
    text = [(ord("H"), ord("E")), (ord("L"), ord("L")), (ord("O"), 0x00)]
    end = [(0x14, 0x2F), (0x14, 0x2F)]
    return [(odd_parity(a), odd_parity(b)) for a, b in control + text + end]


# Frames after the caption starts at which it is erased (Erase Displayed Memory, twice).
ERASE_AT = 72
ERASE = (odd_parity(0x14), odd_parity(0x2C))


def escaped(rbsp):
    """NAL payload bytes with emulation prevention (00 00 0x -> 00 00 03 0x, x <= 3)."""
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def sei(pair):
    payload = bytes([0xB5, 0x00, 0x31]) + b"GA94" + bytes([0x03, 0xC1, 0xFF, 0xFC, pair[0], pair[1], 0xFF])
    message = bytes([4, len(payload)]) + payload
    return b"\x00\x00\x00\x01\x06" + escaped(message + b"\x80")


def nal_units(data):
    """(start code offset, NAL offset) of each NAL unit of an Annex B stream."""
    i, n = 0, len(data)
    while i + 3 <= n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            start = i - 1 if i > 0 and data[i - 1] == 0 else i
            yield start, i + 3
            i += 3
        else:
            i += 1


def main(source, target):
    data = open(source, "rb").read()
    pairs = caption_pairs()
    out, frame, last = bytearray(), 0, 0
    for start, nal in nal_units(data):
        kind = data[nal] & 0x1F
        # A slice starting a picture (first_mb_in_slice 0: the first bit of its header is 1).
        if kind in (1, 5) and data[nal + 1] & 0x80:
            out += data[last:start]
            at = frame - 24
            if 0 <= at < len(pairs):
                pair = pairs[at]
            elif at in (ERASE_AT, ERASE_AT + 1):
                pair = ERASE
            else:
                pair = (0x80, 0x80)
            out += sei(pair)
            last = start
            frame += 1
    out += data[last:]
    open(target, "wb").write(bytes(out))
    print(f"cea608-sei: {frame} frames captioned", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
