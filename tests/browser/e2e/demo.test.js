// The demo page (nginx/demo/index.html) loads, plays the sample csmil master, shows the level,
// and plays another URL given as ?src=.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, artifactPath } from './browser.js';
import { url } from './catalog.js';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  if (browser) {
    console.log('demo console:', JSON.stringify(browser.console));
    await browser.close();
  }
});

// Fatal hls.js errors and media element errors land in #errors (non-fatal ones in #notices).
const assertNoError = async (page) => assert.equal((await page.textContent('#errors')).trim(), '');
const playsPastOneSecond = (page) => page.waitForFunction(() => window.demo && window.demo.video.currentTime > 1, undefined, { timeout: 30_000, polling: 250 });

test('the demo page plays the sample csmil master and shows the level', { timeout: 45_000 }, async () => {
  const { page } = browser;
  const response = await page.goto(url('/'));
  assert.equal(response.status(), 200);
  await playsPastOneSecond(page);
  await page.waitForFunction(() => document.getElementById('current-level').textContent !== '–', undefined, { timeout: 10_000 });
  assert.match(await page.textContent('#current-level'), /^[0-2]: \d+x\d+ @ \d+ kbit\/s$/);
  assert.equal(await page.locator('#level option').count(), 4); // auto + three renditions
  await assertNoError(page);
  await page.screenshot({ path: artifactPath('demo.png'), fullPage: true });
});

test('the demo page plays another URL given as ?src=', { timeout: 45_000 }, async () => {
  const { page } = browser;
  await page.goto(url(`/?src=${encodeURIComponent('/i/a_720p_60s.mp4/master.m3u8')}`));
  await playsPastOneSecond(page);
  assert.equal(await page.inputValue('#src'), '/i/a_720p_60s.mp4/master.m3u8');
  await assertNoError(page);
});
