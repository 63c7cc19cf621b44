// Table-driven tests of our RFC 8216 checker: a valid playlist passes, and each deliberately
// broken one is caught with the problem it has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPlaylist, checkCasterpakMedia, checkVariantBandwidth, parseAttributeList } from '../lib/playlist-rules.js';

const media = (lines) => ['#EXTM3U', ...lines].join('\n') + '\n';
const GOOD_MEDIA = media([
  '#EXT-X-VERSION:3', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-INDEPENDENT-SEGMENTS', '#EXT-X-TARGETDURATION:8',
  '#EXT-X-MEDIA-SEQUENCE:1', '#EXTINF:6.000000,', 'segment1_0_av.ts', '#EXTINF:7.916667,', 'segment2_0_av.ts',
  '#EXT-X-ENDLIST',
]);
const GOOD_MASTER = media([
  '#EXT-X-STREAM-INF:BANDWIDTH=700000,AVERAGE-BANDWIDTH=600000,CODECS="avc1.64001E,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=24.000',
  '../clip_low.mp4/index_0_av.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS="mp4a.40.2"',
  'audio.mp4/index_0_av.m3u8',
]);
const swap = (text, from, to) => {
  assert.ok(text.includes(from), `fixture lacks ${from}`);
  return text.replace(from, to);
};

test('valid media and master playlists have no problems', () => {
  const mediaResult = checkPlaylist(GOOD_MEDIA);
  assert.deepEqual(mediaResult.problems, []);
  assert.equal(mediaResult.kind, 'media');
  assert.deepEqual(mediaResult.segments.map((s) => s.duration), [6, 7.916667]);
  assert.deepEqual(checkCasterpakMedia(mediaResult), []);
  const masterResult = checkPlaylist(GOOD_MASTER);
  assert.deepEqual(masterResult.problems, []);
  assert.equal(masterResult.kind, 'master');
  assert.equal(masterResult.variants.length, 2);
});

