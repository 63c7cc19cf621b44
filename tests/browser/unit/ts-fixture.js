// A tiny MPEG-TS writer for the checker's unit tests: just enough PAT, PMT and PES to build
// good segments and then break them on purpose, one defect at a time.
import { crc32Mpeg, PACKET_SIZE } from '../lib/ts-check.js';

export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x100;
export const AUDIO_PID = 0x101;
const FRAME = 3750; // one frame at 24 fps in 90 kHz ticks

/** One packet carrying the start of `payload`; returns { bytes, carried }. */
function packet(pid, { start = false, cc = 0, payload = Buffer.alloc(0), randomAccess = false, discontinuity = false }) {
  const out = Buffer.alloc(PACKET_SIZE, 0xff);
  out[0] = 0x47;
  out[1] = (start ? 0x40 : 0) | (pid >> 8);
  out[2] = pid & 0xff;
  const flagged = randomAccess || discontinuity;
  if (!flagged && payload.length >= PACKET_SIZE - 4) {
    out[3] = 0x10 | cc;
    payload.copy(out, 4, 0, PACKET_SIZE - 4);
    return { bytes: out, carried: PACKET_SIZE - 4 };
  }
  // An adaptation field carries the flags and stuffs the rest of the packet.
  const carried = Math.min(payload.length, flagged ? PACKET_SIZE - 6 : PACKET_SIZE - 5);
  const fieldLength = PACKET_SIZE - 5 - carried;
  out[3] = 0x30 | cc;
  out[4] = fieldLength;
  if (fieldLength > 0) out[5] = (discontinuity ? 0x80 : 0) | (randomAccess ? 0x40 : 0);
  payload.copy(out, 5 + fieldLength, 0, carried);
  return { bytes: out, carried };
}

function section(tableId, body) {
  const header = Buffer.from([tableId, 0xb0, 0, 0, 1, 0xc1, 0, 0]);
  const withoutCrc = Buffer.concat([header, body]);
  withoutCrc.writeUInt16BE(0xb000 | (withoutCrc.length - 3 + 4), 1);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32Mpeg(withoutCrc));
  return Buffer.concat([Buffer.from([0]), withoutCrc, crc]);
}

export const pat = (cc = 0) => packet(0, { start: true, cc, payload: section(0, Buffer.from([0, 1, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff])) }).bytes;

export function pmt({ video = true, audio = true, cc = 0 } = {}) {
  const entries = [];
  if (video) entries.push(Buffer.from([0x1b, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0]));
  if (audio) entries.push(Buffer.from([0x0f, 0xe0 | (AUDIO_PID >> 8), AUDIO_PID & 0xff, 0xf0, 0]));
  const body = Buffer.concat([Buffer.from([0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0]), ...entries]);
  return packet(PMT_PID, { start: true, cc, payload: section(2, body) }).bytes;
}

function ptsBytes(marker, pts) {
  return Buffer.from([
    (marker << 4) | (Math.floor(pts / 2 ** 30) << 1) | 1, (pts >> 22) & 0xff, (((pts >> 15) & 0x7f) << 1) | 1,
    (pts >> 7) & 0xff, ((pts & 0x7f) << 1) | 1,
  ]);
}

/** One PES split into packets; returns { packets, cc } with the next counter. */
export function pes(pid, { pts, data, cc = 0, randomAccess = false, discontinuity = false }) {
  const header = Buffer.concat([Buffer.from([0, 0, 1, pid === VIDEO_PID ? 0xe0 : 0xc0, 0, 0, 0x80, 0x80, 5]), ptsBytes(2, pts)]);
  let rest = Buffer.concat([header, data]);
  const packets = [];
  let counter = cc;
  let first = true;
  while (rest.length > 0) {
    const { bytes, carried } = packet(pid, {
      start: first, cc: counter, payload: rest, randomAccess: first && randomAccess, discontinuity: first && discontinuity,
    });
    rest = rest.subarray(carried);
    packets.push(bytes);
    counter = (counter + 1) % 16;
    first = false;
  }
  return { packets, cc: counter };
}

const IDR_ACCESS_UNIT = Buffer.from([0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xee, 0, 0, 1, 0x65, 0x88, 0x84]);
const P_ACCESS_UNIT = Buffer.from([0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x41, 0x9a, 0x22]);
/** Two AAC frames (48 kHz, 1024 samples each) in ADTS, 9 bytes each. */
const ADTS_PAIR = Buffer.from([0xff, 0xf1, 0x4c, 0x80, 0x01, 0x3f, 0xfc, 0x21, 0x00, 0xff, 0xf1, 0x4c, 0x80, 0x01, 0x3f, 0xfc, 0x21, 0x00]);
export const AUDIO_PES_TICKS = 2 * 1920; // two frames of 1024 samples at 48 kHz

/**
 * A segment of `frames` video frames from `startPts` (IDR first unless told otherwise) and the
 * audio beside it. Counters start at `cc` (a map pid → counter) and the map is updated.
 */
export function segment({ startPts = 0, frames = 4, cc = {}, keyframeFirst = true, audio = true, video = true, discontinuity = false } = {}) {
  const counters = { 0: 0, [PMT_PID]: 0, [VIDEO_PID]: 0, [AUDIO_PID]: 0, ...cc };
  const out = [pat(counters[0]), pmt({ video, audio, cc: counters[PMT_PID] })];
  counters[0] = (counters[0] + 1) % 16;
  counters[PMT_PID] = (counters[PMT_PID] + 1) % 16;
  if (video) {
    for (let i = 0; i < frames; i += 1) {
      const isKey = i === 0 && keyframeFirst;
      const made = pes(VIDEO_PID, {
        pts: startPts + i * FRAME, data: isKey ? IDR_ACCESS_UNIT : P_ACCESS_UNIT, cc: counters[VIDEO_PID],
        randomAccess: isKey, discontinuity: discontinuity && i === 0,
      });
      out.push(...made.packets);
      counters[VIDEO_PID] = made.cc;
    }
  }
  if (audio) {
    const end = startPts + frames * FRAME;
    for (let pts = startPts; pts < end; pts += AUDIO_PES_TICKS) {
      const made = pes(AUDIO_PID, { pts, data: ADTS_PAIR, cc: counters[AUDIO_PID] });
      out.push(...made.packets);
      counters[AUDIO_PID] = made.cc;
    }
  }
  Object.assign(cc, counters);
  return Buffer.concat(out);
}

export const VIDEO_FRAME_TICKS = FRAME;
