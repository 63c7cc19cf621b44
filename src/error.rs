//! Error types per boundary, and the one table mapping them to HTTP statuses.
//!
//! Every error is `Clone` because a single-flight result is shared by every
//! waiter. A failure's `Display` is the response body, so it never names a path of
//! this machine: I/O errors are kept only as their cause ([`IoCause`], which cannot
//! hold a path; the full error with its path goes to the log where it happens), and
//! reasons the tools print have absolute paths masked ([`one_line`]).

use std::fmt;

/// What an I/O error was, without where: the OS error code, else the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoCause {
    kind: std::io::ErrorKind,
    errno: Option<i32>,
}

impl IoCause {
    /// The cause of `e`. tempfile wraps OS errors with the path in a private type
    /// that hides the code, so the code is read back from the wrapped text.
    pub fn of(e: &std::io::Error) -> IoCause {
        let wrapped_errno = || {
            let text = e.get_ref()?.to_string();
            let (_, after) = text.rsplit_once("(os error ")?;
            after.split_once(')')?.0.parse().ok()
        };
        IoCause {
            kind: e.kind(),
            errno: e.raw_os_error().or_else(wrapped_errno),
        }
    }

    pub fn of_errno(errno: nix::errno::Errno) -> IoCause {
        IoCause::of(&std::io::Error::from(errno))
    }
}

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.errno {
            Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
            None => self.kind.to_string(),
        };
        // "No space left on device" reads as part of a sentence in lower case.
        let mut chars = text.chars();
        if let Some(first) = chars.next() {
            write!(f, "{}{}", first.to_lowercase(), chars.as_str())?;
        }
        Ok(())
    }
}

/// A request URI we refuse (see `url.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    TooLong,
    NotAbsolute,
    BadPercent,
    EncodedSlash,
    Nul,
    Backslash,
    Control,
    NotUtf8,
    DotComponent,
    EmptyComponent,
    /// Not under `url_prefix` (nginx should not have sent it).
    NotUnderPrefix,
    /// A well-formed path that names nothing casterpak serves.
    UnknownResource,
    /// Bad `<prefix>,<a>,…,<suffix>.csmil` list.
    BadCsmil,
    /// `_<N>_` beyond the renditions of the container.
    RenditionOutOfRange,
    /// A bad `start`/`end`/`b`/`sd` value (`url::query`).
    BadQuery(crate::url::query::QueryError),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            UrlError::BadQuery(e) => return write!(f, "{e}"),
            UrlError::TooLong => "request URI too long",
            UrlError::NotAbsolute => "request URI is not an absolute path",
            UrlError::BadPercent => "bad percent-encoding",
            UrlError::EncodedSlash => "encoded '/' inside a path component",
            UrlError::Nul => "NUL byte in path",
            UrlError::Backslash => "backslash in path",
            UrlError::Control => "control character in path",
            UrlError::NotUtf8 => "path is not valid UTF-8",
            UrlError::DotComponent => "'.' or '..' path component",
            UrlError::EmptyComponent => "empty path component",
            UrlError::NotUnderPrefix => "not under the URL prefix",
            UrlError::UnknownResource => "no such resource",
            UrlError::BadCsmil => "malformed csmil rendition list",
            UrlError::RenditionOutOfRange => "rendition index out of range",
        };
        f.write_str(text)
    }
}

/// Resolving a source under `media_root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// Missing, outside the root (symlink), or not a regular file: all look the
    /// same from outside, on purpose.
    NotFound(String),
    Io(IoCause),
    /// A remote source's upstream failed: never a verdict on the media.
    Upstream(UpstreamError),
}

