//! The node's last good config and subscription set on local disk
//! (`<data_dir>/cluster-cache/`), so a node can start and keep serving while the
//! PostgreSQL store is unreachable. Files are replaced atomically (write a temp file,
//! fsync, rename, fsync the directory): a crash leaves the old or the new file, never a
//! torn one. Writes never go backwards: an older version or generation is not written
//! over a newer one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

const CONFIG_FILE: &str = "config.json";
const SUBSCRIPTIONS_FILE: &str = "subscriptions.json";

/// A store version as the node last activated it: the stored document (secret
/// references unexpanded), not the compiled config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedConfig {
    pub version: i64,
    pub document: Value,
}

/// The approved (service, consumer) pairs at one subscription generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedSubscriptions {
    pub generation: i64,
    pub pairs: Vec<(String, String)>,
}

/// The cache directory with one writer lock per file.
pub struct DiskCache {
    dir: PathBuf,
    config_written: Mutex<i64>,
    subscriptions_written: Mutex<i64>,
}

impl DiskCache {
    /// The cache under `data_dir` (created on first write).
    pub fn new(data_dir: &Path) -> Self {
        DiskCache {
            dir: data_dir.join("cluster-cache"),
            config_written: Mutex::new(i64::MIN),
            subscriptions_written: Mutex::new(i64::MIN),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached config, if a readable one exists (a broken file is logged and ignored).
    pub fn load_config(&self) -> Option<CachedConfig> {
        read(&self.dir.join(CONFIG_FILE))
    }

    pub fn load_subscriptions(&self) -> Option<CachedSubscriptions> {
        read(&self.dir.join(SUBSCRIPTIONS_FILE))
    }

    /// Writes `config` unless a newer version was written by this process.
    pub async fn save_config(&self, config: &CachedConfig) {
        let mut last = self.config_written.lock().await;
        if config.version < *last {
            return;
        }
        if self.write(CONFIG_FILE, config).await {
            *last = config.version;
        }
    }

    /// Writes `subs` unless a newer generation was written by this process.
    pub async fn save_subscriptions(&self, subs: &CachedSubscriptions) {
        let mut last = self.subscriptions_written.lock().await;
        if subs.generation < *last {
            return;
        }
        if self.write(SUBSCRIPTIONS_FILE, subs).await {
            *last = subs.generation;
        }
    }

    async fn write<T: Serialize>(&self, name: &str, value: &T) -> bool {
        let bytes = match serde_json::to_vec(value) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, file = name, "cannot serialize the cluster cache");
                return false;
            }
        };
        let dir = self.dir.clone();
        let file = name.to_owned();
        let done = tokio::task::spawn_blocking(move || write_atomic(&dir, &file, &bytes)).await;
        match done {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, dir = %self.dir.display(), file = name, "cannot write the cluster cache");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "the cluster cache writer failed");
                false
            }
        }
    }
}

fn read<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot read the cluster cache");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "the cluster cache file is not valid; ignored");
            None
        }
    }
}

/// Temp file, fsync, rename over `name`, fsync the directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_atomic_and_never_go_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        assert_eq!(cache.load_config(), None);
        let v2 = CachedConfig {
            version: 2,
            document: serde_json::json!({"routes": []}),
        };
        cache.save_config(&v2).await;
        cache
            .save_config(&CachedConfig {
                version: 1,
                document: Value::Null,
            })
            .await;
        assert_eq!(cache.load_config(), Some(v2));
        cache
            .save_subscriptions(&CachedSubscriptions {
                generation: 7,
                pairs: vec![("pay".into(), "app".into())],
            })
            .await;
        assert_eq!(cache.load_subscriptions().unwrap().generation, 7);
        // No temp files are left behind.
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        // A torn or foreign file is ignored, not fatal.
        std::fs::write(cache.dir().join(CONFIG_FILE), b"{not json").unwrap();
        assert_eq!(cache.load_config(), None);
    }
}
