//! The nginx side of `[live]`: publishers PUT/DELETE (and POST, relayed as PUT) under
//! `/live/<stream>/` with the ingest token, nginx's dav module writes each body to a
//! temp file on the cache file system and renames it into place; viewers GET/HEAD.
//! The gate is a `map` in the rewrite phase (no `if` + `limit_except` mix, whose
//! access rules an `if` block silently drops).

use super::quoted;
use crate::config::Config;
use std::fmt::Write;

use crate::live::LIVE_PREFIX as PREFIX;

/// What nginx accepts as a live path: `/live/<stream>/<file>`, a stream of letters,
/// digits, `_`, `-`, a file name that does not start with a dot. Checked on `$uri`
/// (decoded and normalised), so `..`, an encoded `/` and NUL never match.
pub const PATH_PATTERN: &str = "^/live/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$";

/// http-context maps: who may do what on `/live/`, and the live cache headers.
pub fn http_level(config: &Config, out: &mut String) {
    let live = &config.live;
    if !live.enabled {
        return;
    }
    out.push_str("# Live ingest: publisher addresses (live.allow; empty: any).\n");
    out.push_str("geo $casterpak_live_addr {\n");
    if live.allow.is_empty() {
        out.push_str("    default 1;\n");
    } else {
        out.push_str("    default 0;\n");
        for address in &live.allow {
            let _ = writeln!(out, "    {address} 1;");
        }
    }
    out.push_str("}\n");
    // A regex key: map hashes exact keys, and a long token would overflow nginx's
    // default map_hash_bucket_size (64), which an included block cannot raise.
    let token = regex_literal(&live.ingest_token);
    let _ = write!(
        out,
        "# The ingest credential (live.ingest_token), then method, address, credential ->\n\
         # what /live/ does with the request.\n\
         map $http_authorization $casterpak_live_token {{\n\
         \x20   default 0;\n\
         \x20   \"~^Bearer {token}$\" 1;\n\
         }}\n\
         map \"$request_method $casterpak_live_addr $casterpak_live_token\" $casterpak_live_gate {{\n\
         \x20   default refuse;\n\
         \x20   \"~^(GET|HEAD) \" read;\n\
         \x20   \"~^(PUT|DELETE|POST) [01] 0$\" unauthorized;\n\
         \x20   \"~^(PUT|DELETE|POST) 0 1$\" forbidden;\n\
         \x20   \"PUT 1 1\" write;\n\
         \x20   \"DELETE 1 1\" relay;\n\
         \x20   \"POST 1 1\" relay;\n\
         }}\n\
         # What the relay is asked: dav has no POST, and refuses a DELETE with a body\n\
         # (ffmpeg's delete_segments sends an empty chunked one; nginx relays it without).\n\
         map $request_method $casterpak_live_relay_method {{\n\
         \x20   default PUT;\n\
         \x20   DELETE DELETE;\n\
         }}\n\
         # Ingest feed: one line per write let through, read by the worker (metrics).\n\
         log_format casterpak_ingest '$request_method $status $request_length $uri';\n\
         map $casterpak_live_gate $casterpak_live_logged {{\n\
         \x20   default 0;\n\
         \x20   write 1;\n\
         \x20   relay 1;\n"
    );
    let _ = write!(
        out,
        "}}\n\
         # Live playlists change every segment; segment names come back after a restart.\n\
         map $uri $casterpak_live_cache_control {{\n\
         \x20   default \"public, max-age={segment}\";\n\
         \x20   ~\\.m3u8$ \"public, max-age={playlist}\";\n\
         }}\n\n",
        segment = live.segment_max_age_secs,
        playlist = live.playlist_max_age_secs,
    );
}

/// The `/live/` location of the public server. With token checks that hand the token
/// on in the query, its playlists (written by publishers, so no variable can be written
/// into them) go through the Lua filter in a nested location that repeats the gates: a
/// nested location inherits none of its parent's `if`s.
pub fn location(config: &Config, access_log: &str, out: &mut String) {
    if !config.live.enabled {
        return;
    }
    let body = location_body(config, access_log);
    let playlists = match super::token::live_playlist_filters(config) {
        Some(filters) => format!(
            "        # Viewer tokens handed on from live playlists (see [token_auth]).\n\
             \x20       location ~ \"\\.m3u8$\" {{\n\
             {inner}{filters}\
             \x20       }}\n",
            inner = body.replace("\n        ", "\n            ").replacen(
                "        ",
                "            ",
                1
            ),
        ),
        None => String::new(),
    };
    let _ = write!(
        out,
        "    # Live: publishers write with the ingest token, viewers read (issue 14).\n\
         \x20   location ^~ {PREFIX}/ {{\n\
         {body}{playlists}\
         \x20   }}\n\n",
    );
}

