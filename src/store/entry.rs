//! What the database remembers per cache entry, and its compact binary encoding.
//! Pure code: no I/O. Values stay small (sled grows on disk with large values) and
//! carry a version byte so a later format can be told apart from garbage.

use std::fmt;

/// What kind of cache directory a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// `<dir>/<name>.mp4/`: playlists and segments of one source MP4.
    Rendition,
    /// `<dir>/<list>.csmil/`: a master playlist over several renditions.
    Master,
}

/// Identity of the source a rendition was packaged from: a change of size or mtime
/// means the packaged files are stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceId {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i128,
}

/// Access metadata of one cache entry. Times are unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub source: Option<SourceId>,
    /// Bytes the entry occupies on disk (as far as fills and reconcile know).
    pub bytes: u64,
    pub created: u64,
    pub last_access: u64,
}

/// Why stored bytes could not be decoded into an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    UnknownVersion(u8),
    UnknownKind(u8),
    BadSourceFlag(u8),
    PathNotUtf8,
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "entry value is truncated"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown entry format version {v}"),
            DecodeError::UnknownKind(k) => write!(f, "unknown entry kind {k}"),
            DecodeError::BadSourceFlag(b) => write!(f, "bad source flag {b}"),
            DecodeError::PathNotUtf8 => write!(f, "source path is not UTF-8"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} trailing bytes after entry"),
        }
    }
}

impl std::error::Error for DecodeError {}

const FORMAT_VERSION: u8 = 1;

impl Entry {
    /// Layout (little endian): version u8, kind u8, bytes u64, created u64,
    /// last_access u64, has_source u8, then if set: size u64, mtime_ns i128,
    /// path length u32, path bytes.
    pub fn encode(&self) -> Vec<u8> {
        let path_len = self.source.as_ref().map_or(0, |s| s.path.len());
        let mut out = Vec::with_capacity(27 + 28 + path_len);
        out.push(FORMAT_VERSION);
        out.push(match self.kind {
            EntryKind::Rendition => 0,
            EntryKind::Master => 1,
        });
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.extend_from_slice(&self.created.to_le_bytes());
        out.extend_from_slice(&self.last_access.to_le_bytes());
        match &self.source {
            None => out.push(0),
            Some(source) => {
                out.push(1);
                out.extend_from_slice(&source.size.to_le_bytes());
                out.extend_from_slice(&source.mtime_ns.to_le_bytes());
                // Paths longer than u32::MAX cannot exist on any file system we run on;
                // saturating keeps encode infallible and decode then reports Truncated.
                let len = u32::try_from(source.path.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(source.path.as_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader { rest: bytes };
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let kind = match r.u8()? {
            0 => EntryKind::Rendition,
            1 => EntryKind::Master,
            other => return Err(DecodeError::UnknownKind(other)),
        };
        let size_on_disk = r.u64()?;
        let created = r.u64()?;
        let last_access = r.u64()?;
        let source = match r.u8()? {
            0 => None,
            1 => {
                let size = r.u64()?;
                let mtime_ns = i128::from_le_bytes(r.array::<16>()?);
                let len = r.u32()? as usize;
                // The length is checked against what is left before any allocation.
                let path_bytes = r.take(len)?;
                let path = std::str::from_utf8(path_bytes)
                    .map_err(|_| DecodeError::PathNotUtf8)?
                    .to_string();
                Some(SourceId {
                    path,
                    size,
                    mtime_ns,
                })
            }
            other => return Err(DecodeError::BadSourceFlag(other)),
        };
        if !r.rest.is_empty() {
            return Err(DecodeError::TrailingBytes(r.rest.len()));
        }
        Ok(Entry {
            kind,
            source,
            bytes: size_on_disk,
            created,
            last_access,
        })
    }
}

/// A cursor that never reads past its slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_source() -> Entry {
        Entry {
            kind: EntryKind::Rendition,
            source: Some(SourceId {
                path: "a/ü b.mp4".into(),
                size: 16_000_000,
                mtime_ns: -1_700_000_000_123_456_789,
            }),
            bytes: 12345,
            created: 1_700_000_000,
            last_access: 1_700_000_500,
        }
    }

    #[test]
    fn round_trips() {
        let master = Entry {
            kind: EntryKind::Master,
            source: None,
            bytes: u64::MAX,
            created: 0,
            last_access: u64::MAX,
        };
        for entry in [with_source(), master] {
            assert_eq!(Entry::decode(&entry.encode()), Ok(entry));
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = with_source().encode();
        for cut in 0..bytes.len() {
            assert_eq!(
                Entry::decode(&bytes[..cut]),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn hostile_values_are_rejected() {
        let good = with_source().encode();
        let mut huge_len = good.clone();
        // The path length field sits right before the path bytes.
        let len_at = good.len() - "a/ü b.mp4".len() - 4;
        huge_len[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut bad_utf8 = good.clone();
        let last = bad_utf8.len() - 1;
        bad_utf8[last] = 0xff;
        let mut trailing = good.clone();
        trailing.push(0);
        let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
            ("version", vec![9, 0], DecodeError::UnknownVersion(9)),
            ("kind", vec![1, 7], DecodeError::UnknownKind(7)),
            ("flag", flag_case(5), DecodeError::BadSourceFlag(5)),
            ("huge path length", huge_len, DecodeError::Truncated),
            ("path not utf-8", bad_utf8, DecodeError::PathNotUtf8),
            ("trailing", trailing, DecodeError::TrailingBytes(1)),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(Entry::decode(&bytes), Err(expected), "{name}");
        }
    }

    fn flag_case(flag: u8) -> Vec<u8> {
        let mut bytes = vec![1, 0];
        bytes.extend_from_slice(&[0; 24]);
        bytes.push(flag);
        bytes
    }
}
