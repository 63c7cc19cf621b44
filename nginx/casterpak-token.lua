-- casterpak token authorization, run inside nginx by its Lua module (Debian:
-- libnginx-mod-http-lua) on every request under a protected prefix, cache hit or miss,
-- so a hit never needs the worker. The rules are those of src/token.rs (Akamai's hdnts):
--   st=<unix>~exp=<unix>~acl=<pattern>[!<pattern>...][~id=...][~data=...]~hmac=<64 hex>
-- signed as the text before "~hmac=", HMAC-SHA256 with the hex-decoded key.
--
-- The generated nginx config (casterpak nginx-conf) loads this file once per nginx
-- start in init_by_lua_block, calls configure() with the keys, the token name and the
-- protected prefixes, and keeps the module as package.loaded.casterpak_token.
--
-- Why Lua and not njs: njs runs each request in a fresh copy of its VM and cannot keep
-- anything between requests, so every hit paid a full parse and HMAC (2-3x the CPU of
-- an unprotected playlist hit, measured in docs/benchmarks.md). LuaJIT keeps one VM per
-- nginx worker: a token whose signature was verified once is remembered (bounded), and
-- later requests with it check only its times and ACL.

local bit = require("bit")
local ffi = require("ffi")

local M = {}

local MAX_TOKEN_BYTES = 4096
-- Verified tokens kept per nginx worker, in bytes of token text; past it the memory
-- starts again empty (only validly signed tokens ever enter, so it cannot be flooded
-- by forgeries).
local VERIFIED_BYTES = 4 * 1024 * 1024

ffi.cdef([[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]])

-- nginx links OpenSSL, so its symbols are usually already there; a standalone LuaJIT
-- (the tests) loads the library itself.
local function openssl()
    if pcall(function() return ffi.C.HMAC end) then
        return ffi.C
    end
    return ffi.load("libcrypto.so.3")
end
local crypto = openssl()
local digest = ffi.new("unsigned char[32]")
local digest_len = ffi.new("unsigned int[1]")

local settings = {
    keys = {},
    name = "hdnts",
    protect = {},
    internal = nil,
}
local verified = {}
local verified_bytes = 0

local function unhex(text)
    return (text:gsub("..", function(pair) return string.char(tonumber(pair, 16)) end))
end

-- keys: hex strings; name: the query parameter and cookie; protect: URL prefixes
-- whose requests are checked; internal: the prefix of the worker's internal redirects
-- (checked as the request they answer, so never again); propagation: "query",
-- "cookie" or "define", how playlists hand the token on; define_prefixes: prefixes
-- whose HLS playlists use "define" whatever propagation says. Under "define" the
-- worker wrote the token into HLS playlists as a variable (EXT-X-DEFINE:QUERYPARAM)
-- that the player fills in, so only MPDs are rewritten here.
function M.configure(options)
    settings.keys = {}
    for _, key in ipairs(options.keys or {}) do
        if key ~= "" then
            settings.keys[#settings.keys + 1] = unhex(key)
        end
    end
    settings.name = options.name or "hdnts"
    settings.cookie_var = "cookie_" .. settings.name
    settings.param_prefix = settings.name .. "="
    settings.protect = options.protect or {}
    settings.internal = options.internal
    settings.define_all = options.propagation == "define"
    settings.query = options.propagation == "query" or settings.define_all
    settings.cookie = options.propagation == "cookie"
    settings.define_prefixes = options.define_prefixes or {}
    settings.live = options.live
    settings.recordings = options.recordings
    verified = {}
    verified_bytes = 0
end

local function starts_with(text, prefix)
    return text:sub(1, #prefix) == prefix
end

-- Whether `pattern` (`*` matches any run of characters, `/` included) matches all of
-- `path`.
function M.matches(pattern, path)
    local parts = {}
    for part in (pattern .. "*"):gmatch("([^*]*)%*") do
        parts[#parts + 1] = part
    end
    if not starts_with(path, parts[1]) then
        return false
    end
    local rest = path:sub(#parts[1] + 1)
    if #parts == 1 then
        return #rest == 0
    end
    for i = 2, #parts - 1 do
        local at = rest:find(parts[i], 1, true)
        if not at then
            return false
        end
        rest = rest:sub(at + #parts[i])
    end
    local last = parts[#parts]
    return #rest >= #last and rest:sub(#rest - #last + 1) == last
end

local function digits(value)
    return #value >= 1 and #value <= 19 and not value:find("%D")
end

local KNOWN = { st = true, exp = true, acl = true, id = true, data = true }

-- The token's fields when it is well formed and signed by one of the keys, else the
-- reason it is not.
local function checked(token)
    local cut = token:find("~hmac=", 1, true)
    if not cut then
        return nil, "malformed token"
    end
    local signed = token:sub(1, cut - 1)
    local hmac = token:sub(cut + 6):lower()
    if #hmac ~= 64 or hmac:find("[^0-9a-f]") then
        return nil, "malformed token"
    end
    local fields = {}
    for field in (signed .. "~"):gmatch("([^~]*)~") do
        local eq = field:find("=", 1, true)
        local name = eq and field:sub(1, eq - 1) or ""
        local value = eq and field:sub(eq + 1) or ""
        if not KNOWN[name] or fields[name] ~= nil then
            return nil, "malformed token"
        end
        if (name == "st" or name == "exp") and not digits(value) then
            return nil, "malformed token"
        end
        fields[name] = value
    end
    if fields.exp == nil or not fields.acl or fields.acl == "" then
        return nil, "malformed token"
    end
    -- Every key is tried and the bytes compared in full: the time taken does not say
    -- which key, or how much of the signature, matched.
    local presented = unhex(hmac)
    local found = false
    for k = 1, #settings.keys do
        local key = settings.keys[k]
        crypto.HMAC(crypto.EVP_sha256(), key, #key, signed, #signed, digest, digest_len)
        local diff = 0
        for i = 0, 31 do
            diff = bit.bor(diff, bit.bxor(digest[i], presented:byte(i + 1)))
        end
        found = found or diff == 0
    end
    if not found then
        return nil, "bad token signature"
    end
    local patterns = {}
    for pattern in (fields.acl .. "!"):gmatch("([^!]*)!") do
        patterns[#patterns + 1] = pattern
    end
    return { st = fields.st and tonumber(fields.st), exp = tonumber(fields.exp), patterns = patterns }
end

-- Why `token` does not authorize `path` at `now` (unix seconds); "" when it does.
function M.refusal_of(token, path, now)
    if #token == 0 then
        return "missing token"
    end
    if #token > MAX_TOKEN_BYTES then
        return "malformed token"
    end
    local entry = verified[token]
    if not entry then
        local why
        entry, why = checked(token)
        if not entry then
            return why
        end
        if verified_bytes + #token > VERIFIED_BYTES then
            verified = {}
            verified_bytes = 0
        end
        verified[token] = entry
        verified_bytes = verified_bytes + #token
    end
    if entry.st and now < entry.st then
        return "token not yet valid"
    end
    if now >= entry.exp then
        return "token expired"
    end
    for i = 1, #entry.patterns do
        if M.matches(entry.patterns[i], path) then
            return ""
        end
    end
    return "token does not cover this path"
end

-- The value of the token's parameter in `query` (raw, not percent-decoded, as it was
-- signed), or nil.
local function in_query(query)
    if not query then
        return nil
    end
    local prefix = settings.param_prefix
    for param in query:gmatch("[^&]+") do
        if starts_with(param, prefix) then
            return param:sub(#prefix + 1)
        end
    end
    return nil
end

-- The query of the request line: after the worker's X-Accel-Redirect the arguments
-- are gone, the original request line is not.
local function original_query()
    local request_uri = ngx.var.request_uri or ""
    local q = request_uri:find("?", 1, true)
    return q and request_uri:sub(q + 1)
end

-- The token as the client sent it: the query parameter, else the cookie.
local function presented(query)
    return in_query(query) or ngx.var[settings.cookie_var] or ""
end

local function protected(uri)
    for i = 1, #settings.protect do
        if starts_with(uri, settings.protect[i]) then
            return true
        end
    end
    return false
end

-- The Set-Cookie value (propagation = "cookie") that hands a query token on to the
-- requests a playlist leads to; none for a token that would not survive as a cookie.
local function set_cookie(token)
    if token:find('[;,%s"\\]') or #token > MAX_TOKEN_BYTES then
        return
    end
    ngx.var.casterpak_token_cookie = settings.name .. "=" .. token .. "; Path=/; HttpOnly"
end

-- set_by_lua $casterpak_token_refusal, in the server's rewrite phase: "" lets the
-- request through; anything else is the reason it is refused (nginx answers 403 with
-- one line). Each nginx variable read costs about a microsecond here, so only what the
-- verdict needs is read: the URI, the query, and the cookie when the query has none.
function M.refusal()
    local uri = ngx.var.uri
    if settings.internal and starts_with(uri, settings.internal) then
        -- A fill's internal redirect, checked as the request it answers; its answer
        -- still needs the cookie.
        if settings.cookie then
            local token = in_query(original_query())
            if token then
                set_cookie(token)
            end
        end
        return ""
    end
    if not protected(uri) then
        return ""
    end
    -- A publisher's write under the live prefix is gated by its ingest credential
    -- (nginx's live location), not by a viewer's token.
    if settings.live and starts_with(uri, settings.live) then
        local method = ngx.var.request_method
        if method ~= "GET" and method ~= "HEAD" then
            return ""
        end
    end
    local query = ngx.var.args
    local from_query = in_query(query)
    local token = from_query or ngx.var[settings.cookie_var] or ""
    local why = M.refusal_of(token, uri, ngx.time())
    if why == "" then
        if settings.cookie and from_query then
            set_cookie(token)
        elseif settings.query and (not settings.define_all or uri:sub(-4) == ".mpd") then
            -- For the playlist filter, which would otherwise read both again (under
            -- "define" only MPDs reach it; ngx.ctx costs a table per request).
            local ctx = ngx.ctx
            ctx.casterpak_presented = token
            ctx.casterpak_uri = uri
        end
    end
    return why
end

-- The token as it goes into a URI's query: characters outside this set are
-- percent-encoded.
local function query_value(token)
    return (token:gsub("[^%w%-%._~=%*/!,:;@%+%%]", function(c)
        return string.format("%%%02X", c:byte())
    end))
end

-- For a gsub replacement string: `%` is its escape character.
local function literal(text)
    return (text:gsub("%%", "%%%%"))
end

local byte, find, sub, concat = string.byte, string.find, string.sub, table.concat

-- A tag line with `param` appended to each of its URI="..." attributes.
local function tag_with_token(line, param)
    local out, n, pos = {}, 0, 1
    while true do
        local _, open = find(line, 'URI="', pos, true)
        local close = open and find(line, '"', open + 1, true)
        if not close then
            break
        end
        out[n + 1] = sub(line, pos, close - 1)
        out[n + 2] = find(sub(line, open + 1, close - 1), "?", 1, true) and "&" or "?"
        out[n + 3] = param
        n = n + 3
        pos = close
    end
    out[n + 1] = sub(line, pos)
    return concat(out, "", 1, n + 1)
end

-- The playlist with `param` appended to every URI it lists: URI lines, and the URI
-- attributes of tags (EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY, EXT-X-MAP).
-- Plain finds over lines, no patterns: this runs on every playlist hit (gsub passes
-- took six times as long).
function M.propagate(text, param)
    local out, n, pos, len = {}, 0, 1, #text
    while pos <= len do
        local nl = find(text, "\n", pos, true) or (len + 1)
        local stop = nl - 1
        if stop >= pos and byte(text, stop) == 13 then
            stop = stop - 1
        end
        if stop >= pos then
            local line = sub(text, pos, stop)
            if byte(line, 1) ~= 35 then
                out[n + 1] = line
                out[n + 2] = find(line, "?", 1, true) and "&" or "?"
                out[n + 3] = param
                n = n + 3
            elseif find(line, 'URI="', 1, true) then
                n = n + 1
                out[n] = tag_with_token(line, param)
            else
                n = n + 1
                out[n] = line
            end
        end
        n = n + 1
        out[n] = sub(text, stop + 1, nl)
        pos = nl + 1
    end
    return concat(out, "", 1, n)
end

-- The MPD with `param` appended to the URI templates of its SegmentTemplates
-- (`initialization`, `media`): a query on the BaseURL would not reach the segments,
-- since resolving a relative reference drops the base's query. query_value leaves
-- nothing XML must escape; the separator `&` is escaped.
function M.propagate_manifest(text, param)
    local p = literal(param)
    for _, name in ipairs({ "initialization", "media" }) do
        text = text:gsub(" " .. name .. '="([^"]*%?[^"]*)"', " " .. name .. '="%1&amp;' .. p .. '"')
        text = text:gsub(" " .. name .. '="([^"?]*)"', " " .. name .. '="%1?' .. p .. '"')
    end
    return text
end

-- Whether the HLS playlist at `uri` carries the token as a variable (written by the
-- worker) rather than having it appended here. A fill's internal redirect is looked
-- at as the public URI it answers (ngx.ctx does not survive the redirect).
local function substituted(uri)
    if settings.internal and starts_with(uri, settings.internal) then
        uri = "/" .. uri:sub(#settings.internal + 1)
    end
    -- Live playlists are the publisher's, recordings' the recorder's: nothing wrote a
    -- variable into them.
    if settings.live and starts_with(uri, settings.live) then
        return false
    end
    if settings.recordings and starts_with(uri, settings.recordings) then
        return false
    end
    if settings.define_all then
        return true
    end
    for _, prefix in ipairs(settings.define_prefixes) do
        if starts_with(uri, prefix) then
            return true
        end
    end
    return false
end

local function playlist_type(content_type)
    if not content_type then
        return nil
    end
    if starts_with(content_type, "application/vnd.apple.mpegurl") then
        return "hls"
    end
    if starts_with(content_type, "application/dash+xml") then
        return "dash"
    end
    return nil
end

-- header_filter_by_lua (propagation = "query"): a playlist with a token will be
-- rewritten, so its length goes (its ETag too, but the config's `etag off` does that
-- for less: the body depends on the token as well as the file). `by_extension`: the
-- location serves files, whose type nginx took from the extension, so the URI says
-- which kind of playlist it is without reading the header back.
function M.playlist_headers(by_extension)
    local ctx = ngx.ctx
    local token = ctx.casterpak_presented or presented(original_query())
    if token == "" then
        return
    end
    local kind
    if by_extension then
        local uri = ctx.casterpak_uri or ngx.var.uri
        if uri:sub(-4) == ".mpd" then
            kind = "dash"
        elseif uri:sub(-5) == ".m3u8" then
            kind = "hls"
        else
            return
        end
    else
        kind = playlist_type(ngx.header["Content-Type"])
        if not kind then
            return
        end
    end
    if kind == "hls" and substituted(ctx.casterpak_uri or ngx.var.uri) then
        return
    end
    ngx.header["Content-Length"] = nil
    -- A verified token keeps its encoded form: the next playlist with it skips the encoding.
    local entry = verified[token]
    local param = entry and entry.param
    if not param then
        param = settings.name .. "=" .. query_value(token)
        if entry then
            entry.param = param
        end
    end
    ctx.casterpak_token = { kind = kind, param = param }
end

-- body_filter_by_lua (propagation = "query"): playlists are small; they are collected
-- whole, rewritten, and sent on as one buffer. Anything else passes untouched.
function M.playlist_body()
    local state = ngx.ctx.casterpak_token
    if not state then
        return
    end
    local chunk, last = ngx.arg[1], ngx.arg[2]
    local text
    if last and not state.parts then
        -- The common case: a small file arrives in one buffer with the last flag.
        text = chunk or ""
    else
        state.parts = state.parts or {}
        if chunk and chunk ~= "" then
            state.parts[#state.parts + 1] = chunk
        end
        if not last then
            ngx.arg[1] = nil
            return
        end
        text = concat(state.parts)
    end
    if state.kind == "dash" then
        ngx.arg[1] = M.propagate_manifest(text, state.param)
    else
        ngx.arg[1] = M.propagate(text, state.param)
    end
end

return M
