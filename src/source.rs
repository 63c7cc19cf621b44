//! Opening a rendition's source MP4 under `media_root` (I/O edge).
//!
//! The relative path from `url.rs` has no `.`/`..` components, but a symlink inside
//! the media root could still point anywhere, and the name can be swapped for one at
//! any moment. So the name is resolved once to find where it leads (symlinks that stay
//! inside the root are allowed), and that canonical path is then opened beneath the
//! root without following any link (`openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`, or one `O_NOFOLLOW` component at a time on kernels without
//! it). A link swapped in between makes the open fail rather than leave the root.
//! The identity comes from `fstat` of that descriptor, and the tools are handed the
//! descriptor itself (`tool.rs`), so the file read is the file checked.
//!
//! Missing, outside and not-a-file all answer the same "not found", so nothing leaks
//! about the outside.

use crate::error::{IoCause, SourceError};
use crate::remote::{RemoteSource, Remotes};
use crate::store::SourceId;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// openat2 may answer EAGAIN when a rename raced the lookup; it is worth a retry.
const EAGAIN_RETRIES: usize = 3;

/// How a path is opened beneath the root without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beneath {
    /// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (Linux 5.6+).
    Openat2,
    /// One `openat(O_NOFOLLOW)` per component, where openat2 is missing.
    PerComponent,
}

/// The media root, canonicalized once at start.
#[derive(Debug, Clone)]
pub struct MediaRoot {
    root: PathBuf,
    beneath: Beneath,
    /// URL prefixes whose sources are remote (`[[sources]]`), if any.
    remotes: Option<Arc<Remotes>>,
}

/// An opened source: the file itself, read-only, and its identity (size + mtime).
/// Clones share the descriptor; it closes when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: SourceId,
    /// `O_CLOEXEC`, so no child gets it unless `tool.rs` hands it over.
    pub file: Arc<OwnedFd>,
    /// For a remote source, how to fetch the bytes a segment needs into `file`.
    pub remote: Option<Arc<RemoteSource>>,
}

/// Flags of the source file's own descriptor. `O_NONBLOCK`: a FIFO in the media
/// root must not hang the open (it is refused as not a regular file right after);
/// for a regular file the flag changes nothing.
fn file_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC
}

