//! The control plane's place in `pylon serve`: open the store, bootstrap the first admin
//! token, choose the starting config, and build the admin state shared by the `/api/v1`
//! router and the cluster agent.
//!
//! - Without `--config`, the store is the source of truth: `<data_dir>/pylon.db` (SQLite)
//!   or `PYLON_STORE_URL` (PostgreSQL, optionally in schema `PYLON_STORE_SCHEMA`). The
//!   node starts on the store's active version, or, on an empty store, on the embedded
//!   default, which then seeds the draft. On PostgreSQL the node keeps its last good
//!   config on disk (`<data_dir>/cluster-cache/`) and starts from it when the database
//!   is unreachable, connecting in the background.
//! - Machine-level env overrides: `PYLON_DATA_DIR`, `PYLON_ADMIN_LISTEN` and
//!   `PYLON_LISTEN` (the first proxy listener's bind address) apply to the embedded
//!   default and to every store version this node runs (they are about this machine).
//! - With `--config FILE`, the file is the source of truth: the store still backs the
//!   admin API (auth, audit, versions, subscriptions), but config writes answer 409.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use pylon_admin::cluster::{DiskCache, Node, NodeIdentity};
use pylon_admin::{Activator, AdminState, Localize};
use pylon_config::Config;
use pylon_proxy::Gateway;
use pylon_store::sql::ApprovedSet;
use pylon_store::{Store, StoreOptions};
use tracing::{info, warn};

/// The opened store and how the config is managed.
pub struct Control {
    pub store: Arc<Store>,
    pub file_managed: bool,
    /// The store version the node starts on (`None`: the embedded default or a file).
    pub config_version: Option<i64>,
    /// The subscription set to enforce from the first request.
    pub subscriptions: Option<ApprovedSet>,
    /// PostgreSQL: where the last good config is kept.
    pub cache_dir: Option<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The machine-level env overrides (see the module docs).
pub fn apply_env(config: &mut Config) {
    if let Some(dir) = env("PYLON_DATA_DIR") {
        config.server.data_dir = dir;
    }
    if let Some(addr) = env("PYLON_ADMIN_LISTEN") {
        config.server.admin_listen = Some(addr);
    }
    if let Some(addr) = env("PYLON_LISTEN")
        && let Some(l) = config.listeners.first_mut()
    {
        l.bind = addr;
    }
}

fn store_url(data_dir: &str) -> Result<String> {
    match env("PYLON_STORE_URL") {
        Some(u) => Ok(u),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data dir `{data_dir}`"))?;
            Ok(format!("sqlite://{data_dir}/pylon.db?mode=rwc"))
        }
    }
}

fn store_options() -> StoreOptions {
    StoreOptions {
        postgres_schema: env("PYLON_STORE_SCHEMA"),
        acquire_timeout: Duration::from_secs(3),
        ..StoreOptions::default()
    }
}

async fn bootstrap(store: &Store) -> Result<()> {
    let given = env("PYLON_ADMIN_TOKEN");
    if let Some(b) = store.auth().bootstrap(given.as_deref()).await? {
        if given.is_some() {
            info!(user = %b.user.name, "admin user created with the token from PYLON_ADMIN_TOKEN");
        } else {
            // Shown once: only its digest is stored. Stderr stays JSON lines in JSON mode.
            let line = format!("pylon: admin bootstrap token: {}", b.token.token.expose());
            if crate::logging::is_json() {
                eprintln!("{}", serde_json::json!({"level": "WARN", "message": line}));
            } else {
                eprintln!("{line}");
            }
        }
    }
    Ok(())
}

/// Opens the store; `Err` keeps the reason for the fallbacks.
async fn open_store(url: &str) -> Result<Store> {
    let store = Store::open_with(url, &store_options())
        .await
        .context("cannot open the config store")?;
    bootstrap(&store).await?;
    Ok(store)
}

/// A store version's document as this node's config.
fn from_document(document: serde_json::Value, label: &str) -> Result<Config> {
    let mut config = pylon_config::from_document_with(document, label, &pylon_ai::check_all)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("the config ({label}) is invalid"))?;
    apply_env(&mut config);
    Ok(config)
}

