// Tests of the MPEG-TS segment checker on segments built by ts-fixture.js: good ones pass,
// and each deliberately broken one (non-keyframe start, CC jump, PTS gap, …) is caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyzeSegment, checkSegmentStart, checkContinuity, segmentDuration, checkDurations, codecsOfSegment, checkCodecs,
  adtsFrames, nalTypes, readPackets, crc32Mpeg,
} from '../lib/ts-check.js';
import { segment, pat, VIDEO_PID, AUDIO_PID, VIDEO_FRAME_TICKS } from './ts-fixture.js';

const FRAMES = 4;
// The fixture's short PAT section sits at the end of its packet, after adaptation-field stuffing.
const PAT_SECTION_BYTE = 188 - 8;
const SPAN = FRAMES * VIDEO_FRAME_TICKS;
const problemsOfPair = (first, second) => {
  const a = analyzeSegment(first);
  const b = analyzeSegment(second);
  return [...a.problems, ...b.problems, ...checkSegmentStart(a), ...checkSegmentStart(b), ...checkContinuity(a, b)];
};
const expectProblem = (problems, pattern) => assert.ok(problems.some((p) => pattern.test(p)), `expected ${pattern} in ${JSON.stringify(problems)}`);

test('CRC-32/MPEG-2 check value', () => {
  assert.equal(crc32Mpeg(Buffer.from('123456789')), 0x0376e6e7);
});

test('two consecutive good segments pass every check', () => {
  const cc = {};
  const first = segment({ cc });
  const second = segment({ cc, startPts: SPAN });
  assert.deepEqual(problemsOfPair(first, second), []);
  const analysis = analyzeSegment(first);
  assert.deepEqual([...analysis.streams.keys()].sort(), [VIDEO_PID, AUDIO_PID].sort());
  assert.equal(analysis.streams.get(VIDEO_PID).pes.length, FRAMES);
  assert.deepEqual(segmentDuration(analysis), { seconds: SPAN / 90000, frameSeconds: VIDEO_FRAME_TICKS / 90000, start: 0, end: SPAN });
});

test('audio-only segments pass and take their duration from ADTS frames', () => {
  const cc = {};
  const first = segment({ cc, video: false });
  const second = segment({ cc, video: false, startPts: 4 * 3840 });
  assert.deepEqual(problemsOfPair(first, second), []);
  assert.equal(segmentDuration(analyzeSegment(first)).seconds, (4 * 3840) / 90000);
});

