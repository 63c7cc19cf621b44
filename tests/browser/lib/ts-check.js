// MPEG-TS checks of HLS segments (ISO/IEC 13818-1, RFC 8216 3.2): a segment starts with PAT,
// then PMT, then a keyframe; continuity counters and PTS continue from one segment to the next.
// Pure: bytes in, findings out. Every read is bounds-checked, so hostile bytes give problems,
// never exceptions.

export const PACKET_SIZE = 188;
const PTS_MODULUS = 2 ** 33;
const CLOCK = 90000;
const NULL_PID = 0x1fff;
const ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
const STREAM_KINDS = new Map([
  [0x1b, { kind: 'video', codec: 'h264' }], [0x24, { kind: 'video', codec: 'hevc' }],
  [0x0f, { kind: 'audio', codec: 'aac' }], [0x03, { kind: 'audio', codec: 'mp3' }], [0x04, { kind: 'audio', codec: 'mp3' }],
  [0x81, { kind: 'audio', codec: 'ac3' }], [0x87, { kind: 'audio', codec: 'eac3' }],
]);

/** CRC-32/MPEG-2 over bytes, as PSI sections carry it. */
export function crc32Mpeg(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte << 24;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}

/** Splits a buffer into packet headers; problems for bad sizes and lost sync. */
export function readPackets(bytes) {
  const packets = [];
  const problems = [];
  if (bytes.length === 0) problems.push('empty segment');
  if (bytes.length % PACKET_SIZE !== 0) problems.push(`size ${bytes.length} is not a multiple of 188`);
  for (let offset = 0; offset + PACKET_SIZE <= bytes.length; offset += PACKET_SIZE) {
    const p = bytes.subarray(offset, offset + PACKET_SIZE);
    const index = offset / PACKET_SIZE;
    if (p[0] !== 0x47) {
      problems.push(`packet ${index}: sync byte 0x${p[0].toString(16)}`);
      break;
    }
    const control = (p[3] >> 4) & 3;
    const packet = {
      index, pid: ((p[1] & 0x1f) << 8) | p[2], start: (p[1] & 0x40) !== 0, cc: p[3] & 0x0f,
      hasPayload: (control & 1) !== 0, discontinuity: false, randomAccess: false,
    };
    let payloadStart = 4;
    if (control & 2) {
      const length = p[4];
      if (length > 183) {
        problems.push(`packet ${index}: adaptation field length ${length}`);
        continue;
      }
      if (length > 0) {
        packet.discontinuity = (p[5] & 0x80) !== 0;
        packet.randomAccess = (p[5] & 0x40) !== 0;
      }
      payloadStart = 5 + length;
    }
    packet.payload = packet.hasPayload ? p.subarray(payloadStart) : p.subarray(PACKET_SIZE);
    packets.push(packet);
  }
  return { packets, problems };
}

/** Parses one PSI section from a packet payload (pointer field first); undefined when invalid. */
function readSection(payload, problems, what) {
  const pointer = payload[0] ?? 255;
  const section = payload.subarray(1 + pointer);
  if (section.length < 3) { problems.push(`${what}: truncated section`); return undefined; }
  const length = ((section[1] & 0x0f) << 8) | section[2];
  if (3 + length > section.length || length < 9) { problems.push(`${what}: section length ${length} does not fit one packet`); return undefined; }
  const whole = section.subarray(0, 3 + length);
  const stored = ((whole[length - 1] << 24) | (whole[length] << 16) | (whole[length + 1] << 8) | whole[length + 2]) >>> 0;
  if (crc32Mpeg(whole.subarray(0, length - 1)) !== stored) { problems.push(`${what}: CRC mismatch`); return undefined; }
  return { tableId: whole[0], body: whole.subarray(8, 3 + length - 4) };
}

function readPts(bytes, at) {
  if (at + 5 > bytes.length) return undefined;
  return ((bytes[at] >> 1) & 0x07) * 2 ** 30 + (bytes[at + 1] << 22) + ((bytes[at + 2] >> 1) << 15)
    + (bytes[at + 3] << 7) + (bytes[at + 4] >> 1);
}

