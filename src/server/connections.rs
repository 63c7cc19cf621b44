//! The bound on SCGI connections the worker holds, and the open-files limit it is
//! derived from.
//!
//! Every connection is a descriptor; past the process's limit `accept` fails and
//! even real requests wait in the backlog (a probe with 22,500 idle connections made
//! cold requests take 9 s). So the worker holds at most `limit` connections. A new
//! one past the limit takes the place of the oldest connection that has still not
//! sent its header (nginx sends its header at once, so such a connection is idle or
//! hostile); when every held connection is a request being answered, the new one is
//! shed with a 503 (answered by a small, separately bounded set of tasks) or, past
//! that too, closed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Descriptors kept free for everything but connections: sled, the hit log, the
/// listeners, the runtime, cache files being written, shed connections.
pub const FD_HEADROOM: u64 = 1024;
/// Descriptors per tool pool slot (stdin, stdout and stderr pipes, the child's pidfd).
pub const FD_PER_POOL_SLOT: u64 = 8;
/// Connections past the limit that are held to be answered 503; past this they
/// are closed without an answer.
pub const SHED_AT_ONCE: usize = 64;

/// The default bound: the open-files limit less the headroom, but never less than
/// half the limit (a small limit still serves), and at least 1.
pub fn derived_limit(open_files: u64, pool_size: usize) -> usize {
    let headroom = FD_HEADROOM + FD_PER_POOL_SLOT * pool_size as u64;
    let limit = open_files
        .saturating_sub(headroom)
        .max(open_files / 2)
        .max(1);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Raises the soft open-files limit to the hard one; returns (soft before, soft
/// now, hard), logging both.
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    let now = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                log::warn!("cannot raise the open-files limit from {soft} to {hard}: {e}");
                soft
            }
        }
    } else {
        soft
    };
    log::info!("open-files limit: soft {now} (was {soft}), hard {hard}");
    Ok((soft, now, hard))
}

/// Counts and admits connections.
pub struct Connections {
    limit: usize,
    /// Connections holding a place (admitted and not yet dropped).
    open: AtomicUsize,
    /// Connections being answered 503 past the limit.
    shedding: AtomicUsize,
    next_id: AtomicU64,
    /// Held connections whose header has not arrived, oldest first: their id and
    /// the way to close them.
    waiting_for_header: Mutex<BTreeMap<u64, oneshot::Sender<()>>>,
    /// Connections answered 503 or closed because every place was busy.
    pub shed: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub displaced: AtomicU64,
    /// Connections closed because their header did not arrive in time.
    pub timed_out: AtomicU64,
}

/// What to do with a newly accepted connection.
pub enum Admission {
    /// Serve it; the place is given back when the [`Place`] is dropped.
    Serve(Place),
    /// Answer 503 (the guard gives the shedding slot back).
    Shed(ShedGuard),
    /// Close it at once.
    Close,
}

/// A held connection's place in the bound.
pub struct Place {
    connections: Arc<Connections>,
    id: u64,
    /// Fires when a newer connection took this place (the header never came).
    pub displaced: Option<oneshot::Receiver<()>>,
    /// The header arrived while the place was still this connection's.
    served: bool,
}

pub struct ShedGuard(Arc<Connections>);

