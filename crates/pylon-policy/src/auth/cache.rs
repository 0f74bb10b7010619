//! A bounded map from a SHA-256 digest to a value with an expiry time.
//! Expired entries are dropped when read or when the map is full; when it is
//! still full, arbitrary entries go until it is back under 90 %.

use std::collections::HashMap;

use parking_lot::Mutex;

pub(crate) struct TtlCache<V> {
    map: Mutex<HashMap<[u8; 32], (V, u64)>>,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The value under `key` if it has not expired at `now_ms`.
    pub(crate) fn get(&self, key: &[u8; 32], now_ms: u64) -> Option<V> {
        let mut map = self.map.lock();
        match map.get(key) {
            Some((v, expires)) if *expires > now_ms => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keep `value` under `key` until `expires_ms` (nothing when already past).
    pub(crate) fn insert(&self, key: [u8; 32], value: V, expires_ms: u64, now_ms: u64) {
        if expires_ms <= now_ms {
            return;
        }
        let mut map = self.map.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, e)| *e > now_ms);
            if map.len() >= self.capacity {
                let keep = self.capacity * 9 / 10;
                let drop: Vec<[u8; 32]> = map.keys().skip(keep).copied().collect();
                for k in drop {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, (value, expires_ms));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let c = TtlCache::new(10);
        c.insert([1; 32], "a", 2_000, 1_000);
        assert_eq!(c.get(&[1; 32], 1_999), Some("a"));
        assert_eq!(c.get(&[1; 32], 2_000), None);
        assert_eq!(c.len(), 0, "an expired entry is dropped when read");
        c.insert([2; 32], "b", 500, 1_000);
        assert_eq!(c.len(), 0, "already expired: not kept");
        for i in 0..25u8 {
            c.insert([i; 32], "x", 5_000, 1_000);
            assert!(c.len() <= 10);
        }
        assert_eq!(c.get(&[24; 32], 1_000), Some("x"), "the newest is kept");
    }
}
