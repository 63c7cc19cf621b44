import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intolerableErrors } from '../lib/player-errors.js';

const error = (details, extra = {}) => ({ type: 'mediaError', details, fatal: false, fragStart: 0, ...extra });

test('fatal errors, media errors of other kinds and holes after the first fragment fail', () => {
  const failing = [
    error('bufferStalledError', { fatal: true }),
    error('bufferAppendError'),
    error('fragParsingError', { type: 'mediaError' }),
    error('bufferSeekOverHole', { fragStart: 12 }),
    error('manifestLoadError', { type: 'networkError', fatal: true }),
    error('aborted', { type: 'networkError', fatal: true }),
    error('fragLoadError', { type: 'networkError' }),
  ];
  assert.deepEqual(intolerableErrors(failing), failing);
});

test('recoverable stalls and a hole before the first frame are tolerated', () => {
  assert.deepEqual(intolerableErrors([error('bufferStalledError'), error('bufferNudgeOnStall'), error('bufferSeekOverHole')]), []);
});

test('a fragment load the player aborted itself (a seek) is tolerated', () => {
  assert.deepEqual(intolerableErrors([error('aborted', { type: 'networkError', fragStart: 42 })]), []);
});
