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

// The page lists hls.js's non-fatal errors too (it recovers from them); those do not fail the demo.
const assertNoFatalError = (text) => {
  const bad = text.split('\n').filter((line) => /^(FATAL|media error|play:)/.test(line));
  assert.deepEqual(bad, [], text);
};
const playsPastOneSecond = (page) => page.waitForFunction(() => window.demo && window.demo.video.currentTime > 1, undefined, { timeout: 30_000, polling: 250 });

test('the demo page plays the sample csmil master and shows the level', { timeout: 45_000 }, async () => {
  const { page } = browser;
  const response = await page.goto(url('/'));
  assert.equal(response.status(), 200);
  await playsPastOneSecond(page);
  await page.waitForFunction(() => document.getElementById('current-level').textContent !== '–', undefined, { timeout: 10_000 });
  assert.match(await page.textContent('#current-level'), /^[0-2]: \d+x\d+ @ \d+ kbit\/s$/);
  assert.equal(await page.locator('#level option').count(), 4); // auto + three renditions
  assertNoFatalError(await page.textContent('#errors'));
  await page.screenshot({ path: artifactPath('demo.png'), fullPage: true });
});

test('the demo page plays another URL given as ?src=', { timeout: 45_000 }, async () => {
  const { page } = browser;
  await page.goto(url(`/?src=${encodeURIComponent('/i/a_720p_60s.mp4/master.m3u8')}`));
  await playsPastOneSecond(page);
  assert.equal(await page.inputValue('#src'), '/i/a_720p_60s.mp4/master.m3u8');
  assertNoFatalError(await page.textContent('#errors'));
});
