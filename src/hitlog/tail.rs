//! Following nginx's hit log file: each call reads what was appended since the last
//! one and hands over complete lines. Blocking I/O: call it from a blocking thread.
//!
//! nginx opens its logs with O_APPEND and keeps the descriptor, so:
//! - a file replaced under the path (logrotate's rename and `nginx -s reopen`) shows as
//!   a new inode: what is left in the old one is read first, then the new one from 0;
//! - a file that shrank was truncated by someone: it is read again from 0;
//! - the file is kept bounded by truncating it here once it is large and fully read.
//!   nginx's next write lands at the new end (O_APPEND). Lines nginx writes between
//!   that read and the truncation are lost: a few access times, never an entry.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Longer than any line nginx writes for a request it accepted (its header buffers
/// bound the URI to a few KiB); a longer "line" is skipped, never buffered whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What one [`LogTail::read_new`] did, for counters and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadSummary {
    pub bytes: u64,
    /// Lines longer than [`MAX_LINE_BYTES`], skipped.
    pub overlong: u64,
    /// A new file was found under the path (rotation), or the followed one shrank.
    pub restarted: bool,
    /// The file was truncated to 0 after this read to keep it bounded.
    pub truncated: bool,
}

/// The followed log file and where its unread part starts.
pub struct LogTail {
    path: PathBuf,
    file: File,
    identity: (u64, u64),
    offset: u64,
    /// False when the worker may not write the file (nginx created it as root).
    writable: bool,
    truncate_above: u64,
    lines: LineSplitter,
}

impl LogTail {
    /// Creates the log when missing (mode 0644: nginx's master, which opens logs, runs
    /// as root or as our user) and follows it from its current end: what it holds
    /// was logged before this worker ran and was read by an earlier one, or is lost.
    pub fn open_at_end(path: &Path, truncate_above: u64) -> io::Result<LogTail> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let (file, writable) = match open(path, true) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => (open(path, false)?, false),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        if !writable {
            log::warn!(
                "{} is not writable by the worker: it will not be kept bounded (rotate it)",
                path.display()
            );
        }
        Ok(LogTail {
            path: path.to_path_buf(),
            file,
            identity: (meta.dev(), meta.ino()),
            offset: meta.len(),
            writable,
            truncate_above,
            lines: LineSplitter::default(),
        })
    }

    /// Reads everything appended since the last call; `on_line` gets each complete
    /// line without its `\n`. A partial last line waits for the next call.
    pub fn read_new(&mut self, on_line: &mut dyn FnMut(&[u8])) -> io::Result<ReadSummary> {
        let mut summary = ReadSummary::default();
        if self.file.metadata()?.len() < self.offset {
            self.restart_at_zero(&mut summary);
        }
        self.drain(on_line, &mut summary)?;
        // A path that vanished is not followed: nginx still writes to the file it
        // holds open until told to reopen, and then creates the path again.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            if (meta.dev(), meta.ino()) != self.identity && meta.is_file() {
                let writable = open(&self.path, true);
                let (file, writable) = match writable {
                    Ok(file) => (file, true),
                    Err(_) => (open(&self.path, false)?, false),
                };
                let meta = file.metadata()?;
                self.file = file;
                self.identity = (meta.dev(), meta.ino());
                self.writable = writable;
                self.restart_at_zero(&mut summary);
                self.drain(on_line, &mut summary)?;
            }
        }
        if self.writable && self.offset > self.truncate_above {
            self.file.set_len(0)?;
            self.offset = 0;
            self.lines = LineSplitter::default();
            summary.truncated = true;
        }
        Ok(summary)
    }

    fn restart_at_zero(&mut self, summary: &mut ReadSummary) {
        self.offset = 0;
        self.lines = LineSplitter::default();
        summary.restarted = true;
    }

    fn drain(
        &mut self,
        on_line: &mut dyn FnMut(&[u8]),
        summary: &mut ReadSummary,
    ) -> io::Result<()> {
        let mut chunk = vec![0u8; READ_CHUNK_BYTES];
        loop {
            let n = match self.file.read_at(&mut chunk, self.offset) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let read = chunk.get(..n).unwrap_or_default();
            summary.overlong += self.lines.feed(read, on_line);
            summary.bytes += n as u64;
            self.offset += n as u64;
        }
    }
}

fn open(path: &Path, write: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .create(write)
        .mode(0o644)
        .open(path)
}

/// Splits a byte stream into `\n`-terminated lines, holding at most
/// [`MAX_LINE_BYTES`] of an unfinished one. Pure.
#[derive(Debug, Default)]
struct LineSplitter {
    partial: Vec<u8>,
    /// Inside a line that grew past the limit: drop bytes up to its end.
    skipping: bool,
}

impl LineSplitter {
    /// Hands over each line completed by `bytes`; returns how many overlong lines
    /// were skipped (counted once each, when they end or first exceed the limit).
    fn feed(&mut self, bytes: &[u8], on_line: &mut dyn FnMut(&[u8])) -> u64 {
        let mut overlong = 0;
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            if self.skipping {
                self.skipping = false;
            } else if self.partial.is_empty() && head.len() <= MAX_LINE_BYTES {
                on_line(head);
            } else if self.partial.len() + head.len() > MAX_LINE_BYTES {
                self.partial.clear();
                overlong += 1;
            } else {
                self.partial.extend_from_slice(head);
                on_line(&self.partial);
                self.partial.clear();
            }
        }
        if !self.skipping {
            if self.partial.len() + rest.len() > MAX_LINE_BYTES {
                self.partial.clear();
                self.skipping = true;
                overlong += 1;
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
        overlong
    }
}

#[cfg(test)]
mod tests;
