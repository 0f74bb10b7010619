//! Key pools: several API keys per provider, used round robin. A key the
//! provider refuses (401/403) is disabled; a rate-limited one (429) cools
//! down for its `retry-after` (or a default). Key state lives in
//! [`crate::AiShared`], so a reload keeps it for keys that did not change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Cooldown of a rate-limited key when the provider gives no `retry-after`.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10);

/// The run-time health of one key.
#[derive(Debug)]
pub struct KeyState {
    disabled: AtomicBool,
    /// Cooling down until this many milliseconds after `epoch`.
    cool_until_ms: AtomicU64,
    epoch: Instant,
}

impl Default for KeyState {
    fn default() -> Self {
        Self {
            disabled: AtomicBool::new(false),
            cool_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl KeyState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn available(&self) -> bool {
        !self.disabled.load(Ordering::Relaxed)
            && self.cool_until_ms.load(Ordering::Relaxed) <= self.now_ms()
    }

    pub fn disable(&self) {
        self.disabled.store(true, Ordering::Relaxed);
    }

    pub fn cool_down(&self, d: Duration) {
        let until = self.now_ms() + d.as_millis() as u64;
        self.cool_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }
}

/// One key of a pool.
pub struct PoolKey {
    /// `<provider>#<index>`: what records and logs show.
    pub id: String,
    pub secret: String,
    pub state: Arc<KeyState>,
}

impl std::fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A provider's keys.
#[derive(Debug, Default)]
pub struct KeyPool {
    keys: Vec<PoolKey>,
    next: AtomicUsize,
}

/// SHA-256 prefix identifying a key without revealing it.
pub fn fingerprint(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    hex::encode(&d[..8])
}

/// Why no key could be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoKey {
    /// Every key was refused by the provider.
    AllDisabled,
    /// Every key is cooling down after rate limits.
    AllCooling,
}

impl KeyPool {
    pub fn new(keys: Vec<PoolKey>) -> Self {
        Self {
            keys,
            next: AtomicUsize::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.secret.as_str())
    }

    /// The next available key, round robin, skipping `tried`. `Ok(None)`
    /// when the pool is empty (providers without keys).
    pub fn pick(&self, tried: &[usize]) -> Result<Option<(usize, &PoolKey)>, NoKey> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let n = self.keys.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let idx = (start + i) % n;
            let k = &self.keys[idx];
            if !tried.contains(&idx) && k.state.available() {
                return Ok(Some((idx, k)));
            }
        }
        if self.keys.iter().all(|k| k.state.is_disabled()) {
            Err(NoKey::AllDisabled)
        } else {
            Err(NoKey::AllCooling)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> KeyPool {
        KeyPool::new(
            (0..n)
                .map(|i| PoolKey {
                    id: format!("p#{i}"),
                    secret: format!("secret-{i}"),
                    state: Arc::new(KeyState::default()),
                })
                .collect(),
        )
    }

    #[test]
    fn round_robin_skips_disabled_and_cooling_keys() {
        let p = pool(3);
        let picks: Vec<usize> = (0..3).map(|_| p.pick(&[]).unwrap().unwrap().0).collect();
        assert_eq!(picks, vec![0, 1, 2]);
        p.keys[1].state.disable();
        p.keys[2].state.cool_down(Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(p.pick(&[]).unwrap().unwrap().0, 0);
        }
        assert_eq!(p.pick(&[0]).unwrap_err(), NoKey::AllCooling);
        p.keys[0].state.disable();
        p.keys[2].state.disable();
        assert_eq!(p.pick(&[]).unwrap_err(), NoKey::AllDisabled);
        assert!(pool(0).pick(&[]).unwrap().is_none());
    }

    #[test]
    fn cooldown_ends() {
        let s = KeyState::default();
        s.cool_down(Duration::from_millis(30));
        assert!(!s.available());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.available());
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