/** Header of one PES packet: { pts, dts, data } or a string explaining why not. */
function readPes(bytes) {
  if (bytes.length < 9 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 1) return 'no PES start code';
  const flags = bytes[7] >> 6;
  const headerEnd = 9 + bytes[8];
  if (headerEnd > bytes.length) return 'PES header longer than the PES';
  const pts = flags & 2 ? readPts(bytes, 9) : undefined;
  const dts = flags === 3 ? readPts(bytes, 14) : pts;
  return { pts, dts, data: bytes.subarray(headerEnd) };
}

/** NAL unit types in an Annex B byte stream. */
export function nalTypes(data, codec) {
  const types = [];
  for (let i = 0; i + 3 < data.length; i += 1) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      types.push(codec === 'hevc' ? (data[i + 3] >> 1) & 0x3f : data[i + 3] & 0x1f);
      i += 2;
    }
  }
  return types;
}

const isKeyframeNal = (codec, type) => (codec === 'hevc' ? type >= 16 && type <= 21 : type === 5);

/** ADTS frames in an AAC PES payload: { frames, sampleRate } or undefined when not ADTS. */
export function adtsFrames(data) {
  let frames = 0;
  let sampleRate;
  let at = 0;
  while (at + 7 <= data.length) {
    if (data[at] !== 0xff || (data[at + 1] & 0xf0) !== 0xf0) return undefined;
    sampleRate = ADTS_RATES[(data[at + 2] >> 2) & 0x0f];
    const length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5);
    if (length < 7 || sampleRate === undefined) return undefined;
    frames += 1 + (data[at + 6] & 0x03);
    at += length;
  }
  return at === data.length ? { frames, sampleRate } : undefined;
}

/**
 * Analyses one segment: { problems, streams: Map pid → stream, cc: Map pid → {first, last, reset},
 * firstPids }. A stream is { pid, kind, codec, pes: [{pts, dts, randomAccess, data}] }.
 */
export function analyzeSegment(bytes) {
  const { packets, problems } = readPackets(bytes);
  const streams = new Map();
  const cc = new Map();
  let pmtPid;
  const assembling = new Map(); // pid → { randomAccess, chunks }
  const finish = (pid) => {
    const open = assembling.get(pid);
    if (!open) return;
    assembling.delete(pid);
    const pes = readPes(Buffer.concat(open.chunks));
    if (typeof pes === 'string') problems.push(`PID ${pid}: ${pes}`);
    else streams.get(pid).pes.push({ ...pes, randomAccess: open.randomAccess });
  };
  for (const packet of packets) {
    if (packet.pid === NULL_PID) continue; // stuffing: its counter means nothing
    const seen = cc.get(packet.pid);
    if (!seen) {
      cc.set(packet.pid, { first: packet.cc, last: packet.cc, reset: packet.discontinuity, firstHasPayload: packet.hasPayload });
    } else {
      // A packet without payload keeps the counter; one with payload advances it by one.
      const expected = packet.hasPayload ? (seen.last + 1) % 16 : seen.last;
      if (packet.cc !== expected && !packet.discontinuity) {
        problems.push(`packet ${packet.index}: PID ${packet.pid} continuity counter ${packet.cc}, expected ${expected}`);
      }
      seen.last = packet.cc;
    }
    if (packet.pid === 0 && packet.start) {
      const pat = readSection(packet.payload, problems, 'PAT');
      if (pat && pat.tableId === 0) {
        for (let at = 0; at + 4 <= pat.body.length; at += 4) {
          const program = (pat.body[at] << 8) | pat.body[at + 1];
          if (program !== 0) pmtPid = ((pat.body[at + 2] & 0x1f) << 8) | pat.body[at + 3];
        }
      }
    } else if (packet.pid === pmtPid && packet.start) {
      const pmt = readSection(packet.payload, problems, 'PMT');
      if (pmt && pmt.tableId === 2 && pmt.body.length >= 4) {
        const infoLength = ((pmt.body[2] & 0x0f) << 8) | pmt.body[3];
        for (let at = 4 + infoLength; at + 5 <= pmt.body.length;) {
          const type = pmt.body[at];
          const pid = ((pmt.body[at + 1] & 0x1f) << 8) | pmt.body[at + 2];
          const esInfo = ((pmt.body[at + 3] & 0x0f) << 8) | pmt.body[at + 4];
          const known = STREAM_KINDS.get(type) ?? { kind: 'other', codec: `stream type 0x${type.toString(16)}` };
          if (!streams.has(pid)) streams.set(pid, { pid, ...known, pes: [] });
          at += 5 + esInfo;
        }
      }
    } else if (streams.has(packet.pid) && packet.hasPayload) {
      if (packet.start) {
        finish(packet.pid);
        assembling.set(packet.pid, { randomAccess: packet.randomAccess, chunks: [] });
      }
      const open = assembling.get(packet.pid);
      if (open) open.chunks.push(packet.payload);
      else problems.push(`packet ${packet.index}: PID ${packet.pid} payload before any PES start`);
    }
  }
  for (const pid of [...assembling.keys()]) finish(pid);
  return { problems, streams, cc, pmtPid, firstPids: packets.slice(0, 3).map((p) => p.pid) };
}

