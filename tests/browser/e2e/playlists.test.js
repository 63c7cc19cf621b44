// Every playlist served passes hls-parser in strict mode and our RFC 8216 checks, and every
// URI in it resolves (variants to playlists, segments to MPEG-TS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCasterpakMedia, unquote } from '../lib/playlist-rules.js';
import { parseStrict } from '../lib/strict-parser.js';
import { crawlPlaylists, fetchOk } from './crawl.js';
import { CSMIL_MASTER, url } from './catalog.js';

const { masters, media } = await crawlPlaylists();

const assertStrictParse = (playlist, isMaster) => {
  let parsed;
  assert.doesNotThrow(() => { parsed = parseStrict(playlist.text); }, `hls-parser (strict) rejects ${playlist.url}`);
  assert.equal(parsed.isMasterPlaylist, isMaster, `${playlist.url}: hls-parser sees the wrong kind`);
  return parsed;
};

for (const master of masters) {
  test(`master ${master.url}`, () => {
    assert.match(master.contentType, /mpegurl/i);
    assert.deepEqual(master.result.problems, [], master.text);
    assert.equal(master.result.kind, 'master');
    const parsed = assertStrictParse(master, true);
    // hls-parser lists I-frame streams among its variants; our rules count STREAM-INF only.
    assert.equal(parsed.variants.filter((v) => !v.isIFrameOnly).length, master.result.variants.length);
    const bandwidths = master.result.variants.map((v) => Number(v.attributes.get('BANDWIDTH')));
    assert.deepEqual(bandwidths, [...bandwidths].sort((a, b) => a - b), 'variants are not sorted by bandwidth');
  });
}

test('the csmil master lists its three renditions with distinct resolutions', () => {
  const master = masters.find((m) => m.url === url(CSMIL_MASTER));
  assert.ok(master, 'csmil master not crawled');
  const resolutions = master.result.variants.map((v) => v.attributes.get('RESOLUTION'));
  assert.deepEqual(resolutions, ['640x360', '960x540', '1280x720']);
  for (const variant of master.result.variants) assert.match(unquote(variant.attributes.get('CODECS')), /^avc1\.[0-9A-Fa-f]{6},mp4a\.40\.2$/);
});

for (const playlist of media) {
  test(`media playlist ${playlist.url}`, async () => {
    assert.match(playlist.contentType, /mpegurl/i);
    assert.deepEqual(playlist.result.problems, [], playlist.text);
    assert.deepEqual(checkCasterpakMedia(playlist.result), [], playlist.text);
    const parsed = assertStrictParse(playlist, false);
    assert.equal(parsed.segments.length, playlist.result.segments.length);
    assert.equal(parsed.mediaSequenceBase, playlist.result.mediaSequence);
    for (const segment of playlist.result.segments) {
      const target = new URL(segment.uri, playlist.url).href;
      const response = await fetchOk(target);
      assert.match(response.headers.get('content-type') ?? '', /video\/mp2t/i, target);
      const size = (await response.arrayBuffer()).byteLength;
      assert.ok(size > 0 && size % 188 === 0, `${target}: ${size} bytes is not whole TS packets`);
    }
  });
}
