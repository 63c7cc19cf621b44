//! Single-flight and the negative cache (in memory, no I/O).
//!
//! N concurrent misses on one key run one fill: the first caller spawns it as its
//! own task (so a client hanging up does not cancel a fill others wait for) and
//! everyone awaits the shared result. Failures that say something lasting about a
//! source are remembered for a while, so a broken file does not start a subprocess
//! on every request: per source identity and per [`Attempt`], so one bad segment
//! fails only itself, not the title's playlists and other segments.

use crate::error::Failure;
use crate::store::SourceId;
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Outcome<V> = Result<V, Failure>;
type Pending<V> = Shared<BoxFuture<'static, Outcome<V>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fills in progress, by key.
pub struct Flights<V: Clone + Send + Sync + 'static> {
    pending: Arc<Mutex<HashMap<String, Pending<V>>>>,
}

impl<V: Clone + Send + Sync + 'static> Default for Flights<V> {
    fn default() -> Self {
        Flights {
            pending: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Flights<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fill running for `key`, if any, to wait for without starting one.
    pub fn running(&self, key: &str) -> Option<impl Future<Output = Outcome<V>>> {
        lock(&self.pending).get(key).cloned()
    }

    /// Runs `fill` unless a fill for `key` is already running; either way
    /// returns that fill's result.
    pub async fn run<F, Fut>(&self, key: &str, fill: F) -> Outcome<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome<V>> + Send + 'static,
    {
        let shared = {
            let mut pending = lock(&self.pending);
            if let Some(existing) = pending.get(key) {
                existing.clone()
            } else {
                let task = tokio::spawn(fill());
                let map = self.pending.clone();
                let owned_key = key.to_string();
                let fut: BoxFuture<'static, Outcome<V>> = async move {
                    let result = task.await.unwrap_or_else(|e| {
                        Err(Failure::Internal(format!("fill task failed: {e}")))
                    });
                    // Later misses start afresh (the file is on disk by now, or
                    // the failure is in the negative cache).
                    lock(&map).remove(&owned_key);
                    result
                }
                .boxed();
                let shared = fut.shared();
                pending.insert(key.to_string(), shared.clone());
                shared
            }
        };
        shared.await
    }

    /// Keys with a fill running (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.pending).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What failed: a source's plan (in whole mode: its whole packaging), which every
/// answer of the rendition needs, or one segment, which only itself needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt {
    Plan,
    Segment(u64),
    /// The CMAF plan (with its timelines), which every CMAF and DASH answer needs.
    CmafPlan,
    /// One CMAF file of a track: segment `k`, or the init segment when `k` is 0.
    CmafFile {
        k: u64,
        track: crate::url::cmaf::Track,
    },
}

/// A remembered failure: the identity it failed with, the failure, and when.
type Remembered = (SourceId, Failure, Instant);

/// Remembers recent failures per source identity and attempt.
pub struct Failures {
    ttl: Duration,
    /// Keyed by (source path, attempt).
    recent: Mutex<HashMap<(String, Attempt), Remembered>>,
}

/// Bound on remembered failures; beyond it, expired ones are dropped, then all.
const MAX_REMEMBERED: usize = 10_000;