/**
 * RFC 8216 3.2 and the casterpak contract: PAT, then PMT, then a keyframe (or audio for
 * audio-only). `leadingPids` may name PIDs allowed before the PAT (ffmpeg writes a DVB SDT, 17, first).
 */
export function checkSegmentStart(analysis, { leadingPids = [] } = {}) {
  const problems = [];
  const [first, second] = analysis.firstPids.filter((pid, index) => index > 0 || !leadingPids.includes(pid));
  if (first !== 0) problems.push(`first packet is PID ${first}, not the PAT`);
  if (analysis.pmtPid === undefined) problems.push('no PAT naming a PMT');
  else if (second !== analysis.pmtPid) problems.push(`second packet is PID ${second}, not the PMT (PID ${analysis.pmtPid})`);
  const all = [...analysis.streams.values()];
  const video = all.find((s) => s.kind === 'video');
  const audio = all.find((s) => s.kind === 'audio');
  if (!video && !audio) problems.push('no audio or video stream in the PMT');
  if (video) {
    const firstPes = video.pes[0];
    if (!firstPes) {
      problems.push('video stream without PES');
    } else {
      const types = nalTypes(firstPes.data, video.codec);
      if (!types.some((type) => isKeyframeNal(video.codec, type))) {
        problems.push(`first video PES is not a keyframe (NAL types ${types.join(',')}, random_access_indicator ${firstPes.randomAccess})`);
      }
    }
  } else if (audio && !audio.pes[0]) {
    problems.push('audio-only segment without audio PES');
  }
  return problems;
}

/** Signed distance from one 33-bit PTS to another, in 90 kHz ticks. */
export const ticksBetween = (from, to) => {
  const forward = (((to - from) % PTS_MODULUS) + PTS_MODULUS) % PTS_MODULUS;
  return forward > PTS_MODULUS / 2 ? forward - PTS_MODULUS : forward;
};

/** Presentation span of a stream: { start, end, frame } in 90 kHz ticks (end exclusive). */
export function streamSpan(stream) {
  const timed = stream.pes.filter((p) => p.pts !== undefined);
  if (timed.length === 0) return undefined;
  const base = timed[0].pts;
  const offsets = timed.map((p) => ticksBetween(base, p.pts)).sort((a, b) => a - b);
  let frame;
  if (stream.codec === 'aac') {
    const durations = timed.map((p) => adtsFrames(p.data)).filter(Boolean);
    frame = durations.length > 0 ? (1024 * CLOCK) / durations[0].sampleRate : undefined;
    const last = timed.at(-1);
    const lastFrames = adtsFrames(last.data);
    if (frame !== undefined && lastFrames) {
      const end = ticksBetween(base, last.pts) + lastFrames.frames * frame;
      return { start: base + offsets[0], end: base + end, frame };
    }
  }
  for (let i = 1; i < offsets.length; i += 1) {
    const delta = offsets[i] - offsets[i - 1];
    if (delta > 0 && (frame === undefined || delta < frame)) frame = delta;
  }
  if (frame === undefined) return undefined;
  return { start: base + offsets[0], end: base + offsets.at(-1) + frame, frame };
}

/**
 * Continuity from segment `previous` to segment `next` (both analyzeSegment results):
 * counters go on by one per PID (or the next segment flags a discontinuity), and each
 * stream's first PTS follows the previous segment's end within one frame duration.
 */
