//! The nginx side of `[token_auth]`: nginx's Lua module runs `nginx/casterpak-token.lua`,
//! which checks the token of every request under a protected prefix in the server's
//! rewrite phase, before any location, so it covers hits, misses and every URL form
//! alike; and hands the token on from playlists (a body filter on playlists, or a
//! cookie). Each function returns "" when nothing is protected, so the default config is
//! unchanged.

use super::{CORS, PREFLIGHT};
use crate::config::{Config, Propagation};
use std::fmt::Write;

/// Where Debian's libnginx-mod-http-ndk and libnginx-mod-http-lua put the modules
/// (standalone configs load them; the Lua module needs the development kit first).
pub const LUA_MODULES: [&str; 2] = [
    "/usr/lib/nginx/modules/ndk_http_module.so",
    "/usr/lib/nginx/modules/ngx_http_lua_module.so",
];

/// The regex of what the Lua body filter rewrites as nginx serves it: every playlist
/// ("query"); MPDs and recordings' playlists ("define": the worker's HLS playlists
/// carry the token as a variable, DASH has no such thing, and a recording's playlists
/// are written by the recorder, not packaged); nothing ("cookie").
fn filtered(config: &Config) -> Option<String> {
    if !config.token_auth.enabled() {
        return None;
    }
    match config.token_auth.propagation {
        Propagation::Query => Some("\\.(m3u8|mpd)$".into()),
        Propagation::Define if config.live.enabled => Some(format!(
            "^{}/.+\\.m3u8$|\\.mpd$",
            recordings_prefix(config)
                .trim_end_matches('/')
                .replace('.', "\\.")
        )),
        Propagation::Define => Some("\\.mpd$".into()),
        Propagation::Cookie => None,
    }
}

/// Where recordings are served (`/i/recordings/`).
fn recordings_prefix(config: &Config) -> String {
    format!("{}/{}/", config.url_prefix, crate::live::record::RECORDINGS)
}

fn cookie_mode(config: &Config) -> bool {
    config.token_auth.enabled() && config.token_auth.propagation == Propagation::Cookie
}

/// Main context of a standalone nginx.conf.
pub(super) fn load_module(config: &Config) -> String {
    if !config.token_auth.enabled() {
        return String::new();
    }
    LUA_MODULES
        .iter()
        .map(|m| format!("load_module {m};\n"))
        .collect()
}

/// A Lua string literal. What goes in (hex keys, the token name, prefixes, the script's
/// path) is validated at config load to hold no quote, backslash or line break; the
/// escaping is a second guard.
fn lua_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as a Lua string when `[live]` is on, else `nil`.
fn lua_if_live(config: &Config, text: &str) -> String {
    if config.live.enabled {
        lua_string(text)
    } else {
        "nil".to_string()
    }
}

fn lua_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(lua_string).collect();
    format!("{{ {} }}", items.join(", "))
}

/// http context: the script, loaded once per nginx start with its settings.
pub(super) fn http_level(config: &Config, out: &mut String) {
    let auth = &config.token_auth;
    if !auth.enabled() {
        return;
    }
    let keys = [auth.key.as_str(), auth.alternate_key.as_str()]
        .into_iter()
        .filter(|k| !k.is_empty());
    let _ = write!(
        out,
        "# Token authorization ([token_auth]): Lua checks the hdnts token of every request\n\
         # under a protected prefix, hit or miss; this file holds the keys, keep it private.\n\
         init_by_lua_block {{\n\
         \x20   local token = dofile({script})\n\
         \x20   token.configure({{\n\
         \x20       keys = {keys},\n\
         \x20       name = {name},\n\
         \x20       protect = {protect},\n\
         \x20       -- The internal redirect after a fill was checked as the request it answers.\n\
         \x20       internal = {internal},\n\
         \x20       -- Writes there are the publishers', gated by the ingest credential.\n\
         \x20       live = {live},\n\
         \x20       -- Recordings' playlists are the recorder's: the filter rewrites them.\n\
         \x20       recordings = {recordings},\n\
         \x20       propagation = {propagation},\n\
         \x20       define_prefixes = {define_prefixes},\n\
         \x20   }})\n\
         \x20   package.loaded.casterpak_token = token\n\
         }}\n\n",
        script = lua_string(&auth.script.to_string_lossy()),
        keys = lua_list(keys),
        name = lua_string(&auth.name),
        protect = lua_list(auth.protect.iter().map(String::as_str)),
        internal = lua_string(&format!("{}/", config.internal_prefix)),
        live = lua_if_live(config, &format!("{}/", crate::live::LIVE_PREFIX)),
        recordings = lua_if_live(config, &recordings_prefix(config)),
        propagation = lua_string(match auth.propagation {
            Propagation::Query => "query",
            Propagation::Cookie => "cookie",
            Propagation::Define => "define",
        }),
        define_prefixes = lua_list(auth.define_prefixes.iter().map(String::as_str)),
    );
}