impl Drop for ShedGuard {
    fn drop(&mut self) {
        self.0.shedding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    pub fn new(limit: usize) -> Arc<Connections> {
        Arc::new(Connections {
            limit: limit.max(1),
            open: AtomicUsize::new(0),
            shedding: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            waiting_for_header: Mutex::new(BTreeMap::new()),
            shed: AtomicU64::new(0),
            displaced: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Connections holding a place now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Decides about a newly accepted connection (see the module doc).
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut waiting = self
            .waiting_for_header
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let has_room = self.open.load(Ordering::Relaxed) < self.limit;
        if has_room {
            self.open.fetch_add(1, Ordering::Relaxed);
        } else if let Some((_, close)) = waiting.pop_first() {
            // The oldest idle connection's place goes to this one, so the count stays.
            let _ = close.send(());
            self.displaced.fetch_add(1, Ordering::Relaxed);
        } else {
            self.shed.fetch_add(1, Ordering::Relaxed);
            if self.shedding.fetch_add(1, Ordering::Relaxed) < SHED_AT_ONCE {
                return Admission::Shed(ShedGuard(self.clone()));
            }
            self.shedding.fetch_sub(1, Ordering::Relaxed);
            return Admission::Close;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (close, displaced) = oneshot::channel();
        waiting.insert(id, close);
        Admission::Serve(Place {
            connections: self.clone(),
            id,
            displaced: Some(displaced),
            served: false,
        })
    }
}

impl Place {
    /// The header arrived: from now on this connection cannot be displaced. False
    /// when it was displaced just before (then the caller drops it).
    pub fn header_arrived(&mut self) -> bool {
        let mut waiting = self
            .connections
            .waiting_for_header
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.served = waiting.remove(&self.id).is_some();
        self.served
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut waiting = self
            .connections
            .waiting_for_header
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Still listed: it ended before its header (timeout, EOF, garbage) and held
        // its place until now. Neither listed nor served: it was displaced, and its
        // place already belongs to the connection that displaced it.
        let listed = waiting.remove(&self.id).is_some();
        if listed || self.served {
            self.connections.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(c: &Arc<Connections>) -> Place {
        match c.admit() {
            Admission::Serve(p) => p,
            _ => panic!("expected a place"),
        }
    }

    #[test]
    fn derived_limit_leaves_headroom() {
        assert_eq!(derived_limit(20_000, 2), 20_000 - 1024 - 16);
        assert_eq!(derived_limit(1_048_576, 8), 1_048_576 - 1024 - 64);
        // A small limit: half of it, not nothing.
        assert_eq!(derived_limit(1024, 2), 512);
        assert_eq!(derived_limit(1, 2), 1);
        assert_eq!(derived_limit(0, 2), 1);
    }

    #[test]
    fn idle_connections_make_room_for_new_ones() {
        let c = Connections::new(2);
        let mut a = serve(&c);
        let mut b = serve(&c);
        assert_eq!(c.open(), 2);
        // a sent its header: only b can be displaced.
        assert!(a.header_arrived());
        let mut new = serve(&c);
        assert_eq!(c.open(), 2);
        assert_eq!(c.displaced.load(Ordering::Relaxed), 1);
        let signal = b.displaced.as_mut().expect("receiver");
        assert_eq!(signal.try_recv(), Ok(()));
        drop(b);
        assert_eq!(c.open(), 2, "b's place went to the new connection");
        assert!(new.header_arrived());
        // Both places answer requests: the next is shed.
        assert!(matches!(c.admit(), Admission::Shed(_)));
        assert_eq!(c.shed.load(Ordering::Relaxed), 1);
        drop(a);
        assert_eq!(c.open(), 1);
        drop(new);
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn a_displaced_connection_that_finishes_its_header_late_gives_up() {
        let c = Connections::new(1);
        let mut old = serve(&c);
        let mut new = serve(&c);
        assert!(!old.header_arrived(), "its place was taken");
        drop(old);
        assert_eq!(c.open(), 1);
        assert!(new.header_arrived());
        drop(new);
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn a_connection_closed_before_its_header_gives_its_place_back() {
        let c = Connections::new(1);
        drop(serve(&c));
        assert_eq!(c.open(), 0);
        drop(serve(&c));
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn shedding_is_bounded_too() {
        let c = Connections::new(1);
        let mut busy = serve(&c);
        assert!(busy.header_arrived());
        let shed: Vec<Admission> = (0..SHED_AT_ONCE).map(|_| c.admit()).collect();
        assert!(shed.iter().all(|a| matches!(a, Admission::Shed(_))));
        assert!(matches!(c.admit(), Admission::Close));
        drop(shed);
        assert!(matches!(c.admit(), Admission::Shed(_)));
        assert_eq!(c.shed.load(Ordering::Relaxed), SHED_AT_ONCE as u64 + 2);
    }
}