fn dir_flags() -> OFlag {
    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl MediaRoot {
    pub fn new(root: &Path) -> std::io::Result<MediaRoot> {
        let root = root.canonicalize()?;
        let beneath = match openat2(
            nix::libc::AT_FDCWD,
            &root,
            OpenHow::new().flags(dir_flags()),
        ) {
            // EPERM: a seccomp filter that predates openat2 (older container runtimes).
            Err(Errno::ENOSYS | Errno::EPERM) => {
                log::warn!("openat2 is not available: opening sources one component at a time");
                Beneath::PerComponent
            }
            Err(e) => return Err(e.into()),
            Ok(fd) => {
                drop(owned(fd));
                Beneath::Openat2
            }
        };
        Ok(MediaRoot {
            root,
            beneath,
            remotes: None,
        })
    }

    #[cfg(test)]
    fn per_component(root: &Path) -> MediaRoot {
        MediaRoot {
            beneath: Beneath::PerComponent,
            ..MediaRoot::new(root).unwrap()
        }
    }

    /// Sources under the remote prefixes are opened through `remotes`.
    pub fn with_remotes(mut self, remotes: Option<Arc<Remotes>>) -> MediaRoot {
        self.remotes = remotes;
        self
    }

    pub fn remotes(&self) -> Option<&Arc<Remotes>> {
        self.remotes.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens `rel` (e.g. `a/b.mp4`, as parsed from the URL).
    pub fn resolve(&self, rel: &str) -> Result<Source, SourceError> {
        let not_found = || SourceError::NotFound(rel.to_string());
        let io = |e: Errno| {
            log::warn!("source {rel:?}: {e}");
            SourceError::Io(IoCause::of_errno(e))
        };
        if rel.is_empty() || rel.starts_with('/') {
            return Err(not_found());
        }
        if let Some(opened) = self.remotes.as_ref().and_then(|r| r.open(rel)) {
            return opened;
        }
        // The common case in one call: a path of plain names, no symlink on it,
        // opened beneath the root (what canonicalizing and then opening ends with).
        // A symlink (ELOOP), an absence or anything odd takes the long way, which
        // decides as before.
        let plain = Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        let direct = match self.beneath {
            Beneath::Openat2 if plain => self.open_beneath(Path::new(rel)).ok(),
            _ => None,
        };
        let file = match direct {
            Some(file) => file,
            None => self.resolve_slowly(rel)?,
        };
        let stat = fstat(file.as_raw_fd()).map_err(io)?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(not_found());
        }
        let mtime_ns = i128::from(stat.st_mtime) * 1_000_000_000 + i128::from(stat.st_mtime_nsec);
        Ok(Source {
            id: SourceId {
                path: rel.to_string(),
                size: u64::try_from(stat.st_size).unwrap_or(0),
                mtime_ns,
            },
            file: Arc::new(file),
            remote: None,
        })
    }

    /// Opens `rel` through its canonical path: symlinks inside the media root are
    /// followed as long as they end inside it; the canonical path is then opened
    /// following none, so a link swapped meanwhile cannot lead out.
    fn resolve_slowly(&self, rel: &str) -> Result<OwnedFd, SourceError> {
        let not_found = || SourceError::NotFound(rel.to_string());
        let io = |e: Errno| {
            log::warn!("source {rel:?}: {e}");
            SourceError::Io(IoCause::of_errno(e))
        };
        let canonical = match self.root.join(rel).canonicalize() {
            Ok(p) => p,
            Err(e)
                if e.kind() == std::io::ErrorKind::InvalidInput
                    || is_absence(e.raw_os_error().map(Errno::from_raw)) =>
            {
                return Err(not_found())
            }
            Err(e) => {
                log::warn!("source {rel:?}: {e}");
                return Err(SourceError::Io(IoCause::of(&e)));
            }
        };
        let inner = match canonical.strip_prefix(&self.root) {
            Ok(inner) if !inner.as_os_str().is_empty() => inner.to_path_buf(),
            _ => {
                log::warn!("source {rel:?} resolves outside the media root; refused");
                return Err(not_found());
            }
        };
        let file = match self.open_beneath(&inner) {
            Ok(fd) => fd,
            Err(e) if is_absence(Some(e)) => {
                log::warn!("source {rel:?} changed while opening it ({e}); refused");
                return Err(not_found());
            }
            Err(e) => return Err(io(e)),
        };
        Ok(file)
    }

    /// Opens `inner` (canonical, relative to the root) following no symlink.
    fn open_beneath(&self, inner: &Path) -> Result<OwnedFd, Errno> {
        let root = owned(openat(None, &self.root, dir_flags(), Mode::empty())?);
        match self.beneath {
            Beneath::Openat2 => {
                let how = OpenHow::new().flags(file_flags()).resolve(
                    ResolveFlag::RESOLVE_BENEATH
                        | ResolveFlag::RESOLVE_NO_SYMLINKS
                        | ResolveFlag::RESOLVE_NO_MAGICLINKS,
                );
                let mut tries = 0;
                loop {
                    match openat2(root.as_raw_fd(), inner, how) {
                        Err(Errno::EAGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                        result => return result.map(owned),
                    }
                }
            }
            Beneath::PerComponent => {
                let names: Vec<&std::ffi::OsStr> = inner
                    .components()
                    .map(|c| match c {
                        Component::Normal(name) => Ok(name),
                        // A canonical path has none of these; refuse rather than guess.
                        _ => Err(Errno::EXDEV),
                    })
                    .collect::<Result<_, _>>()?;
                let Some((last, dirs)) = names.split_last() else {
                    return Err(Errno::ENOENT);
                };
                let mut dir = root;
                for name in dirs {
                    let flags = dir_flags() | OFlag::O_NOFOLLOW;
                    dir = owned(openat(Some(dir.as_raw_fd()), *name, flags, Mode::empty())?);
                }
                let flags = file_flags() | OFlag::O_NOFOLLOW;
                openat(Some(dir.as_raw_fd()), *last, flags, Mode::empty()).map(owned)
            }
        }
    }
}

/// Errors that mean "there is no such file here (any more)" rather than a broken
/// disk: a link where the canonical path had none (ELOOP), an escape (EXDEV), a
/// directory that became a file or link (ENOTDIR), or a device without a driver.
fn is_absence(errno: Option<Errno>) -> bool {
    matches!(
        errno,
        Some(
            Errno::ENOENT
                | Errno::ENOTDIR
                | Errno::ELOOP
                | Errno::EXDEV
                | Errno::ENAMETOOLONG
                | Errno::EINVAL
                | Errno::ENXIO
                | Errno::ENODEV
        )
    )
}

#[cfg(test)]
mod tests;
