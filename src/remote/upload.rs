//! Uploading one file to an S3 source (`record store`): a PutObject, or a multipart
//! upload for a large file, then a HEAD that must report the size sent. The body is
//! read from disk as it is sent (`read_at` at the part's offsets), never held whole.
//! Requests are presigned by rusty-s3, as the fetches are. Blocking: callers run it
//! on the blocking pool.

use super::fetch::{agent, s3_bucket};
use crate::config::{RemoteConfig, S3Credentials, SourceConfig};
use rusty_s3::actions::{CompleteMultipartUpload, CreateMultipartUpload};
use rusty_s3::S3Action;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

/// A presigned URL is good for this long: longer than a part or a 64 MiB PUT takes.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// S3's bound on the parts of one upload.
const MAX_PARTS: u64 = 10_000;
/// S3's smallest part (the last may be smaller).
const MIN_PART: u64 = 5 << 20;
/// An error answer's body read at most (its `<Code>` is near the start).
const ERROR_BODY_MAX: u64 = 64 << 10;

/// When an upload is multipart and how large its parts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSizes {
    /// Files larger than this go in parts; others in one PUT.
    pub multipart_above: u64,
    pub part_bytes: u64,
}

impl Default for PartSizes {
    fn default() -> Self {
        PartSizes {
            multipart_above: 64 << 20,
            part_bytes: 16 << 20,
        }
    }
}

impl PartSizes {
    /// The part size for a file of `size` bytes: at least S3's minimum, and large
    /// enough for the file to fit in S3's 10,000 parts (pure).
    pub fn part_for(&self, size: u64) -> u64 {
        self.part_bytes.max(MIN_PART).max(size.div_ceil(MAX_PARTS))
    }
}

/// What the bucket holds after an upload, as its HEAD answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The object key (`key_prefix` + the path under the prefix).
    pub key: String,
    pub size: u64,
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// 401 or 403: the credentials or the bucket's permissions.
    Refused {
        upstream: String,
        status: u16,
        code: String,
    },
    /// Any other status we cannot use, with S3's error code when it gave one.
    Status {
        upstream: String,
        status: u16,
        code: String,
    },
    /// Refused, reset, timed out: the transport's words.
    Transport { upstream: String, why: String },
    /// A 2xx answer without what it must carry, or a HEAD that disagrees.
    BadAnswer { upstream: String, why: String },
    /// Reading the file to send.
    File(String),
    /// The caller asked to stop (its deadline passed, or the worker is stopping).
    Stopped,
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = |code: &str| match code {
            "" => String::new(),
            c => format!(", {c}"),
        };
        match self {
            UploadError::Refused {
                upstream,
                status,
                code: c,
            } => write!(
                f,
                "S3 source {upstream} refused the upload ({status}{}): check its \
                 access_key_id and secret_access_key (or AWS_* variables) and the \
                 bucket's permissions",
                code(c)
            ),
            UploadError::Status {
                upstream,
                status,
                code: c,
            } => write!(f, "S3 source {upstream} answered {status}{}", code(c)),
            UploadError::Transport { upstream, why } => {
                write!(f, "S3 source {upstream} unreachable: {why}")
            }
            UploadError::BadAnswer { upstream, why } => {
                write!(f, "S3 source {upstream} answered badly: {why}")
            }
            UploadError::File(why) => write!(f, "reading the file to upload: {why}"),
            UploadError::Stopped => f.write_str("stopped before the upload ended"),
        }
    }
}

impl std::error::Error for UploadError {}

/// S3's error code (`<Code>SignatureDoesNotMatch</Code>`) in an error body (pure).
pub fn error_code(body: &str) -> String {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim())
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_default()
        .to_string()
}

