//! `pylon config export|import` and `pylon secrets rotate-master-key`: the store's config
//! as a declarative file and back, and re-encrypting its secrets under a new master key.
//! The store is `<data dir>/pylon.db` (`PYLON_DATA_DIR`, default `./pylon-data`) or
//! `PYLON_STORE_URL`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use pylon_config::envelope::{self, MasterKey};
use pylon_store::Store;
use pylon_store::sql::{DiffKind, NewAuditEntry, json_diff};
use serde_json::Value;

async fn open() -> Result<Store> {
    let url = match std::env::var("PYLON_STORE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(u) => u,
        None => {
            let dir = std::env::var("PYLON_DATA_DIR")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| pylon_config::ServerConfig::default().data_dir);
            if !Path::new(&dir).join("pylon.db").exists() {
                bail!("no store at `{dir}/pylon.db` (set PYLON_DATA_DIR or PYLON_STORE_URL)");
            }
            format!("sqlite://{dir}/pylon.db?mode=rw")
        }
    };
    Store::open(&url)
        .await
        .context("cannot open the config store")
}

fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn active(store: &Store) -> Result<(Option<i64>, Value)> {
    Ok(match store.config().active_version().await? {
        Some(v) => (Some(v.info.number), v.document),
        None => (None, Value::Object(Default::default())),
    })
}

/// `pylon config export [--output F]`.
pub async fn export(output: Option<&Path>) -> Result<()> {
    let store = open().await?;
    let (Some(number), doc) = active(&store).await? else {
        bail!("the store has no active config version yet");
    };
    let yaml = serde_saphyr::to_string(&doc).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = format!("# pylon config export: store version {number}\n{yaml}");
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write `{}`", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn show(v: Option<&Value>) -> String {
    let text = match v {
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v.to_string(),
        Some(_) => "{…}".into(),
        None => "-".into(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// Prints one line per change (`+ path`, `- path`, `~ path: old → new`); returns the count.
fn print_diff(old: &Value, new: &Value) -> usize {
    let (old, new) = (envelope::masked(old), envelope::masked(new));
    let changes = json_diff(&old, &new);
    for c in &changes {
        match c.op {
            DiffKind::Add => println!("+ {}: {}", c.path, show(new.pointer(&c.path))),
            DiffKind::Remove => println!("- {}", c.path),
            DiffKind::Replace => println!(
                "~ {}: {} → {}",
                c.path,
                show(old.pointer(&c.path)),
                show(new.pointer(&c.path))
            ),
        }
    }
    changes.len()
}

/// `pylon config import FILE [--dry-run] [--message M]`; `Ok(false)` when FILE is invalid.
pub async fn import(file: &Path, dry_run: bool, message: &str) -> Result<bool> {
    let label = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{label}`"))?;
    let mut doc =
        pylon_config::parse_document(&text, &label).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open().await?;
    let (number, current) = active(&store).await?;
    let key = envelope::installed();
    let problems = match pylon_admin::prepare_document(&mut doc, &current, key).await {
        Err(pylon_admin::AdminError::Validation(d)) => d,
        Err(e) => bail!("{e}"),
        Ok(()) => pylon_admin::validate(&doc, key).err().unwrap_or_default(),
    };
    if !problems.is_empty() {
        for d in &problems {
            eprintln!(
                "{label}: {}: {}",
                if d.path.is_empty() { "<root>" } else { &d.path },
                d.reason
            );
        }
        eprintln!("{} error(s)", problems.len());
        return Ok(false);
    }
    let against = number.map_or("an empty store".to_owned(), |n| {
        format!("active version {n}")
    });
    println!("diff against {against}:");
    let n = print_diff(&current, &doc);
    if dry_run {
        println!("{n} change(s); dry run, nothing stored");
        return Ok(true);
    }
    let draft = store.config().get_draft().await?;
    if draft.document != current {
        eprintln!(
            "pylon: note: the draft had unpublished changes; the imported file replaces them"
        );
    }
    let who = actor();
    let version = store.config().put_draft(&doc, draft.version, &who).await?;
    let info = store.config().publish(&who, message, Some(version)).await?;
    let entry = NewAuditEntry {
        actor: who,
        action: "import".into(),
        object_kind: "config".into(),
        object_id: info.number.to_string(),
        tenant: Some(pylon_admin::TENANT.into()),
        before: Some(envelope::masked(&current)),
        after: Some(envelope::masked(&doc)),
    };
    store.audit().append(entry).await?;
    println!(
        "{n} change(s); published as version {} (nodes on this store load it when they watch it, or at their next start)",
        info.number
    );
    Ok(true)
}

/// `pylon secrets rotate-master-key --new-key-file F`.
pub async fn rotate(new_key_file: &Path) -> Result<()> {
    let Some(old) = envelope::installed() else {
        bail!("set the current master key (PYLON_MASTER_KEY or PYLON_MASTER_KEY_FILE) first");
    };
    let new = MasterKey::from_file(&new_key_file.display().to_string())?;
    if new.id() == old.id() {
        bail!("the new key is the current key");
    }
    let store = open().await?;
    let rewrite = move |doc: &Value| -> Result<Option<Value>, String> {
        let mut d = doc.clone();
        match envelope::reencrypt_document(&mut d, old, &new) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(d)),
            Err((path, e)) => Err(format!("{path}: {e}")),
        }
    };
    let changed = store.access().rewrite_documents(&rewrite).await?;
    let entry = NewAuditEntry {
        actor: actor(),
        action: "rotate_master_key".into(),
        object_kind: "secrets".into(),
        object_id: format!("{changed} documents"),
        tenant: Some(pylon_admin::TENANT.into()),
        before: None,
        after: None,
    };
    store.audit().append(entry).await?;
    println!(
        "re-encrypted the secrets of {changed} stored document(s); run the nodes with the new key (PYLON_MASTER_KEY_FILE={}) from now on",
        new_key_file.display()
    );
    Ok(())
}
