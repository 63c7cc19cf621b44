//! One upstream (an HTTP origin or an S3 bucket): ranged GETs with a bounded
//! number in flight, a connect and a read timeout, retries with backoff on the
//! failures a retry can cure, and answers checked to be what was asked (blocking;
//! callers run on tokio's blocking pool).

use crate::config::{RemoteConfig, S3Credentials, SourceConfig, SourceKind};
use crate::error::{UpstreamCause, UpstreamError};
use rusty_s3::S3Action;
use std::io::Read;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// What an object is: its version tag and size. Two reads agree on the object
/// when their identities are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `ETag`, else `Last-Modified` (prefixed so the two never compare equal).
    pub version: String,
    pub size: u64,
}

/// A ranged GET's answer.
#[derive(Debug)]
pub enum Answer {
    /// 304 to a conditional request: the object is the one named.
    NotModified,
    NotFound,
    Bytes {
        identity: Identity,
        body: Vec<u8>,
    },
}

enum Target {
    Http {
        base: String,
        headers: Vec<(String, String)>,
    },
    S3 {
        bucket: rusty_s3::Bucket,
        credentials: rusty_s3::Credentials,
        key_prefix: String,
    },
}

pub struct Upstream {
    /// The config prefix: what logs and error bodies call it.
    pub name: String,
    target: Target,
    agent: ureq::Agent,
    retries: u32,
    max_in_flight: usize,
    in_flight: Mutex<usize>,
    freed: Condvar,
}

/// A request slot, given back when dropped.
struct Slot<'a>(&'a Upstream);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// Percent-encodes each `/`-separated component of a URL path (RFC 3986 unreserved kept).
pub fn encode_path(rest: &str) -> String {
    let mut out = String::with_capacity(rest.len());
    for b in rest.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `bytes START-END/TOTAL` → (START, END inclusive, TOTAL).
pub fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let spec = value.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total) = (start.parse().ok()?, end.parse().ok()?, total.parse().ok()?);
    (start <= end && end < total).then_some((start, end, total))
}

/// The HTTP client of one upstream: the connect and read timeouts (the read one
/// also bounds a stalled upload's writes), no redirects followed.
pub(crate) fn agent(remote: &RemoteConfig) -> ureq::Agent {
    let read = Duration::from_secs(remote.read_timeout_secs);
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(remote.connect_timeout_secs))
        .timeout_read(read)
        .timeout_write(read)
        .max_idle_connections_per_host(remote.max_connections)
        .redirects(0)
        .build()
}

/// An S3 source's bucket (path-style or virtual-host) and signing credentials.
pub(crate) fn s3_bucket(
    source: &SourceConfig,
    credentials: Option<S3Credentials>,
) -> Result<(rusty_s3::Bucket, rusty_s3::Credentials), String> {
    let endpoint = url::Url::parse(&source.endpoint).map_err(|e| e.to_string())?;
    let style = if source.path_style {
        rusty_s3::UrlStyle::Path
    } else {
        rusty_s3::UrlStyle::VirtualHost
    };
    let bucket = rusty_s3::Bucket::new(
        endpoint,
        style,
        source.bucket.clone(),
        source.region.clone(),
    )
    .map_err(|e| e.to_string())?;
    let c = credentials.ok_or("no credentials")?;
    let credentials = match c.session_token {
        Some(token) => {
            rusty_s3::Credentials::new_with_token(c.access_key_id, c.secret_access_key, token)
        }
        None => rusty_s3::Credentials::new(c.access_key_id, c.secret_access_key),
    };
    Ok((bucket, credentials))
}

