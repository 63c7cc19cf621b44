// RFC 8216 checks of one playlist's text, plus the casterpak contract (VOD media playlists,
// CODECS/RESOLUTION/FRAME-RATE on video variants). Pure: text in, findings out. It is our
// own reading of the RFC, independent of hls-parser, so the two are a second opinion each.

const MASTER_TAGS = new Set([
  'EXT-X-STREAM-INF', 'EXT-X-MEDIA', 'EXT-X-I-FRAME-STREAM-INF', 'EXT-X-SESSION-DATA', 'EXT-X-SESSION-KEY',
]);
const MEDIA_TAGS = new Set([
  'EXTINF', 'EXT-X-TARGETDURATION', 'EXT-X-MEDIA-SEQUENCE', 'EXT-X-DISCONTINUITY-SEQUENCE', 'EXT-X-ENDLIST',
  'EXT-X-PLAYLIST-TYPE', 'EXT-X-I-FRAMES-ONLY', 'EXT-X-BYTERANGE', 'EXT-X-DISCONTINUITY', 'EXT-X-KEY',
  'EXT-X-MAP', 'EXT-X-PROGRAM-DATE-TIME', 'EXT-X-DATERANGE',
]);
const VIDEO_CODEC = /^(avc1|avc3|hvc1|hev1|dvh1|dvhe|av01|vp09|mp4v)\./;
const DECIMAL_INTEGER = /^[0-9]{1,20}$/;
const DECIMAL_FLOAT = /^[0-9]+(\.[0-9]+)?$/;

/** Splits an attribute list (RFC 8216 4.2) into a Map; throws on a syntax error or a duplicate name. */
export function parseAttributeList(text) {
  const attributes = new Map();
  let rest = text;
  while (rest.length > 0) {
    const match = /^([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]+)/.exec(rest);
    if (!match) throw new Error(`bad attribute list at "${rest}"`);
    const [whole, name, value] = match;
    if (attributes.has(name)) throw new Error(`attribute ${name} appears twice`);
    attributes.set(name, value);
    rest = rest.slice(whole.length);
    if (rest.startsWith(',')) {
      rest = rest.slice(1);
      if (rest.length === 0) throw new Error('attribute list ends with a comma');
    } else if (rest.length > 0) {
      throw new Error(`expected a comma at "${rest}"`);
    }
  }
  return attributes;
}