/// What the `/live/` location does, once for it and once for its playlists.
fn location_body(config: &Config, access_log: &str) -> String {
    let relay = format!("http://unix:{}:", config.live.post_socket.to_string_lossy());
    format!(
        "{common}\
         \x20       add_header Cache-Control $casterpak_live_cache_control;\n\
         \x20       add_header Access-Control-Allow-Origin \"*\" always;\n\
         {cookie}\
         \x20       if ($casterpak_live_gate = unauthorized) {{\n\
         \x20           add_header WWW-Authenticate \"Bearer\" always;\n\
         \x20           return 401;\n\
         \x20       }}\n\
         \x20       if ($casterpak_live_gate = forbidden) {{\n\
         \x20           return 403;\n\
         \x20       }}\n\
         \x20       if ($casterpak_live_gate = refuse) {{\n\
         \x20           add_header Allow \"GET, HEAD, PUT, DELETE, POST\" always;\n\
         \x20           return 405;\n\
         \x20       }}\n\
         \x20       # POST (ffmpeg -method POST) and DELETE go through the loopback relay, as PUT\n\
         \x20       # and as a DELETE without a body (see $casterpak_live_relay_method).\n\
         \x20       if ($casterpak_live_gate = relay) {{\n\
         \x20           proxy_pass {relay};\n\
         \x20       }}\n\
         \x20       proxy_method $casterpak_live_relay_method;\n\
         \x20       # ffmpeg hangs up before reading some answers: finish the write anyway.\n\
         \x20       proxy_ignore_client_abort on;\n\
         \x20       proxy_http_version 1.1;\n\
         \x20       proxy_set_header Host $http_host;\n\
         \x20       # Both logs: an access_log here replaces the inherited one.\n\
         \x20       {access_log}\n\
         \x20       access_log {ingest_log} casterpak_ingest buffer=16k flush=1s if=$casterpak_live_logged;\n",
        common = common(config),
        cookie = super::token::cookie_header(config),
        ingest_log = quoted(&config.live.ingest_log.to_string_lossy()),
    )
}

