// The first run of a new user: the demo page of a stack that scripts/start-origin.sh started by
// itself (driven by ../first-run.sh) plays the sample csmil master in Debian's Chromium, with the
// hls.js that nginx/demo/package-lock.json pins.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launchBrowser, artifactPath } from '../e2e/browser.js';
import { url } from '../e2e/catalog.js';

const lock = JSON.parse(readFileSync(new URL('../../../nginx/demo/package-lock.json', import.meta.url), 'utf8'));
const PINNED = lock.packages['node_modules/hls.js'].version;

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  if (browser) {
    console.log('first-run demo console:', JSON.stringify(browser.console));
    await browser.close();
  }
});

test('the demo page serves the pinned hls.js beside itself', async () => {
  const response = await fetch(url('/hls.min.js'));
  assert.equal(response.status, 200);
  assert.match(await response.text(), /Hls/);
});

test('the demo page of a start-origin.sh stack plays the sample csmil master', { timeout: 60_000 }, async () => {
  const { page } = browser;
  const response = await page.goto(url('/'));
  assert.equal(response.status(), 200);
  assert.equal(await page.evaluate(() => window.Hls && window.Hls.version), PINNED);
  await page.waitForFunction(() => window.demo && window.demo.video.currentTime > 1, undefined, { timeout: 45_000, polling: 250 });
  assert.equal(await page.locator('#level option').count(), 4); // auto + three renditions
  assert.equal((await page.textContent('#errors')).trim(), '');
  await page.screenshot({ path: artifactPath('first-run-demo.png'), fullPage: true });
});