/** The value of a quoted-string attribute without its quotes, or undefined. */
export function unquote(value) {
  if (value === undefined) return undefined;
  return value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

function splitTag(line) {
  const colon = line.indexOf(':');
  return colon < 0 ? [line.slice(1), ''] : [line.slice(1, colon), line.slice(colon + 1)];
}

/**
 * Checks a playlist. Returns { kind: 'master'|'media', problems: string[], version,
 * variants: [{uri, attributes}], segments: [{uri, duration}], targetDuration, mediaSequence }.
 * `problems` is empty for a valid playlist.
 */
export function checkPlaylist(text) {
  const problems = [];
  const result = { kind: undefined, problems, version: 1, variants: [], segments: [], media: [] };
  if (text.includes('\r')) problems.push('CR in the playlist: lines must end with LF only');
  const lines = text.split('\n');
  if (lines[0] !== '#EXTM3U') problems.push('first line is not #EXTM3U');

  let required = { version: 1, why: 'the base protocol' };
  const need = (version, why) => { if (version > required.version) required = { version, why }; };
  const seen = new Map();
  let pendingDuration; // EXTINF waiting for its URI
  let pendingVariant; // EXT-X-STREAM-INF waiting for its URI
  let iFramesOnly = false;
  let sawMap = false;

  lines.slice(1).forEach((line, index) => {
    const lineNo = index + 2;
    if (line === '') return;
    if (!line.startsWith('#')) {
      if (pendingVariant) {
        result.variants.push({ uri: line, attributes: pendingVariant });
        pendingVariant = undefined;
      } else if (pendingDuration !== undefined) {
        result.segments.push({ uri: line, duration: pendingDuration.value, text: pendingDuration.text });
        pendingDuration = undefined;
      } else {
        problems.push(`line ${lineNo}: URI "${line}" without EXTINF or EXT-X-STREAM-INF before it`);
      }
      return;
    }
    if (!line.startsWith('#EXT')) return; // a comment
    const [tag, value] = splitTag(line);
    seen.set(tag, (seen.get(tag) ?? 0) + 1);
    if (MASTER_TAGS.has(tag)) result.kind = result.kind === 'media' ? 'mixed' : result.kind ?? 'master';
    if (MEDIA_TAGS.has(tag)) result.kind = result.kind === 'master' ? 'mixed' : result.kind ?? 'media';
    switch (tag) {
      case 'EXT-X-VERSION':
        if (!DECIMAL_INTEGER.test(value) || Number(value) < 1) problems.push(`line ${lineNo}: bad EXT-X-VERSION "${value}"`);
        else result.version = Number(value);
        break;
      case 'EXT-X-TARGETDURATION':
        if (!DECIMAL_INTEGER.test(value)) problems.push(`line ${lineNo}: EXT-X-TARGETDURATION "${value}" is not a decimal integer`);
        else result.targetDuration = Number(value);
        break;
      case 'EXT-X-MEDIA-SEQUENCE':
        if (result.segments.length > 0 || pendingDuration) problems.push(`line ${lineNo}: EXT-X-MEDIA-SEQUENCE after the first segment`);
        if (!DECIMAL_INTEGER.test(value)) problems.push(`line ${lineNo}: EXT-X-MEDIA-SEQUENCE "${value}" is not a decimal integer`);
        else result.mediaSequence = Number(value);
        break;
      case 'EXT-X-PLAYLIST-TYPE':
        if (value !== 'VOD' && value !== 'EVENT') problems.push(`line ${lineNo}: EXT-X-PLAYLIST-TYPE "${value}"`);
        result.playlistType = value;
        break;
      case 'EXTINF': {
        const durationText = value.split(',')[0];
        if (!value.includes(',')) problems.push(`line ${lineNo}: EXTINF without the comma before its title`);
        if (!DECIMAL_FLOAT.test(durationText)) {
          problems.push(`line ${lineNo}: EXTINF duration "${durationText}" is not a decimal number`);
        } else if (Number(durationText) <= 0) {
          problems.push(`line ${lineNo}: EXTINF duration ${durationText} is not positive`);
        }
        if (durationText.includes('.')) need(3, 'a decimal EXTINF duration');
        if (pendingDuration !== undefined) problems.push(`line ${lineNo}: EXTINF follows an EXTINF with no URI between`);
        pendingDuration = { value: Number(durationText), text: durationText };
        break;
      }
      case 'EXT-X-BYTERANGE': need(4, 'EXT-X-BYTERANGE'); break;
      case 'EXT-X-I-FRAMES-ONLY': need(4, 'EXT-X-I-FRAMES-ONLY'); iFramesOnly = true; break;
      case 'EXT-X-MAP': sawMap = true; break;
      case 'EXT-X-KEY':
      case 'EXT-X-SESSION-KEY':
        if (/(^|,)IV=/.test(value)) need(2, `the IV attribute of ${tag}`);
        if (/(^|,)KEYFORMAT(VERSIONS)?=/.test(value)) need(5, `KEYFORMAT attributes of ${tag}`);
        break;
      case 'EXT-X-MEDIA':
        try {
          const attributes = parseAttributeList(value);
          result.media.push({ line: lineNo, attributes });
          const id = unquote(attributes.get('INSTREAM-ID'));
          if (id && id.startsWith('SERVICE')) need(7, 'an INSTREAM-ID SERVICE value');
        } catch (error) {
          problems.push(`line ${lineNo}: ${error.message}`);
        }
        break;
      case 'EXT-X-STREAM-INF':
        if (pendingVariant) problems.push(`line ${lineNo}: EXT-X-STREAM-INF follows one with no URI between`);
        try {
          pendingVariant = parseAttributeList(value);
        } catch (error) {
          problems.push(`line ${lineNo}: ${error.message}`);
          pendingVariant = new Map();
        }
        break;
      default:
        break;
    }
  });

  if (pendingDuration !== undefined) problems.push('the last EXTINF has no URI');
  if (pendingVariant) problems.push('the last EXT-X-STREAM-INF has no URI');
  if (sawMap) need(iFramesOnly ? 5 : 6, 'EXT-X-MAP');
  for (const [tag, count] of seen) {
    const once = ['EXT-X-VERSION', 'EXT-X-TARGETDURATION', 'EXT-X-MEDIA-SEQUENCE', 'EXT-X-PLAYLIST-TYPE',
      'EXT-X-ENDLIST', 'EXT-X-INDEPENDENT-SEGMENTS'];
    if (count > 1 && once.includes(tag)) problems.push(`${tag} appears ${count} times`);
  }
  if (result.version < required.version) {
    problems.push(`EXT-X-VERSION ${result.version} does not cover ${required.why} (needs ${required.version})`);
  }
  result.endList = seen.has('EXT-X-ENDLIST');
  result.independentSegments = seen.has('EXT-X-INDEPENDENT-SEGMENTS');
  if (result.kind === 'mixed') problems.push('master and media playlist tags in one playlist');
  else if (result.kind === 'master') checkMaster(result, problems);
  else checkMedia(result, problems);
  return result;
}

function checkMedia(result, problems) {
  result.kind = 'media';
  if (result.targetDuration === undefined) problems.push('no EXT-X-TARGETDURATION');
  if (result.segments.length === 0) problems.push('no segments');
  for (const [index, segment] of result.segments.entries()) {
    // RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer must not exceed the target.
    if (result.targetDuration !== undefined && Math.round(segment.duration) > result.targetDuration) {
      problems.push(`segment ${index} (${segment.uri}): EXTINF ${segment.text} rounds above EXT-X-TARGETDURATION ${result.targetDuration}`);
    }
  }
  if (result.playlistType === 'VOD' && !result.endList) problems.push('EXT-X-PLAYLIST-TYPE:VOD without EXT-X-ENDLIST');
}

/** The variant attribute that names a group of each EXT-X-MEDIA TYPE. */
const GROUP_ATTRIBUTE = { AUDIO: 'AUDIO', VIDEO: 'VIDEO', SUBTITLES: 'SUBTITLES', 'CLOSED-CAPTIONS': 'CLOSED-CAPTIONS' };

/**
 * RFC 8216 4.3.4.1-2 and Apple's authoring rules for renditions: TYPE, GROUP-ID and NAME
 * present, NAME unique in its group, exactly one DEFAULT=YES per audio or video group (a
 * player must start on one) and at most one per subtitles or captions group (none: off
 * until chosen), DEFAULT=YES only with AUTOSELECT=YES, a URI for subtitles and none for
 * captions, and every group a variant names listed.
 */
function checkRenditions(result, problems) {
  const groups = new Map(); // "TYPE GROUP-ID" → { names, defaults }
  for (const { line, attributes } of result.media) {
    const type = attributes.get('TYPE');
    const group = unquote(attributes.get('GROUP-ID'));
    const name = unquote(attributes.get('NAME'));
    const where = `line ${line}`;
    if (!GROUP_ATTRIBUTE[type]) { problems.push(`${where}: EXT-X-MEDIA TYPE ${type}`); continue; }
    if (!group || !name) { problems.push(`${where}: EXT-X-MEDIA without GROUP-ID or NAME`); continue; }
    const key = `${type} ${group}`;
    const entry = groups.get(key) ?? { names: new Set(), defaults: 0 };
    groups.set(key, entry);
    if (entry.names.has(name)) problems.push(`${where}: NAME "${name}" twice in ${key}`);
    entry.names.add(name);
    const isDefault = attributes.get('DEFAULT') === 'YES';
    if (isDefault) entry.defaults += 1;
    if (isDefault && attributes.has('AUTOSELECT') && attributes.get('AUTOSELECT') !== 'YES') {
      problems.push(`${where}: DEFAULT=YES with AUTOSELECT=${attributes.get('AUTOSELECT')}`);
    }
    if (type === 'SUBTITLES' && !attributes.has('URI')) problems.push(`${where}: SUBTITLES without URI`);
    if (type === 'CLOSED-CAPTIONS' && attributes.has('URI')) problems.push(`${where}: CLOSED-CAPTIONS with a URI`);
  }
  for (const [key, { defaults }] of groups) {
    const optional = key.startsWith('SUBTITLES ') || key.startsWith('CLOSED-CAPTIONS ');
    if (defaults > 1 || (defaults === 0 && !optional)) {
      problems.push(`${key}: ${defaults} renditions with DEFAULT=YES, not one`);
    }
  }
  for (const { uri, attributes } of result.variants) {
    for (const [type, attribute] of Object.entries(GROUP_ATTRIBUTE)) {
      const group = attributes.get(attribute);
      if (group === undefined || group === 'NONE') continue;
      if (!groups.has(`${type} ${unquote(group)}`)) problems.push(`variant ${uri}: ${attribute} group ${group} is not listed`);
    }
  }
}

function checkMaster(result, problems) {
  if (result.variants.length === 0) problems.push('master playlist without variants');
  checkRenditions(result, problems);
  for (const { uri, attributes } of result.variants) {
    const where = `variant ${uri}`;
    const bandwidth = attributes.get('BANDWIDTH');
    if (bandwidth === undefined || !DECIMAL_INTEGER.test(bandwidth)) problems.push(`${where}: BANDWIDTH missing or not an integer`);
    const average = attributes.get('AVERAGE-BANDWIDTH');
    if (average !== undefined) {
      if (!DECIMAL_INTEGER.test(average)) problems.push(`${where}: AVERAGE-BANDWIDTH not an integer`);
      else if (Number(average) > Number(bandwidth)) problems.push(`${where}: AVERAGE-BANDWIDTH ${average} above BANDWIDTH ${bandwidth}`);
    }
    if (attributes.has('PROGRAM-ID') && result.version >= 6) problems.push(`${where}: PROGRAM-ID was removed in protocol version 6`);
    const codecs = unquote(attributes.get('CODECS'));
    if (codecs === undefined || codecs === '') {
      problems.push(`${where}: no CODECS`);
      continue;
    }
    const resolution = attributes.get('RESOLUTION');
    if (resolution !== undefined && !/^[1-9][0-9]*x[1-9][0-9]*$/.test(resolution)) problems.push(`${where}: bad RESOLUTION ${resolution}`);
    const frameRate = attributes.get('FRAME-RATE');
    if (frameRate !== undefined && !(DECIMAL_FLOAT.test(frameRate) && Number(frameRate) > 0)) problems.push(`${where}: bad FRAME-RATE ${frameRate}`);
    if (codecs.split(',').some((codec) => VIDEO_CODEC.test(codec.trim()))) {
      if (resolution === undefined) problems.push(`${where}: video variant without RESOLUTION`);
      if (frameRate === undefined) problems.push(`${where}: video variant without FRAME-RATE`);
    }
  }
}

/** The casterpak contract for media playlists on top of RFC 8216 (product spec, "URLs"). */
export function checkCasterpakMedia(result) {
  const problems = [];
  if (result.playlistType !== 'VOD') problems.push('no EXT-X-PLAYLIST-TYPE:VOD');
  if (!result.independentSegments) problems.push('no EXT-X-INDEPENDENT-SEGMENTS');
  if (!result.endList) problems.push('no EXT-X-ENDLIST');
  if (result.mediaSequence !== 1) problems.push(`EXT-X-MEDIA-SEQUENCE is ${result.mediaSequence}, not 1`);
  for (const [index, segment] of result.segments.entries()) {
    const number = /^segment([0-9]+)_[0-9]+_av\.ts$/.exec(segment.uri)?.[1];
    if (Number(number) !== index + 1) problems.push(`segment ${index}: URI ${segment.uri} does not carry number ${index + 1}`);
  }
  return problems;
}

/**
 * BANDWIDTH and AVERAGE-BANDWIDTH of a variant against its segments ([{ duration, size }] in
 * seconds and bytes). RFC 8216 4.3.4.2: BANDWIDTH must be at least the peak segment bit rate,
 * the largest rate of any run of segments lasting 0.5 to 1.5 target durations; the casterpak
 * contract makes it that peak as measured on what is served (so not above the largest single
 * segment's rate) and AVERAGE-BANDWIDTH the mean over the whole playlist.
 */
export function checkVariantBandwidth(attributes, segments, targetDuration) {
  const problems = [];
  const bandwidth = Number(attributes.get('BANDWIDTH'));
  const rate = (run) => (8 * run.reduce((sum, s) => sum + s.size, 0)) / run.reduce((sum, s) => sum + s.duration, 0);
  let peak = 0;
  for (let first = 0; first < segments.length; first += 1) {
    let duration = 0;
    for (let last = first; last < segments.length && duration <= 1.5 * targetDuration; last += 1) {
      duration += segments[last].duration;
      if (duration >= 0.5 * targetDuration && duration <= 1.5 * targetDuration) peak = Math.max(peak, rate(segments.slice(first, last + 1)));
    }
  }
  const largestSingle = Math.max(...segments.map((s) => rate([s])));
  if (bandwidth < Math.floor(peak)) problems.push(`BANDWIDTH ${bandwidth} is below the peak segment bit rate ${Math.round(peak)}`);
  if (bandwidth > Math.ceil(largestSingle * 1.01)) problems.push(`BANDWIDTH ${bandwidth} is above every segment's bit rate (largest ${Math.round(largestSingle)})`);
  const average = attributes.get('AVERAGE-BANDWIDTH');
  if (average !== undefined) {
    const mean = rate(segments);
    if (Math.abs(Number(average) - mean) > mean * 0.02) problems.push(`AVERAGE-BANDWIDTH ${average} is not the mean bit rate ${Math.round(mean)}`);
  }
  return problems;
}
