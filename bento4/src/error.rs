//! The demuxer's error type: one variant per way an input can fail, each mapped to
//! the exit code the worker turns into an HTTP status (see `bento4/README.md`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mp4Error {
    /// Not an MP4 we can read: empty, garbage, truncated moov, truncated mdat,
    /// sizes past the file. Exit code 2.
    Corrupt(String),
    /// Readable but not supported: "unsupported codec xxxx in track N", no usable
    /// track. Exit code 3.
    Unsupported(String),
    /// Reading the input failed (open, permission, EIO). Exit code 2.
    Io(String),
}

impl Mp4Error {
    /// The process exit code for this failure (README: 2 = bad input, 3 = unsupported).
    pub fn exit_code(&self) -> i32 {
        match self {
            Mp4Error::Corrupt(_) | Mp4Error::Io(_) => 2,
            Mp4Error::Unsupported(_) => 3,
        }
    }
}

impl fmt::Display for Mp4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line whatever the message holds: stderr contracts are "exactly one line".
        let (kind, message) = match self {
            Mp4Error::Corrupt(m) => ("corrupt input", m),
            Mp4Error::Unsupported(m) => ("unsupported input", m),
            Mp4Error::Io(m) => ("cannot read input", m),
        };
        let flat: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(f, "{kind}: {flat}")
    }
}

impl std::error::Error for Mp4Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_readme_table() {
        let cases = [
            (Mp4Error::Corrupt("x".into()), 2),
            (Mp4Error::Io("x".into()), 2),
            (Mp4Error::Unsupported("x".into()), 3),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error:?}");
        }
    }

    #[test]
    fn display_is_one_line() {
        let text = Mp4Error::Corrupt("line one\nline two\r".into()).to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
        assert!(text.starts_with("corrupt input: line one"), "{text}");
    }
}