export function checkContinuity(previous, next) {
  const problems = [];
  for (const [pid, after] of next.cc) {
    const before = previous.cc.get(pid);
    if (!before || after.reset) continue;
    const expected = after.firstHasPayload ? (before.last + 1) % 16 : before.last;
    if (after.first !== expected) {
      problems.push(`PID ${pid}: continuity counter ${after.first} after ${before.last} without discontinuity_indicator`);
    }
  }
  for (const [pid, stream] of next.streams) {
    const earlier = previous.streams.get(pid);
    if (!earlier || stream.kind === 'other') continue;
    const before = streamSpan(earlier);
    const after = streamSpan(stream);
    if (!before || !after) continue;
    const gap = ticksBetween(before.end, after.start);
    if (Math.abs(gap) >= before.frame) {
      problems.push(`PID ${pid} (${stream.kind}): PTS ${after.start} starts ${(gap / CLOCK).toFixed(4)} s from the previous segment's end ${before.end} (frame ${(before.frame / CLOCK).toFixed(4)} s)`);
    }
  }
  return problems;
}

/** Duration (and 90 kHz span) of a segment as players see it: the video span, or the audio span without video. */
export function segmentDuration(analysis) {
  const all = [...analysis.streams.values()];
  const main = all.find((s) => s.kind === 'video') ?? all.find((s) => s.kind === 'audio');
  const span = main && streamSpan(main);
  return span && { seconds: (span.end - span.start) / CLOCK, frameSeconds: span.frame / CLOCK, start: span.start, end: span.end };
}

/**
 * EXTINF against the media, segment by segment: `segments` is [{ extinf, measured }] with
 * `measured` from segmentDuration. Open-GOP streams (HEVC CRA) put leading pictures of the next
 * keyframe into the next segment, so a segment's frames may span up to two frames less than
 * keyframe to keyframe; the running sum against the media's end catches EXTINFs that drift
 * (rounded ones, say) over a title.
 */
export function checkDurations(segments) {
  const problems = [];
  let listed = 0;
  let firstStart;
  for (const [index, { extinf, measured }] of segments.entries()) {
    if (!measured) {
      problems.push(`segment ${index + 1}: no timed frames`);
      continue;
    }
    const slack = 2 * measured.frameSeconds + 0.001;
    listed += extinf;
    firstStart ??= measured.start;
    const played = ticksBetween(firstStart, measured.end) / CLOCK;
    if (Math.abs(measured.seconds - extinf) > slack) {
      problems.push(`segment ${index + 1}: EXTINF ${extinf} but the media lasts ${measured.seconds.toFixed(4)} s`);
    }
    if (Math.abs(played - listed) > slack) {
      problems.push(`segment ${index + 1}: EXTINFs add up to ${listed.toFixed(4)} s but the media to ${played.toFixed(4)} s`);
    }
  }
  return problems;
}

const hex2 = (value) => value.toString(16).toUpperCase().padStart(2, '0');

/**
 * The RFC 6381 codec strings a segment's own bytes imply: avc1.PPCCLL from the first SPS
 * (profile, constraint flags, level), mp4a.40.<object type> from the first ADTS header, and
 * just the sample entry family ("hvc1|hev1") for HEVC, whose string needs far more of the SPS.
 */
export function codecsOfSegment(analysis) {
  const codecs = [];
  for (const stream of analysis.streams.values()) {
    const data = stream.pes[0]?.data;
    if (!data) continue;
    if (stream.codec === 'h264') {
      for (let i = 0; i + 6 < data.length; i += 1) {
        if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1 && (data[i + 3] & 0x1f) === 7) {
          codecs.push(`avc1.${hex2(data[i + 4])}${hex2(data[i + 5])}${hex2(data[i + 6])}`);
          break;
        }
      }
    } else if (stream.codec === 'hevc') {
      codecs.push('hvc1|hev1');
    } else if (stream.codec === 'aac' && adtsFrames(data)) {
      codecs.push(`mp4a.40.${(data[2] >> 6) + 1}`);
    }
  }
  return codecs;
}

/** Problems with a variant's CODECS list against the codecs found in its first segment. */
export function checkCodecs(listed, found) {
  const entries = listed.split(',').map((c) => c.trim().toUpperCase());
  const problems = [];
  for (const codec of found) {
    const ok = codec === 'hvc1|hev1'
      ? entries.some((e) => e.startsWith('HVC1.') || e.startsWith('HEV1.'))
      : entries.includes(codec.toUpperCase());
    if (!ok) problems.push(`the media is ${codec}, CODECS says "${listed}"`);
  }
  if (entries.length !== found.length) problems.push(`CODECS "${listed}" lists ${entries.length} codecs, the media has ${found.length}`);
  return problems;
}
