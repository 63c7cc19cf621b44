//! `[token_auth]`: Akamai-style `hdnts` tokens that nginx checks on every request under
//! the protected URL prefixes (`nginx/casterpak-token.lua`, `src/token.rs`).

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;

/// Shortest key accepted, in bytes (32 hex digits): shorter HMAC keys are guessable.
const MIN_KEY_BYTES: usize = 16;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenAuthConfig {
    /// HMAC-SHA256 key, hex. Empty: no token checks (then `protect` must be empty).
    pub key: String,
    /// A second accepted key, hex, for rotation; empty: none.
    pub alternate_key: String,
    /// URL prefixes whose every request needs a valid token, e.g. ["/i/"].
    pub protect: Vec<String>,
    /// Query parameter and cookie the token arrives in.
    pub name: String,
    /// How playlists hand the token on to the URIs they list: "query" (appended to each
    /// URI by nginx as it serves the playlist), "cookie" (nginx sets the cookie) or
    /// "define" (HLS variable substitution: the worker writes
    /// `#EXT-X-DEFINE:QUERYPARAM="<name>"` and `?<name>={$<name>}` into every HLS
    /// playlist, the player fills in the token from the playlist's own URL, and nginx
    /// serves playlists as plain files; MPDs, which have no such thing, as "query").
    pub propagation: Propagation,
    /// Prefixes, each within one of `protect`, whose HLS playlists use "define" whatever
    /// `propagation` says (players that substitute variables under them, others
    /// elsewhere).
    pub define_prefixes: Vec<String>,
    /// The Lua script nginx runs the check with (the package installs it here).
    pub script: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Query,
    Cookie,
    Define,
}

impl Default for TokenAuthConfig {
    fn default() -> Self {
        TokenAuthConfig {
            key: String::new(),
            alternate_key: String::new(),
            protect: Vec::new(),
            name: "hdnts".into(),
            propagation: Propagation::Query,
            define_prefixes: Vec::new(),
            script: PathBuf::from("/usr/share/casterpak/casterpak-token.lua"),
        }
    }
}

impl TokenAuthConfig {
    /// Whether nginx checks tokens at all.
    pub fn enabled(&self) -> bool {
        !self.protect.is_empty()
    }

    /// The query parameter whose value the HLS playlist at URL `path` (its cache key
    /// with a leading '/': a clip's tag dir comes after its title's, so the two match
    /// the same prefixes) hands on by variable substitution; None when that playlist
    /// is unprotected or propagates the token another way.
    pub fn substituted_at(&self, path: &str) -> Option<&str> {
        let under = self
            .variable_scope()
            .iter()
            .any(|p| path.starts_with(p.as_str()));
        under.then_some(self.name.as_str())
    }

    /// The protected prefixes whose HLS playlists carry the token as a variable,
    /// sorted: what the cache's playlists were written for (a change purges them).
    pub fn variable_prefixes(&self) -> Vec<String> {
        let mut prefixes = self.variable_scope().to_vec();
        prefixes.sort_unstable();
        prefixes.dedup();
        prefixes
    }

    /// Where the variable is written: every protected prefix under "define", else the
    /// `define_prefixes` (each within `protect`, checked at load); none unprotected.
    fn variable_scope(&self) -> &[String] {
        match self.propagation {
            _ if !self.enabled() => &[],
            Propagation::Define => &self.protect,
            _ => &self.define_prefixes,
        }
    }