/// The token as a regex matching only itself (its characters: letters, digits, `-._~+/=`).
fn regex_literal(token: &str) -> String {
    let mut out = String::with_capacity(token.len() * 2);
    for c in token.chars() {
        if c == '.' || c == '+' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The loopback server that takes the relayed POSTs as PUTs. Reachable only through
/// its unix socket, and it checks the token again: any local user could connect.
pub fn relay_server(config: &Config, out: &mut String) {
    if !config.live.enabled {
        return;
    }
    let socket = config.live.post_socket.to_string_lossy();
    let bearer = quoted(&format!("Bearer {}", config.live.ingest_token));
    let _ = write!(
        out,
        "\n# Live POST relay: the public /live/ location proxies ffmpeg's POSTs here as PUTs.\n\
         server {{\n\
         \x20   listen unix:{socket};\n\
         \x20   server_name _;\n\
         \x20   server_tokens off;\n\
         \x20   access_log off;\n\
         \x20   location ^~ {PREFIX}/ {{\n\
         {common}\
         \x20       if ($http_authorization != {bearer}) {{\n\
         \x20           return 401;\n\
         \x20       }}\n\
         \x20       if ($request_method !~ ^(PUT|DELETE)$) {{\n\
         \x20           return 405;\n\
         \x20       }}\n\
         \x20   }}\n\
         \x20   location / {{\n\
         \x20       return 404;\n\
         \x20   }}\n\
         }}\n",
        common = common(config),
    );
}

/// What both `/live/` locations share: the root, the name check, dav and limits.
fn common(config: &Config) -> String {
    let cache_root = super::trimmed(&config.cache_root);
    format!(
        "\x20       root {root};\n\
         \x20       # Bodies land on the cache file system, so dav's rename is atomic.\n\
         \x20       client_body_temp_path {body};\n\
         \x20       client_max_body_size {max};\n\
         \x20       dav_methods PUT DELETE;\n\
         \x20       create_full_put_path on;\n\
         \x20       # Group write: the worker (in nginx's group) appends ENDLIST, deletes in the\n\
         \x20       # sweep and hard-links into recordings, which needs read and write access.\n\
         \x20       dav_access user:rw group:rw all:r;\n\
         \x20       # Playlists are replaced every segment: a kept descriptor would serve the old one.\n\
         \x20       open_file_cache off;\n\
         \x20       if ($uri !~ \"{PATH_PATTERN}\") {{\n\
         \x20           return 400;\n\
         \x20       }}\n\
         {types}",
        root = quoted(&cache_root),
        body = quoted(&format!("{cache_root}/{}", crate::live::NGINX_BODY_DIR)),
        max = config.live.max_body_bytes,
        types = super::TYPES,
    )
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn live_config() -> Config {
        Config::from_toml(
            "cache_root = \"/var/cache/cp\"\n[live]\nenabled = true\n\
             ingest_token = \"0123456789abcdef\"\nallow = [\"10.0.0.0/8\"]\nmax_body_bytes = 4096",
        )
        .unwrap()
    }

    #[test]
    fn nothing_when_disabled() {
        let text = crate::nginx_conf::server_block(&Config::default());
        assert!(!text.contains("/live/"), "{text}");
        assert!(!text.contains("dav_methods"), "{text}");
    }

    #[test]
    fn gate_needs_the_token_and_the_address() {
        let text = crate::nginx_conf::server_block(&live_config());
        assert!(text.contains("    10.0.0.0/8 1;\n"), "{text}");
        assert!(text.contains("\"~^Bearer 0123456789abcdef$\" 1;"), "{text}");
        assert!(text.contains("\"PUT 1 1\" write;"), "{text}");
        assert!(text.contains("\"POST 1 1\" relay;"), "{text}");
        assert!(
            text.contains("\"~^(PUT|DELETE|POST) 0 1$\" forbidden;"),
            "{text}"
        );
        assert!(
            text.contains("\"~^(PUT|DELETE|POST) [01] 0$\" unauthorized;"),
            "{text}"
        );
        // No map key holds the token: exact keys are hashed in 64-byte buckets.
        assert!(!text.contains("\"PUT 1 Bearer"), "{text}");
    }

    /// The `/live/` location block of a generated server block.
    fn live_location(text: &str) -> &str {
        let at = text
            .find("    location ^~ /live/ {\n")
            .expect("the live location");
        &text[at..at + text[at..].find("\n    }\n").expect("its end")]
    }

    /// Viewer tokens over `/live/`: with query propagation its playlists get the Lua
    /// filter in a nested location that repeats every gate; with cookies, the cookie.
    #[test]
    fn viewer_tokens_filter_live_playlists_behind_the_same_gates() {
        let mut config = live_config();
        config.token_auth.key = "00112233445566778899aabbccddeeff".into();
        config.token_auth.protect = vec!["/live/".into()];
        let text = crate::nginx_conf::server_block(&config);
        let live = live_location(&text);
        let nested = &live[live
            .find("        location ~ \"\\.m3u8$\" {\n")
            .expect("nested")..];
        assert!(nested.contains("body_filter_by_lua_block"), "{live}");
        assert!(nested.contains("            if ($casterpak_live_gate = unauthorized) {"));
        assert!(
            nested.contains("            dav_methods PUT DELETE;"),
            "{nested}"
        );
        assert_eq!(
            live.matches("$casterpak_live_gate = relay").count(),
            2,
            "{live}"
        );
        assert!(!live.contains("Set-Cookie"), "{live}");
        config.token_auth.propagation = crate::config::Propagation::Cookie;
        let text = crate::nginx_conf::server_block(&config);
        let live = live_location(&text);
        assert!(!live.contains("_by_lua"), "{live}");
        assert!(
            live.contains("add_header Set-Cookie $casterpak_token_cookie;"),
            "{live}"
        );
    }

    #[test]
    fn token_is_a_literal_in_its_regex() {
        assert_eq!(
            super::regex_literal("a.b+c/d=e~f-g_h"),
            "a\\.b\\+c/d=e~f-g_h"
        );
    }

    #[test]
    fn location_writes_with_dav_on_the_cache_file_system() {
        let text = crate::nginx_conf::server_block(&live_config());
        let start = text.find("location ^~ /live/ {").expect("live location");
        let block = &text[start..];
        assert!(block.contains("root \"/var/cache/cp\";"));
        assert!(block.contains("client_body_temp_path \"/var/cache/cp/.casterpak-live-body\";"));
        assert!(block.contains("client_max_body_size 4096;"));
        assert!(block.contains("dav_methods PUT DELETE;"));
        assert!(block.contains("proxy_pass http://unix:/run/casterpak/live-post.sock:;"));
        assert!(block.contains("proxy_method $casterpak_live_relay_method;"));
        assert!(text.contains("\"DELETE 1 1\" relay;"), "{text}");
        assert!(text.contains("listen unix:/run/casterpak/live-post.sock;"));
    }

    #[test]
    fn path_pattern_refuses_hostile_names() {
        // Checked here with the same rules nginx's regex states.
        let pattern = super::PATH_PATTERN;
        assert!(pattern.starts_with("^/live/") && pattern.ends_with('$'));
        assert!(
            !pattern.contains("\\."),
            "the file part may hold dots, not start with one"
        );
    }
}
