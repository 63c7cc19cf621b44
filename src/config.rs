//! The one TOML configuration file: every key has a default, unknown keys are
//! rejected, and every value is validated at start with a message naming the key.
//! `casterpak.example.toml` at the top of the repository documents each key.

mod formats;
mod sources;

pub use formats::FormatsConfig;
pub use sources::{InputCacheConfig, RemoteConfig, S3Credentials, SourceConfig, SourceKind};

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod live;
pub use live::LiveConfig;
mod encryption;
pub use encryption::{EncryptionConfig, SampleKeys};
mod subtitles;
pub use subtitles::{FilePattern, SubtitlesConfig};
mod audio;
pub use audio::{AudioConfig, GroupFrom};
mod token_auth;
pub use token_auth::{Propagation, TokenAuthConfig};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/casterpak/casterpak.toml";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Unix socket the worker serves SCGI on (nginx `scgi_pass unix:…`).
    pub listen: PathBuf,
    /// Unix stream socket for `--sweep` and other operator commands.
    pub control_socket: PathBuf,
    /// File nginx appends a line to per cache hit (a buffered `access_log`); the worker
    /// reads it every `cache.hit_flush_ms`, creates it when missing and keeps it bounded.
    pub hit_log: PathBuf,
    /// URL prefix of every packaged path, e.g. "/i".
    pub url_prefix: String,
    /// Internal nginx location the worker redirects to after a fill.
    pub internal_prefix: String,
    /// Where the source MP4s are; nothing outside it is ever read.
    pub media_root: PathBuf,
    /// Where packaged files live, mirroring the URL path.
    pub cache_root: PathBuf,
    /// sled database of access metadata.
    pub db_path: PathBuf,
    /// Target segment duration in seconds (decimals allowed).
    pub segment_duration: f64,
    /// When set, master playlists carry absolute variant URIs under this base.
    pub public_base_url: String,
    pub tools: ToolsConfig,
    pub limits: LimitsConfig,
    pub cache: CacheConfig,
    pub msod: MsodConfig,
    pub token_auth: TokenAuthConfig,
    /// AES-128 (TS) and cbcs (CMAF, DASH) for titles under some paths (`[encryption]`).
    pub encryption: EncryptionConfig,
    /// Sidecar WebVTT subtitles (`[subtitles]`).
    pub subtitles: SubtitlesConfig,
    /// Alternate audio of titles with several audio tracks (`[audio]`).
    pub audio: AudioConfig,
    pub formats: FormatsConfig,
    /// Per URL prefix, where sources are when not under `media_root` (`[[sources]]`).
    pub sources: Vec<SourceConfig>,
    pub input_cache: InputCacheConfig,
    pub remote: RemoteConfig,
    pub live: LiveConfig,
}

/// MSOD query features (`url::query`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MsodConfig {
    /// Shortest `?sd=` segment duration accepted, in milliseconds (400 below).
    pub min_segment_duration_ms: u64,
    /// Longest `?sd=` segment duration accepted, in milliseconds (400 above).
    pub max_segment_duration_ms: u64,
}

