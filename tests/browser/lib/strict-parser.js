// hls-parser configured once in strict mode, so every caller gets the same, throwing parser.
import HLS from 'hls-parser';

HLS.setOptions({ strictMode: true, silent: true });

/** Parses a playlist with hls-parser in strict mode; throws on any violation it knows. */
export const parseStrict = (text) => HLS.parse(text);
