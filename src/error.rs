//! Error types per boundary, and the one table mapping them to HTTP statuses.
//!
//! Every error is `Clone` because a single-flight result is shared by every
//! waiter; I/O errors are kept as text for that reason.

use std::fmt;

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
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
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
    Io(String),
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
    /// Killed by a signal, or an unknown exit code.
    Crashed(String),
    /// Exit 0 but output we cannot use.
    BadOutput(String),
    /// Exit 1 (usage: our bug), 4 (tool I/O), or the spawn itself failed.
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
    /// Writing into the cache dir.
    Cache(String),
    /// The cache file system is below its free-space floor: no fill starts (temporary).
    LowDiskSpace,
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
    pub fn cache(e: std::io::Error) -> Self {
        Failure::Cache(e.to_string())
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
            Failure::Tool(ToolError::OutOfRange(_)) => 404,
            Failure::Tool(ToolError::Unsupported(_)) => 415,
            Failure::Tool(ToolError::Corrupt(_)) => 422,
            Failure::Tool(ToolError::Crashed(_) | ToolError::BadOutput(_)) => 502,
            Failure::Tool(ToolError::Overloaded) | Failure::LowDiskSpace => 503,
            Failure::Tool(ToolError::TimedOut(_)) => 504,
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

/// Keeps a reason to one short line (it goes into a response body and a log line).
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(300).collect()
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Url(e) => write!(f, "bad request: {e}"),
            Failure::Source(SourceError::NotFound(p)) => write!(f, "source not found: {p}"),
            Failure::Source(SourceError::Io(e)) => write!(f, "source: {}", one_line(e)),
            Failure::Tool(ToolError::Overloaded) => f.write_str("overloaded, retry later"),
            Failure::Tool(ToolError::TimedOut(s)) => write!(f, "packaging timed out after {s} s"),
            Failure::Tool(ToolError::Corrupt(r)) => write!(f, "corrupt media: {}", one_line(r)),
            Failure::Tool(ToolError::Unsupported(r)) => {
                write!(f, "unsupported media: {}", one_line(r))
            }
            Failure::Tool(ToolError::OutOfRange(r)) => write!(f, "not found: {}", one_line(r)),
            Failure::Tool(ToolError::Crashed(r)) => write!(f, "packager crashed: {}", one_line(r)),
            Failure::Tool(ToolError::BadOutput(r)) => {
                write!(f, "packager output unusable: {}", one_line(r))
            }
            Failure::Tool(ToolError::Failed(r)) => write!(f, "packager failed: {}", one_line(r)),
            Failure::SegmentOutOfRange(k) => write!(f, "segment {k} out of range"),
            Failure::NoRenditions => f.write_str("no rendition of this master exists"),
            Failure::Cache(e) => write!(f, "cache write failed: {}", one_line(e)),
            Failure::LowDiskSpace => f.write_str("cache disk is nearly full, retry later"),
            Failure::Internal(e) => write!(f, "internal error: {}", one_line(e)),
        }
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

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
            (SourceError::Io(s()).into(), 500),
            (Failure::SegmentOutOfRange(9), 404),
            (Failure::NoRenditions, 404),
            (ToolError::OutOfRange(s()).into(), 404),
            (ToolError::Unsupported(s()).into(), 415),
            (ToolError::Corrupt(s()).into(), 422),
            (ToolError::Crashed(s()).into(), 502),
            (ToolError::BadOutput(s()).into(), 502),
            (ToolError::Overloaded.into(), 503),
            (Failure::LowDiskSpace, 503),
            (ToolError::TimedOut(5).into(), 504),
            (ToolError::Failed(s()).into(), 500),
            (Failure::Cache(s()), 500),
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
}