impl Failures {
    pub fn new(ttl: Duration) -> Failures {
        Failures {
            ttl,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered failure of `attempt` for exactly this identity, if still fresh.
    pub fn check(&self, id: &SourceId, attempt: Attempt) -> Option<Failure> {
        let recent = lock(&self.recent);
        match recent.get(&(id.path.clone(), attempt)) {
            Some((failed_id, failure, at)) if failed_id == id && at.elapsed() < self.ttl => {
                Some(failure.clone())
            }
            _ => None,
        }
    }

    /// Remembers `failure` of `attempt` if it is about the source (not e.g. overload).
    pub fn remember(&self, id: &SourceId, attempt: Attempt, failure: &Failure) {
        if !failure.is_about_source() || self.ttl.is_zero() {
            return;
        }
        let mut recent = lock(&self.recent);
        if recent.len() >= MAX_REMEMBERED {
            let ttl = self.ttl;
            recent.retain(|_, (_, _, at)| at.elapsed() < ttl);
            if recent.len() >= MAX_REMEMBERED {
                recent.clear();
            }
        }
        recent.insert(
            (id.path.clone(), attempt),
            (id.clone(), failure.clone(), Instant::now()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ToolError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_run_one_fill() {
        let flights: Arc<Flights<u32>> = Arc::new(Flights::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut waiters = Vec::new();
        for _ in 0..50 {
            let (flights, runs) = (flights.clone(), runs.clone());
            waiters.push(tokio::spawn(async move {
                flights
                    .run("i/a.mp4/segment1_0_av.ts", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        for w in waiters {
            assert_eq!(w.await.unwrap(), Ok(7));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty());
        // A later miss runs again.
        let again = flights
            .run("i/a.mp4/segment1_0_av.ts", || async { Ok(8) })
            .await;
        assert_eq!(again, Ok(8));
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_cancel_the_fill() {
        let flights: Arc<Flights<u32>> = Arc::new(Flights::new());
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let first = flights.run("k", || async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            d.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        });
        // Drop the first caller after it started the fill.
        let _ = tokio::time::timeout(Duration::from_millis(10), first).await;
        let second = flights.run("k", || async { Ok(2) }).await;
        assert_eq!(second, Ok(1), "joined the running fill");
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_running_fill_can_be_joined() {
        let flights: Arc<Flights<u32>> = Arc::new(Flights::new());
        assert!(flights.running("k").is_none());
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let f = flights.clone();
        let leader = tokio::spawn(async move {
            f.run("k", || async move {
                let _ = wait.await;
                Ok(3)
            })
            .await
        });
        let joined = loop {
            if let Some(running) = flights.running("k") {
                break running;
            }
            tokio::task::yield_now().await;
        };
        assert!(flights.running("other").is_none());
        release.send(()).unwrap();
        assert_eq!(joined.await, Ok(3));
        assert_eq!(leader.await.unwrap(), Ok(3));
        assert!(flights.running("k").is_none(), "gone once finished");
    }

    #[tokio::test]
    async fn failures_are_shared_and_a_panicking_fill_is_internal() {
        let flights: Flights<u32> = Flights::new();
        let r = flights
            .run("k", || async {
                Err(Failure::Tool(ToolError::Corrupt("bad".into())))
            })
            .await;
        assert_eq!(r, Err(Failure::Tool(ToolError::Corrupt("bad".into()))));
        let r = flights.run("p", || async { panic!("boom") }).await;
        assert!(matches!(r, Err(Failure::Internal(_))), "{r:?}");
    }

    #[test]
    fn negative_cache_is_per_identity_and_expires() {
        let id = |size| SourceId {
            path: "a.mp4".into(),
            size,
            mtime_ns: 1,
        };
        let corrupt = Failure::Tool(ToolError::Corrupt("moov missing".into()));
        let failures = Failures::new(Duration::from_millis(100));
        failures.remember(&id(10), Attempt::Plan, &corrupt);
        assert_eq!(
            failures.check(&id(10), Attempt::Plan),
            Some(corrupt.clone())
        );
        assert_eq!(
            failures.check(&id(11), Attempt::Plan),
            None,
            "a changed file is tried again"
        );
        failures.remember(
            &id(10),
            Attempt::Plan,
            &Failure::Tool(ToolError::Overloaded),
        );
        assert_eq!(
            failures.check(&id(10), Attempt::Plan),
            Some(corrupt),
            "overload is not about the source"
        );
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(failures.check(&id(10), Attempt::Plan), None);
    }

    #[test]
    fn a_failed_segment_fails_only_itself() {
        let id = |path: &str, size| SourceId {
            path: path.into(),
            size,
            mtime_ns: 1,
        };
        let corrupt = Failure::Tool(ToolError::Corrupt("NAL unit runs past its sample".into()));
        let failures = Failures::new(Duration::from_secs(60));
        failures.remember(&id("a.mp4", 10), Attempt::Segment(3), &corrupt);
        assert_eq!(
            failures.check(&id("a.mp4", 10), Attempt::Segment(3)),
            Some(corrupt.clone())
        );
        for other in [Attempt::Plan, Attempt::Segment(2), Attempt::Segment(4)] {
            assert_eq!(failures.check(&id("a.mp4", 10), other), None, "{other:?}");
        }
        assert_eq!(
            failures.check(&id("b.mp4", 10), Attempt::Segment(3)),
            None,
            "another source"
        );
        assert_eq!(
            failures.check(&id("a.mp4", 11), Attempt::Segment(3)),
            None,
            "a replaced file is tried again"
        );
        // A failed plan does not hide a segment's own memory, nor the other way round.
        failures.remember(&id("a.mp4", 10), Attempt::Plan, &corrupt);
        assert_eq!(
            failures.check(&id("a.mp4", 10), Attempt::Segment(3)),
            Some(corrupt.clone())
        );
        assert_eq!(
            failures.check(&id("a.mp4", 10), Attempt::Plan),
            Some(corrupt)
        );
    }
}
