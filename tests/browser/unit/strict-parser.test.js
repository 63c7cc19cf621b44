// hls-parser's strict mode is really on: playlists it should refuse make it throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStrict } from '../lib/strict-parser.js';

test('hls-parser (strict) accepts a valid media playlist', () => {
  const parsed = parseStrict('#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.000,\na.ts\n#EXT-X-ENDLIST\n');
  assert.equal(parsed.segments.length, 1);
});

const REFUSED = [
  ['EXTINF rounding above TARGETDURATION', '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:5\n#EXTINF:6.000,\na.ts\n#EXT-X-ENDLIST\n', /target duration/],
  ['a variant without BANDWIDTH', '#EXTM3U\n#EXT-X-STREAM-INF:CODECS="mp4a.40.2"\na.m3u8\n', /Param Check/],
  ['master and media tags in one playlist', '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n', /both media and master/],
];
for (const [name, text, pattern] of REFUSED) {
  test(`hls-parser (strict) refuses ${name}`, () => assert.throws(() => parseStrict(text), pattern));
}
