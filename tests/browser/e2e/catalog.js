// What the e2e tests request from the stack run.sh started. Keep TITLES in step with run.sh.
export const BASE_URL = process.env.CASTERPAK_BASE_URL;
if (!BASE_URL) throw new Error('CASTERPAK_BASE_URL is not set: run the e2e tests through tests/browser/run.sh');
export const STACK = process.env.CASTERPAK_STACK ?? 'casterpak';
export const ARTIFACTS = process.env.CASTERPAK_ARTIFACTS ?? '/tmp/casterpak-browser-artifacts';
export const FULL = process.env.FULL === '1';

/** Titles served as single-rendition masters, /i/<name>.mp4/master.m3u8. */
export const TITLES = ['a_720p_60s', 'audio_only', 'video_only', 'hevc', 'irregular_gop', 'fragmented'];
export const CSMIL_DIR = '/i/clip_,low,medium,highdef,.mp4.csmil';
export const CSMIL_MASTER = `${CSMIL_DIR}/master.m3u8`;
/** Akamai's csmil-relative media playlists: the N-th rendition in URL order. */
export const CSMIL_RELATIVE = [0, 1, 2].map((n) => `${CSMIL_DIR}/index_${n}_av.m3u8`);
export const MASTERS = [CSMIL_MASTER, ...TITLES.map((name) => `/i/${name}.mp4/master.m3u8`)];

export const url = (path) => new URL(path, BASE_URL).href;
// ffmpeg's own HLS writes a DVB SDT (PID 17) before the PAT; casterpak must not.
export const LEADING_PIDS = STACK === 'ffmpeg' ? [17] : [];
