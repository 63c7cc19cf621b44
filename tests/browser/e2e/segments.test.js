// Every segment of every media playlist: PAT, then PMT, then a keyframe; counters and PTS
// continue across segment boundaries; EXTINF matches the media; streams match the master's CODECS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeSegment, checkSegmentStart, checkContinuity, segmentDuration, checkDurations } from '../lib/ts-check.js';
import { unquote } from '../lib/playlist-rules.js';
import { crawlPlaylists, fetchSegment } from './crawl.js';
import { LEADING_PIDS, CSMIL_DIR, url } from './catalog.js';

const { masters, media } = await crawlPlaylists();

/** The CODECS a master gives the variant that names this media playlist. */
function codecsFor(playlist) {
  for (const master of masters) {
    for (const variant of master.result.variants) {
      if (new URL(variant.uri, master.url).href === playlist.url) return unquote(variant.attributes.get('CODECS')) ?? '';
    }
  }
  return undefined;
}

for (const playlist of media) {
  test(`segments of ${playlist.url}`, async () => {
    const problems = [];
    let previous;
    const durations = [];
    for (const [index, segment] of playlist.result.segments.entries()) {
      const fetched = await fetchSegment(new URL(segment.uri, playlist.url).href);
      const analysis = analyzeSegment(fetched.bytes);
      const where = `segment ${index + 1} (${segment.uri})`;
      problems.push(...analysis.problems.map((p) => `${where}: ${p}`));
      problems.push(...checkSegmentStart(analysis, { leadingPids: LEADING_PIDS }).map((p) => `${where}: ${p}`));
      if (previous) problems.push(...checkContinuity(previous, analysis).map((p) => `${where}: ${p}`));
      durations.push({ extinf: segment.duration, measured: segmentDuration(analysis) });
      const codecs = index === 0 ? codecsFor(playlist) : undefined;
      if (codecs !== undefined) {
        const kinds = new Set([...analysis.streams.values()].map((s) => s.kind));
        if (/(avc1|hvc1|hev1)/.test(codecs) !== kinds.has('video')) problems.push(`${where}: video presence disagrees with CODECS ${codecs}`);
        if (/mp4a/.test(codecs) !== kinds.has('audio')) problems.push(`${where}: audio presence disagrees with CODECS ${codecs}`);
      }
      previous = analysis;
    }
    problems.push(...checkDurations(durations));
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
