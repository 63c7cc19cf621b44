// hls.js in Chromium plays MSOD clips of the 60 s title: a clipped csmil master
// `?start=12&end=40` (three renditions of it: 360p, 720p, 720p with moov first, the last
// one AES-128 encrypted by run.sh; each variant lists about 28 s) and a single master `?start=15&end=40`, whose
// start falls inside a segment. Playback begins within 0.5 s of the clip's start in title
// time and ends within 0.5 s of its end, with no fatal or media error. Title time is the
// first listed segment's start (its `?start=` keyframe when trimmed, else the title's
// playlist's EXTINF sum before it) plus the player's time. hls.js begins at the first frame
// and then seeks to EXT-X-START; the start measured is that seek's target.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const CSMIL = '/i/a_,360p_60s,720p_60s,720p_60s_faststart,.mp4.csmil';
const CLIPS = [
  { master: `${CSMIL}/master.m3u8?start=12&end=40`, playlist: `${CSMIL}/index_0_av.m3u8?start=12&end=40`, title: `${CSMIL}/index_0_av.m3u8`, start: 12, end: 40 },
  { master: '/i/a_720p_60s.mp4/master.m3u8?start=15&end=40', playlist: '/i/a_720p_60s.mp4/index_0_av.m3u8?start=15&end=40', title: '/i/a_720p_60s.mp4/index_0_av.m3u8', start: 15, end: 40 },
];

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

const text = async (path) => {
  const response = await fetch(url(path));
  assert.equal(response.status, 200, path);
  return response.text();
};
const uris = (playlist) => playlist.split('\n').filter((l) => l && !l.startsWith('#'));
const extinfs = (playlist) => playlist.split('\n').filter((l) => l.startsWith('#EXTINF:')).map((l) => Number(l.slice(8).split(',')[0]));

/** Title time at which the clip's first listed segment starts. */
async function clipOrigin(clip) {
  const first = uris(await text(clip.playlist))[0];
  const [name, query] = first.split('?');
  const trimmedAt = new URLSearchParams(query ?? '').get('start');
  if (trimmedAt !== null) return Number(trimmedAt);
  const title = await text(clip.title);
  const index = uris(title).indexOf(name);
  assert.ok(index >= 0, `${name} is not a segment of ${clip.title}`);
  return extinfs(title).slice(0, index).reduce((a, b) => a + b, 0);
}

// ffmpeg's static HLS (STACK=ffmpeg, the checkers' control) has no query features.
if (STACK === 'casterpak') {
  test('every variant of the clipped csmil lists the clip, from the keyframe at or before 12 s to the one at or after 40 s', async () => {
    const master = await text(`${CSMIL}/master.m3u8?start=12&end=40`);
    const variants = uris(master).filter((u) => u.includes('index_'));
    assert.equal(variants.length, 3, master);
    for (const variant of variants) {
      assert.ok(variant.endsWith('?start=12&end=40'), variant);
      const playlist = await text(`${CSMIL}/${variant}`);
      assert.match(playlist, /^#EXT-X-START:TIME-OFFSET=/m, variant);
      const sum = extinfs(playlist).reduce((a, b) => a + b, 0);
      // 2 s GOPs: at most one GOP more at each end.
      assert.ok(sum >= 28 - 0.05 && sum <= 32 + 0.05, `${variant}: ${sum} s`);
    }
  });
}

for (const clip of STACK === 'casterpak' ? CLIPS : []) {
  test(`hls.js plays ${clip.master} from ${clip.start} s to ${clip.end} s`, { timeout: 90_000 }, async () => {
    const origin = await clipOrigin(clip);
    const { page } = browser;
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(clip.master)}`));
    // hls.js starts playing at the first frame and then seeks to EXT-X-START once the
    // first fragment is buffered: the start is that seek's target, or the first frame.
    await page.waitForFunction(() => {
      const { video, record } = window.player;
      return record.mediaEvents.some((e) => e.name === 'playing') && video.currentTime > 2;
    }, undefined, { timeout: 45_000, polling: 100 });
    const events = await page.evaluate(() => window.player.record.mediaEvents);
    console.log(`${clip.master}: media events ${JSON.stringify(events)}`);
    const started = (events.find((e) => e.name === 'seeked') ?? events.find((e) => e.name === 'playing')).time;
    const startedAt = origin + started;
    console.log(`${clip.master}: first listed segment at ${origin} s, playing from ${started.toFixed(3)} s = title ${startedAt.toFixed(3)} s`);
    assert.ok(Math.abs(startedAt - clip.start) <= 0.5, `started at title time ${startedAt}, not ${clip.start}`);
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 2; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    const { hlsErrors, mediaErrors, time } = await page.evaluate(() => ({ ...window.player.record, time: window.player.video.currentTime }));
    const endedAt = origin + time;
    console.log(`${clip.master}: ended at ${time.toFixed(3)} s = title ${endedAt.toFixed(3)} s`);
    assert.ok(Math.abs(endedAt - clip.end) <= 0.5, `ended at title time ${endedAt}, not ${clip.end}`);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
  });
}