    /// The keys a token may be signed with, decoded (validated at load).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        [&self.key, &self.alternate_key]
            .into_iter()
            .filter_map(|k| crate::token::decode_hex(k).filter(|k| !k.is_empty()))
            .collect()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        for (name, key, required) in [
            ("token_auth.key", &self.key, self.enabled()),
            ("token_auth.alternate_key", &self.alternate_key, false),
        ] {
            if key.is_empty() && !required {
                continue;
            }
            match crate::token::decode_hex(key) {
                Some(bytes) if bytes.len() >= MIN_KEY_BYTES => {}
                _ => {
                    return invalid(
                        name,
                        "must be hex, at least 32 digits (required when protect is set)",
                    )
                }
            }
        }
        let listed = [
            ("token_auth.protect", &self.protect),
            ("token_auth.define_prefixes", &self.define_prefixes),
        ];
        for (key, prefixes) in listed {
            for prefix in prefixes {
                let valid = prefix.starts_with('/')
                    && prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/_-.,".contains(&b))
                    && !prefix.split('/').any(|c| c == "." || c == "..");
                if !valid {
                    return invalid(
                        key,
                        "each prefix must start with '/' and use only letters, digits, '/', '_', '-', '.', ','",
                    );
                }
            }
        }
        let uncovered = self
            .define_prefixes
            .iter()
            .any(|d| !self.protect.iter().any(|p| d.starts_with(p.as_str())));
        if uncovered {
            return invalid(
                "token_auth.define_prefixes",
                "each prefix must lie within one of protect (unprotected playlists hand on no token)",
            );
        }
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return invalid("token_auth.name", "must be 1 to 64 letters, digits or '_'");
        }
        let script = self.script.to_string_lossy();
        let script_ok = self.script.is_absolute()
            && script.ends_with(".lua")
            && !script.contains(['"', '\\', '\n', '\r']);
        if !script_ok {
            return invalid(
                "token_auth.script",
                "must be the absolute path of casterpak-token.lua (nginx's Lua module runs it; \
                 the njs script casterpak-token.js is gone), without quotes or backslashes",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const KEY: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn a_protected_config_loads() {
        let c = Config::from_toml(&format!(
            "[token_auth]\nkey = \"{KEY}\"\nalternate_key = \"{}\"\nprotect = [\"/i/\", \"/c\"]\npropagation = \"cookie\"",
            KEY.to_uppercase()
        ))
        .unwrap();
        assert!(c.token_auth.enabled());
        assert_eq!(c.token_auth.keys().len(), 2);
        assert_eq!(
            c.token_auth.substituted_at("/i/a.mp4/index_0_av.m3u8"),
            None
        );
    }

    #[test]
    fn define_applies_to_protected_playlists_under_its_prefixes() {
        let load = |extra: &str| {
            Config::from_toml(&format!(
                "[token_auth]\nkey = \"{KEY}\"\nprotect = [\"/i/\", \"/c/\"]\n{extra}"
            ))
            .unwrap()
            .token_auth
        };
        let all = load("propagation = \"define\"\nname = \"tok\"");
        assert_eq!(all.substituted_at("/i/a.mp4/index_0_av.m3u8"), Some("tok"));
        assert_eq!(all.substituted_at("/c/a.mp4/index_0_v.m3u8"), Some("tok"));
        assert_eq!(all.substituted_at("/x/a.mp4/index_0_av.m3u8"), None);
        let some = load("define_prefixes = [\"/i/web/\"]");
        assert_eq!(some.propagation, super::Propagation::Query);
        assert_eq!(
            some.substituted_at("/i/web/a.mp4/master.m3u8"),
            Some("hdnts")
        );
        assert_eq!(some.substituted_at("/i/a.mp4/master.m3u8"), None);
        assert_eq!(some.substituted_at("/c/web/a.mp4/master.m3u8"), None);
        let off = Config::from_toml("[token_auth]\ndefine_prefixes = []\npropagation = \"define\"")
            .unwrap()
            .token_auth;
        assert_eq!(
            off.substituted_at("/i/a.mp4/master.m3u8"),
            None,
            "nothing protected"
        );
    }

    #[test]
    fn bad_token_settings_name_their_key() {
        let cases = [
            ("protect = [\"/i/\"]", "token_auth.key"),
            ("key = \"00ff\"\nprotect = [\"/i/\"]", "token_auth.key"),
            ("key = \"zz\"", "token_auth.key"),
            (
                &format!("key = \"{KEY}\"\nalternate_key = \"0\""),
                "token_auth.alternate_key",
            ),
            (
                &format!("key = \"{KEY}\"\nprotect = [\"i/\"]"),
                "token_auth.protect",
            ),
            (
                &format!("key = \"{KEY}\"\nprotect = [\"/i/../x\"]"),
                "token_auth.protect",
            ),
            (
                &format!("key = \"{KEY}\"\nprotect = [\"/i\\\"\"]"),
                "token_auth.protect",
            ),
            ("name = \"hd-nts\"", "token_auth.name"),
            ("script = \"token.lua\"", "token_auth.script"),
            (
                "script = \"/usr/share/casterpak/casterpak-token.js\"",
                "token_auth.script",
            ),
            ("propagation = \"header\"", "propagation"),
            (
                &format!("key = \"{KEY}\"\nprotect = [\"/i/\"]\ndefine_prefixes = [\"/j/\"]"),
                "token_auth.define_prefixes",
            ),
            (
                &format!("key = \"{KEY}\"\nprotect = [\"/i/\"]\ndefine_prefixes = [\"/i/\\\"\"]"),
                "token_auth.define_prefixes",
            ),
        ];
        for (body, key) in cases {
            let text = format!("[token_auth]\n{body}");
            let err = Config::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err:?}, expected {key}");
        }
    }
}
