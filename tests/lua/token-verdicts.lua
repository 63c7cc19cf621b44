-- Runs nginx/casterpak-token.lua outside nginx (LuaJIT) for tests/e2e/token_lua.rs:
--   luajit token-verdicts.lua SCRIPT KEYS < cases
-- KEYS: hex keys, comma-separated. Each input line is "<now>\t<path>\t<token>"; each
-- output line is the script's verdict for it ("" when the token authorizes the path).
local script, keys = arg[1], arg[2]
local token = dofile(script)
local list = {}
for key in keys:gmatch("[^,]+") do
    list[#list + 1] = key
end
token.configure({ keys = list, name = "hdnts", protect = { "/" }, propagation = "query" })
for line in io.lines() do
    local now, path, text = line:match("^(%d+)\t([^\t]*)\t(.*)$")
    assert(now, "bad case line: " .. line)
    io.write(token.refusal_of(text, path, tonumber(now)), "\n")
end
