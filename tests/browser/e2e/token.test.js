// Token authorization (casterpak's [token_auth], checked by nginx with Lua): run.sh protects
// two csmils no other test requests and passes a token for both. hls.js plays each one's
// csmil-relative media playlist with the token in its query: every segment it asks for is
// protected too, so it plays only if the playlist handed the token on to each URI, by
// nginx appending it (PROTECTED) or as an HLS variable hls.js fills in from the
// playlist's URL (`define_prefixes`: DEFINED, whose playlist holds no token at all).
// The HLS ffmpeg writes (STACK=ffmpeg) has no token check: this file is casterpak's alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const PROTECTED = '/i/clip_,low,.mp4.csmil';
const DEFINED = '/i/clip_,medium,.mp4.csmil';
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

  const playsThrough = (title) => async () => {
    const { page } = browser;
    const responses = [];
    page.on('response', (r) => { if (r.url().includes(title)) responses.push({ url: r.url(), status: r.status() }); });
    const src = `${title}/index_0_av.m3u8?hdnts=${TOKEN}`;
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
  };

  test('hls.js plays a protected playlist through the URIs that carry the token', { timeout: 90_000 },
    playsThrough(PROTECTED));

  test('hls.js fills in the token a playlist declares as a variable, and plays', { timeout: 90_000 }, async () => {
    const response = await fetch(url(`${DEFINED}/index_0_av.m3u8?hdnts=${TOKEN}`));
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.ok(text.includes('#EXT-X-DEFINE:QUERYPARAM="hdnts"'), text);
    assert.ok(!text.includes(TOKEN), text);
    await playsThrough(DEFINED)();
  });
}
