// casterpak token authorization, run by nginx's njs module (Debian: libnginx-mod-http-js)
// on every request under a protected prefix, cache hit or miss, so a hit never needs the
// worker. The rules are those of src/token.rs (Akamai's hdnts form):
//   st=<unix>~exp=<unix>~acl=<pattern>[!<pattern>…][~id=…][~data=…]~hmac=<64 hex>
// signed as the text before "~hmac=", HMAC-SHA256 with the hex-decoded key.
// The generated nginx config (casterpak nginx-conf) sets $casterpak_token_keys (hex keys,
// space-separated) and $casterpak_token_name (query parameter and cookie name).

import crypto from 'crypto';

const MAX_TOKEN_BYTES = 4096;
const HEX64 = /^[0-9a-f]{64}$/;
const DIGITS = /^[0-9]{1,19}$/;

// The token as the client sent it: the query parameter, else the cookie. Raw (not
// percent-decoded), as it was signed. $request_uri, not $args: after the worker's
// X-Accel-Redirect the arguments are gone, the original request line is not.
function presented(r) {
    const name = r.variables.casterpak_token_name;
    // The common case first: the original request, whose $arg_ is the raw parameter.
    const arg = r.variables['arg_' + name];
    if (arg) {
        return arg;
    }
    const query = (r.variables.request_uri || '').split('?')[1];
    if (query !== undefined) {
        const params = query.split('&');
        for (let i = 0; i < params.length; i++) {
            if (params[i].startsWith(name + '=')) {
                return params[i].slice(name.length + 1);
            }
        }
    }
    return r.variables['cookie_' + name] || '';
}

function fromQuery(r) {
    const name = r.variables.casterpak_token_name;
    const query = (r.variables.request_uri || '').split('?')[1] || '';
    return query.split('&').some((p) => p.startsWith(name + '='));
}

// Whether `pattern` (`*` matches any run of characters) matches all of `path`.
function matches(pattern, path) {
    const parts = pattern.split('*');
    if (!path.startsWith(parts[0])) {
        return false;
    }
    let rest = path.slice(parts[0].length);
    if (parts.length === 1) {
        return rest.length === 0;
    }
    for (let i = 1; i < parts.length - 1; i++) {
        const at = rest.indexOf(parts[i]);
        if (at < 0) {
            return false;
        }
        rest = rest.slice(at + parts[i].length);
    }
    return rest.endsWith(parts[parts.length - 1]);
}

// Whether `token`'s signature (32 bytes) is the HMAC-SHA256 of `signed` under one of
// the hex `keys`: compared in constant time, over bytes rather than hex characters, in
// plain loops (closures and a character loop cost a third of a hit's check here).
function signedByAKey(keys, signed, signature) {
    const presented = Buffer.from(signature, 'hex');
    let found = false;
    for (let k = 0; k < keys.length; k++) {
        if (!keys[k]) {
            continue;
        }
        const want = crypto.createHmac('sha256', Buffer.from(keys[k], 'hex')).update(signed).digest();
        let diff = 0;
        for (let i = 0; i < 32; i++) {
            diff |= want[i] ^ presented[i];
        }
        found = found || diff === 0;
    }
    return found;
}

// Why `token` does not authorize `path` now; '' when it does.
function refusalOf(r, token, path) {
    if (token.length === 0) {
        return 'missing token';
    }
    if (token.length > MAX_TOKEN_BYTES) {
        return 'malformed token';
    }
    const cut = token.indexOf('~hmac=');
    if (cut < 0) {
        return 'malformed token';
    }
    const signed = token.slice(0, cut);
    const hmac = token.slice(cut + 6).toLowerCase();
    if (!HEX64.test(hmac)) {
        return 'malformed token';
    }
    const fields = {};
    const list = signed.split('~');
    for (let i = 0; i < list.length; i++) {
        const eq = list[i].indexOf('=');
        const name = eq < 0 ? '' : list[i].slice(0, eq);
        const value = list[i].slice(eq + 1);
        const known = name === 'st' || name === 'exp' || name === 'acl' || name === 'id'
            || name === 'data';
        if (!known || fields[name] !== undefined) {
            return 'malformed token';
        }
        if ((name === 'st' || name === 'exp') && !DIGITS.test(value)) {
            return 'malformed token';
        }
        fields[name] = value;
    }
    if (fields.exp === undefined || !fields.acl) {
        return 'malformed token';
    }
    const keys = (r.variables.casterpak_token_keys || '').split(' ');
    if (!signedByAKey(keys, signed, hmac)) {
        return 'bad token signature';
    }
    const now = Math.floor(Date.now() / 1000);
    if (fields.st !== undefined && now < Number(fields.st)) {
        return 'token not yet valid';
    }
    if (now >= Number(fields.exp)) {
        return 'token expired';
    }
    const patterns = fields.acl.split('!');
    for (let i = 0; i < patterns.length; i++) {
        if (matches(patterns[i], path)) {
            return '';
        }
    }
    return 'token does not cover this path';
}