/// A file's byte range as a request body: `read_at` from `pos` to `end`, asking
/// `go_on` before every read so a stop ends the request, not just the next one.
struct Range<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    go_on: &'a dyn Fn() -> bool,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !(self.go_on)() {
            return Err(io::Error::other("stopped"));
        }
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        let Some(buf) = buf.get_mut(..want) else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.read_at(buf, self.pos)?;
        if n == 0 {
            // The file shrank under us: a short body S3 would wait for.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while sent",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// One S3 source as an upload target.
pub struct S3Target {
    /// The config prefix: what messages call it.
    pub name: String,
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    key_prefix: String,
    agent: ureq::Agent,
    retries: u32,
}

/// Why one request failed, and whether another try may cure it.
struct Failed {
    error: UploadError,
    retry: bool,
}

impl S3Target {
    pub fn new(
        source: &SourceConfig,
        credentials: Option<S3Credentials>,
        remote: &RemoteConfig,
    ) -> Result<S3Target, String> {
        let (bucket, credentials) = s3_bucket(source, credentials)?;
        Ok(S3Target {
            name: source.prefix.clone(),
            bucket,
            credentials,
            key_prefix: source.key_prefix.clone(),
            agent: agent(remote),
            retries: remote.retries,
        })
    }

    /// The object key of `rest` (the path under the prefix), as the fetches make it.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.key_prefix)
    }

    /// Uploads `file` as `rest`: one PUT, or parts above `sizes.multipart_above`;
    /// then checks with a HEAD that the object has the file's size. `go_on` is asked
    /// as the bytes go: false stops the upload (a multipart one is aborted).
    pub fn upload(
        &self,
        rest: &str,
        file: &Path,
        sizes: PartSizes,
        go_on: &dyn Fn() -> bool,
    ) -> Result<Uploaded, UploadError> {
        let key = self.key(rest);
        let opened = File::open(file).map_err(|e| UploadError::File(e.to_string()))?;
        let size = opened
            .metadata()
            .map_err(|e| UploadError::File(e.to_string()))?
            .len();
        if size > sizes.multipart_above {
            self.multipart(&key, &opened, size, sizes.part_for(size), go_on)?;
        } else {
            self.retried(go_on, || {
                let url = self
                    .bucket
                    .put_object(Some(&self.credentials), &key)
                    .sign(SIGNED_FOR);
                self.send(url.as_str(), &key, &opened, 0, size, go_on)
                    .map(drop)
            })?;
        }
        let (stored, etag) = self.head(&key)?.ok_or_else(|| UploadError::BadAnswer {
            upstream: self.name.clone(),
            why: format!("{key} is not there after its upload"),
        })?;
        if stored != size {
            return Err(UploadError::BadAnswer {
                upstream: self.name.clone(),
                why: format!("{key} holds {stored} bytes after an upload of {size}"),
            });
        }
        Ok(Uploaded { key, size, etag })
    }

    /// HEAD of `key`: its size and ETag, None when there is no such object.
    pub fn head(&self, key: &str) -> Result<Option<(u64, String)>, UploadError> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let resp = match self.agent.head(url.as_str()).call() {
            Ok(resp) => resp,
            Err(ureq::Error::Status(404, _)) => return Ok(None),
            Err(e) => return Err(self.failed(e).error),
        };
        let size = resp
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| UploadError::BadAnswer {
                upstream: self.name.clone(),
                why: format!("a HEAD of {key} without Content-Length"),
            })?;
        let etag = resp.header("ETag").unwrap_or_default().to_string();
        Ok(Some((size, etag)))
    }

    fn multipart(
        &self,
        key: &str,
        file: &File,
        size: u64,
        part: u64,
        go_on: &dyn Fn() -> bool,
    ) -> Result<(), UploadError> {
        let created = self.retried(go_on, || {
            let url = CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), key)
                .sign(SIGNED_FOR);
            let resp = self
                .agent
                .post(url.as_str())
                .send_bytes(&[])
                .map_err(|e| self.failed(e))?;
            let body = resp.into_string().map_err(|e| self.transport(&e))?;
            CreateMultipartUpload::parse_response(&body)
                .map(|r| r.upload_id().to_string())
                .map_err(|e| Failed {
                    error: self.bad(format!("CreateMultipartUpload: {e}")),
                    retry: false,
                })
        })?;
        let upload_id = created.as_str();
        let result = self.parts(key, upload_id, file, size, part, go_on);
        if result.is_err() {
            // Parts are kept (and paid for) until the upload is completed or aborted.
            let url = self
                .bucket
                .abort_multipart_upload(Some(&self.credentials), key, upload_id)
                .sign(SIGNED_FOR);
            if let Err(e) = self.agent.delete(url.as_str()).call() {
                log::warn!("S3 source {}: aborting the upload of {key}: {e}", self.name);
            }
        }
        result
    }

    /// Uploads the parts one after another and completes the upload.
    fn parts(
        &self,
        key: &str,
        upload_id: &str,
        file: &File,
        size: u64,
        part: u64,
        go_on: &dyn Fn() -> bool,
    ) -> Result<(), UploadError> {
        let mut etags = Vec::new();
        let mut offset = 0;
        while offset < size {
            let len = part.min(size - offset);
            let number = u16::try_from(etags.len() + 1)
                .map_err(|_| self.bad(format!("more than {MAX_PARTS} parts for {size} bytes")))?;
            let etag = self.retried(go_on, || {
                let url = self
                    .bucket
                    .upload_part(Some(&self.credentials), key, number, upload_id)
                    .sign(SIGNED_FOR);
                let resp = self.send(url.as_str(), key, file, offset, len, go_on)?;
                resp.header("ETag").map(str::to_string).ok_or(Failed {
                    error: self.bad(format!("part {number} without an ETag")),
                    retry: false,
                })
            })?;
            etags.push(etag);
            offset += len;
        }
        let complete = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let body = complete.body();
        let resp = self
            .agent
            .post(url.as_str())
            .send_string(&body)
            .map_err(|e| self.failed(e).error)?;
        let text = resp.into_string().map_err(|e| self.transport(&e).error)?;
        // S3 may answer 200 and then fail: the body says which.
        rusty_s3::actions::CompleteMultipartUploadResponse::parse(&text).map_err(|_| {
            self.bad(format!(
                "CompleteMultipartUpload failed ({})",
                match error_code(&text) {
                    c if c.is_empty() => "no result".to_string(),
                    c => c,
                }
            ))
        })?;
        Ok(())
    }

    /// PUTs bytes `[offset, offset + len)` of `file` to the presigned `url` (of `key`).
    fn send(
        &self,
        url: &str,
        key: &str,
        file: &File,
        offset: u64,
        len: u64,
        go_on: &dyn Fn() -> bool,
    ) -> Result<ureq::Response, Failed> {
        let body = Range {
            file,
            pos: offset,
            end: offset + len,
            go_on,
        };
        let sent = self
            .agent
            .put(url)
            // A length, not chunks: S3 refuses a chunked PUT that is not aws-chunked.
            .set("Content-Length", &len.to_string())
            .send(body);
        sent.map_err(|e| match self.failed(e) {
            // A server refusing a signature may answer before the body is read and
            // close: the client sees a broken pipe, not the 403. A HEAD tells.
            f @ Failed {
                error: UploadError::Transport { .. },
                ..
            } if go_on() => match self.head(key) {
                Err(refused @ UploadError::Refused { .. }) => Failed {
                    error: refused,
                    retry: false,
                },
                _ => f,
            },
            f => f,
        })
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been retried
    /// `remote.retries` times (100 ms, doubling); stops when `go_on` says so.
    fn retried<T>(
        &self,
        go_on: &dyn Fn() -> bool,
        mut attempt: impl FnMut() -> Result<T, Failed>,
    ) -> Result<T, UploadError> {
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(_) if !go_on() => return Err(UploadError::Stopped),
                Err(f) if f.retry && tries < self.retries => {
                    log::warn!("{}; retrying in {delay:?}", f.error);
                    std::thread::sleep(delay);
                    delay *= 2;
                    tries += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    fn bad(&self, why: String) -> UploadError {
        UploadError::BadAnswer {
            upstream: self.name.clone(),
            why,
        }
    }

    fn transport(&self, e: &dyn fmt::Display) -> Failed {
        Failed {
            error: UploadError::Transport {
                upstream: self.name.clone(),
                why: e.to_string(),
            },
            retry: true,
        }
    }

    /// A transport error in words without its URL (a presigned URL is long and
    /// carries the signature).
    fn transport_words(t: &ureq::Transport) -> String {
        let mut why = t.kind().to_string();
        if let Some(message) = t.message() {
            why = format!("{why}: {message}");
        }
        if let Some(cause) = std::error::Error::source(t) {
            why = format!("{why}: {cause}");
        }
        why
    }

    fn failed(&self, e: ureq::Error) -> Failed {
        match e {
            ureq::Error::Status(status, resp) => {
                let mut body = String::new();
                let _ = resp
                    .into_reader()
                    .take(ERROR_BODY_MAX)
                    .read_to_string(&mut body);
                let code = error_code(&body);
                let upstream = self.name.clone();
                match status {
                    401 | 403 => Failed {
                        error: UploadError::Refused {
                            upstream,
                            status,
                            code,
                        },
                        retry: false,
                    },
                    _ => Failed {
                        error: UploadError::Status {
                            upstream,
                            status,
                            code,
                        },
                        retry: status >= 500,
                    },
                }
            }
            ureq::Error::Transport(t) => self.transport(&Self::transport_words(&t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_s3_bodies() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The request signature …</Message></Error>";
        assert_eq!(error_code(body), "SignatureDoesNotMatch");
        for odd in ["", "<Code>", "<Code>a b</Code>", "<Code><x/></Code>"] {
            assert_eq!(error_code(odd), "", "{odd:?}");
        }
    }

    #[test]
    fn parts_fit_in_ten_thousand_and_are_never_below_five_mib() {
        let sizes = PartSizes::default();
        assert_eq!(sizes.part_for(100 << 20), 16 << 20);
        // 200 GiB: 16 MiB parts would be 12,800 of them.
        let big = 200u64 << 30;
        let part = sizes.part_for(big);
        assert!(big.div_ceil(part) <= MAX_PARTS, "{part}");
        let tiny = PartSizes {
            multipart_above: 1,
            part_bytes: 1,
        };
        assert_eq!(tiny.part_for(12 << 20), MIN_PART);
    }

    #[test]
    fn upload_errors_say_what_to_check() {
        let refused = UploadError::Refused {
            upstream: "s3rec".into(),
            status: 403,
            code: "SignatureDoesNotMatch".into(),
        };
        let text = refused.to_string();
        for part in ["s3rec", "403", "SignatureDoesNotMatch", "secret_access_key"] {
            assert!(text.contains(part), "{text}");
        }
    }
}
