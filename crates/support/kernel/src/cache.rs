//! A small cache of values read from the database, each served for a bounded time, with
//! removal that a concurrent read cannot undo: a read takes a [`Ticket`] first, and its value
//! is not stored if entries were removed since (it may predate the change that removed them).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many entries a cache starts over (a bound on memory).
const MAX: usize = 100_000;

/// Taken before a read, given back with its value: when the read started and which
/// generation of the cache it saw.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    at: Instant,
    generation: u64,
}

/// Values by key, each served for `ttl` after its read started.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
    /// Moved by every removal, so that a read that raced it is not stored after it.
    generation: AtomicU64,
}

impl<K, V> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// To take before reading the value that will be `put`.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            at: Instant::now(),
            generation: self.generation.load(Ordering::SeqCst),
        }
    }

    /// Stores a value read under `ticket`, unless entries were removed since (the value may
    /// predate the change that removed them). It ages from the start of its read.
    pub fn put(&self, key: K, value: V, ticket: Ticket) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) != ticket.generation {
            return;
        }
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(key, (ticket.at, value));
    }

    /// Removes the entries `keep` refuses; reads under older tickets are not stored after.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        map.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(5);

    #[test]
    fn entries_age_out_are_removed_and_a_racing_read_is_not_kept() {
        let c: TtlCache<String, i32> = TtlCache::new(TTL);
        c.put("m1".into(), 1, c.ticket());
        c.put("m2".into(), 2, c.ticket());
        assert_eq!(c.get(&"m1".into()), Some(1));
        // A read that started before a removal is not stored after it.
        let before = c.ticket();
        c.retain(|k| k != "m1");
        c.put("m1".into(), 3, before);
        assert_eq!(c.get(&"m1".into()), None);
        assert_eq!(c.get(&"m2".into()), Some(2), "other entries stay");
        // An entry older than the TTL is not served.
        if let Some(at) = Instant::now().checked_sub(TTL + Duration::from_millis(1)) {
            let old = Ticket { at, ..c.ticket() };
            c.put("m3".into(), 4, old);
            assert_eq!(c.get(&"m3".into()), None);
        }
    }
}
