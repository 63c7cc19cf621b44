// HTTP side of the e2e tests: fetch playlists and segments from the stack and walk from each
// master to its media playlists. Failures are thrown with the URL, so a test names what broke.
import { checkPlaylist } from '../lib/playlist-rules.js';
import { MASTERS, CSMIL_RELATIVE, url } from './catalog.js';

export async function fetchOk(target) {
  const response = await fetch(target);
  if (response.status !== 200) throw new Error(`GET ${target}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`);
  return response;
}

export async function fetchPlaylist(target) {
  const response = await fetchOk(target);
  return { url: target, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
}

export async function fetchSegment(target) {
  const response = await fetchOk(target);
  return { url: target, contentType: response.headers.get('content-type') ?? '', bytes: Buffer.from(await response.arrayBuffer()) };
}

/**
 * Every playlist served: the masters of the catalog, the media playlists their variants name,
 * and the csmil-relative media playlists. Media playlists are deduplicated by URL.
 */
export async function crawlPlaylists() {
  const masters = [];
  const media = new Map();
  for (const path of MASTERS) {
    const master = await fetchPlaylist(url(path));
    master.result = checkPlaylist(master.text);
    masters.push(master);
    for (const variant of master.result.variants) {
      const target = new URL(variant.uri, master.url).href;
      if (!media.has(target)) media.set(target, { ...(await fetchPlaylist(target)), master: master.url });
    }
  }
  for (const path of CSMIL_RELATIVE) {
    const target = url(path);
    media.set(target, { ...(await fetchPlaylist(target)), master: undefined });
  }
  for (const playlist of media.values()) playlist.result = checkPlaylist(playlist.text);
  return { masters, media: [...media.values()] };
}