impl Default for MsodConfig {
    fn default() -> Self {
        // MSOD's own range for its segment-duration setting.
        MsodConfig {
            min_segment_duration_ms: 2000,
            max_segment_duration_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// Path of `mp4info`; empty means the one built beside the worker, then `PATH`.
    pub mp4info: PathBuf,
    /// Path of `mp42hls`; empty means the one built beside the worker, then `PATH`.
    pub mp42hls: PathBuf,
    /// "auto" uses the just-in-time extensions when the tool reports them,
    /// "whole" always packages whole renditions (real Bento4), "jit" requires them.
    pub mode: PackagingMode,
    /// In JIT mode, run plans and segments on long-lived `mp42hls --serve`
    /// processes when the tool reports serve; false: one process per run.
    pub serve: bool,
    /// Parsed indexes each `--serve` process keeps (least recently used evicted).
    pub index_cache_entries: usize,
    /// Bytes of parsed indexes each `--serve` process keeps.
    pub index_cache_bytes: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PackagingMode {
    Auto,
    Whole,
    Jit,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Subprocesses running at once; 0 means the number of CPUs.
    pub pool_size: usize,
    /// Packaging jobs allowed to wait for a pool slot before answering 503.
    pub queue_limit: usize,
    /// Seconds a tool run may take before its process group is killed (504).
    pub tool_timeout_secs: u64,
    /// Address-space limit of each tool subprocess, in bytes (0: none).
    pub tool_memory_bytes: u64,
    /// Seconds a failed plan or segment of a source is remembered (no new run meanwhile).
    pub failure_ttl_secs: u64,
    /// Longest request path accepted, in bytes (400 beyond); the query does not count.
    pub max_uri_bytes: usize,
    /// Seconds clients are told to wait in `Retry-After` on 503.
    pub retry_after_secs: u64,
    /// SCGI connections the worker holds at once (0: derived from the open-files limit).
    pub max_connections: usize,
    /// Seconds a connection may take to send its SCGI header (and to take the answer).
    pub scgi_header_timeout_secs: u64,
    /// Seconds fills in progress get to finish after SIGTERM/SIGINT; then they are
    /// abandoned (answered 503, scratch files removed).
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Evict what was not accessed within this many seconds.
    pub segment_ttl_secs: u64,
    /// After the TTL pass, evict least recently accessed until under this size.
    pub max_cache_bytes: u64,
    /// Files on disk that the database does not know are removed after this many seconds.
    pub orphan_grace_secs: u64,
    /// How often the hit log is read and its access times written to the database, in
    /// milliseconds; nginx flushes its log buffer every this many (whole) seconds.
    pub hit_flush_ms: u64,
    /// `Cache-Control` max-age for segments, in seconds.
    pub segment_max_age_secs: u64,
    /// `Cache-Control` max-age for playlists, in seconds.
    pub playlist_max_age_secs: u64,
    /// Free-space floor of the cache file system in bytes: below it (or below
    /// `min_free_percent`, whichever is larger) misses answer 503 and ready says no.
    pub min_free_bytes: u64,
    /// Free-space floor as a percentage of the file system's size (0 to 100).
    pub min_free_percent: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: PathBuf::from("/run/casterpak/worker.sock"),
            control_socket: PathBuf::from("/run/casterpak/control.sock"),
            hit_log: PathBuf::from("/run/casterpak/hits.log"),
            url_prefix: "/i".into(),
            internal_prefix: "/_casterpak_cache".into(),
            media_root: PathBuf::from("/srv/media"),
            cache_root: PathBuf::from("/var/cache/casterpak"),
            db_path: PathBuf::from("/var/lib/casterpak/db"),
            segment_duration: 6.0,
            public_base_url: String::new(),
            tools: ToolsConfig::default(),
            limits: LimitsConfig::default(),
            cache: CacheConfig::default(),
            msod: MsodConfig::default(),
            token_auth: TokenAuthConfig::default(),
            encryption: EncryptionConfig::default(),
            subtitles: SubtitlesConfig::default(),
            audio: AudioConfig::default(),
            formats: FormatsConfig::default(),
            sources: Vec::new(),
            input_cache: InputCacheConfig::default(),
            remote: RemoteConfig::default(),
            live: LiveConfig::default(),
        }
    }
}

impl Default for ToolsConfig {
    fn default() -> Self {
        ToolsConfig {
            mp4info: PathBuf::new(),
            mp42hls: PathBuf::new(),
            mode: PackagingMode::Auto,
            serve: true,
            index_cache_entries: 64,
            index_cache_bytes: 256 << 20,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            pool_size: 0,
            queue_limit: 256,
            tool_timeout_secs: 120,
            tool_memory_bytes: 2 << 30,
            failure_ttl_secs: 30,
            max_uri_bytes: 4096,
            retry_after_secs: 2,
            max_connections: 0,
            scgi_header_timeout_secs: 5,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            segment_ttl_secs: 7 * 24 * 3600,
            max_cache_bytes: 50 << 30,
            orphan_grace_secs: 3600,
            hit_flush_ms: 2000,
            segment_max_age_secs: 365 * 24 * 3600,
            playlist_max_age_secs: 300,
            min_free_bytes: 1 << 30,
            min_free_percent: 2.0,
        }
    }
}

/// A configuration problem, naming the key (or the file) at fault.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Parse {
        path: PathBuf,
        message: String,
    },
    Invalid {
        key: &'static str,
        message: String,
    },
    /// A key of a table array, named with its index (`sources[1].base_url`).
    InvalidEntry {
        key: String,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read config {}: {source}", path.display())
            }
            ConfigError::Parse { path, message } => {
                write!(f, "config {}: {message}", path.display())
            }
            ConfigError::Invalid { key, message } => write!(f, "config key `{key}`: {message}"),
            ConfigError::InvalidEntry { key, message } => {
                write!(f, "config key `{key}`: {message}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text (no file system access).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that TOML types alone do not constrain.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        for (key, path) in [
            ("listen", &self.listen),
            ("control_socket", &self.control_socket),
            ("hit_log", &self.hit_log),
            ("media_root", &self.media_root),
            ("cache_root", &self.cache_root),
            ("db_path", &self.db_path),
        ] {
            if !path.is_absolute() {
                return invalid(key, "must be an absolute path");
            }
        }
        if self.cache_root.starts_with(&self.media_root)
            || self.media_root.starts_with(&self.cache_root)
        {
            return invalid("cache_root", "must not be inside media_root or contain it");
        }
        for (key, prefix) in [
            ("url_prefix", &self.url_prefix),
            ("internal_prefix", &self.internal_prefix),
            ("formats.cmaf_prefix", &self.formats.cmaf_prefix),
            ("formats.dash_prefix", &self.formats.dash_prefix),
        ] {
            let valid = prefix.starts_with('/')
                && prefix.len() > 1
                && !prefix.ends_with('/')
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
                && !prefix.split('/').any(|c| c == "." || c == "..");
            if !valid {
                return invalid(
                    key,
                    "must start with '/', not end with '/', and use only letters, digits, '/', '_', '-', '.'",
                );
            }
        }
        if self.url_prefix == self.internal_prefix {
            return invalid("internal_prefix", "must differ from url_prefix");
        }
        let prefixes = [
            ("url_prefix", &self.url_prefix),
            ("internal_prefix", &self.internal_prefix),
            ("formats.cmaf_prefix", &self.formats.cmaf_prefix),
            ("formats.dash_prefix", &self.formats.dash_prefix),
        ];
        for (i, (_, a)) in prefixes.iter().enumerate() {
            for (key, b) in prefixes.iter().skip(i + 1) {
                if formats::overlap(a, b) {
                    return invalid(key, "must not equal or lie beneath another prefix");
                }
            }
        }
        if !(self.segment_duration.is_finite()
            && self.segment_duration >= 1.0
            && self.segment_duration <= 60.0)
        {
            return invalid("segment_duration", "must be between 1 and 60 seconds");
        }
        let base = &self.public_base_url;
        if !(base.is_empty() || base.starts_with("http://") || base.starts_with("https://")) {
            return invalid(
                "public_base_url",
                "must be empty or start with http:// or https://",
            );
        }
        let msod = &self.msod;
        if !(1000..=60_000).contains(&msod.min_segment_duration_ms)
            || !(msod.min_segment_duration_ms..=60_000).contains(&msod.max_segment_duration_ms)
        {
            return invalid(
                "msod.max_segment_duration_ms",
                "min and max must lie between 1000 and 60000, min not above max",
            );
        }
        if self.limits.queue_limit == 0 {
            return invalid("limits.queue_limit", "must be at least 1");
        }
        if self.tools.index_cache_entries == 0 {
            return invalid("tools.index_cache_entries", "must be at least 1");
        }
        if self.limits.tool_timeout_secs == 0 {
            return invalid("limits.tool_timeout_secs", "must be at least 1");
        }
        if self.limits.tool_memory_bytes != 0 && self.limits.tool_memory_bytes < 64 << 20 {
            return invalid(
                "limits.tool_memory_bytes",
                "must be 0 (no limit) or at least 64 MiB",
            );
        }
        if self.limits.max_uri_bytes < 256 {
            return invalid("limits.max_uri_bytes", "must be at least 256");
        }
        if self.limits.scgi_header_timeout_secs == 0 {
            return invalid("limits.scgi_header_timeout_secs", "must be at least 1");
        }
        let percent = self.cache.min_free_percent;
        if !(percent.is_finite() && (0.0..=100.0).contains(&percent)) {
            return invalid("cache.min_free_percent", "must be between 0 and 100");
        }
        if self.cache.max_cache_bytes == 0 {
            return invalid("cache.max_cache_bytes", "must be greater than 0");
        }
        if self.cache.segment_ttl_secs == 0 {
            return invalid("cache.segment_ttl_secs", "must be at least 1");
        }
        if self.cache.hit_flush_ms == 0 {
            return invalid("cache.hit_flush_ms", "must be at least 1");
        }
        self.token_auth.validate()?;
        self.encryption.validate()?;
        self.subtitles.validate()?;
        self.audio.validate()?;
        self.live.validate()?;
        if self.live.enabled {
            let live = crate::live::LIVE_PREFIX;
            for (key, prefix) in prefixes {
                if formats::overlap(prefix, live) {
                    return invalid(
                        key,
                        "must not equal or lie beneath /live while live is enabled",
                    );
                }
            }
        }
        let input = &self.input_cache.root;
        if input.starts_with(&self.cache_root)
            || self.cache_root.starts_with(input)
            || input.starts_with(&self.media_root)
            || self.media_root.starts_with(input)
        {
            return invalid(
                "input_cache.root",
                "must not be inside cache_root or media_root or contain them",
            );
        }
        let env = |name: &str| std::env::var(name).ok();
        sources::validate(&self.sources, &self.input_cache, &self.remote, &env)
            .map_err(|(key, message)| ConfigError::InvalidEntry { key, message })
    }

    /// Pool size with 0 resolved to the number of CPUs.
    pub fn pool_size(&self) -> usize {
        if self.limits.pool_size == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            self.limits.pool_size
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = Config::from_toml("segment_durations = 4").unwrap_err();
        assert!(err.to_string().contains("segment_durations"), "{err}");
        let err = Config::from_toml("[limits]\npool = 4").unwrap_err();
        assert!(err.to_string().contains("pool"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("segment_duration = 0.0", "segment_duration"),
            ("media_root = \"relative\"", "media_root"),
            ("hit_log = \"hits.log\"", "hit_log"),
            ("url_prefix = \"i\"", "url_prefix"),
            ("url_prefix = \"/i/\"", "url_prefix"),
            ("internal_prefix = \"/i\"", "internal_prefix"),
            ("public_base_url = \"ftp://x\"", "public_base_url"),
            (
                "media_root = \"/srv\"\ncache_root = \"/srv/cache\"",
                "cache_root",
            ),
            ("[limits]\nqueue_limit = 0", "limits.queue_limit"),
            ("[cache]\nmax_cache_bytes = 0", "cache.max_cache_bytes"),
            (
                "[cache]\nmin_free_percent = 101.0",
                "cache.min_free_percent",
            ),
            ("[cache]\nmin_free_percent = -1.0", "cache.min_free_percent"),
            (
                "[limits]\nscgi_header_timeout_secs = 0",
                "limits.scgi_header_timeout_secs",
            ),
            ("[tools]\nmode = \"sometimes\"", "mode"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(text).unwrap_err().to_string();
            assert!(
                err.contains(key),
                "{text:?} gave {err:?}, expected key {key}"
            );
        }
    }

    #[test]
    fn decimal_segment_duration_is_accepted() {
        let c = Config::from_toml("segment_duration = 4.5").unwrap();
        assert_eq!(c.segment_duration, 4.5);
    }
}
