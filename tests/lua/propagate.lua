-- Runs the playlist rewriting of nginx/casterpak-token.lua outside nginx (LuaJIT) for
-- tests/e2e/token_lua.rs:  luajit propagate.lua SCRIPT PARAM < cases
-- Each case on stdin and each answer on stdout is "<byte length>\n<bytes>": the
-- playlist, then what M.propagate makes of it.
local token = dofile(arg[1])
local param = arg[2]
while true do
    local header = io.read("*l")
    if not header then
        break
    end
    local text = io.read(tonumber(header)) or ""
    local out = token.propagate(text, param)
    io.write(#out, "\n", out)
end
