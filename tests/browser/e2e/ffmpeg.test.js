// ffmpeg decodes every master and media playlist over HTTP without a single error line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { crawlPlaylists } from './crawl.js';
import { MASTERS, url } from './catalog.js';

const { media } = await crawlPlaylists();
const targets = [...MASTERS.map(url), ...media.map((m) => m.url)];

function decode(target) {
  return new Promise((resolve) => {
    const child = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-i', target, '-map', '0', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

for (const target of targets) {
  test(`ffmpeg decodes ${target}`, { timeout: 120_000 }, async () => {
    const { code, stderr } = await decode(target);
    assert.equal(stderr, '', `ffmpeg printed errors for ${target}`);
    assert.equal(code, 0);
  });
}