impl Upstream {
    pub fn new(
        source: &SourceConfig,
        credentials: Option<S3Credentials>,
        remote: &RemoteConfig,
    ) -> Result<Upstream, String> {
        let target = match source.kind {
            SourceKind::Http => Target::Http {
                base: source.base_url.trim_end_matches('/').to_string(),
                headers: source
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
            SourceKind::S3 => {
                let (bucket, credentials) = s3_bucket(source, credentials)?;
                Target::S3 {
                    bucket,
                    credentials,
                    key_prefix: source.key_prefix.clone(),
                }
            }
            SourceKind::Local => return Err("a local source has no upstream".into()),
        };
        let agent = agent(remote);
        Ok(Upstream {
            name: source.prefix.clone(),
            target,
            agent,
            retries: remote.retries,
            max_in_flight: remote.max_connections,
            in_flight: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    fn slot(&self) -> Slot<'_> {
        let mut n = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= self.max_in_flight {
            n = self.freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Slot(self)
    }

    fn fail(&self, cause: UpstreamCause) -> UpstreamError {
        UpstreamError {
            upstream: self.name.clone(),
            cause,
        }
    }

    /// The URL of `rest` (signed for S3) and the extra headers.
    fn request(&self, rest: &str) -> ureq::Request {
        match &self.target {
            Target::Http { base, headers } => {
                let mut req = self.agent.get(&format!("{base}/{}", encode_path(rest)));
                for (k, v) in headers {
                    req = req.set(k, v);
                }
                req
            }
            Target::S3 {
                bucket,
                credentials,
                key_prefix,
            } => {
                let key = format!("{key_prefix}{rest}");
                let url = bucket
                    .get_object(Some(credentials), &key)
                    .sign(Duration::from_secs(600));
                self.agent.get(url.as_str())
            }
        }
    }

    /// GET bytes `[start, end)` of `rest`; `if_none_match` makes it conditional.
    /// Retries what a retry can cure (transport errors, timeouts, 5xx, short bodies).
    pub fn get_range(
        &self,
        rest: &str,
        start: u64,
        end: u64,
        if_none_match: Option<&str>,
    ) -> Result<Answer, UpstreamError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let result = {
                let _slot = self.slot();
                self.get_once(rest, start, end, if_none_match)
            };
            match result {
                Err(e) if attempt < self.retries && retryable(&e.cause) => {
                    log::warn!("{e} (GET {rest} bytes {start}..{end}); retrying in {delay:?}");
                    std::thread::sleep(delay);
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    log::warn!("{e} (GET {rest} bytes {start}..{end})");
                    return Err(e);
                }
                ok => return ok,
            }
        }
    }

    fn get_once(
        &self,
        rest: &str,
        start: u64,
        end: u64,
        if_none_match: Option<&str>,
    ) -> Result<Answer, UpstreamError> {
        let mut req = self
            .request(rest)
            .set("Range", &format!("bytes={start}-{}", end.saturating_sub(1)));
        if let Some(tag) = if_none_match {
            req = req.set("If-None-Match", tag);
        }
        let resp = match req.call() {
            Ok(resp) => resp,
            Err(ureq::Error::Status(404, _)) => return Ok(Answer::NotFound),
            Err(ureq::Error::Status(403, _)) => {
                log::warn!(
                    "upstream {} refused {rest} (403): check the credentials or the object's permissions",
                    self.name
                );
                return Ok(Answer::NotFound);
            }
            Err(ureq::Error::Status(code, _)) => return Err(self.fail(UpstreamCause::Status(code))),
            Err(ureq::Error::Transport(t)) => return Err(self.fail(transport_cause(&t))),
        };
        if resp.status() == 304 {
            return Ok(Answer::NotModified);
        }
        let version = match (resp.header("ETag"), resp.header("Last-Modified")) {
            (Some(tag), _) => format!("etag:{tag}"),
            (None, Some(date)) => format!("last-modified:{date}"),
            (None, None) => String::new(),
        };
        let (want, size) = match resp.status() {
            206 => {
                let range = resp.header("Content-Range").and_then(parse_content_range);
                match range {
                    Some((s, e, total)) if s == start && e + 1 >= end.min(total) => {
                        (end.min(total) - start, total)
                    }
                    _ => {
                        return Err(self.fail(UpstreamCause::BadAnswer(
                            "a Content-Range that is not the range asked for".into(),
                        )))
                    }
                }
            }
            // A whole object answered to a range that covers it is fine.
            200 => match resp
                .header("Content-Length")
                .and_then(|l| l.parse::<u64>().ok())
            {
                Some(total) if start == 0 && end >= total => (total, total),
                _ => {
                    return Err(self.fail(UpstreamCause::BadAnswer(
                        "no byte-range support (200 to a range request)".into(),
                    )))
                }
            },
            code => return Err(self.fail(UpstreamCause::Status(code))),
        };
        let mut body = Vec::with_capacity(usize::try_from(want).unwrap_or(0).min(64 << 20));
        let read = resp
            .into_reader()
            .take(want)
            .read_to_end(&mut body)
            .map_err(|e| self.fail(io_cause(&e)));
        match read {
            Ok(n) if n as u64 == want => {}
            Ok(_) => return Err(self.fail(UpstreamCause::Truncated)),
            Err(e) if e.cause == UpstreamCause::TimedOut => return Err(e),
            Err(_) => return Err(self.fail(UpstreamCause::Truncated)),
        }
        Ok(Answer::Bytes {
            identity: Identity { version, size },
            body,
        })
    }
}

fn retryable(cause: &UpstreamCause) -> bool {
    match cause {
        UpstreamCause::Status(code) => *code >= 500,
        UpstreamCause::Unreachable(_) | UpstreamCause::TimedOut | UpstreamCause::Truncated => true,
        UpstreamCause::BadAnswer(_) | UpstreamCause::Changed => false,
    }
}

fn io_cause(e: &std::io::Error) -> UpstreamCause {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => UpstreamCause::TimedOut,
        _ => UpstreamCause::Unreachable(e.to_string()),
    }
}

fn transport_cause(t: &ureq::Transport) -> UpstreamCause {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return UpstreamCause::TimedOut;
            }
        }
        source = e.source();
    }
    UpstreamCause::Unreachable(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_component() {
        assert_eq!(encode_path("a b/c%d/é.mp4"), "a%20b/c%25d/%C3%A9.mp4");
        assert_eq!(encode_path("x/y-z_1.~mp4"), "x/y-z_1.~mp4");
    }

    fn s3(path_style: bool) -> Upstream {
        let text = format!(
            "[[sources]]\nprefix = \"b\"\nkind = \"s3\"\nendpoint = \"http://s3.test:9000\"\nregion = \"eu-west-1\"\nbucket = \"vod\"\nkey_prefix = \"t/\"\npath_style = {path_style}\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\""
        );
        let config = crate::config::Config::from_toml(&text).unwrap();
        let source = &config.sources[0];
        Upstream::new(source, source.credentials(&|_| None), &config.remote).unwrap()
    }

    #[test]
    fn s3_requests_are_presigned_in_either_url_style() {
        let path = s3(true).request("a b/c.mp4").url().to_string();
        assert!(
            path.starts_with("http://s3.test:9000/vod/t/a%20b/c.mp4?"),
            "{path}"
        );
        let host = s3(false).request("c.mp4").url().to_string();
        assert!(
            host.starts_with("http://vod.s3.test:9000/t/c.mp4?"),
            "{host}"
        );
        for url in [path, host] {
            for param in [
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Credential=AK%2F",
                "X-Amz-Signature=",
            ] {
                assert!(url.contains(param), "{url} lacks {param}");
            }
            assert!(url.contains("eu-west-1%2Fs3%2Faws4_request"), "{url}");
        }
    }

    #[test]
    fn content_ranges_parse_and_refuse_nonsense() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(parse_content_range("bytes 5-4/1000"), None);
        assert_eq!(parse_content_range("bytes 0-1000/1000"), None);
        assert_eq!(parse_content_range("bytes 0-9/*"), None);
        assert_eq!(parse_content_range("items 0-9/10"), None);
    }
}
