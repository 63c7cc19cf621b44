//! `[live]`: publishers push HLS to `/live/<stream>/` through nginx's dav module;
//! the worker marks streams that stopped as ended, sweeps them, and records them.

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Off by default: no `/live/` location, no live task.
    pub enabled: bool,
    /// Publishers send `Authorization: Bearer <ingest_token>`; required when enabled.
    pub ingest_token: String,
    /// Addresses or CIDR ranges (nginx `geo` syntax) allowed to publish; empty: any.
    pub allow: Vec<String>,
    /// Largest segment or playlist body accepted (nginx answers 413 above it).
    pub max_body_bytes: u64,
    /// A stream whose playlists did not change for this long is marked ended.
    pub ended_after_secs: u64,
    /// Segments that left every playlist of their stream are removed after this long.
    pub live_ttl_secs: u64,
    /// An ended stream is removed this long after it ended.
    pub ended_ttl_secs: u64,
    /// `Cache-Control` max-age of live playlists (about half a segment).
    pub playlist_max_age_secs: u64,
    /// `Cache-Control` max-age of live segments.
    pub segment_max_age_secs: u64,
    /// Unix socket of nginx's loopback server that turns ffmpeg's POST into a dav PUT.
    pub post_socket: PathBuf,
    /// File nginx appends a line to per accepted write under `/live/` (method, status,
    /// request bytes, path); the worker reads it for the ingest metrics.
    pub ingest_log: PathBuf,
    /// ffmpeg for `record store` (a name looked up on PATH, or a path); needed only then.
    pub ffmpeg: PathBuf,
    /// Longest a `record store` may take, remux and upload together.
    pub store_timeout_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            enabled: false,
            ingest_token: String::new(),
            allow: Vec::new(),
            max_body_bytes: 64 << 20,
            ended_after_secs: 30,
            live_ttl_secs: 60,
            ended_ttl_secs: 3600,
            playlist_max_age_secs: 1,
            segment_max_age_secs: 600,
            post_socket: PathBuf::from("/run/casterpak/live-post.sock"),
            ingest_log: PathBuf::from("/run/casterpak/live-ingest.log"),
            ffmpeg: PathBuf::from("ffmpeg"),
            store_timeout_secs: 3600,
        }
    }
}

impl LiveConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if !self.enabled {
            return Ok(());
        }
        // The token is written into nginx's config as a literal: keep it to
        // characters that need no quoting there and cannot end a header value.
        let token_ok = self.ingest_token.len() >= 16
            && self.ingest_token.len() <= 256
            && self
                .ingest_token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
        if !token_ok {
            return invalid(
                "live.ingest_token",
                "required when live is enabled: 16 to 256 characters of letters, digits, '-._~+/='",
            );
        }
        if let Some(bad) = self.allow.iter().find(|a| !valid_address(a)) {
            return Err(ConfigError::Invalid {
                key: "live.allow",
                message: format!("{bad:?} is not an IP address or CIDR range"),
            });
        }
        if self.ffmpeg.as_os_str().is_empty() {
            return invalid("live.ffmpeg", "must name ffmpeg (on PATH) or its path");
        }
        if self.max_body_bytes < 1024 {
            return invalid("live.max_body_bytes", "must be at least 1024");
        }
        for (key, value) in [
            ("live.ended_after_secs", self.ended_after_secs),
            ("live.live_ttl_secs", self.live_ttl_secs),
            ("live.ended_ttl_secs", self.ended_ttl_secs),
            ("live.store_timeout_secs", self.store_timeout_secs),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        for (key, path) in [
            ("live.post_socket", &self.post_socket),
            ("live.ingest_log", &self.ingest_log),
        ] {
            let text = path.to_string_lossy();
            if !path.is_absolute()
                || text
                    .chars()
                    .any(|c| c.is_whitespace() || "\"';{}$\\".contains(c))
            {
                return invalid(
                    key,
                    "must be an absolute path without spaces, quotes, ';', '{', '}', '$' or '\\'",
                );
            }
        }
        Ok(())
    }
}

/// An IPv4/IPv6 address, optionally with a `/prefix` no longer than the address.
fn valid_address(text: &str) -> bool {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => true,
        Some(p) => p.parse::<u8>().is_ok_and(|n| n <= max) && !p.starts_with('+'),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const TOKEN: &str = "ingest_token = \"0123456789abcdef\"";

    #[test]
    fn disabled_by_default_and_needs_nothing() {
        let c = Config::from_toml("").unwrap();
        assert!(!c.live.enabled);
    }

    #[test]
    fn enabled_takes_a_token_and_an_allow_list() {
        let c = Config::from_toml(&format!(
            "[live]\nenabled = true\n{TOKEN}\nallow = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]"
        ))
        .unwrap();
        assert_eq!(c.live.allow.len(), 3);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("enabled = true".to_string(), "live.ingest_token"),
            (
                "enabled = true\ningest_token = \"short\"".into(),
                "live.ingest_token",
            ),
            (
                "enabled = true\ningest_token = \"0123456789abcdef\\\"x\"".into(),
                "live.ingest_token",
            ),
            (
                format!("enabled = true\n{TOKEN}\nallow = [\"10.0.0.0/33\"]"),
                "live.allow",
            ),
            (
                format!("enabled = true\n{TOKEN}\nallow = [\"example.com\"]"),
                "live.allow",
            ),
            (
                format!("enabled = true\n{TOKEN}\nmax_body_bytes = 10"),
                "live.max_body_bytes",
            ),
            (
                format!("enabled = true\n{TOKEN}\nended_after_secs = 0"),
                "live.ended_after_secs",
            ),
            (
                format!("enabled = true\n{TOKEN}\nlive_ttl_secs = 0"),
                "live.live_ttl_secs",
            ),
            (
                format!("enabled = true\n{TOKEN}\nended_ttl_secs = 0"),
                "live.ended_ttl_secs",
            ),
            (
                format!("enabled = true\n{TOKEN}\npost_socket = \"rel.sock\""),
                "live.post_socket",
            ),
            (
                format!("enabled = true\n{TOKEN}\nstore_timeout_secs = 0"),
                "live.store_timeout_secs",
            ),
            (
                format!("enabled = true\n{TOKEN}\nffmpeg = \"\""),
                "live.ffmpeg",
            ),
            ("enable = true".into(), "enable"),
            (
                format!("enabled = true\n{TOKEN}\ningest_log = \"/a b.log\""),
                "live.ingest_log",
            ),
            (
                format!("enabled = true\n{TOKEN}\n[formats]\ncmaf_prefix = \"/live\""),
                "formats.cmaf_prefix",
            ),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(&format!("[live]\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text:?} gave {err:?}, expected {key}");
        }
    }
}