const BROKEN = [
  ['TARGETDURATION below a rounded EXTINF (Bento4 hevc defect: 7 beside 7.916667)',
    swap(GOOD_MEDIA, 'TARGETDURATION:8', 'TARGETDURATION:7'), /rounds above EXT-X-TARGETDURATION 7/],
  ['version too low for decimal EXTINF', swap(GOOD_MEDIA, 'VERSION:3', 'VERSION:2'), /VERSION 2 does not cover a decimal EXTINF/],
  ['no version but decimal EXTINF', swap(GOOD_MEDIA, '#EXT-X-VERSION:3\n', ''), /VERSION 1 does not cover/],
  ['EXT-X-MAP needs version 6', swap(GOOD_MEDIA, '#EXT-X-MEDIA-SEQUENCE:1', '#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI="init.mp4"'), /needs 6/],
  ['BYTERANGE needs version 4', swap(GOOD_MEDIA, 'segment1_0_av.ts', '#EXT-X-BYTERANGE:100@0\nsegment1_0_av.ts'), /needs 4/],
  ['no TARGETDURATION', swap(GOOD_MEDIA, '#EXT-X-TARGETDURATION:8\n', ''), /no EXT-X-TARGETDURATION/],
  ['non-integer TARGETDURATION', swap(GOOD_MEDIA, 'TARGETDURATION:8', 'TARGETDURATION:8.0'), /not a decimal integer/],
  ['CRLF line endings', GOOD_MEDIA.replaceAll('\n', '\r\n'), /CR in the playlist/],
  ['missing #EXTM3U', GOOD_MEDIA.slice('#EXTM3U\n'.length), /first line is not #EXTM3U/],
  ['EXTINF without URI at the end', swap(GOOD_MEDIA, 'segment2_0_av.ts\n', ''), /EXTINF (has no URI|follows)/],
  ['negative EXTINF', swap(GOOD_MEDIA, 'EXTINF:6.000000', 'EXTINF:-6.000000'), /not a decimal number/],
  ['zero EXTINF', swap(GOOD_MEDIA, 'EXTINF:6.000000', 'EXTINF:0.000000'), /not positive/],
  ['MEDIA-SEQUENCE after a segment', swap(swap(GOOD_MEDIA, '#EXT-X-MEDIA-SEQUENCE:1\n', ''), 'segment1_0_av.ts\n', 'segment1_0_av.ts\n#EXT-X-MEDIA-SEQUENCE:1\n'),
    /MEDIA-SEQUENCE after the first segment/],
  ['VOD without ENDLIST', swap(GOOD_MEDIA, '#EXT-X-ENDLIST\n', ''), /VOD without EXT-X-ENDLIST/],
  ['duplicate TARGETDURATION', swap(GOOD_MEDIA, '#EXT-X-TARGETDURATION:8', '#EXT-X-TARGETDURATION:8\n#EXT-X-TARGETDURATION:8'), /appears 2 times/],
  ['stray URI', swap(GOOD_MEDIA, '#EXT-X-ENDLIST', 'stray.ts\n#EXT-X-ENDLIST'), /without EXTINF/],
  ['master without CODECS', swap(GOOD_MASTER, ',CODECS="avc1.64001E,mp4a.40.2"', ''), /no CODECS/],
  ['video variant without RESOLUTION', swap(GOOD_MASTER, ',RESOLUTION=640x360', ''), /without RESOLUTION/],
  ['video variant without FRAME-RATE', swap(GOOD_MASTER, ',FRAME-RATE=24.000', ''), /without FRAME-RATE/],
  ['variant without BANDWIDTH', swap(GOOD_MASTER, 'BANDWIDTH=140000,', ''), /BANDWIDTH missing/],
  ['AVERAGE-BANDWIDTH above BANDWIDTH', swap(GOOD_MASTER, 'AVERAGE-BANDWIDTH=600000', 'AVERAGE-BANDWIDTH=800000'), /above BANDWIDTH/],
  ['PROGRAM-ID in version 6', swap(GOOD_MASTER, '#EXT-X-STREAM-INF:BANDWIDTH=140000', '#EXT-X-VERSION:6\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=140000'), /PROGRAM-ID was removed/],
  ['bad attribute syntax', swap(GOOD_MASTER, 'BANDWIDTH=140000,', 'BANDWIDTH=140000,,'), /bad attribute list/],
  ['variant without URI', swap(GOOD_MASTER, 'audio.mp4/index_0_av.m3u8\n', ''), /has no URI/],
  ['master and media tags mixed', swap(GOOD_MASTER, '#EXTM3U\n', '#EXTM3U\n#EXT-X-TARGETDURATION:6\n'), /master and media playlist tags/],
];

for (const [name, text, expected] of BROKEN) {
  test(`catches: ${name}`, () => {
    const { problems } = checkPlaylist(text);
    assert.ok(problems.some((p) => expected.test(p)), `expected ${expected} in ${JSON.stringify(problems)}`);
  });
}

const CONTRACT = [
  ['EVENT instead of VOD', swap(GOOD_MEDIA, 'PLAYLIST-TYPE:VOD', 'PLAYLIST-TYPE:EVENT'), /no EXT-X-PLAYLIST-TYPE:VOD/],
  ['no INDEPENDENT-SEGMENTS', swap(GOOD_MEDIA, '#EXT-X-INDEPENDENT-SEGMENTS\n', ''), /no EXT-X-INDEPENDENT-SEGMENTS/],
  ['media sequence 0', swap(GOOD_MEDIA, 'MEDIA-SEQUENCE:1', 'MEDIA-SEQUENCE:0'), /MEDIA-SEQUENCE is 0/],
  ['segment numbers off by one', GOOD_MEDIA.replace('segment2_0', 'segment3_0'), /does not carry number 2/],
];
for (const [name, text, expected] of CONTRACT) {
  test(`casterpak contract catches: ${name}`, () => {
    const problems = checkCasterpakMedia(checkPlaylist(text));
    assert.ok(problems.some((p) => expected.test(p)), `expected ${expected} in ${JSON.stringify(problems)}`);
  });
}

test('attribute lists: quoted commas, duplicates, trailing comma', () => {
  assert.deepEqual([...parseAttributeList('CODECS="a,b",BANDWIDTH=1').entries()], [['CODECS', '"a,b"'], ['BANDWIDTH', '1']]);
  assert.throws(() => parseAttributeList('A=1,A=2'), /appears twice/);
  assert.throws(() => parseAttributeList('A=1,'), /ends with a comma/);
  assert.throws(() => parseAttributeList('a=1'), /bad attribute list/);
});

test('variant bit rates: peak and mean measured on the segments', () => {
  const segments = [{ duration: 6, size: 600_000 }, { duration: 6, size: 750_000 }, { duration: 0.5, size: 1_000 }];
  const attrs = (bandwidth, average) => new Map([['BANDWIDTH', String(bandwidth)], ...(average ? [['AVERAGE-BANDWIDTH', String(average)]] : [])]);
  // Peak: the 750 kB segment, 1,000,000 bit/s; mean: 10,808,000 bits / 12.5 s = 864,640 bit/s.
  assert.deepEqual(checkVariantBandwidth(attrs(1_000_000, 864_640), segments, 6), []);
  assert.match(checkVariantBandwidth(attrs(900_000), segments, 6)[0], /below the peak segment bit rate 1000000/);
  assert.match(checkVariantBandwidth(attrs(2_000_000), segments, 6)[0], /above every segment's bit rate/);
  assert.match(checkVariantBandwidth(attrs(1_000_000, 700_000), segments, 6)[0], /AVERAGE-BANDWIDTH 700000 is not the mean bit rate 864640/);
});

const GROUPED_MASTER = media([
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-mp4a.40.2",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="index_0_a2.m3u8"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-mp4a.40.2",LANGUAGE="fr",NAME="Français",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="index_0_a3.m3u8"',
  '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,URI="subtitles_en.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=700000,CODECS="avc1.64001E,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=24.000,AUDIO="aud-mp4a.40.2",SUBTITLES="subs"',
  'index_0_v.m3u8',
]);

test('a master with audio and subtitle groups has no problems', () => {
  const result = checkPlaylist(GROUPED_MASTER);
  assert.deepEqual(result.problems, []);
  assert.equal(result.media.length, 3);
  // Subtitles may all be off by default.
  const off = swap(GROUPED_MASTER, 'NAME="English",DEFAULT=YES,AUTOSELECT=YES,URI="subtitles_en.m3u8"', 'NAME="English",DEFAULT=NO,AUTOSELECT=YES,URI="subtitles_en.m3u8"');
  assert.deepEqual(checkPlaylist(off).problems, []);
});

const BROKEN_GROUPS = [
  ['two defaults in a group', swap(GROUPED_MASTER, 'DEFAULT=NO', 'DEFAULT=YES'), /TYPE=|AUDIO aud-mp4a.40.2: 2 renditions with DEFAULT=YES/],
  ['no default in a group', swap(GROUPED_MASTER, 'NAME="English",DEFAULT=YES,AUTOSELECT=YES,CHANNELS', 'NAME="English",DEFAULT=NO,AUTOSELECT=YES,CHANNELS'), /AUDIO aud-mp4a.40.2: 0 renditions with DEFAULT=YES/],
  ['a name twice in a group', swap(GROUPED_MASTER, 'NAME="Français"', 'NAME="English"'), /NAME "English" twice/],
  ['a variant naming a group nobody lists', swap(GROUPED_MASTER, 'AUDIO="aud-mp4a.40.2",', 'AUDIO="aud-ac-3",'), /AUDIO group "aud-ac-3" is not listed/],
  ['two default subtitles', swap(GROUPED_MASTER, 'NAME="Français",DEFAULT=NO', 'NAME="Français",DEFAULT=NO').replace('URI="index_0_a3.m3u8"', 'URI="index_0_a3.m3u8"\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="fr",NAME="Français",DEFAULT=YES,AUTOSELECT=YES,URI="subtitles_fr.m3u8"'), /SUBTITLES subs: 2 renditions with DEFAULT=YES/],
  ['subtitles without a URI', swap(GROUPED_MASTER, ',URI="subtitles_en.m3u8"', ''), /SUBTITLES without URI/],
  ['DEFAULT=YES without AUTOSELECT=YES', swap(GROUPED_MASTER, 'DEFAULT=YES,AUTOSELECT=YES,CHANNELS', 'DEFAULT=YES,AUTOSELECT=NO,CHANNELS'), /DEFAULT=YES with AUTOSELECT=NO/],
];

for (const [what, text, problem] of BROKEN_GROUPS) {
  test(`the checker catches ${what}`, () => {
    const { problems } = checkPlaylist(text);
    assert.ok(problems.some((p) => problem.test(p)), `${what}: ${JSON.stringify(problems)}`);
  });
}