/// A remote fetch that failed, with the upstream (its config prefix) named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub upstream: String,
    pub cause: UpstreamCause,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCause {
    /// An HTTP status we cannot use (5xx, 416, …).
    Status(u16),
    /// Refused, reset, DNS, TLS: the transport's own words.
    Unreachable(String),
    /// No answer (or no next bytes) within the timeout.
    TimedOut,
    /// The body ended before the bytes its headers promised.
    Truncated,
    /// An answer that does not fit the request (no Content-Range, wrong start, …).
    BadAnswer(String),
    /// The object's identity changed between two reads of it.
    Changed,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let upstream = &self.upstream;
        match &self.cause {
            UpstreamCause::Status(code) => write!(f, "upstream {upstream} answered {code}"),
            UpstreamCause::Unreachable(why) => {
                write!(f, "upstream {upstream} unreachable: {}", one_line(why))
            }
            UpstreamCause::TimedOut => write!(f, "upstream {upstream} timed out"),
            UpstreamCause::Truncated => write!(f, "upstream {upstream} cut the answer short"),
            UpstreamCause::BadAnswer(why) => {
                write!(f, "upstream {upstream} answered badly: {}", one_line(why))
            }
            UpstreamCause::Changed => {
                write!(f, "upstream {upstream}: the object changed while read")
            }
        }
    }
}

/// Running a packaging tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The queue is full.
    Overloaded,
    /// Killed after the timeout (seconds).
    TimedOut(u64),
    /// Exit 2: the input is corrupt; carries the tool's one-line reason.
    Corrupt(String),
    /// Exit 3: unsupported media.
    Unsupported(String),
    /// Exit 5: segment number out of range.
    OutOfRange(String),
    /// Exit 4 reading the source (`cannot read input: …`): EIO, a file taken away,
    /// a descriptor that cannot be read. The disk's failure, never the media's.
    SourceUnreadable(String),
    /// Killed by a signal, or an unknown exit code.
    Crashed(String),
    /// Exit 0 but output we cannot use.
    BadOutput(String),
    /// Exit 1 (usage: our bug), 4 (tool I/O on its output), or the spawn itself failed.
    Failed(String),
}

/// Why a request failed; the one type the server maps to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Url(UrlError),
    Source(SourceError),
    Tool(ToolError),
    /// A segment number past the end of the plan.
    SegmentOutOfRange(u64),
    /// No rendition of a master exists.
    NoRenditions,
    /// A master's `b=` filter keeps none of its variants.
    NoVariantInRange,
    /// No I-frame playlist: no video, no keyframe layout (real Bento4), or a clip.
    NoIFrames,
    /// A key request for a title that is not encrypted.
    NotEncrypted,
    /// No usable sidecar for that language (none configured, none there, or broken).
    NoSubtitles,
    /// An encrypted title asked of a tool that cannot encrypt it (real Bento4):
    /// refused, never served in the clear.
    EncryptedElsewhere,
    /// Writing into the cache dir.
    Cache(IoCause),
    /// The cache file system is below its free-space floor: no fill starts (temporary).
    LowDiskSpace,
    /// The worker is stopping and abandoned the fill (temporary).
    ShuttingDown,
    /// Anything else (a bug or an impossible state).
    Internal(String),
}

impl From<UrlError> for Failure {
    fn from(e: UrlError) -> Self {
        Failure::Url(e)
    }
}

impl From<SourceError> for Failure {
    fn from(e: SourceError) -> Self {
        Failure::Source(e)
    }
}

impl From<ToolError> for Failure {
    fn from(e: ToolError) -> Self {
        Failure::Tool(e)
    }
}

impl Failure {
    /// A cache write failed: the path-bearing error is logged here, the body only
    /// says what went wrong.
    pub fn cache(e: std::io::Error) -> Self {
        log::warn!("cache write failed: {e}");
        Failure::Cache(IoCause::of(&e))
    }

