// CMAF HLS (/c) and DASH (/d) of the csmil in Chromium: hls.js plays the CMAF master (two
// segment boundaries, a forced level switch, a seek to the end), dash.js plays the MPD of the
// same csmil (start, a forced quality switch, a seek to the end); no fatal player error, no
// media element error. In whole-rendition mode (real Bento4) both prefixes answer 415.
// The ffmpeg reference stack (STACK=ffmpeg) makes TS HLS only: there is nothing to compare.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, artifactPath } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const CSMIL = 'clip_,low,medium,highdef,.mp4.csmil';
const CMAF_MASTER = `/c/${CSMIL}/master.m3u8`;
const DASH_MPD = `/d/${CSMIL}/manifest.mpd`;
const WHOLE = process.env.PACKAGING_MODE === 'whole';

if (STACK === 'casterpak' && WHOLE) {
  test('whole-rendition mode answers CMAF and DASH with a clear 415', async () => {
    for (const path of [CMAF_MASTER, DASH_MPD]) {
      const response = await fetch(url(path));
      assert.equal(response.status, 415, path);
      assert.match(await response.text(), /mp42hls/);
    }
  });
}

if (STACK === 'casterpak' && !WHOLE) {
  let browser;
  let page;
  before(async () => {
    browser = await launchBrowser();
    page = browser.page;
  });
  after(async () => {
    if (browser) await browser.close();
  });

  const waitFor = (fn, arg, timeout) => page.waitForFunction(fn, arg, { timeout, polling: 250 });

  test('hls.js plays the CMAF master: boundaries, a level switch, a seek to the end', { timeout: 150_000 }, async () => {
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(CMAF_MASTER)}`));
    await waitFor(() => {
      const { hls, video } = window.player;
      const details = hls.levels[hls.currentLevel]?.details;
      return details && details.fragments.length > 2 && video.currentTime > details.fragments[2].start + 0.2;
    }, undefined, 60_000);
    assert.equal(await page.evaluate(() => window.player.hls.levels.length), 3);
    const target = await page.evaluate(() => (window.player.hls.currentLevel + 1) % 3);
    const from = await page.evaluate((level) => {
      window.player.hls.currentLevel = level;
      return window.player.video.currentTime;
    }, target);
    await waitFor(({ level, from }) => {
      const { hls, video } = window.player;
      return hls.currentLevel === level && video.currentTime > from + 1.5 && !video.paused;
    }, { level: target, from }, 45_000);
    const width = await page.evaluate((level) => window.player.hls.levels[level].width, target);
    await waitFor((w) => window.player.video.videoWidth === w, width, 15_000);
    await page.screenshot({ path: artifactPath('player-cmaf.png') });
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 3; });
    await waitFor(() => window.player.video.ended, undefined, 45_000);
    const { hlsErrors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, [], 'media element errors');
    assert.deepEqual(intolerableErrors(hlsErrors), [], 'hls.js errors');
  });

  test('dash.js plays the MPD: start, a quality switch, a seek to the end', { timeout: 150_000 }, async () => {
    await page.goto(url(`/dash-test.html?src=${encodeURIComponent(DASH_MPD)}`));
    await waitFor(() => window.player.video.currentTime > 7, undefined, 60_000);
    const qualities = await page.evaluate(() => window.player.dash.getBitrateInfoListFor('video').length);
    assert.equal(qualities, 3);
    const target = await page.evaluate(() => {
      const { dash } = window.player;
      dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: false } } } });
      const next = (dash.getQualityFor('video') + 1) % 3;
      dash.setQualityFor('video', next, true);
      return next;
    });
    await waitFor((quality) => window.player.record.qualitySwitches.some((s) => s.type === 'video' && s.quality === quality),
      target, 45_000);
    const width = await page.evaluate((q) => window.player.dash.getBitrateInfoListFor('video')[q].width, target);
    await waitFor((w) => window.player.video.videoWidth === w, width, 15_000);
    await page.screenshot({ path: artifactPath('player-dash.png') });
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 3; });
    await waitFor(() => window.player.video.ended, undefined, 45_000);
    const { errors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, [], 'media element errors');
    assert.deepEqual(errors, [], 'dash.js errors');
  });
}
