// The demo page's own lock (nginx/demo/package-lock.json, installed by scripts/start-origin.sh)
// pins the same hls.js, byte for byte (integrity hash), as this suite's lock, so the player the
// tests play is the one a new user gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
const hls = (lock) => lock.packages['node_modules/hls.js'];

test('the demo lock pins the hls.js of the browser suite', () => {
  const demo = read('../../../nginx/demo/package-lock.json');
  const suite = read('../package-lock.json');
  assert.ok(hls(demo) && hls(suite), 'both locks list hls.js');
  assert.equal(hls(demo).version, hls(suite).version);
  assert.equal(hls(demo).integrity, hls(suite).integrity);
  assert.deepEqual(Object.keys(demo.packages), ['', 'node_modules/hls.js']); // nothing else to install
});
