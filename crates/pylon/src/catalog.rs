//! `pylon catalog`: the model catalog as Pylon prices calls with it (the
//! shipped entries, plus a config's `ai.catalog` overrides), as a table or
//! JSON, so operators can check prices and limits.

use std::process::ExitCode;

use pylon_ai::catalog::{Catalog, ModelInfo};

use crate::cli::CatalogArgs;

pub fn run(args: &CatalogArgs) -> ExitCode {
    let overrides = match &args.config {
        Some(file) => match pylon_config::load_file_with(file, &pylon_ai::check_all) {
            Ok(cfg) => cfg.ai.catalog,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        },
        None => Vec::new(),
    };
    let catalog = match Catalog::load(&overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pylon: {e}");
            return ExitCode::from(1);
        }
    };
    let all = catalog.all();
    let shown: Vec<&ModelInfo> = all
        .iter()
        .filter(|m| args.provider.as_deref().is_none_or(|p| m.provider == p))
        .map(|m| m.as_ref())
        .collect();
    if shown.is_empty() {
        let mut kinds: Vec<&str> = all.iter().map(|m| m.provider.as_str()).collect();
        kinds.dedup();
        eprintln!(
            "pylon: no models of provider kind `{}` in the catalog; kinds: {}",
            args.provider.as_deref().unwrap_or(""),
            kinds.join(", ")
        );
        return ExitCode::from(1);
    }
    if args.json {
        match serde_json::to_string_pretty(&shown) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("pylon: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", table(&shown));
    }
    ExitCode::SUCCESS
}

/// A price, or `-` when the catalog has none.
fn price(p: Option<f64>) -> String {
    p.map_or_else(|| "-".into(), |p| p.to_string())
}

fn number(n: Option<u64>) -> String {
    n.map_or_else(|| "-".into(), |n| n.to_string())
}

/// Aligned columns, one model a line, and a closing count.
fn table(models: &[&ModelInfo]) -> String {
    const HEAD: [&str; 9] = [
        "PROVIDER",
        "ID",
        "CONTEXT",
        "MAX_OUT",
        "INPUT",
        "CACHED",
        "CACHE_WRITE",
        "OUTPUT",
        "CAPABILITIES",
    ];
    let rows: Vec<[String; 9]> = models
        .iter()
        .map(|m| {
            let output = match m.reasoning_price {
                Some(r) => format!("{} (reasoning {r})", price(m.output_price)),
                None => price(m.output_price),
            };
            [
                m.provider.clone(),
                m.id.clone(),
                number(m.context_window),
                number(m.max_output_tokens),
                price(m.input_price),
                price(m.cached_input_price),
                price(m.cache_write_price),
                output,
                m.capabilities.join(","),
            ]
        })
        .collect();
    let mut width = HEAD.map(str::len);
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&HEAD.map(String::from));
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push_str(&format!(
        "{} models; prices in USD per million tokens (CACHE_WRITE: 5-minute cache writes)\n",
        rows.len()
    ));
    out
}
