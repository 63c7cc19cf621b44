//! The `[[sources]]`, `[input_cache]` and `[remote]` tables: where a URL prefix's
//! media live when they are not under `media_root`, and how remote objects are
//! fetched and kept. Validation here is pure; the credentials' environment
//! fallback is passed in as a lookup so it can be tested without touching the
//! process environment.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a URL prefix's sources are (`/i/<prefix>/<rest>`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `<media_root>/<prefix>/<rest>`, as without a `[[sources]]` entry.
    Local,
    /// `<base_url>/<rest>` over HTTP(S) with byte ranges.
    Http,
    /// `<key_prefix><rest>` in an S3-compatible bucket, SigV4-signed.
    S3,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The first path component after `url_prefix`.
    pub prefix: String,
    pub kind: SourceKind,
    /// http: objects are `<base_url>/<rest>`.
    #[serde(default)]
    pub base_url: String,
    /// http: extra request headers (e.g. an origin's shared secret).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// s3: the service's URL, e.g. `https://s3.eu-west-1.amazonaws.com`.
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub bucket: String,
    /// s3: prepended to `<rest>` to make the object key.
    #[serde(default)]
    pub key_prefix: String,
    /// s3: `<endpoint>/<bucket>/<key>` when true, `<bucket>.<endpoint host>/<key>` when false.
    #[serde(default = "yes")]
    pub path_style: bool,
    /// s3: empty means `AWS_ACCESS_KEY_ID` from the environment.
    #[serde(default)]
    pub access_key_id: String,
    /// s3: empty means `AWS_SECRET_ACCESS_KEY` from the environment.
    #[serde(default)]
    pub secret_access_key: String,
    /// s3: empty means `AWS_SESSION_TOKEN` from the environment (if set).
    #[serde(default)]
    pub session_token: String,
}

fn yes() -> bool {
    true
}

/// The local copies of remote objects (sparse files, block by block).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InputCacheConfig {
    /// Directory of the copies; outside `cache_root` and `media_root`.
    pub root: PathBuf,
    /// The sweep drops copies not read within this many seconds.
    pub ttl_secs: u64,
    /// Then least recently read copies go until the blocks present fit in this many bytes.
    pub max_bytes: u64,
}

impl Default for InputCacheConfig {
    fn default() -> Self {
        InputCacheConfig {
            root: PathBuf::from("/var/cache/casterpak-input"),
            ttl_secs: 86_400,
            max_bytes: 20 << 30,
        }
    }
}

/// How remote objects are fetched.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// A remote object's identity (ETag / Last-Modified + size) is trusted this many
    /// seconds, then checked again with a conditional request.
    pub revalidate_secs: u64,
    pub connect_timeout_secs: u64,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout_secs: u64,
    /// Requests in flight to one upstream at once.
    pub max_connections: usize,
    /// Retries of a failed GET (refused, reset, timeout, 5xx), with backoff.
    pub retries: u32,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            revalidate_secs: 60,
            connect_timeout_secs: 5,
            read_timeout_secs: 20,
            max_connections: 16,
            retries: 2,
        }
    }
}

/// S3 credentials as used for signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl SourceConfig {
    /// The credentials from the file, else from `env` (`AWS_*`); None when either
    /// half is missing.
    pub fn credentials(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<S3Credentials> {
        let pick = |own: &str, var: &str| {
            if own.is_empty() {
                env(var).filter(|v| !v.is_empty())
            } else {
                Some(own.to_string())
            }
        };
        Some(S3Credentials {
            access_key_id: pick(&self.access_key_id, "AWS_ACCESS_KEY_ID")?,
            secret_access_key: pick(&self.secret_access_key, "AWS_SECRET_ACCESS_KEY")?,
            session_token: pick(&self.session_token, "AWS_SESSION_TOKEN"),
        })
    }
}

impl super::Config {
    /// Whether the source path `rel` (`<prefix>/<rest>`) is under a remote prefix.
    pub fn is_remote_source(&self, rel: &str) -> bool {
        let prefix = rel.split('/').next().unwrap_or("");
        self.sources
            .iter()
            .any(|s| s.prefix == prefix && s.kind != SourceKind::Local)
    }

