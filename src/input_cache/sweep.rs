//! The input cache's share of `--sweep`: copies not used within `ttl_secs` go,
//! then the least recently used until the bytes on disk fit `max_bytes`. A copy
//! being read is never removed: every reader holds a shared `flock` on its data
//! file (`LocalCopy::reading`), and the sweep removes a copy only while holding
//! the exclusive lock, which it does not wait for.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One copy as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub stem: PathBuf,
    /// Seconds since the epoch of its last use (the record's mtime).
    pub used: u64,
    /// Bytes its sparse data file occupies on disk.
    pub bytes: u64,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub removed: usize,
    pub freed: u64,
    pub in_use: usize,
    pub kept: usize,
    pub kept_bytes: u64,
}

/// The copies to remove, oldest first: past the TTL, then by age until the rest
/// fits the budget (pure).
pub fn plan(mut copies: Vec<Seen>, ttl_secs: u64, max_bytes: u64, now: u64) -> Vec<Seen> {
    copies.sort_by_key(|c| c.used);
    let mut total: u64 = copies.iter().map(|c| c.bytes).sum();
    let mut out = Vec::new();
    for c in copies {
        if now.saturating_sub(c.used) > ttl_secs || total > max_bytes {
            total -= c.bytes;
            out.push(c);
        }
    }
    out
}

fn scan(root: &Path) -> io::Result<Vec<Seen>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "blocks") {
            continue;
        }
        let stem = path.with_extension("");
        let Ok(record) = entry.metadata() else {
            continue;
        };
        let bytes = std::fs::metadata(stem.with_extension("data")).map_or(0, |m| m.blocks() * 512);
        out.push(Seen {
            used: u64::try_from(record.mtime()).unwrap_or(0),
            stem,
            bytes,
        });
    }
    Ok(out)
}

/// Sweeps the input cache at `root` (missing: nothing to do).
pub fn sweep(
    root: &Path,
    ttl_secs: u64,
    max_bytes: u64,
    now: u64,
    dry_run: bool,
) -> io::Result<Swept> {
    let copies = match scan(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Swept::default()),
        other => other?,
    };
    let total: u64 = copies.iter().map(|c| c.bytes).sum();
    let count = copies.len();
    let victims = plan(copies, ttl_secs, max_bytes, now);
    let mut swept = Swept::default();
    for victim in &victims {
        let data = victim.stem.with_extension("data");
        if !dry_run {
            let locked = File::open(&data)
                .ok()
                .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock));
            if let Some(Err((_, nix::errno::Errno::EWOULDBLOCK))) = locked {
                swept.in_use += 1;
                continue;
            }
            let _ = std::fs::remove_file(victim.stem.with_extension("blocks"));
            let _ = std::fs::remove_file(&data);
            drop(locked);
        }
        swept.removed += 1;
        swept.freed += victim.bytes;
    }
    swept.kept = count - swept.removed;
    swept.kept_bytes = total - swept.freed;
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str, used: u64, bytes: u64) -> Seen {
        Seen {
            stem: PathBuf::from(name),
            used,
            bytes,
        }
    }

    #[test]
    fn ttl_first_then_least_recently_used_until_under_budget() {
        let copies = vec![
            seen("new", 100, 10),
            seen("old", 10, 10),
            seen("mid", 50, 10),
        ];
        let names = |v: Vec<Seen>| v.into_iter().map(|s| s.stem).collect::<Vec<_>>();
        assert_eq!(
            names(plan(copies.clone(), 1000, 100, 100)),
            Vec::<PathBuf>::new()
        );
        assert_eq!(
            names(plan(copies.clone(), 60, 100, 100)),
            vec![PathBuf::from("old")]
        );
        assert_eq!(
            names(plan(copies.clone(), 1000, 15, 100)),
            vec![PathBuf::from("old"), PathBuf::from("mid")]
        );
        assert_eq!(plan(copies, 0, 0, 100).len(), 3);
    }
}
