//! Resolving a rendition's source MP4 under `media_root` (I/O edge).
//!
//! The relative path from `url.rs` has no `.`/`..` components, but a symlink
//! inside the media root could still point anywhere: we canonicalize and check the
//! result is inside the canonical root, and only then stat it. Missing, outside and
//! not-a-file all answer the same "not found", so nothing leaks about the outside.

use crate::error::{IoCause, SourceError};
use crate::store::SourceId;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The media root, canonicalized once at start.
#[derive(Debug, Clone)]
pub struct MediaRoot {
    root: PathBuf,
}

/// A resolved source: where it really is and its identity (size + mtime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Canonical path, inside the media root.
    pub path: PathBuf,
    pub id: SourceId,
}

impl MediaRoot {
    pub fn new(root: &Path) -> std::io::Result<MediaRoot> {
        Ok(MediaRoot {
            root: root.canonicalize()?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Resolves `rel` (e.g. `a/b.mp4`, as parsed from the URL).
    pub fn resolve(&self, rel: &str) -> Result<Source, SourceError> {
        let not_found = || SourceError::NotFound(rel.to_string());
        if rel.is_empty() || rel.starts_with('/') {
            return Err(not_found());
        }
        let path = match self.root.join(rel).canonicalize() {
            Ok(p) => p,
            Err(e) if is_absence(&e) => return Err(not_found()),
            Err(e) => {
                log::warn!("source {rel:?}: {e}");
                return Err(SourceError::Io(IoCause::of(&e)));
            }
        };
        if !path.starts_with(&self.root) {
            log::warn!("source {rel:?} resolves outside the media root; refused");
            return Err(not_found());
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if is_absence(&e) => return Err(not_found()),
            Err(e) => {
                log::warn!("source {rel:?}: {e}");
                return Err(SourceError::Io(IoCause::of(&e)));
            }
        };
        if !meta.is_file() {
            return Err(not_found());
        }
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        Ok(Source {
            path,
            id: SourceId {
                path: rel.to_string(),
                size: meta.len(),
                mtime_ns,
            },
        })
    }
}

/// Errors that mean "there is no such file here" rather than a broken disk.
fn is_absence(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), NotFound | NotADirectory | InvalidInput)
        || e.raw_os_error() == Some(nix::libc::ELOOP)
        || e.raw_os_error() == Some(nix::libc::ENAMETOOLONG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_inside_and_refuses_outside() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        std::fs::create_dir_all(media.join("a")).unwrap();
        std::fs::write(media.join("a/b.mp4"), b"12345").unwrap();
        std::fs::write(dir.path().join("secret.mp4"), b"x").unwrap();
        symlink(dir.path().join("secret.mp4"), media.join("out.mp4")).unwrap();
        symlink("b.mp4", media.join("a/in.mp4")).unwrap();
        symlink("loop.mp4", media.join("loop.mp4")).unwrap();
        symlink(dir.path(), media.join("up")).unwrap();
        let root = MediaRoot::new(&media).unwrap();

        let src = root.resolve("a/b.mp4").unwrap();
        assert_eq!(src.id.size, 5);
        assert_eq!(src.id.path, "a/b.mp4");
        assert!(src.id.mtime_ns > 0);
        let inside_link = root.resolve("a/in.mp4").unwrap();
        assert_eq!(inside_link.path, src.path);

        for rel in [
            "out.mp4",
            "up/secret.mp4",
            "loop.mp4",
            "a",
            "missing.mp4",
            "a/b.mp4/x.mp4",
            "",
            "/etc/passwd",
        ] {
            assert!(
                matches!(root.resolve(rel), Err(SourceError::NotFound(_))),
                "{rel:?} should be not found, got {:?}",
                root.resolve(rel)
            );
        }
    }

    #[test]
    fn identity_changes_with_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.mp4"), b"1").unwrap();
        let root = MediaRoot::new(dir.path()).unwrap();
        let before = root.resolve("x.mp4").unwrap().id;
        std::fs::write(dir.path().join("x.mp4"), b"22").unwrap();
        let after = root.resolve("x.mp4").unwrap().id;
        assert_ne!(before, after);
    }
}