    /// The HTTP status for this failure (the single mapping table).
    pub fn status(&self) -> u16 {
        match self {
            Failure::Url(
                UrlError::NotUnderPrefix
                | UrlError::UnknownResource
                | UrlError::RenditionOutOfRange,
            ) => 404,
            Failure::Url(_) => 400,
            Failure::Source(SourceError::NotFound(_)) => 404,
            Failure::SegmentOutOfRange(_) | Failure::NoRenditions => 404,
            Failure::NoVariantInRange | Failure::NoIFrames | Failure::NotEncrypted => 404,
            Failure::NoSubtitles => 404,
            Failure::EncryptedElsewhere => 403,
            Failure::Tool(ToolError::OutOfRange(_)) => 404,
            Failure::Tool(ToolError::Unsupported(_)) => 415,
            Failure::Tool(ToolError::Corrupt(_)) => 422,
            Failure::Tool(ToolError::Crashed(_) | ToolError::BadOutput(_)) => 502,
            // As an upstream that gave no bytes (502): what packaging reads from
            // failed, not the request, not the media, and not the worker's own
            // state (503 is overload, low disk, stopping).
            Failure::Tool(ToolError::SourceUnreadable(_)) => 502,
            Failure::Tool(ToolError::Overloaded)
            | Failure::LowDiskSpace
            | Failure::ShuttingDown => 503,
            Failure::Tool(ToolError::TimedOut(_)) => 504,
            Failure::Source(SourceError::Upstream(e)) => match e.cause {
                UpstreamCause::TimedOut => 504,
                _ => 502,
            },
            Failure::Tool(ToolError::Failed(_))
            | Failure::Source(SourceError::Io(_))
            | Failure::Cache(_)
            | Failure::Internal(_) => 500,
        }
    }

    /// Whether the failure says something lasting about the source, so it is
    /// worth remembering (negative cache) rather than retrying at once.
    pub fn is_about_source(&self) -> bool {
        matches!(
            self,
            Failure::Tool(
                ToolError::Corrupt(_)
                    | ToolError::Unsupported(_)
                    | ToolError::Crashed(_)
                    | ToolError::BadOutput(_)
                    | ToolError::TimedOut(_)
            )
        )
    }
}

/// Keeps a reason to one short line (it goes into a response body and a log line)
/// and masks absolute paths in it: a tool may name a file of this machine.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let masked: Vec<String> = line.split(' ').map(mask_path).collect();
    masked.join(" ").chars().take(300).collect()
}

