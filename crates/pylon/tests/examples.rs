//! Every shipped example config passes `pylon validate` (with the secrets
//! they reference set), so the docs never point at a broken file.

mod common_http;

use std::process::Command;

use common_http::pylon_bin;

#[test]
fn every_example_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let out = Command::new(pylon_bin())
            .arg("validate")
            .arg(&path)
            .env("API_KEY_ACME", "acme-key-0001")
            .env("PYLON_WEBHOOK_SECRET", "example-webhook-secret")
            .output()
            .expect("run validate");
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected at least two examples, found {checked}"
    );
}
