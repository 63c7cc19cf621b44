// Which hls.js error events fail a playback test. Pure, so it has its own unit tests.

/**
 * The hls.js errors that fail a test. hls.js recovers by itself from stalls on a busy machine,
 * and from a hole of a few frames before the first frame (B-frame delay: the first video PTS
 * comes after the first DTS); those pass (the player test prints its whole record). Any fatal error, or a hole after
 * the first fragment (a real gap between segments), fails. A fragment load hls.js aborted
 * itself (a seek while it was loading: details 'aborted', not fatal) is the player's own
 * cancel, not an origin failure, and passes too.
 */
export function intolerableErrors(hlsErrors) {
  const tolerated = (e) => !e.fatal && (['bufferStalledError', 'bufferNudgeOnStall'].includes(e.details)
    || (e.details === 'bufferSeekOverHole' && e.fragStart === 0)
    || (e.type === 'networkError' && e.details === 'aborted'));
  return hlsErrors.filter((e) => !tolerated(e));
}