/// `"/srv/x.mp4":` → `"<path>":`, `at=/tmp/x` → `at=<path>`: a '/' that starts the
/// word or follows a quote, bracket, `=` or `:` begins a path, up to a closing mark.
fn mask_path(word: &str) -> String {
    let opens = |c: char| "\"'([<`=:".contains(c);
    let start = word
        .char_indices()
        .find(|&(i, c)| c == '/' && (i == 0 || word[..i].chars().next_back().is_some_and(opens)));
    let Some((start, _)) = start else {
        return word.to_string();
    };
    let rest = &word[start..];
    let end = rest
        .find(|c: char| "\"')]>`,;".contains(c))
        .or_else(|| rest.strip_suffix(':').map(str::len))
        .unwrap_or(rest.len());
    format!("{}<path>{}", &word[..start], &rest[end..])
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Url(e) => write!(f, "bad request: {e}"),
            Failure::Source(SourceError::NotFound(p)) => write!(f, "source not found: {p}"),
            Failure::Source(SourceError::Io(e)) => write!(f, "source unreadable: {e}"),
            Failure::Source(SourceError::Upstream(e)) => write!(f, "{e}"),
            Failure::Tool(ToolError::Overloaded) => f.write_str("overloaded, retry later"),
            Failure::Tool(ToolError::TimedOut(s)) => write!(f, "packaging timed out after {s} s"),
            Failure::Tool(ToolError::Corrupt(r)) => write!(f, "corrupt media: {}", one_line(r)),
            Failure::Tool(ToolError::Unsupported(r)) => {
                write!(f, "unsupported media: {}", one_line(r))
            }
            Failure::Tool(ToolError::OutOfRange(r)) => write!(f, "not found: {}", one_line(r)),
            Failure::Tool(ToolError::SourceUnreadable(r)) => {
                write!(f, "source unreadable: {}", one_line(r))
            }
            Failure::Tool(ToolError::Crashed(r)) => write!(f, "packager crashed: {}", one_line(r)),
            Failure::Tool(ToolError::BadOutput(r)) => {
                write!(f, "packager output unusable: {}", one_line(r))
            }
            Failure::Tool(ToolError::Failed(r)) => write!(f, "packager failed: {}", one_line(r)),
            Failure::SegmentOutOfRange(k) => write!(f, "segment {k} out of range"),
            Failure::NoRenditions => f.write_str("no rendition of this master exists"),
            Failure::NoVariantInRange => f.write_str("no variant within the b= bit rates"),
            Failure::NoIFrames => {
                f.write_str("no I-frame playlist here (audio only, real Bento4, or a clip)")
            }
            Failure::NotEncrypted => f.write_str("this title is not encrypted: it has no key"),
            Failure::NoSubtitles => f.write_str("no subtitles in this language here"),
            Failure::EncryptedElsewhere => f.write_str(
                "this title is encrypted: that needs casterpak's mp42hls, not the configured tool",
            ),
            Failure::Cache(e) => write!(f, "cache write failed: {e}"),
            Failure::LowDiskSpace => f.write_str("cache disk is nearly full, retry later"),
            Failure::ShuttingDown => f.write_str("the worker is stopping, retry later"),
            Failure::Internal(e) => write!(f, "internal error: {}", one_line(e)),
        }
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(cause: UpstreamCause) -> Failure {
        Failure::Source(SourceError::Upstream(UpstreamError {
            upstream: "archive".into(),
            cause,
        }))
    }

    #[test]
    fn upstream_failures_are_not_about_the_media() {
        for cause in [
            UpstreamCause::Status(503),
            UpstreamCause::TimedOut,
            UpstreamCause::Truncated,
            UpstreamCause::Unreachable("refused".into()),
        ] {
            let failure = upstream(cause);
            assert!(!failure.is_about_source(), "{failure}");
            assert!(
                failure.to_string().contains("upstream archive"),
                "{failure}"
            );
        }
    }

    #[test]
    fn a_source_the_tool_cannot_read_is_not_remembered() {
        let failure = Failure::Tool(ToolError::SourceUnreadable(
            "cannot read input: /dev/fd/7: Input/output error".into(),
        ));
        assert!(!failure.is_about_source(), "{failure}");
        assert_eq!(
            failure.to_string(),
            "source unreadable: cannot read input: <path>: Input/output error"
        );
        // The corrupt verdict it must not be taken for is remembered.
        assert!(Failure::Tool(ToolError::Corrupt("x".into())).is_about_source());
    }

    #[test]
    fn status_table() {
        let s = || "x".to_string();
        let cases: Vec<(Failure, u16)> = vec![
            (UrlError::DotComponent.into(), 400),
            (UrlError::NotUtf8.into(), 400),
            (UrlError::TooLong.into(), 400),
            (UrlError::UnknownResource.into(), 404),
            (UrlError::RenditionOutOfRange.into(), 404),
            (SourceError::NotFound(s()).into(), 404),
            (
                SourceError::Io(IoCause::of_errno(nix::errno::Errno::EIO)).into(),
                500,
            ),
            (Failure::SegmentOutOfRange(9), 404),
            (upstream(UpstreamCause::Status(500)), 502),
            (upstream(UpstreamCause::Unreachable(s())), 502),
            (upstream(UpstreamCause::Truncated), 502),
            (upstream(UpstreamCause::Changed), 502),
            (upstream(UpstreamCause::TimedOut), 504),
            (Failure::NoRenditions, 404),
            (Failure::NoIFrames, 404),
            (Failure::NotEncrypted, 404),
            (Failure::NoSubtitles, 404),
            (Failure::EncryptedElsewhere, 403),
            (ToolError::OutOfRange(s()).into(), 404),
            (ToolError::Unsupported(s()).into(), 415),
            (ToolError::Corrupt(s()).into(), 422),
            (ToolError::Crashed(s()).into(), 502),
            (ToolError::BadOutput(s()).into(), 502),
            (ToolError::SourceUnreadable(s()).into(), 502),
            (ToolError::Overloaded.into(), 503),
            (Failure::LowDiskSpace, 503),
            (Failure::ShuttingDown, 503),
            (ToolError::TimedOut(5).into(), 504),
            (ToolError::Failed(s()).into(), 500),
            (Failure::cache(std::io::Error::other("x")), 500),
            (Failure::Internal(s()), 500),
        ];
        for (failure, status) in cases {
            assert_eq!(failure.status(), status, "{failure:?}");
        }
    }

    #[test]
    fn reasons_are_one_short_line() {
        let f = Failure::Tool(ToolError::Corrupt(format!(
            "moov missing\n{}",
            "x".repeat(999)
        )));
        assert_eq!(f.to_string(), "corrupt media: moov missing");
        let f = Failure::Tool(ToolError::Crashed("y".repeat(999)));
        assert!(f.to_string().len() < 330);
    }

    /// A tempfile error as the cache sees one: the OS error wrapped with the path.
    fn tempfile_error(dir: &std::path::Path) -> std::io::Error {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        tempfile::Builder::new().tempdir_in(&file).unwrap_err()
    }

    #[test]
    fn bodies_never_name_a_path_of_the_machine() {
        let scratch = tempfile::tempdir().unwrap();
        let secret = scratch.path().join("secret-dir");
        let wrapped = tempfile_error(&secret);
        assert!(
            wrapped.to_string().contains("secret-dir"),
            "the test needs a path-bearing error: {wrapped}"
        );
        let p = secret.display().to_string();
        let with_path = |what: &str| format!("{what} {p}: x \"{p}/a.mp4\" (at={p}) [{p}]");
        let failures = vec![
            Failure::cache(wrapped),
            Failure::cache(std::io::Error::from_raw_os_error(28)),
            Failure::Source(SourceError::Io(IoCause::of(&tempfile_error(&secret)))),
            Failure::Source(SourceError::NotFound("a/b.mp4".into())),
            Failure::Tool(ToolError::Corrupt(with_path("cannot read"))),
            Failure::Tool(ToolError::Unsupported(with_path("codec in"))),
            Failure::Tool(ToolError::OutOfRange(with_path("segment in"))),
            Failure::Tool(ToolError::Crashed(with_path("killed"))),
            Failure::Tool(ToolError::BadOutput(with_path("no file"))),
            Failure::Tool(ToolError::Failed(with_path("cannot start"))),
            Failure::Tool(ToolError::SourceUnreadable(with_path("cannot read input:"))),
            Failure::Tool(ToolError::Overloaded),
            Failure::Tool(ToolError::TimedOut(3)),
            Failure::Url(UrlError::DotComponent),
            Failure::SegmentOutOfRange(9),
            Failure::NoRenditions,
            Failure::Internal(with_path("oops")),
        ];
        for failure in failures {
            let body = failure.to_string();
            assert!(!body.contains(&p) && !body.contains("secret-dir"), "{body}");
            assert!(
                !body
                    .split([' ', '"', '(', '[', '='])
                    .any(|w| w.starts_with('/')),
                "{body}"
            );
        }
        assert_eq!(
            Failure::cache(std::io::Error::from_raw_os_error(28)).to_string(),
            "cache write failed: no space left on device"
        );
        assert_eq!(
            Failure::cache(tempfile_error(&secret)).to_string(),
            "cache write failed: not a directory"
        );
        let masked = Failure::Tool(ToolError::Corrupt(with_path("cannot read"))).to_string();
        assert_eq!(
            masked,
            "corrupt media: cannot read <path>: x \"<path>\" (at=<path>) [<path>]"
        );
        assert_eq!(
            Failure::Source(SourceError::NotFound("a/b.mp4".into())).to_string(),
            "source not found: a/b.mp4",
            "the request's own path is kept"
        );
    }
}
