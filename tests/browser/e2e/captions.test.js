// Closed captions (issue 12): captioned.mp4 carries CEA-608 ("HELLO" on CC1) in its
// H.264 SEI, 1.3-4 s. hls.js in Chromium plays its TS master and shows the caption as a
// cue of its CC1 captions track at that time; dash.js plays its MPD and lists the CC1
// track the MPD's Accessibility descriptor announces. Our tools only (real Bento4 cannot say whether a
// title carries captions, so its masters do not announce them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { STACK, url } from './catalog.js';

const WHOLE = process.env.PACKAGING_MODE === 'whole';

if (STACK === 'casterpak' && !WHOLE) {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { if (browser) await browser.close(); });

  test('hls.js shows the CEA-608 caption of the TS master', { timeout: 90_000 }, async () => {
    const { page } = browser;
    const master = '/i/captioned.mp4/master.m3u8';
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(master)}`));
    await page.waitForFunction(() => {
      const tracks = [...window.player.video.textTracks].filter((t) => t.kind === 'captions');
      for (const t of tracks) if (t.mode === 'disabled') t.mode = 'hidden';
      return tracks.some((t) => t.cues && [...t.cues].some((c) => c.text.includes('HELLO')));
    }, undefined, { timeout: 45_000, polling: 100 });
    const { labels, cue } = await page.evaluate(() => {
      const tracks = [...window.player.video.textTracks].filter((t) => t.kind === 'captions');
      const found = tracks.flatMap((t) => [...(t.cues || [])]).find((c) => c.text.includes('HELLO'));
      return {
        labels: tracks.map((t) => t.label),
        cue: { start: found.startTime, end: found.endTime, text: found.text.trim() },
      };
    });
    console.log(`${master}: captions tracks ${JSON.stringify(labels)}, cue ${JSON.stringify(cue)}`);
    assert.ok(labels.includes('CC1'), JSON.stringify(labels));
    // On screen from the EOC after frame 24 (about 1.3 s) to the erase at frame 96 (4 s).
    assert.equal(cue.text, 'HELLO');
    assert.ok(Math.abs(cue.start - 1.29) < 0.25 && Math.abs(cue.end - 4) < 0.25, JSON.stringify(cue));
    const { hlsErrors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
  });

  test('dash.js lists the CC1 track the MPD announces', { timeout: 90_000 }, async () => {
    const { page } = browser;
    const mpd = '/d/captioned.mp4/manifest.mpd';
    await page.goto(url(`/dash-test.html?src=${encodeURIComponent(mpd)}`));
    await page.waitForFunction(() => window.player.video.currentTime > 1, undefined, { timeout: 45_000, polling: 100 });
    const tracks = await page.evaluate(() => window.player.dash.getTracksFor('text')
      .map((t) => ({ id: t.id, embedded: t.isEmbedded, lang: t.lang })));
    console.log(`${mpd}: dash.js text tracks ${JSON.stringify(tracks)}`);
    assert.deepEqual(tracks, [{ id: 'CC1', embedded: true, lang: 'und' }]);
    const { errors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(errors, []);
  });
}
