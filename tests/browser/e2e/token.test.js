// Token authorization (casterpak's [token_auth], checked by nginx with njs): run.sh protects
// the csmil CSMIL_PROTECTED, which no other test requests, and passes a token for it. hls.js
// plays the csmil-relative media playlist with the token in its query: every segment it asks
// for is protected too, so it plays only if the playlist handed the token on to each URI.
// The HLS ffmpeg writes (STACK=ffmpeg) has no token check: this file is casterpak's alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const PROTECTED = '/i/clip_,low,.mp4.csmil';
const TOKEN = process.env.CASTERPAK_TOKEN;

if (STACK === 'casterpak') {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { if (browser) await browser.close(); });

  test('without a token the protected csmil is refused', async () => {
    assert.ok(TOKEN, 'run.sh sets CASTERPAK_TOKEN');
    const response = await fetch(url(`${PROTECTED}/index_0_av.m3u8`));
    assert.equal(response.status, 403);
    await response.text();
  });

  test('hls.js plays a protected playlist through the URIs that carry the token', { timeout: 90_000 }, async () => {
    const { page } = browser;
    const responses = [];
    page.on('response', (r) => { if (r.url().includes(PROTECTED)) responses.push({ url: r.url(), status: r.status() }); });
    const src = `${PROTECTED}/index_0_av.m3u8?hdnts=${TOKEN}`;
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(src)}`));
    await page.waitForFunction(() => window.player.video.currentTime > 1, undefined, { timeout: 45_000, polling: 250 });
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 2; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    const { hlsErrors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
    const segments = responses.filter((r) => r.url.includes('.ts'));
    assert.ok(segments.length >= 2, JSON.stringify(responses));
    for (const r of responses) {
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.ok(new URL(r.url).searchParams.get('hdnts') === TOKEN, `no token in ${r.url}`);
    }
  });
}