// js_set $casterpak_token_refusal: '' lets the request through; anything else is the
// reason it is refused (nginx answers 403 and logs nothing more).
function refusal(r) {
    return refusalOf(r, presented(r), r.uri);
}

// js_set $casterpak_token_cookie (propagation = "cookie"): the Set-Cookie value that
// hands a query token on to the requests a playlist leads to; '' (no header) otherwise.
function cookie(r) {
    if (!fromQuery(r)) {
        return '';
    }
    const token = presented(r);
    if (/[;,\s"\\]/.test(token) || token.length > MAX_TOKEN_BYTES) {
        return '';
    }
    return r.variables.casterpak_token_name + '=' + token + '; Path=/; HttpOnly';
}

function isPlaylist(r) {
    const type = r.headersOut['Content-Type'] || '';
    return type.startsWith('application/vnd.apple.mpegurl') || isManifest(type);
}

function isManifest(type) {
    return type.startsWith('application/dash+xml');
}

// js_header_filter (propagation = "query"): the body grows, so its length goes; its
// validators go too, since the body now depends on the token as well as the file.
function playlistHeaders(r) {
    if (isPlaylist(r) && presented(r)) {
        delete r.headersOut['Content-Length'];
        delete r.headersOut['ETag'];
    }
}

// Characters kept as they are when the token goes into a URI's query.
function queryValue(token) {
    return token.replace(/[^A-Za-z0-9\-._~=*\/!,:;@+%]/g,
        (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}

function withToken(uri, param) {
    const hash = uri.indexOf('#');
    const base = hash < 0 ? uri : uri.slice(0, hash);
    const tail = hash < 0 ? '' : uri.slice(hash);
    return base + (base.indexOf('?') < 0 ? '?' : '&') + param + tail;
}

// The playlist with the token appended to every URI it lists: URI lines, and the URI
// attributes of tags (EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY, EXT-X-MAP).
// Plain loops and a regex only on the few tags that hold a URI: this runs on every
// playlist hit.
function propagate(text, param) {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        if (line.length === 0 || line === '\r') {
            continue;
        }
        if (line.charCodeAt(0) === 35 /* # */) {
            if (line.indexOf('URI="') >= 0) {
                lines[i] = line.replace(/URI="([^"]*)"/g, (all, uri) => 'URI="' + withToken(uri, param) + '"');
            }
            continue;
        }
        const cr = line.endsWith('\r');
        lines[i] = withToken(cr ? line.slice(0, -1) : line, param) + (cr ? '\r' : '');
    }
    return lines.join('\n');
}

// The MPD with the token appended to the URI templates of its SegmentTemplates
// (`initialization`, `media`): a query on the BaseURL would not reach the segments,
// since resolving a relative reference drops the base's query. The token as
// queryValue encodes it holds nothing XML must escape; the separator may.
function propagateManifest(text, param) {
    return text.replace(/ (initialization|media)="([^"]*)"/g,
        (all, name, uri) => ' ' + name + '="' + uri + (uri.indexOf('?') < 0 ? '?' : '&amp;') + param + '"');
}

// njs runs each request in its own copy of this module, so these are one response's.
let collected = '';
let param;
let manifest = false;

// js_body_filter (propagation = "query"): playlists are small; they are collected whole,
// rewritten, and sent on as one buffer. Anything else passes untouched.
function playlistBody(r, data, flags) {
    if (param === undefined) {
        const token = isPlaylist(r) ? presented(r) : '';
        param = token ? r.variables.casterpak_token_name + '=' + queryValue(token) : '';
        manifest = isManifest(r.headersOut['Content-Type'] || '');
    }
    if (!param) {
        r.sendBuffer(data, flags);
        return;
    }
    collected += data;
    if (flags.last) {
        const text = manifest ? propagateManifest(collected, param) : propagate(collected, param);
        r.sendBuffer(text, flags);
    }
}

export default { refusal, cookie, playlistHeaders, playlistBody, matches, propagate, propagateManifest };