/// Server context, before the locations: the 403.
pub(super) fn server_check(config: &Config) -> String {
    if !config.token_auth.enabled() {
        return String::new();
    }
    // The check also sets the cookie (one Lua call per request, not two).
    let cookie = if cookie_mode(config) {
        "    set $casterpak_token_cookie \"\";\n"
    } else {
        ""
    };
    format!(
        "    # Token authorization: a missing or invalid token under a protected prefix is a\n\
     \x20   # 403 with one line, before any file or the worker is looked at.\n\
     {cookie}\
     \x20   set_by_lua_block $casterpak_token_refusal {{\n\
     \x20       return package.loaded.casterpak_token.refusal()\n\
     \x20   }}\n\
     \x20   if ($casterpak_token_refusal) {{\n\
     \x20       return 403 \"forbidden\\n\";\n\
     \x20   }}\n\n"
    )
}

/// Inside the cached location: playlists and MPDs served through the filter that
/// appends the token to their URIs (query propagation). A nested location inherits neither
/// try_files nor the method checks, so both are repeated.
pub(super) fn hit_playlists(config: &Config) -> String {
    let Some(extensions) = filtered(config) else {
        return String::new();
    };
    let deeper = |text: &str| text.replace("        add_header", "                add_header");
    format!(
        "        # Token propagation: playlists go through Lua, which appends the token to\n\
         \x20       # each URI they list (segments keep sendfile: they never enter Lua).\n\
         \x20       location ~ \"{extensions}\" {{\n\
         \x20           try_files $uri @casterpak;\n\
         {filters}\
         \x20           if ($request_method = OPTIONS) {{\n\
         {preflight}\
         \x20               return 204;\n\
         \x20           }}\n\
         \x20           if ($request_method !~ ^(GET|HEAD)$) {{\n\
         \x20               add_header Allow \"GET, HEAD\" always;\n\
         {cors}\
         \x20               return 405;\n\
         \x20           }}\n\
         \x20       }}\n",
        filters = filters("            ", Served::File),
        preflight = PREFLIGHT.replace("            add_header", "                add_header"),
        cors = deeper(CORS),
    )
}

/// Inside the internal location: playlists just filled, through the same filter.
pub(super) fn filled_playlists(config: &Config) -> String {
    let Some(extensions) = filtered(config) else {
        return String::new();
    };
    format!(
        "        location ~ \"{extensions}\" {{\n{}        }}\n",
        filters("            ", Served::File)
    )
}

/// Inside `/live/`'s nested playlist location: the filter that appends the token to a
/// live playlist's URIs, whenever tokens are not handed on by cookie (the publisher
/// writes live playlists, so they cannot carry the define mode's variable).
pub(super) fn live_playlist_filters(config: &Config) -> Option<String> {
    filtered(config)?;
    Some(filters("            ", Served::File))
}

/// In the worker's named location: bodies the worker sends itself (an uncached master).
pub(super) fn worker_bodies(config: &Config) -> String {
    if filtered(config).is_none() {
        return String::new();
    }
    filters("        ", Served::Worker)
}

/// In each location that answers a protected request (cookie propagation): the cookie,
/// set when the token came in the query (an empty value sends no header).
pub(super) fn cookie_header(config: &Config) -> String {
    if !cookie_mode(config) {
        return String::new();
    }
    "        add_header Set-Cookie $casterpak_token_cookie;\n".to_string()
}

/// What a filtered location answers with.
enum Served {
    /// Files of the cache, whose type nginx took from their extension.
    File,
    /// The worker's own bodies (an uncached master; errors), typed by the worker.
    Worker,
}