const BROKEN = [
  ['a segment starting with a non-keyframe', () => {
    const cc = {};
    return [segment({ cc }), segment({ cc, startPts: SPAN, keyframeFirst: false })];
  }, /first video PES is not a keyframe \(NAL types 9,1/],
  ['a continuity counter jump across segments', () => {
    const cc = {};
    const first = segment({ cc });
    cc[VIDEO_PID] = (cc[VIDEO_PID] + 3) % 16;
    return [first, segment({ cc, startPts: SPAN })];
  }, new RegExp(`PID ${VIDEO_PID}: continuity counter .* without discontinuity_indicator`)],
  ['counters restarting at 0 in every segment', () => [segment({ cc: {} }), segment({ cc: {}, startPts: SPAN })],
    /continuity counter 0 after/],
  ['a PTS gap of one frame', () => {
    const cc = {};
    return [segment({ cc }), segment({ cc, startPts: SPAN + VIDEO_FRAME_TICKS })];
  }, /\(video\): PTS .* starts 0\.0417 s from the previous segment's end/],
  ['overlapping PTS (segment repeats the last frame)', () => {
    const cc = {};
    return [segment({ cc }), segment({ cc, startPts: SPAN - VIDEO_FRAME_TICKS })];
  }, /\(video\): PTS .* starts -0\.0417 s/],
  ['an audio PTS gap', () => {
    const cc = {};
    return [segment({ cc, video: false }), segment({ cc, video: false, startPts: 4 * 3840 + 3840 })];
  }, /\(audio\): PTS/],
  ['a segment not starting with the PAT', () => {
    const good = segment({ cc: {} });
    return [good, Buffer.concat([good.subarray(188, 376), good.subarray(0, 188), good.subarray(376)])];
  }, /first packet is PID 4096, not the PAT/],
  ['a truncated last packet', () => {
    const good = segment({ cc: {} });
    return [good, good.subarray(0, good.length - 100)];
  }, /is not a multiple of 188/],
  ['lost sync', () => {
    const bad = Buffer.from(segment({ cc: {} }));
    bad[188 * 3] = 0x00;
    return [segment({ cc: {} }), bad];
  }, /packet 3: sync byte 0x0/],
  ['a corrupt PAT (CRC)', () => {
    const bad = Buffer.from(segment({ cc: {} }));
    bad[PAT_SECTION_BYTE] ^= 0xff;
    return [segment({ cc: {} }), bad];
  }, /PAT: CRC mismatch/],
  ['a counter jump inside one segment', () => {
    const bad = Buffer.from(segment({ cc: {} }));
    bad[188 * 3 + 3] = (bad[188 * 3 + 3] & 0xf0) | ((bad[188 * 3 + 3] + 5) & 0x0f);
    return [segment({ cc: {} }), bad];
  }, /packet 3: PID 256 continuity counter/],
];

for (const [name, make, pattern] of BROKEN) {
  test(`catches: ${name}`, () => {
    const [first, second] = make();
    expectProblem(problemsOfPair(first, second), pattern);
  });
}

test('a discontinuity_indicator excuses a counter jump', () => {
  const cc = {};
  const first = segment({ cc });
  cc[VIDEO_PID] = (cc[VIDEO_PID] + 7) % 16;
  const second = segment({ cc, startPts: SPAN, discontinuity: true });
  const problems = checkContinuity(analyzeSegment(first), analyzeSegment(second));
  assert.ok(!problems.some((p) => p.startsWith(`PID ${VIDEO_PID}: continuity`)), JSON.stringify(problems));
});

test('a leading SDT is allowed only when asked for', () => {
  const good = segment({ cc: {} });
  const sdt = Buffer.from(pat());
  sdt[2] = 0x11; // the same bytes on PID 17: only its position matters here
  const withSdt = analyzeSegment(Buffer.concat([sdt, good]));
  expectProblem(checkSegmentStart(withSdt), /first packet is PID 17/);
  assert.deepEqual(checkSegmentStart(withSdt, { leadingPids: [17] }), []);
});

test('hostile bytes give problems, never exceptions', () => {
  const inputs = [Buffer.alloc(0), Buffer.alloc(188, 0x47), Buffer.alloc(376, 0xff), Buffer.from([0x47, 0x40, 0, 0x3f, 0xff])];
  for (const input of inputs) {
    const analysis = analyzeSegment(input);
    assert.ok(analysis.problems.length + checkSegmentStart(analysis).length > 0);
  }
});

test('ADTS frame counting and NAL type scanning', () => {
  assert.equal(adtsFrames(Buffer.from([0xff, 0xf1, 0x4c, 0x80, 0x01, 0x3f, 0xfc, 1, 2])).frames, 1);
  assert.equal(adtsFrames(Buffer.from([0xff, 0xf1, 0x4c, 0x80, 0x01, 0x3f, 0xfc, 1])), undefined); // length past the end
  assert.equal(adtsFrames(Buffer.from([0x00, 0xf1, 0x4c, 0x80, 0x01, 0x3f, 0xfc, 1, 2])), undefined);
  assert.deepEqual(nalTypes(Buffer.from([0, 0, 0, 1, 0x09, 0, 0, 1, 0x65]), 'h264'), [9, 5]);
  assert.deepEqual(nalTypes(Buffer.from([0, 0, 1, 0x46, 1, 0, 0, 1, 0x26, 1]), 'hevc'), [35, 19]);
  assert.equal(readPackets(Buffer.alloc(0)).problems[0], 'empty segment');
});

const FRAME_S = 1 / 24;
const measuredRun = (count, seconds, shortBy = 0) => Array.from({ length: count }, (_, i) => ({
  seconds: seconds - shortBy, frameSeconds: FRAME_S, start: Math.round(i * seconds * 90000), end: Math.round(((i + 1) * seconds - shortBy) * 90000),
}));

test('EXTINFs matching the media pass, open-GOP segments two frames short pass', () => {
  assert.deepEqual(checkDurations(measuredRun(10, 6).map((measured) => ({ extinf: 6, measured }))), []);
  assert.deepEqual(checkDurations(measuredRun(10, 6, 2 * FRAME_S).map((measured) => ({ extinf: 6, measured }))), []);
});

test('catches: an EXTINF that disagrees with its segment', () => {
  const segments = measuredRun(3, 6).map((measured) => ({ extinf: 6, measured }));
  segments[1].extinf = 5;
  expectProblem(checkDurations(segments), /segment 2: EXTINF 5 but the media lasts 6\.0000 s/);
});

test('catches: rounded EXTINFs that drift over a title', () => {
  // 6.0417 s segments listed as 6: one frame short each, within the per-segment slack.
  const segments = measuredRun(10, 6 + FRAME_S).map((measured) => ({ extinf: 6, measured }));
  expectProblem(checkDurations(segments), /segment 3: EXTINFs add up to 18\.0000 s but the media to 18\.1250 s/);
});

test('codecs come from the SPS and the ADTS header', () => {
  const analysis = analyzeSegment(segment({ cc: {} }));
  // The fixture's SPS is 0x67 0x64 0x00 0x1F: High profile, no constraint flags, level 3.1.
  assert.deepEqual(codecsOfSegment(analysis).sort(), ['avc1.64001F', 'mp4a.40.2']);
  assert.deepEqual(checkCodecs('avc1.64001f,mp4a.40.2', codecsOfSegment(analysis)), []);
});

test('catches: CODECS that do not match the media', () => {
  const found = ['avc1.64001F', 'mp4a.40.2'];
  expectProblem(checkCodecs('avc1.4D401E,mp4a.40.2', found), /the media is avc1\.64001F/);
  expectProblem(checkCodecs('avc1.64001F,mp4a.40.5', found), /the media is mp4a\.40\.2/);
  expectProblem(checkCodecs('avc1.64001F', found), /lists 1 codecs, the media has 2/);
  expectProblem(checkCodecs('avc1.64001F,mp4a.40.2', ['hvc1|hev1', 'mp4a.40.2']), /the media is hvc1\|hev1/);
  assert.deepEqual(checkCodecs('hvc1.1.6.L93.B0,mp4a.40.2', ['hvc1|hev1', 'mp4a.40.2']), []);
});

test('null packets (PID 8191) are ignored, counters and all', () => {
  const good = segment({ cc: {} });
  const nullPacket = Buffer.alloc(188, 0xff);
  nullPacket.set([0x47, 0x1f, 0xff, 0x10]);
  const padded = Buffer.concat([good.subarray(0, 376), nullPacket, nullPacket, good.subarray(376)]);
  const analysis = analyzeSegment(padded);
  assert.deepEqual([...analysis.problems, ...checkSegmentStart(analysis)], []);
});
