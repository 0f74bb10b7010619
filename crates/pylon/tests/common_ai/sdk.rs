//! Running the official Python SDKs against Pylon: one scenario per process,
//! its JSON result parsed. The SDKs are installed by `scripts/test`; running
//! these tests without them fails with a message saying so.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// The path of a script under `tests/sdk/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(name)
}

/// Run `python3 <script> <args…>` (bounded to 60 s) and parse its JSON output.
pub async fn run_python(script_name: &str, args: &[&str]) -> Value {
    let path = script(script_name);
    let child = tokio::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 must be installed (scripts/test installs what the SDK tests need)");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the SDK script did not finish within 60 s")
        .expect("running the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script_name} {args:?} failed ({}):\n{stderr}\n{stdout}\n(the SDKs come from `scripts/test`: pip install openai anthropic)",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script_name} printed no JSON ({e}): {stdout}\n{stderr}"))
}
