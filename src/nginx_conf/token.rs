//! The nginx side of `[token_auth]`: njs (`nginx/casterpak-token.js`) checks the token of
//! every request under a protected prefix in the server's rewrite phase, before any
//! location, so it covers hits, misses and every URL form alike; and hands the token on
//! from playlists (a body filter on playlists, or a cookie). Each function returns ""
//! when nothing is protected, so the default config is unchanged.

use super::{quoted, CORS, PREFLIGHT};
use crate::config::{Config, Propagation};
use std::fmt::Write;

/// Where Debian's libnginx-mod-http-js puts the module (standalone configs load it).
pub const NJS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";

fn query_mode(config: &Config) -> bool {
    config.token_auth.enabled() && config.token_auth.propagation == Propagation::Query
}

fn cookie_mode(config: &Config) -> bool {
    config.token_auth.enabled() && config.token_auth.propagation == Propagation::Cookie
}

/// Main context of a standalone nginx.conf.
pub(super) fn load_module(config: &Config) -> String {
    if !config.token_auth.enabled() {
        return String::new();
    }
    format!("load_module {NJS_MODULE};\n")
}

/// http context: the script, its settings and the map choosing which requests it checks.
pub(super) fn http_level(config: &Config, out: &mut String) {
    let auth = &config.token_auth;
    if !auth.enabled() {
        return;
    }
    let keys: Vec<&str> = [auth.key.as_str(), auth.alternate_key.as_str()]
        .into_iter()
        .filter(|k| !k.is_empty())
        .collect();
    let _ = write!(
        out,
        "# Token authorization ([token_auth]): njs checks the hdnts token of every request\n\
         # under a protected prefix, hit or miss; this file holds the keys, keep it private.\n\
         js_import casterpak_token from {script};\n\
         js_var $casterpak_token_keys {keys};\n\
         js_var $casterpak_token_name {name};\n\
         js_set $casterpak_token_refusal casterpak_token.refusal;\n\
         js_set $casterpak_token_cookie casterpak_token.cookie;\n\
         # Non-empty: the request is refused. Only protected prefixes run the check; the\n\
         # internal redirect after a fill was checked as the request it answers.\n\
         map $uri $casterpak_token_denied {{\n\
         \x20   default \"\";\n\
         \x20   \"~^{internal}/\" \"\";\n",
        script = quoted(&auth.script.to_string_lossy()),
        keys = quoted(&keys.join(" ")),
        name = quoted(&auth.name),
        internal = regex_literal(&config.internal_prefix),
    );
    for prefix in &auth.protect {
        let _ = writeln!(
            out,
            "    \"~^{}\" $casterpak_token_refusal;",
            regex_literal(prefix)
        );
    }
    out.push_str("}\n\n");
}

/// Server context, before the locations: the 403.
pub(super) fn server_check(config: &Config) -> String {
    if !config.token_auth.enabled() {
        return String::new();
    }
    "    # Token authorization: a missing or invalid token under a protected prefix is a\n\
     \x20   # 403 with one line, before any file or the worker is looked at.\n\
     \x20   if ($casterpak_token_denied) {\n\
     \x20       return 403 \"forbidden\\n\";\n\
     \x20   }\n\n"
        .to_string()
}

/// Inside the cached location: playlists and MPDs served through the filter that
/// appends the token to their URIs (query propagation). A nested location inherits neither
/// try_files nor the method checks, so both are repeated.
pub(super) fn hit_playlists(config: &Config) -> String {
    if !query_mode(config) {
        return String::new();
    }
    let deeper = |text: &str| text.replace("        add_header", "                add_header");
    format!(
        "        # Token propagation: playlists go through njs, which appends the token to\n\
         \x20       # each URI they list (segments keep sendfile: they never enter njs).\n\
         \x20       location ~ \"\\.(m3u8|mpd)$\" {{\n\
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
        filters = filters("            "),
        preflight = PREFLIGHT.replace("            add_header", "                add_header"),
        cors = deeper(CORS),
    )
}

/// Inside the internal location: playlists just filled, through the same filter.
pub(super) fn filled_playlists(config: &Config) -> String {
    if !query_mode(config) {
        return String::new();
    }
    format!(
        "        location ~ \"\\.(m3u8|mpd)$\" {{\n{}        }}\n",
        filters("            ")
    )
}

/// In the worker's named location: bodies the worker sends itself (an uncached master).
pub(super) fn worker_bodies(config: &Config) -> String {
    if !query_mode(config) {
        return String::new();
    }
    filters("        ")
}

/// In each location that answers a protected request (cookie propagation): the cookie,
/// set when the token came in the query (an empty value sends no header).
pub(super) fn cookie_header(config: &Config) -> String {
    if !cookie_mode(config) {
        return String::new();
    }
    "        add_header Set-Cookie $casterpak_token_cookie;\n".to_string()
}

/// njs sees only bytes in memory: without `sendfile off` a file's body would reach the
/// filter as an empty buffer.
fn filters(indent: &str) -> String {
    format!(
        "{indent}sendfile off;\n\
         {indent}max_ranges 0;\n\
         {indent}js_header_filter casterpak_token.playlistHeaders;\n\
         {indent}js_body_filter casterpak_token.playlistBody;\n"
    )
}

/// A URL prefix as a PCRE literal (prefixes hold letters, digits and `/_-.,` only).
fn regex_literal(prefix: &str) -> String {
    prefix.replace('.', "\\.")
}

#[cfg(test)]
mod tests {
    use super::super::{server_block, standalone_with, Standalone};
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
        assert!(!conf.contains("js_"), "{conf}");
        assert!(!conf.contains("casterpak_token"), "{conf}");
    }

    #[test]
    fn protected_prefixes_are_checked_at_the_server_level() {
        let conf = server_block(&protected(Propagation::Query));
        for line in [
            "js_import casterpak_token from \"/usr/share/casterpak/casterpak-token.js\";",
            "js_var $casterpak_token_keys \"00112233445566778899aabbccddeeff ffeeddccbbaa99887766554433221100\";",
            "    \"~^/_casterpak_cache/\" \"\";\n    \"~^/i/\" $casterpak_token_refusal;\n    \"~^/c\\.x\" $casterpak_token_refusal;",
            "    if ($casterpak_token_denied) {\n        return 403 \"forbidden\\n\";",
            "js_body_filter casterpak_token.playlistBody;",
        ] {
            assert!(conf.contains(line), "no {line:?} in\n{conf}");
        }
        // Five filtered places: hits under /i, /c and /d (the format prefixes are
        // copies of the TS location), fills, the worker's own bodies.
        assert_eq!(conf.matches("js_body_filter").count(), 5, "{conf}");
        assert!(!conf.contains("Set-Cookie"), "{conf}");
        let standalone = standalone_with(
            &protected(Propagation::Query),
            &Standalone {
                listen: "127.0.0.1:1",
                prefix: Path::new("/tmp/p"),
                run_as_root: false,
            },
        );
        assert!(standalone.starts_with(
            "# casterpak standalone nginx.conf: generated by `casterpak nginx-conf --standalone`.\nload_module /usr/lib/nginx/modules/ngx_http_js_module.so;\n"
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
        assert!(!conf.contains("js_body_filter"), "{conf}");
    }
}
