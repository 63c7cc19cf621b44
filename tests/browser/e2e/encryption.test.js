// AES-128 at the origin: run.sh encrypts a_720p_60s_faststart.mp4 ([encryption]). Its media
// playlist names the key, its segments are not transport streams in the clear, and hls.js in
// Chromium fetches the key and plays the title to the end. Its DASH form is cbcs: dash.js,
// given the key the key URL answers for the MPD's key ID (W3C ClearKey), plays it in
// Chromium. With PACKAGING_MODE=whole nothing is encrypted (the worker refuses encryption
// there), so the playlist must have no key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const TITLE = '/i/a_720p_60s_faststart.mp4';
const WHOLE = process.env.PACKAGING_MODE === 'whole';

if (STACK === 'casterpak' && WHOLE) {
  test('with whole packaging nothing is encrypted', async () => {
    const text = await (await fetch(url(`${TITLE}/index_0_av.m3u8`))).text();
    assert.doesNotMatch(text, /EXT-X-KEY/);
  });
}

if (STACK === 'casterpak' && !WHOLE) {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { if (browser) await browser.close(); });

  test('the encrypted title names its key and its segments are encrypted', async () => {
    const playlist = await fetch(url(`${TITLE}/index_0_av.m3u8`));
    assert.equal(playlist.status, 200);
    const text = await playlist.text();
    assert.match(text, /^#EXT-X-KEY:METHOD=AES-128,URI="aes128\.key"$/m);
    const key = await fetch(url(`${TITLE}/aes128.key`));
    assert.equal(key.status, 200);
    assert.equal(key.headers.get('cache-control'), 'private, no-store');
    assert.equal((await key.arrayBuffer()).byteLength, 16);
    const segment = new Uint8Array(await (await fetch(url(`${TITLE}/segment1_0_av.ts`))).arrayBuffer());
    assert.equal(segment.length % 16, 0);
    assert.notEqual(segment[0], 0x47, 'segment 1 starts like a clear transport stream');
  });

  test('hls.js fetches the key and plays the encrypted title to the end', { timeout: 90_000 }, async () => {
    const { page } = browser;
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(`${TITLE}/master.m3u8`)}`));
    await page.waitForFunction(() => window.player.video.currentTime > 1, undefined, { timeout: 45_000, polling: 250 });
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 2; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    const { hlsErrors, mediaErrors, keys } = await page.evaluate(() => ({
      ...window.player.record,
      keys: performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/aes128.key')).length,
    }));
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
    assert.ok(keys >= 1, 'the key was never fetched');
  });

  test('dash.js plays the cbcs MPD with the title key over ClearKey', { timeout: 90_000 }, async () => {
    const { page } = browser;
    const mpdPath = '/d/a_720p_60s_faststart.mp4/manifest.mpd';
    const mpd = await (await fetch(url(mpdPath))).text();
    const kids = [...mpd.matchAll(/value="cbcs" cenc:default_KID="([0-9a-f-]{36})"/g)].map((m) => m[1]);
    assert.ok(kids.length >= 2, `a key ID per representation: ${mpd}`);
    assert.equal(new Set(kids).size, 1, 'one title, one key ID');
    const key = Buffer.from(await (await fetch(url(`${TITLE}/aes128.key`))).arrayBuffer());
    const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
    const pair = `${b64url(Buffer.from(kids[0].replaceAll('-', ''), 'hex'))}:${b64url(key)}`;
    await page.goto(url(`/dash-test.html?src=${encodeURIComponent(mpdPath)}&clearkeys=${pair}`));
    await page.waitForFunction(() => window.player.video.currentTime > 3, undefined, { timeout: 45_000, polling: 250 });
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 3; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 45_000, polling: 250 });
    const { errors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(errors, []);
  });
}