/// A node that starts while PostgreSQL is unreachable: the store connects lazily and is
/// migrated (and bootstrapped) in the background once it answers.
fn open_later(url: &str) -> Result<Store> {
    let store = Store::open_lazy(url, &store_options()).context("bad store URL")?;
    let later = store.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        loop {
            match later.prepare().await {
                Ok(()) => {
                    info!("the config store is reachable again");
                    if let Err(e) = bootstrap(&later).await {
                        warn!(error = %format!("{e:#}"), "admin bootstrap failed");
                    }
                    return;
                }
                Err(e) => {
                    warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "config store still unreachable");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
    Ok(store)
}

/// No `--config`: the starting config and the store behind it.
pub async fn from_store() -> Result<(Config, Control)> {
    let mut config = pylon_config::embedded_default();
    apply_env(&mut config);
    let data_dir = config.server.data_dir.clone();
    let url = store_url(&data_dir)?;
    let cache_dir = url
        .starts_with("postgres")
        .then(|| PathBuf::from(&data_dir));
    let opened = open_store(&url).await;
    let (store, config_version, subscriptions) = match (opened, &cache_dir) {
        (Ok(store), _) => {
            let mut version = None;
            if let Some(active) = store.config().active_version().await? {
                let label = format!("<store version {}>", active.info.number);
                config = from_document(active.document, &label)?;
                info!(
                    version = active.info.number,
                    "starting on the store's active config"
                );
                version = Some(active.info.number);
            } else if store.config().get_draft().await?.version == 0 {
                let doc = serde_json::to_value(&config).context("cannot serialize the default")?;
                match store.config().put_draft(&doc, 0, "system").await {
                    Ok(_) => info!("empty store: the draft is seeded with the embedded default"),
                    // Another node starting at the same time seeded it first.
                    Err(pylon_store::StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let subs = store.subscriptions().approved_set().await?;
            (store, version, Some(subs))
        }
        (Err(e), Some(dir)) => {
            let cache = DiskCache::new(dir);
            let Some(cached) = cache.load_config() else {
                return Err(e.context(format!(
                    "and no cached config in `{}` to start from",
                    cache.dir().display()
                )));
            };
            warn!(error = %format!("{e:#}"), version = cached.version,
                "the config store is unreachable: starting on the cached last good config");
            let label = format!("<cached store version {}>", cached.version);
            config = from_document(cached.document, &label)?;
            let subs = cache.load_subscriptions().map(|s| ApprovedSet {
                generation: s.generation,
                pairs: s.pairs,
            });
            (open_later(&url)?, Some(cached.version), subs)
        }
        (Err(e), None) => return Err(e),
    };
    Ok((
        config,
        Control {
            store: Arc::new(store),
            file_managed: false,
            config_version,
            subscriptions,
            cache_dir,
        },
    ))
}

/// `--config FILE`: the store only backs the admin API. A store that cannot be opened
/// disables the admin API instead of the gateway.
pub async fn beside_file(config: &Config) -> Option<Control> {
    let opened = match store_url(&config.server.data_dir) {
        Ok(url) => open_store(&url).await,
        Err(e) => Err(e),
    };
    let store = match opened {
        Ok(store) => store,
        Err(e) => {
            warn!(error = %format!("{e:#}"), "the admin API is off: no config store");
            return None;
        }
    };
    let subscriptions = match store.subscriptions().approved_set().await {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot load the subscriptions");
            None
        }
    };
    Some(Control {
        store: Arc::new(store),
        file_managed: true,
        config_version: None,
        subscriptions,
        cache_dir: None,
    })
}

/// This node's id: `PYLON_NODE_ID`, or one generated once and kept in `<data_dir>/node-id`.
fn node_id(data_dir: &Path) -> Result<String> {
    if let Some(id) = env("PYLON_NODE_ID") {
        return Ok(id);
    }
    let path = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_owned());
    }
    let id = uuid::Uuid::now_v7().to_string();
    std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::write(&path, &id))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(id)
}

/// The admin state (shared by the `/api/v1` router and the cluster agent) for a running
/// gateway.
pub fn admin_state(control: &Control, gw: &Arc<Gateway>) -> Result<AdminState> {
    let target = gw.clone();
    let activate: Activator = Arc::new(move |cfg| {
        let gw = target.clone();
        Box::pin(async move { gw.reload(cfg).await.map(|_| ()).map_err(|e| e.to_string()) })
    });
    let running = Config::clone(&gw.snapshot().config);
    let identity = NodeIdentity {
        id: node_id(Path::new(&running.server.data_dir))?,
        admin_addr: env("PYLON_ADVERTISE_ADMIN").or_else(|| running.server.admin_listen.clone()),
        proxy_addr: env("PYLON_ADVERTISE_PROXY")
            .or_else(|| running.listeners.first().map(|l| l.bind.clone())),
    };
    let subs = pylon_policy::policies::subscription::SubscriptionSet::of(gw.shared());
    let cache = control.cache_dir.as_deref().map(DiskCache::new);
    let node = Node::new(identity, subs, cache, control.config_version);
    let view = gw.clone();
    let current = Arc::new(move || view.snapshot().config.clone());
    let localize: Localize = Arc::new(apply_env);
    Ok(AdminState::new(
        control.store.clone(),
        activate,
        control.file_managed,
        running,
    )
    .with_gateway(gw.shared().clone(), current)
    .with_node(node)
    .with_localize(localize))
}
