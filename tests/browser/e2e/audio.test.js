// Alternate audio (issue 12 test 1 and 3): the title with an English and a French AAC
// track and an English AC-3 track. Its master and every playlist it lists pass the strict
// checks, EXT-X-MEDIA rules included; hls.js in Chromium lists both AAC tracks with their
// language and name (Chromium has no AC-3, so hls.js keeps the AAC group), starts on the
// DEFAULT one, switches to French mid-play without a stall, and plays to the end. The
// same over CMAF HLS (hls.js) and DASH (dash.js: one AdaptationSet per language).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './browser.js';
import { intolerableErrors } from '../lib/player-errors.js';
import { checkPlaylist } from '../lib/playlist-rules.js';
import { STACK, url } from './catalog.js';

const MASTER = '/i/multi_audio.mp4/master.m3u8';
// Real Bento4 packages whole muxed renditions: the title stays muxed, first audio track.
const WHOLE = process.env.PACKAGING_MODE === 'whole';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

const text = async (path) => {
  const response = await fetch(url(path));
  assert.equal(response.status, 200, path);
  return response.text();
};
const dirOf = (path) => path.slice(0, path.lastIndexOf('/') + 1);

if (STACK === 'casterpak' && WHOLE) {
  test('whole-rendition mode keeps the title muxed', async () => {
    const master = checkPlaylist(await text(MASTER));
    assert.deepEqual(master.problems, []);
    assert.deepEqual(master.media, []);
    assert.deepEqual(master.variants.map((v) => v.uri), ['index_0_av.m3u8']);
  });
}

// ffmpeg's static HLS (STACK=ffmpeg, the checkers' control) has no such title.
if (STACK === 'casterpak' && !WHOLE) {
  test('the alternate audio master and every playlist it lists pass the strict checks', async () => {
    const master = checkPlaylist(await text(MASTER));
    assert.deepEqual(master.problems, []);
    const audio = master.media.filter(({ attributes }) => attributes.get('TYPE') === 'AUDIO');
    assert.equal(audio.length, 3);
    const uris = [
      ...audio.map(({ attributes }) => attributes.get('URI').replaceAll('"', '')),
      ...master.variants.map((v) => v.uri),
    ];
    for (const uri of new Set(uris)) {
      const playlist = checkPlaylist(await text(dirOf(MASTER) + uri));
      assert.equal(playlist.kind, 'media', uri);
      assert.deepEqual(playlist.problems, [], uri);
    }
  });

  test('hls.js starts on English, switches to French mid-play without a stall and plays to the end', { timeout: 90_000 }, async () => {
    const { page } = browser;
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(MASTER)}`));
    await page.waitForFunction(() => {
      const { video, record } = window.player;
      return record.mediaEvents.some((e) => e.name === 'playing') && video.currentTime > 2;
    }, undefined, { timeout: 45_000, polling: 100 });
    const listed = await page.evaluate(() => {
      const { hls } = window.player;
      return {
        current: hls.audioTrack,
        tracks: hls.audioTracks.map((t) => ({ name: t.name, lang: t.lang, default: t.default, group: t.groupId })),
      };
    });
    console.log(`${MASTER}: audio tracks ${JSON.stringify(listed)}`);
    assert.deepEqual(listed.tracks, [
      { name: 'English', lang: 'en', default: true, group: 'aud-mp4a.40.2' },
      { name: 'Français', lang: 'fr', default: false, group: 'aud-mp4a.40.2' },
    ]);
    assert.equal(listed.current, 0, 'starts on the DEFAULT track');

    const switchedAt = await page.evaluate(() => {
      const { hls, video } = window.player;
      hls.audioTrack = hls.audioTracks.findIndex((t) => t.lang === 'fr');
      return video.currentTime;
    });
    // No stall: playback goes on for 4 s of media on the French track.
    await page.waitForFunction((from) => {
      const { hls, video } = window.player;
      return hls.audioTracks[hls.audioTrack]?.lang === 'fr' && video.currentTime > from + 4;
    }, switchedAt, { timeout: 20_000, polling: 100 });
    const stalls = await page.evaluate(() => window.player.record.mediaEvents.filter((e) => e.name === 'waiting'));
    console.log(`${MASTER}: switched to French at ${switchedAt.toFixed(3)} s; waiting events ${JSON.stringify(stalls)}`);
    assert.ok(stalls.every((e) => e.time < switchedAt), `stalled after the switch: ${JSON.stringify(stalls)}`);

    await page.evaluate(() => { window.player.video.currentTime = window.player.video.duration - 2; });
    await page.waitForFunction(() => window.player.video.ended, undefined, { timeout: 30_000, polling: 250 });
    const { hlsErrors, mediaErrors, track } = await page.evaluate(() => ({
      ...window.player.record,
      track: window.player.hls.audioTracks[window.player.hls.audioTrack]?.lang,
    }));
    assert.equal(track, 'fr', 'still French at the end');
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
  });

  test('hls.js switches language over CMAF HLS', { timeout: 90_000 }, async () => {
    const { page } = browser;
    const master = '/c/multi_audio.mp4/master.m3u8';
    await page.goto(url(`/player-test.html?src=${encodeURIComponent(master)}`));
    await page.waitForFunction(() => window.player.video.currentTime > 1, undefined, { timeout: 45_000, polling: 100 });
    const langs = await page.evaluate(() => window.player.hls.audioTracks.map((t) => t.lang));
    assert.deepEqual(langs, ['en', 'fr']);
    const from = await page.evaluate(() => {
      const { hls, video } = window.player;
      hls.audioTrack = hls.audioTracks.findIndex((t) => t.lang === 'fr');
      return video.currentTime;
    });
    await page.waitForFunction((t) => {
      const { hls, video } = window.player;
      return hls.audioTracks[hls.audioTrack]?.lang === 'fr' && video.currentTime > t + 4;
    }, from, { timeout: 20_000, polling: 100 });
    const { hlsErrors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(intolerableErrors(hlsErrors), []);
  });

  test('dash.js lists one audio track per language and switches to French', { timeout: 90_000 }, async () => {
    const { page } = browser;
    const mpd = '/d/multi_audio.mp4/manifest.mpd';
    await page.goto(url(`/dash-test.html?src=${encodeURIComponent(mpd)}`));
    await page.waitForFunction(() => window.player.video.currentTime > 1, undefined, { timeout: 45_000, polling: 100 });
    const tracks = await page.evaluate(() => window.player.dash.getTracksFor('audio').map((t) => t.lang));
    console.log(`${mpd}: dash.js audio tracks ${JSON.stringify(tracks)}`);
    assert.deepEqual(tracks, ['en', 'fr']);
    const from = await page.evaluate(() => {
      const { dash, video } = window.player;
      dash.setCurrentTrack(dash.getTracksFor('audio').find((t) => t.lang === 'fr'));
      return video.currentTime;
    });
    await page.waitForFunction((t) => {
      const { dash, video } = window.player;
      return dash.getCurrentTrackFor('audio')?.lang === 'fr' && video.currentTime > t + 4;
    }, from, { timeout: 20_000, polling: 100 });
    const { errors, mediaErrors } = await page.evaluate(() => window.player.record);
    assert.deepEqual(mediaErrors, []);
    assert.deepEqual(errors, []);
  });
}
