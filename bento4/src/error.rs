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
    /// The input could not be read: open, permission, EIO, a descriptor that
    /// cannot be read. Says nothing about the media (a short read is [`Corrupt`]).
    /// Exit code 4.
    ///
    /// [`Corrupt`]: Mp4Error::Corrupt
    Io(String),
}

impl Mp4Error {
    /// The process exit code for this failure (README: 2 = corrupt, 3 = unsupported,
    /// 4 = I/O).
    pub fn exit_code(&self) -> i32 {
        match self {
            Mp4Error::Corrupt(_) => 2,
            Mp4Error::Unsupported(_) => 3,
            Mp4Error::Io(_) => 4,
        }
    }

    /// A failed read of the source at `what` (e.g. "reading 8 bytes at 0"): the file
    /// ending before the bytes its index names is corrupt media; any other error
    /// (EIO, a descriptor that cannot be read) is the disk's or the caller's, not
    /// the media's, so it must not be remembered as bad media.
    pub fn from_read(what: String, e: &std::io::Error) -> Mp4Error {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Mp4Error::Corrupt(format!("{what}: the file ends before it"))
        } else {
            Mp4Error::Io(format!("{what}: {e}"))
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
            (Mp4Error::Io("x".into()), 4),
            (Mp4Error::Unsupported("x".into()), 3),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error:?}");
        }
    }

    #[test]
    fn only_a_short_read_is_corrupt() {
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let short = Mp4Error::from_read("reading 8 bytes at 0".into(), &eof);
        assert!(matches!(short, Mp4Error::Corrupt(_)), "{short:?}");
        for errno in [5, 9, 21] {
            let e = std::io::Error::from_raw_os_error(errno);
            let error = Mp4Error::from_read("reading 8 bytes at 0".into(), &e);
            assert_eq!(error.exit_code(), 4, "{error:?}");
            assert!(
                error.to_string().starts_with("cannot read input: "),
                "{error}"
            );
        }
    }

    #[test]
    fn display_is_one_line() {
        let text = Mp4Error::Corrupt("line one\nline two\r".into()).to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
        assert!(text.starts_with("corrupt input: line one"), "{text}");
    }
}
