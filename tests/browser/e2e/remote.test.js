// A remote archive: run.sh puts the csmil's three renditions in a bucket of a real S3 server
// (s3s-fs, SigV4, range reads) under /i/s3/. hls.js in Chromium plays that csmil master across
// two segment boundaries and, after a seek, to `ended`; the worker read from the bucket (its
// upstream counters), and a segment packaged from the bucket is byte-identical to the one
// packaged from the local copy of the same file. The ffmpeg reference stack has no remote mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const MASTER = '/i/s3/clip_,low,medium,highdef,.mp4.csmil/master.m3u8';

const upstreamRequests = async () => {
  const text = await (await fetch(url('/_casterpak/metrics'))).text();
  return text.split('\n')
    .filter((l) => l.startsWith('casterpak_upstream_requests_total'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
};

if (STACK === 'casterpak') {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { if (browser) await browser.close(); });

  test('hls.js plays a csmil master read from S3 to the end', { timeout: 90_000 }, async () => {
    const before = await upstreamRequests();
    const { page } = browser;
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(MASTER)}`));
    await page.waitForFunction(() => {
      const { hls, video } = window.player;
      const details = hls.levels[hls.currentLevel]?.details;
      return details && details.fragments.length > 2 && video.currentTime > details.fragments[2].start + 0.2;
    }, undefined, { timeout: 45_000, polling: 250 });
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 2; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    const { hlsErrors, mediaErrors, levels } = await page.evaluate(() => ({ ...window.player.record, levels: window.player.hls.levels.length }));
    assert.equal(levels, 3);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
    const after = await upstreamRequests();
    assert.ok(after > before, `no request reached the bucket (${before} -> ${after})`);
  });

  test('a segment from the bucket is the bytes of the same file packaged locally', async () => {
    const bytes = async (path) => {
      const response = await fetch(url(path));
      assert.equal(response.status, 200, path);
      return Buffer.from(await response.arrayBuffer());
    };
    const remote = await bytes('/i/s3/clip_medium.mp4/segment2_0_av.ts');
    const local = await bytes('/i/clip_medium.mp4/segment2_0_av.ts');
    assert.ok(remote.length > 0 && remote.equals(local), `${remote.length} vs ${local.length} bytes`);
  });
}
