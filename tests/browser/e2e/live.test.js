// Live (casterpak's [live], which run.sh enables): ffmpeg publishes a test source with 4 s
// segments for 40 s; hls.js in Chromium plays /live/<stream>/index.m3u8 live (currentTime
// advances, the live edge stays within 3 segments), and a recording made meanwhile plays to
// its end. The ffmpeg reference stack (STACK=ffmpeg) has no live ingest: casterpak's alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const TOKEN = process.env.CASTERPAK_LIVE_TOKEN;
const CONFIG = process.env.CASTERPAK_CONFIG;
const STREAM = 'browser1';
const SEGMENT = 4;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const casterpak = (...args) =>
  execFileSync(process.env.CASTERPAK_BIN, [...args, '--config', CONFIG], { encoding: 'utf8' });

if (STACK === 'casterpak') {
  let browser;
  let publisher;
  let publisherDone;
  before(async () => {
    assert.ok(TOKEN && CONFIG && process.env.CASTERPAK_BIN, 'run.sh sets CASTERPAK_LIVE_TOKEN, CASTERPAK_CONFIG, CASTERPAK_BIN');
    publisher = spawn('ffmpeg', [
      '-nostdin', '-v', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440',
      '-t', '40', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac',
      '-f', 'hls', '-hls_time', String(SEGMENT), '-hls_list_size', '6', '-hls_flags', 'delete_segments',
      '-method', 'PUT', '-headers', `Authorization: Bearer ${TOKEN}\r\n`,
      url(`/live/${STREAM}/index.m3u8`),
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    publisherDone = new Promise((resolve) => publisher.on('exit', resolve));
    browser = await launchBrowser();
  });
  after(async () => {
    if (publisher && publisher.exitCode === null) publisher.kill('SIGKILL');
    if (browser) await browser.close();
  });

  const errors = async (page) => {
    const { hlsErrors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, [], 'media element errors');
    assert.deepEqual(intolerableErrors(hlsErrors), [], 'hls.js errors');
  };

  let recording;
  test('hls.js plays the live stream at its edge, and a recording of it to its end', { timeout: 120_000 }, async () => {
    // The playlist needs three segments before hls.js starts at the live edge.
    for (let i = 0; ; i += 1) {
      const r = await fetch(url(`/live/${STREAM}/index.m3u8`));
      if (r.status === 200 && ((await r.text()).match(/#EXTINF/g) ?? []).length >= 3) break;
      assert.ok(i < 150, 'no live playlist with three segments');
      await sleep(200);
    }
    recording = casterpak('record', 'start', STREAM, '--from', '-8s').split(' ')[2];
    const { page } = browser;
    await page.goto(url(`/player-test.html?live=1&src=${encodeURIComponent(`/live/${STREAM}/index.m3u8`)}`));
    await page.waitForFunction(() => window.player.video.currentTime > 0.5, undefined, { timeout: 30_000, polling: 250 });
    const first = await page.evaluate(() => window.player.video.currentTime);
    // Two segments later on the wall clock, playback has moved on by about as much.
    await page.waitForFunction((from) => window.player.video.currentTime > from + 6, first, { timeout: 30_000, polling: 250 });
    const live = await page.evaluate(() => {
      const { hls, video } = window.player;
      const details = hls.levels[hls.currentLevel]?.details;
      return { live: details?.live, edge: details?.edge, time: video.currentTime, target: details?.targetduration };
    });
    console.log('live playback:', JSON.stringify(live));
    assert.equal(live.live, true, 'hls.js sees a live playlist');
    assert.ok(live.edge - live.time < 3 * SEGMENT, `${live.edge - live.time} s behind the live edge`);
    await errors(page);

    console.log(casterpak('record', 'stop', recording));
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(`/i/recordings/${recording}/master.m3u8`)}`));
    await page.waitForFunction(() => window.player.video.duration > 0, undefined, { timeout: 30_000, polling: 250 });
    const duration = await page.evaluate(() => window.player.video.duration);
    console.log(`recording ${recording}: ${duration} s in hls.js`);
    // Whole segments only: at least the two the --from reaches back over.
    assert.ok(duration >= 2 * SEGMENT, `recording lasts ${duration} s`);
    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 3; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    await errors(page);
    await publisherDone;
    assert.equal(publisher.exitCode, 0, 'the publisher failed');
  });
}
