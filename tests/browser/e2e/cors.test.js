// A player on another origin (the page from http://localhost:<port>, the media from
// http://127.0.0.1:<port>) plays: CORS headers come with cold misses (the X-Accel-Redirect path)
// as with hits. This file runs first among the e2e tests, so its requests find a cold cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { BASE_URL, url } from './catalog.js';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

test('hls.js on another origin plays a title fetched cross-origin', { timeout: 60_000 }, async () => {
  const { page } = browser;
  const pageOrigin = new URL(BASE_URL);
  pageOrigin.hostname = 'localhost';
  const media = url('/i/irregular_gop.mp4/master.m3u8');
  assert.notEqual(pageOrigin.origin, new URL(media).origin);
  await page.goto(new URL(`/player-test.html?src=${encodeURIComponent(media)}`, pageOrigin).href);
  await page.waitForFunction(() => window.player.video.currentTime > 1, undefined, { timeout: 45_000, polling: 250 });
  const { hlsErrors, mediaErrors } = await page.evaluate(() => window.player.record);
  assert.deepEqual(mediaErrors, []);
  assert.deepEqual(intolerableErrors(hlsErrors), []);
});

test('a cross-origin request gets Access-Control-Allow-Origin', async () => {
  const response = await fetch(url('/i/irregular_gop.mp4/segment2_0_av.ts'), { headers: { Origin: 'http://example.invalid' } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  await response.arrayBuffer();
});