/// The Lua body filter sees only bytes in memory: without `sendfile off` a file's body
/// would reach it as an empty buffer. A rewritten body depends on the token too, so a
/// file's ETag would be wrong for it.
fn filters(indent: &str, served: Served) -> String {
    let by_extension = match served {
        Served::File => "true",
        Served::Worker => "",
    };
    format!(
        "{indent}sendfile off;\n\
         {indent}max_ranges 0;\n\
         {indent}etag off;\n\
         {indent}header_filter_by_lua_block {{ package.loaded.casterpak_token.playlist_headers({by_extension}) }}\n\
         {indent}body_filter_by_lua_block {{ package.loaded.casterpak_token.playlist_body() }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::super::{server_block, standalone_with, Standalone};
    use super::{lua_list, lua_string};
    use crate::config::{Config, Propagation};
    use std::path::Path;

    fn protected(propagation: Propagation) -> Config {
        let mut config = Config::default();
        config.token_auth.key = "00112233445566778899aabbccddeeff".into();
        config.token_auth.alternate_key = "ffeeddccbbaa99887766554433221100".into();
        config.token_auth.protect = vec!["/i/".into(), "/c.x".into()];
        config.token_auth.propagation = propagation;
        config
    }

    #[test]
    fn nothing_changes_when_nothing_is_protected() {
        let conf = server_block(&Config::default());
        assert!(!conf.contains("_by_lua"), "{conf}");
        assert!(!conf.contains("casterpak_token"), "{conf}");
    }

    #[test]
    fn protected_prefixes_are_checked_at_the_server_level() {
        let conf = server_block(&protected(Propagation::Query));
        for line in [
            "    local token = dofile(\"/usr/share/casterpak/casterpak-token.lua\")",
            "        keys = { \"00112233445566778899aabbccddeeff\", \"ffeeddccbbaa99887766554433221100\" },",
            "        protect = { \"/i/\", \"/c.x\" },",
            "        internal = \"/_casterpak_cache/\",",
            "        propagation = \"query\",",
            "    set_by_lua_block $casterpak_token_refusal {\n        return package.loaded.casterpak_token.refusal()\n    }\n    if ($casterpak_token_refusal) {\n        return 403 \"forbidden\\n\";",
            "body_filter_by_lua_block { package.loaded.casterpak_token.playlist_body() }",
        ] {
            assert!(conf.contains(line), "no {line:?} in\n{conf}");
        }
        // Five filtered places: hits under /i, /c and /d (the format prefixes are
        // copies of the TS location), fills, the worker's own bodies.
        assert_eq!(
            conf.matches("body_filter_by_lua_block").count(),
            5,
            "{conf}"
        );
        assert!(!conf.contains("Set-Cookie"), "{conf}");
        assert!(!conf.contains("casterpak_token_cookie"), "{conf}");
        let standalone = standalone_with(
            &protected(Propagation::Query),
            &Standalone {
                listen: "127.0.0.1:1",
                prefix: Path::new("/tmp/p"),
                run_as_root: false,
            },
        );
        assert!(standalone.starts_with(
            "# casterpak standalone nginx.conf: generated by `casterpak nginx-conf --standalone`.\n\
             load_module /usr/lib/nginx/modules/ndk_http_module.so;\n\
             load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"
        ));
    }

    #[test]
    fn cookie_propagation_sets_the_cookie_and_filters_nothing() {
        let conf = server_block(&protected(Propagation::Cookie));
        assert_eq!(
            conf.matches("add_header Set-Cookie $casterpak_token_cookie;")
                .count(),
            5
        );
        assert_eq!(
            conf.matches("    set $casterpak_token_cookie \"\";\n    set_by_lua_block $casterpak_token_refusal").count(),
            1,
            "{conf}"
        );
        assert!(conf.contains("propagation = \"cookie\","), "{conf}");
        assert!(!conf.contains("body_filter_by_lua"), "{conf}");
    }

    #[test]
    fn define_propagation_filters_mpds_alone() {
        let mut config = protected(Propagation::Define);
        config.token_auth.define_prefixes = vec!["/i/web/".into()];
        let conf = server_block(&config);
        assert!(
            conf.contains(
                "        propagation = \"define\",\n        define_prefixes = { \"/i/web/\" },"
            ),
            "{conf}"
        );
        assert!(!conf.contains("(m3u8|mpd)"), "{conf}");
        assert_eq!(conf.matches("location ~ \"\\.mpd$\"").count(), 4, "{conf}");
        // The worker's own bodies may be MPDs: the filter stays (Lua skips HLS ones).
        assert_eq!(
            conf.matches("body_filter_by_lua_block").count(),
            5,
            "{conf}"
        );
        assert!(!conf.contains("Set-Cookie"), "{conf}");
        // With recordings (written by the recorder, not packaged) their playlists too.
        config.live.enabled = true;
        config.live.ingest_token = "0123456789abcdef".into();
        let conf = server_block(&config);
        let regex = "location ~ \"^/i/recordings/.+\\.m3u8$|\\.mpd$\"";
        assert_eq!(conf.matches(regex).count(), 4, "{conf}");
        assert!(
            conf.contains("        recordings = \"/i/recordings/\","),
            "{conf}"
        );
    }

    #[test]
    fn lua_strings_escape_what_would_end_them() {
        assert_eq!(lua_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(lua_string("a\nb"), r#""a\nb""#);
        assert_eq!(lua_list(["x", "y"]), r#"{ "x", "y" }"#);
    }
}