    /// Whether cache key `key` (`<url_prefix>/<source path>…`) packages a remote source.
    pub fn is_remote_key(&self, key: &str) -> bool {
        let prefix = self.url_prefix.trim_start_matches('/');
        key.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rel| self.is_remote_source(rel))
    }
}

/// An `http://` or `https://` URL with a host and no query or fragment.
fn is_base_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty()
        && !url.contains(['?', '#', ' '])
        && !host.contains('@')
        && url.bytes().all(|b| b.is_ascii_graphic())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks the tables; the error names the key (`sources[1].base_url`).
pub fn validate(
    sources: &[SourceConfig],
    input_cache: &InputCacheConfig,
    remote: &RemoteConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    let bad = |key: String, message: &str| Err((key, message.to_string()));
    for (n, source) in sources.iter().enumerate() {
        let key = |name: &str| format!("sources[{n}].{name}");
        let p = &source.prefix;
        if p.is_empty()
            || p == "."
            || p == ".."
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return bad(
                key("prefix"),
                "must be one path component of letters, digits, '_', '-', '.'",
            );
        }
        if sources[..n].iter().any(|s| s.prefix == *p) {
            return bad(key("prefix"), "is given twice");
        }
        match source.kind {
            SourceKind::Local => {}
            SourceKind::Http => {
                if !is_base_url(&source.base_url) {
                    return bad(
                        key("base_url"),
                        "must be an http:// or https:// URL with a host, without query",
                    );
                }
                for (name, value) in &source.headers {
                    if !is_header_name(name) || value.bytes().any(|b| b < 0x20 || b == 0x7f) {
                        return bad(key("headers"), &format!("bad header {name:?}"));
                    }
                }
            }
            SourceKind::S3 => {
                if !is_base_url(&source.endpoint) {
                    return bad(
                        key("endpoint"),
                        "must be an http:// or https:// URL with a host, without query",
                    );
                }
                if source.region.is_empty() {
                    return bad(key("region"), "is required for kind = \"s3\"");
                }
                let bucket = &source.bucket;
                if bucket.len() < 3
                    || bucket.len() > 63
                    || !bucket
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
                {
                    return bad(
                        key("bucket"),
                        "must be 3 to 63 lowercase letters, digits, '-', '.'",
                    );
                }
                if source.key_prefix.starts_with('/') {
                    return bad(key("key_prefix"), "must not start with '/'");
                }
                let creds = source.credentials(env);
                if creds.is_none() {
                    let missing = if source.access_key_id.is_empty()
                        && env("AWS_ACCESS_KEY_ID").is_none_or(|v| v.is_empty())
                    {
                        "access_key_id"
                    } else {
                        "secret_access_key"
                    };
                    return bad(
                        key(missing),
                        "is missing (set it here or in the environment as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
                    );
                }
            }
        }
        if source.kind != SourceKind::Http && !source.base_url.is_empty() {
            return bad(key("base_url"), "is only for kind = \"http\"");
        }
        if source.kind != SourceKind::S3 && !source.endpoint.is_empty() {
            return bad(key("endpoint"), "is only for kind = \"s3\"");
        }
    }
    if !input_cache.root.is_absolute() {
        return bad("input_cache.root".into(), "must be an absolute path");
    }
    if input_cache.ttl_secs == 0 {
        return bad("input_cache.ttl_secs".into(), "must be at least 1");
    }
    if input_cache.max_bytes == 0 {
        return bad("input_cache.max_bytes".into(), "must be greater than 0");
    }
    for (key, value) in [
        ("remote.connect_timeout_secs", remote.connect_timeout_secs),
        ("remote.read_timeout_secs", remote.read_timeout_secs),
        ("remote.max_connections", remote.max_connections as u64),
    ] {
        if value == 0 {
            return bad(key.into(), "must be at least 1");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
