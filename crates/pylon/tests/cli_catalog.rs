//! `pylon catalog` end to end: the real binary prints the shipped model
//! catalog as a table or JSON, filters by provider kind, applies a config's
//! `ai.catalog` overrides, and refuses unknown kinds and broken configs with
//! a clear message and exit code 1.

mod common_http;

use std::process::Command;

use common_http::pylon_bin;
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(pylon_bin())
        .args(args)
        .env_remove("PYLON_CONFIG")
        .output()
        .expect("run pylon");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Vec<Value> {
    let (code, out, err) = run(args);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn entry<'a>(all: &'a [Value], provider: &str, id: &str) -> &'a Value {
    all.iter()
        .find(|m| m["provider"] == provider && m["id"] == id)
        .unwrap_or_else(|| panic!("{provider}/{id} missing"))
}

#[test]
fn the_table_shows_ids_providers_limits_and_prices() {
    let (code, out, err) = run(&["catalog"]);
    assert_eq!(code, Some(0), "{err}");
    let head = out.lines().next().unwrap();
    for col in [
        "PROVIDER", "ID", "CONTEXT", "MAX_OUT", "INPUT", "CACHED", "OUTPUT",
    ] {
        assert!(head.contains(col), "{head}");
    }
    let gpt4o: Vec<&str> = out
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["openai", "gpt-4o"]))
        .expect("gpt-4o row")
        .split_whitespace()
        .collect();
    assert_eq!(gpt4o[2..8], ["128000", "16384", "2.5", "1.25", "-", "10"]);
    let last = out.lines().last().unwrap();
    let count: usize = last.split_whitespace().next().unwrap().parse().unwrap();
    assert!(count >= 180, "{last}");
    assert!(last.contains("USD per million tokens"), "{last}");
}

#[test]
fn json_lists_every_entry_with_its_fields() {
    let all = json(&["catalog", "--json"]);
    let real = all.iter().filter(|m| m["provider"] != "mock").count();
    assert!(real >= 180, "{real}");
    let claude = entry(&all, "anthropic", "claude-sonnet-4-5");
    assert_eq!(claude["input_price"], 3.0);
    assert_eq!(claude["cached_input_price"], 0.3);
    assert_eq!(claude["cache_write_price"], 3.75);
    assert_eq!(claude["output_price"], 15.0);
    assert_eq!(claude["context_window"], 200000);
    let emb = entry(&all, "openai", "text-embedding-3-small");
    assert_eq!(emb["mode"], "embeddings");
    // Unknown figures are left out, not invented.
    let unpriced = entry(&all, "siliconflow", "deepseek-ai/DeepSeek-V3");
    assert!(unpriced.get("input_price").is_none(), "{unpriced}");
}

#[test]
fn provider_filter_keeps_one_kind() {
    let bedrock = json(&["catalog", "--provider", "bedrock", "--json"]);
    assert!(bedrock.len() >= 10);
    assert!(bedrock.iter().all(|m| m["provider"] == "bedrock"));
    entry(
        &bedrock,
        "bedrock",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
    );
    entry(&bedrock, "bedrock", "amazon.nova-pro-v1:0");
    let (code, out, _) = run(&["catalog", "--provider", "groq"]);
    assert_eq!(code, Some(0));
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.starts_with("groq") || l.contains("models;")),
        "{out}"
    );
}

#[test]
fn config_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pylon.yaml");
    std::fs::write(
        &file,
        "ai:\n  catalog:\n    - { id: gpt-4o, provider: openai, input_price: 1.0, output_price: 4.0 }\n    - { id: in-house-7b, provider: vllm, context_window: 32768, input_price: 0.01, output_price: 0.02 }\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let all = json(&["catalog", "--config", path, "--json"]);
    let gpt4o = entry(&all, "openai", "gpt-4o");
    assert_eq!(gpt4o["input_price"], 1.0);
    assert_eq!(gpt4o["output_price"], 4.0);
    // What the override leaves unset keeps the shipped figure.
    assert_eq!(gpt4o["cached_input_price"], 1.25);
    assert_eq!(entry(&all, "vllm", "in-house-7b")["context_window"], 32768);
    // Other entries are untouched.
    assert_eq!(entry(&all, "azure", "gpt-4o")["input_price"], 2.5);
}

#[test]
fn unknown_kinds_and_broken_configs_are_refused() {
    let (code, out, err) = run(&["catalog", "--provider", "nosuch"]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(err.contains("no models of provider kind `nosuch`"), "{err}");
    assert!(err.contains("anthropic") && err.contains("openai"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "ai:\n  catalog:\n    - { id: x, provider: openai, input_price: -1 }\n",
    )
    .unwrap();
    let (code, _, err) = run(&["catalog", "--config", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("ai.catalog[0].input_price"), "{err}");
}
