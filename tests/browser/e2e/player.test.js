// hls.js in Debian's Chromium plays the csmil master: it passes two segment boundaries, a forced
// level switch plays on, a seek near the end plays to `ended`, with no fatal or media error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, artifactPath } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { CSMIL_MASTER, FULL, url } from './catalog.js';

let browser;
let page;

before(async () => {
  browser = await launchBrowser();
  page = browser.page;
});
after(async () => {
  if (browser) {
    const record = page && (await page.evaluate(() => window.player && window.player.record).catch(() => undefined));
    console.log('player record:', JSON.stringify(record));
    await browser.close();
  }
});

const record = () => page.evaluate(() => window.player.record);
// Each test judges the errors recorded during its own steps, so one failure does not cascade.
let judged = { hls: 0, media: 0 };
const assertHealthy = async () => {
  const { hlsErrors, mediaErrors } = await record();
  const fresh = { hls: hlsErrors.slice(judged.hls), media: mediaErrors.slice(judged.media) };
  judged = { hls: hlsErrors.length, media: mediaErrors.length };
  assert.deepEqual(fresh.media, [], 'media element errors');
  assert.deepEqual(intolerableErrors(fresh.hls), [], 'hls.js errors');
};

test('Chromium supports H.264 High + AAC-LC in Media Source Extensions', async () => {
  await page.goto(url('/player-test.html'));
  const supported = await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001F,mp4a.40.2"'));
  assert.equal(supported, true, 'this Chromium cannot play H.264/AAC: see tests/browser/README');
});

test('plays the csmil master across two segment boundaries', { timeout: 60_000 }, async () => {
  await page.goto(url(`/player-test.html?src=${encodeURIComponent(CSMIL_MASTER)}`));
  assert.equal(await page.evaluate(() => window.player.record.supported), true, 'Hls.isSupported() is false');
  // The third fragment's start of the playing level: passing it means two boundaries were crossed.
  await page.waitForFunction(() => {
    const { hls, video } = window.player;
    const details = hls.levels[hls.currentLevel]?.details;
    return details && details.fragments.length > 2 && video.currentTime > details.fragments[2].start + 0.2;
  }, undefined, { timeout: 45_000, polling: 250 });
  const frames = await page.evaluate(() => window.player.video.getVideoPlaybackQuality().totalVideoFrames);
  assert.ok(frames > 48, `only ${frames} frames decoded`);
  await assertHealthy();
});

test('a forced level switch plays on', { timeout: 60_000 }, async () => {
  const levels = await page.evaluate(() => window.player.hls.levels.length);
  assert.equal(levels, 3);
  const targets = FULL ? [0, 1, 2] : [await page.evaluate(() => (window.player.hls.currentLevel + 1) % 3)];
  for (const target of targets) {
    const startedAt = await page.evaluate((level) => {
      window.player.hls.currentLevel = level;
      return window.player.video.currentTime;
    }, target);
    await page.waitForFunction(({ level, from }) => {
      const { hls, video, record } = window.player;
      const switched = record.levelSwitches.some((s) => s.level === level && s.time >= from - 0.5);
      return switched && hls.currentLevel === level && video.currentTime > from + 1.5 && !video.paused;
    }, { level: target, from: startedAt }, { timeout: 30_000, polling: 250 });
    // The element reports the new size once a frame of the new level is shown.
    const expected = await page.evaluate((level) => window.player.hls.levels[level].width, target);
    await page.waitForFunction((width) => window.player.video.videoWidth === width, expected, { timeout: 10_000, polling: 250 })
      .catch(async () => assert.fail(`level ${target}: video stays ${await page.evaluate(() => window.player.video.videoWidth)} px wide, not ${expected}`));
  }
  await page.screenshot({ path: artifactPath('player-csmil.png') });
  await assertHealthy();
});

test('a seek near the end plays to ended', { timeout: 60_000 }, async () => {
  await page.evaluate(() => {
    const { video } = window.player;
    video.currentTime = video.duration - 3;
  });
  await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
  const { events, duration, time } = await page.evaluate(() => ({
    events: window.player.record.mediaEvents.map((e) => e.name), duration: window.player.video.duration, time: window.player.video.currentTime,
  }));
  assert.ok(events.includes('ended'), `no ended event in ${events}`);
  assert.ok(Math.abs(duration - 30) < 0.5 && time > duration - 0.5, `ended at ${time} of ${duration}`);
  await assertHealthy();
});
