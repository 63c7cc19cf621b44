//! Free space on the cache's file system, against the configured floor
//! (`cache.min_free_bytes`, `cache.min_free_percent`).
//!
//! Below the floor the worker says not ready and answers misses 503 with
//! `Retry-After` instead of filling, so the disk never runs full mid-write (a full
//! disk fails fills with ENOSPC, 500s and half-written scratch files). The sweep or
//! an operator frees space; the floor is temporary by nature, never remembered as
//! anything about the media.
//!
//! Requests must not pay a syscall each: one `statvfs` a second runs on the blocking
//! pool and every check reads the last sample.

use crate::config::CacheConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the sample is refreshed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// One measurement of the file system holding the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Bytes an unprivileged writer (the worker) may still use.
    pub available: u64,
    /// Size of the file system in bytes.
    pub size: u64,
}

/// The floor in bytes: the larger of the byte floor and the percentage of the size.
pub fn floor_bytes(size: u64, min_bytes: u64, min_percent: f64) -> u64 {
    let percent = (size as f64 * min_percent.clamp(0.0, 100.0) / 100.0).ceil();
    // `as` saturates; the percentage of a u64 size fits anyway.
    min_bytes.max(percent as u64)
}

/// Why the sample is below the floor (None: at or above it). Text without paths: it
/// goes into a response body.
pub fn shortfall(sample: Sample, floor: u64) -> Option<String> {
    (sample.available < floor).then(|| {
        format!(
            "cache file system below its free-space floor: {} available, {} required",
            crate::sweep::human_bytes(sample.available),
            crate::sweep::human_bytes(floor)
        )
    })
}

/// Measures the file system holding `path` (blocking: one `statvfs`).
pub fn measure(path: &Path) -> std::io::Result<Sample> {
    let stats = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let unit = stats.fragment_size() as u64;
    Ok(Sample {
        available: (stats.blocks_available() as u64).saturating_mul(unit),
        size: (stats.blocks() as u64).saturating_mul(unit),
    })
}

/// The last sample of the cache's file system and the floor to hold it to.
pub struct DiskSpace {
    path: PathBuf,
    min_bytes: u64,
    min_percent: f64,
    /// The last measurement, or why it failed.
    latest: Mutex<Result<Sample, String>>,
}

impl DiskSpace {
    /// Measures once (blocking) so the first request already has a sample.
    pub fn new(path: &Path, config: &CacheConfig) -> DiskSpace {
        let space = DiskSpace {
            path: path.to_path_buf(),
            min_bytes: config.min_free_bytes,
            min_percent: config.min_free_percent,
            latest: Mutex::new(Err("not measured yet".into())),
        };
        space.refresh();
        space
    }

    /// Takes a new sample (blocking).
    pub fn refresh(&self) {
        let sample = measure(&self.path).map_err(|e| e.to_string());
        if let Err(e) = &sample {
            log::warn!("measuring free space of cache_root: {e}");
        }
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = sample;
    }

    /// Refreshes the sample every [`REFRESH_EVERY`] on the blocking pool.
    pub fn spawn_refresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let space = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let space = space.clone();
                let _ = tokio::task::spawn_blocking(move || space.refresh()).await;
            }
        })
    }

    /// The last sample and its floor, when the last measurement worked.
    pub fn latest(&self) -> Option<(Sample, u64)> {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let sample = latest.as_ref().ok().copied();
        sample.map(|s| (s, floor_bytes(s.size, self.min_bytes, self.min_percent)))
    }

    /// Readiness: Err with the reason below the floor or when unmeasurable.
    pub fn ready(&self) -> Result<(), String> {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match latest {
            Ok(sample) => {
                let floor = floor_bytes(sample.size, self.min_bytes, self.min_percent);
                shortfall(sample, floor).map_or(Ok(()), Err)
            }
            Err(_) => Err("cannot measure free space on the cache file system".into()),
        }
    }

    /// Whether a fill may start: false only when measured below the floor (a failing
    /// `statvfs` does not stop fills; the write itself would then fail and say why).
    pub fn allows_fill(&self) -> bool {
        self.latest()
            .is_none_or(|(sample, floor)| sample.available >= floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_the_larger_of_bytes_and_percent() {
        let gib = 1u64 << 30;
        assert_eq!(floor_bytes(100 * gib, gib, 2.0), 2 * gib);
        assert_eq!(floor_bytes(10 * gib, gib, 2.0), gib);
        assert_eq!(floor_bytes(10 * gib, 0, 0.0), 0);
        assert_eq!(floor_bytes(1000, 0, 100.0), 1000);
        assert_eq!(floor_bytes(1000, 0, 0.05), 1);
        assert_eq!(floor_bytes(u64::MAX, 0, 100.0), u64::MAX);
    }

    #[test]
    fn shortfall_only_below_the_floor() {
        let s = Sample {
            available: 1 << 20,
            size: 1 << 30,
        };
        assert_eq!(shortfall(s, 1 << 20), None);
        assert_eq!(shortfall(s, 0), None);
        let why = shortfall(s, 2 << 20).expect("below");
        assert_eq!(
            why,
            "cache file system below its free-space floor: 1.0 MiB available, 2.0 MiB required"
        );
    }

    #[test]
    fn measures_a_real_file_system() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sample = measure(dir.path()).expect("statvfs");
        assert!(
            sample.size > 0 && sample.available <= sample.size,
            "{sample:?}"
        );
        let mut config = CacheConfig {
            min_free_bytes: 0,
            min_free_percent: 0.0,
            ..CacheConfig::default()
        };
        assert_eq!(DiskSpace::new(dir.path(), &config).ready(), Ok(()));
        assert!(DiskSpace::new(dir.path(), &config).allows_fill());
        config.min_free_percent = 100.0;
        config.min_free_bytes = sample.size.saturating_add(1);
        let full = DiskSpace::new(dir.path(), &config);
        assert!(full.ready().is_err());
        assert!(!full.allows_fill());
        let missing = DiskSpace::new(&dir.path().join("gone"), &config);
        assert!(missing.ready().is_err());
        assert!(
            missing.allows_fill(),
            "an unmeasurable disk does not stop fills"
        );
    }
}
