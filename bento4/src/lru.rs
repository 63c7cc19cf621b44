//! A bounded least-recently-used map: at most `max_entries` values and at most
//! `max_bytes` of the weights their owner states for them. Pure; `mp42hls --serve`
//! keeps its parsed indexes in one.
//!
//! A value is taken out for use and put back after: while a job works on an index
//! the cache holds no reference to it, so a job that fails (or panics) leaves the
//! cache as it was minus that one entry, never half-updated.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

pub struct Lru<K, V> {
    /// Value, its weight in bytes, and the tick of its last use.
    entries: HashMap<K, (V, usize, u64)>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, K>,
    tick: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Lru<K, V> {
        Lru {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// Removes and returns the value for `key`.
    pub fn take(&mut self, key: &K) -> Option<V> {
        let (value, bytes, tick) = self.entries.remove(key)?;
        self.order.remove(&tick);
        self.bytes -= bytes;
        Some(value)
    }

    /// Keeps `value` as the most recently used, then evicts the least recently used
    /// others while either bound is exceeded. A value heavier than `max_bytes` on its
    /// own (or any value when `max_entries` is 0) is dropped: returns whether kept.
    pub fn put(&mut self, key: K, value: V, bytes: usize) -> bool {
        drop(self.take(&key));
        if bytes > self.max_bytes || self.max_entries == 0 {
            return false;
        }
        while self.entries.len() >= self.max_entries
            || self.bytes.saturating_add(bytes) > self.max_bytes
        {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, weight, _)) = self.entries.remove(&oldest) {
                self.bytes -= weight;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (value, bytes, self.tick));
        self.bytes += bytes;
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The sum of the kept values' weights.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut lru = Lru::new(2, 1000);
        assert!(lru.put("a", 1, 10));
        assert!(lru.put("b", 2, 10));
        // Using "a" makes "b" the oldest.
        let a = lru.take(&"a").unwrap();
        assert!(lru.put("a", a, 10));
        assert!(lru.put("c", 3, 10));
        assert_eq!(lru.take(&"b"), None);
        assert_eq!((lru.len(), lru.bytes()), (2, 20));
        assert_eq!(lru.take(&"a"), Some(1));
        assert_eq!(lru.take(&"c"), Some(3));
        assert!(lru.is_empty());
        assert_eq!(lru.bytes(), 0);
    }

    #[test]
    fn the_byte_bound_evicts_as_many_as_needed() {
        let mut lru = Lru::new(10, 100);
        for (key, bytes) in [(1, 30), (2, 30), (3, 30)] {
            assert!(lru.put(key, (), bytes));
        }
        assert!(lru.put(4, (), 80));
        // 1, 2 and 3 had to go for 80 bytes to fit in 100.
        assert_eq!((lru.len(), lru.bytes()), (1, 80));
        assert!(lru.take(&4).is_some());
    }

    #[test]
    fn a_value_over_the_byte_bound_is_not_kept_and_evicts_nothing() {
        let mut lru = Lru::new(10, 100);
        assert!(lru.put(1, (), 60));
        assert!(!lru.put(2, (), 101));
        assert_eq!((lru.len(), lru.bytes()), (1, 60));
        let mut none = Lru::new(0, 100);
        assert!(!none.put(1, (), 1));
        assert!(none.is_empty());
    }

    #[test]
    fn putting_a_key_again_replaces_its_weight() {
        let mut lru = Lru::new(10, 100);
        assert!(lru.put(1, "old", 60));
        assert!(lru.put(1, "new", 70));
        assert_eq!((lru.len(), lru.bytes()), (1, 70));
        assert_eq!(lru.take(&1), Some("new"));
    }
}
