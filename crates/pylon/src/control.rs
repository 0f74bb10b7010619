//! The control plane's place in `pylon serve`: open the store, bootstrap the first admin
//! token, choose the starting config, and build the `/api/v1` router.
//!
//! - Without `--config`, the store is the source of truth: `<data_dir>/pylon.db` (SQLite)
//!   or `PYLON_STORE_URL`. The node starts on the store's active version, or, on an empty
//!   store, on the embedded default, which then seeds the draft. The embedded default can
//!   be adjusted by env for this mode: `PYLON_DATA_DIR`, `PYLON_ADMIN_LISTEN` and
//!   `PYLON_LISTEN` (the proxy listener's bind address); `PYLON_DATA_DIR` and
//!   `PYLON_ADMIN_LISTEN` also apply over a stored version (they are about this machine).
//! - With `--config FILE`, the file is the source of truth: the store still backs the
//!   admin API (auth, audit, versions), but config writes answer 409.

use std::sync::Arc;

use anyhow::{Context, Result};
use pylon_admin::{Activator, AdminState};
use pylon_config::Config;
use pylon_proxy::Gateway;
use pylon_store::Store;
use tracing::{info, warn};

/// The opened store and how the config is managed.
pub struct Control {
    pub store: Arc<Store>,
    pub file_managed: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The machine-level env overrides of the no-config mode.
fn apply_env(config: &mut Config, embedded: bool) {
    if let Some(dir) = env("PYLON_DATA_DIR") {
        config.server.data_dir = dir;
    }
    if let Some(addr) = env("PYLON_ADMIN_LISTEN") {
        config.server.admin_listen = Some(addr);
    }
    if embedded
        && let Some(addr) = env("PYLON_LISTEN")
        && let Some(l) = config.listeners.first_mut()
    {
        l.bind = addr;
    }
}

async fn open_store(data_dir: &str) -> Result<Store> {
    let url = match env("PYLON_STORE_URL") {
        Some(u) => u,
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data dir `{data_dir}`"))?;
            format!("sqlite://{data_dir}/pylon.db?mode=rwc")
        }
    };
    let store = Store::open(&url)
        .await
        .context("cannot open the config store")?;
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
    Ok(store)
}

/// No `--config`: the starting config and the store behind it.
pub async fn from_store() -> Result<(Config, Control)> {
    let mut config = pylon_config::embedded_default();
    apply_env(&mut config, true);
    let store = open_store(&config.server.data_dir).await?;
    if let Some(active) = store.config().active_version().await? {
        let label = format!("<store version {}>", active.info.number);
        let mut stored =
            pylon_config::from_document_with(active.document, &label, &pylon_ai::check_all)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("the active config ({label}) is invalid"))?;
        apply_env(&mut stored, false);
        info!(
            version = active.info.number,
            "starting on the store's active config"
        );
        config = stored;
    } else if store.config().get_draft().await?.version == 0 {
        let doc = serde_json::to_value(&config).context("cannot serialize the default")?;
        store.config().put_draft(&doc, 0, "system").await?;
        info!("empty store: the draft is seeded with the embedded default");
    }
    let store = Arc::new(store);
    Ok((
        config,
        Control {
            store,
            file_managed: false,
        },
    ))
}

/// `--config FILE`: the store only backs the admin API. A store that cannot be opened
/// disables the admin API instead of the gateway.
pub async fn beside_file(config: &Config) -> Option<Control> {
    match open_store(&config.server.data_dir).await {
        Ok(store) => Some(Control {
            store: Arc::new(store),
            file_managed: true,
        }),
        Err(e) => {
            warn!(error = %format!("{e:#}"), "the admin API is off: no config store");
            None
        }
    }
}

/// The `/api/v1` router for a running gateway.
pub fn router(control: &Control, gw: &Arc<Gateway>) -> axum::Router {
    let target = gw.clone();
    let activate: Activator = Arc::new(move |cfg| {
        let gw = target.clone();
        Box::pin(async move { gw.reload(cfg).await.map(|_| ()).map_err(|e| e.to_string()) })
    });
    let running = Config::clone(&gw.snapshot().config);
    let view = gw.clone();
    let current = Arc::new(move || view.snapshot().config.clone());
    pylon_admin::router(
        AdminState::new(
            control.store.clone(),
            activate,
            control.file_managed,
            running,
        )
        .with_gateway(gw.shared().clone(), current),
    )
}
