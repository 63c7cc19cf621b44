// Every segment of every media playlist: PAT, then PMT, then a keyframe; counters and PTS
// continue across segment boundaries; EXTINF matches the media; the master's CODECS, BANDWIDTH
// and AVERAGE-BANDWIDTH match the bytes served; RESOLUTION and FRAME-RATE match what ffprobe sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  analyzeSegment, checkSegmentStart, checkContinuity, segmentDuration, checkDurations, codecsOfSegment, checkCodecs,
} from '../lib/ts-check.js';
import { unquote, checkVariantBandwidth } from '../lib/playlist-rules.js';
import { crawlPlaylists, fetchSegment } from './crawl.js';
import { LEADING_PIDS, CSMIL_DIR, url } from './catalog.js';

const { masters, media } = await crawlPlaylists();

/** The variant (attributes) of a master that names this media playlist, if any. */
function variantFor(playlist) {
  for (const master of masters) {
    for (const variant of master.result.variants) {
      if (new URL(variant.uri, master.url).href === playlist.url) return variant.attributes;
    }
  }
  return undefined;
}

for (const playlist of media) {
  test(`segments of ${playlist.url}`, async () => {
    const problems = [];
    let previous;
    const durations = [];
    const sizes = [];
    const variant = variantFor(playlist);
    for (const [index, segment] of playlist.result.segments.entries()) {
      const fetched = await fetchSegment(new URL(segment.uri, playlist.url).href);
      const analysis = analyzeSegment(fetched.bytes);
      const where = `segment ${index + 1} (${segment.uri})`;
      problems.push(...analysis.problems.map((p) => `${where}: ${p}`));
      problems.push(...checkSegmentStart(analysis, { leadingPids: LEADING_PIDS }).map((p) => `${where}: ${p}`));
      if (previous) problems.push(...checkContinuity(previous, analysis).map((p) => `${where}: ${p}`));
      durations.push({ extinf: segment.duration, measured: segmentDuration(analysis) });
      if (index === 0 && variant) {
        problems.push(...checkCodecs(unquote(variant.get('CODECS')) ?? '', codecsOfSegment(analysis)).map((p) => `${where}: ${p}`));
      }
      sizes.push({ duration: segment.duration, size: fetched.bytes.length });
      previous = analysis;
    }
    problems.push(...checkDurations(durations));
    if (variant) problems.push(...checkVariantBandwidth(variant, sizes, playlist.result.targetDuration).map((p) => `master: ${p}`));
    assert.deepEqual(problems, []);
  });
}

test('csmil-relative segments are the same bytes as the rendition\'s own', async () => {
  for (const [n, rendition] of ['low', 'medium', 'highdef'].entries()) {
    for (const k of [1, 3]) {
      const relative = await fetchSegment(url(`${CSMIL_DIR}/segment${k}_${n}_av.ts`));
      const own = await fetchSegment(url(`/i/clip_${rendition}.mp4/segment${k}_0_av.ts`));
      assert.ok(relative.bytes.equals(own.bytes), `segment ${k} of rendition ${n} differs`);
    }
  }
});

/** ffprobe's view of the first video stream of a URL: { width, height, rate }. */
function probeVideo(target) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate', '-of', 'json', target]);
  const stream = JSON.parse(out).streams[0];
  if (!stream) return undefined;
  const [num, den] = stream.r_frame_rate.split('/').map(Number);
  return { width: stream.width, height: stream.height, rate: num / den };
}

for (const master of masters) {
  test(`RESOLUTION and FRAME-RATE of ${master.url} match the media`, () => {
    for (const { uri, attributes } of master.result.variants) {
      const playlist = media.find((m) => m.url === new URL(uri, master.url).href);
      assert.ok(playlist, `variant ${uri} was not crawled`);
      const probed = probeVideo(new URL(playlist.result.segments[0].uri, playlist.url).href);
      if (!probed) {
        assert.equal(attributes.get('RESOLUTION'), undefined, `${uri}: RESOLUTION on a variant without video`);
        continue;
      }
      assert.equal(attributes.get('RESOLUTION'), `${probed.width}x${probed.height}`, uri);
      assert.ok(Math.abs(Number(attributes.get('FRAME-RATE')) - probed.rate) < 0.01, `${uri}: FRAME-RATE ${attributes.get('FRAME-RATE')}, ffprobe ${probed.rate}`);
    }
  });
}
