// hls.js in Chromium plays each single-rendition title the origin serves (H.264/AAC ones: this
// Chromium has no HEVC decoder, and hls.js needs fMP4 for HEVC anyway): it starts, then a seek
// near the end plays to `ended`. FULL=1 also plays across two segment boundaries at 1x first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { FULL, url } from './catalog.js';

const PLAYABLE = ['a_720p_60s', 'audio_only', 'video_only', 'irregular_gop', 'fragmented'];
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

test('Chromium here has no HEVC decoder (so hevc.mp4 is checked by ffmpeg only)', async () => {
  await browser.page.goto(url('/player-test.html'));
  assert.equal(await browser.page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"')), false);
});

for (const name of PLAYABLE) {
  test(`hls.js plays ${name}.mp4 to the end`, { timeout: 90_000 }, async () => {
    const { page } = browser;
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(`/i/${name}.mp4/master.m3u8`)}`));
    await page.waitForFunction(
      (beyond) => {
        const { hls, video } = window.player;
        const fragments = hls.levels[hls.currentLevel]?.details?.fragments;
        return fragments && video.currentTime > (beyond ? fragments[2].start + 0.2 : 1);
      },
      FULL, { timeout: 45_000, polling: 250 },
    );
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 2; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    const { hlsErrors, mediaErrors, duration } = await page.evaluate(() => ({ ...window.player.record, duration: window.player.video.duration }));
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
    assert.ok(duration > 20, `duration ${duration}`);
  });
}
