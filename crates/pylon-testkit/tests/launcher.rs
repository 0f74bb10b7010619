//! Tests of the launcher against a stand-in for the `pylon` binary: a shell
//! script that logs its arguments and reacts to signals, with a mock
//! [`StatusServer`] playing the admin listener's `/readyz`.
#![cfg(unix)]

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pylon_testkit::*;

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

const FAKE_PYLON: &str = r#"#!/bin/sh
echo "args: $*"
echo "starting" >&2
trap 'echo got-hup' HUP
trap 'echo got-term; exit 0' TERM
while true; do sleep 0.05; done
"#;

const FAILING_PYLON: &str = "#!/bin/sh\necho \"boom: bad config\" >&2\nexit 3\n";

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn config(admin: std::net::SocketAddr) -> String {
    format!("server:\n  admin_listen: \"{admin}\"\nlisteners: []\n")
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn starts_waits_for_readyz_signals_and_stops() {
    bounded(async {
        let bins = tempfile::tempdir().unwrap();
        let bin = script(bins.path(), "pylon", FAKE_PYLON);
        let admin = StatusServer::start(503).await.unwrap();
        // Not ready at first: the launcher must keep polling until it is.
        let flip = async {
            eventually("readiness polled", || admin.request_count() >= 2).await;
            admin.set_status(200);
        };
        let yaml = config(admin.addr());
        let (process, ()) = tokio::join!(PylonProcess::start_with(&bin, &yaml), flip);
        let mut process = process.unwrap();
        assert!(admin.requests().iter().all(|r| r.path() == "/readyz"));
        assert_eq!(process.admin_addr(), admin.addr());
        assert_eq!(
            std::fs::read_to_string(process.config_path()).unwrap(),
            config(admin.addr())
        );

        eventually("args logged", || {
            process.stdout().contains("args: serve --config")
        })
        .await;
        assert!(
            process
                .stdout()
                .contains(&process.config_path().display().to_string())
        );
        assert!(process.stderr().contains("starting"));

        process.reload_signal().unwrap();
        eventually("SIGHUP seen", || process.stdout().contains("got-hup")).await;
        assert!(process.try_exit_status().is_none());

        process.terminate().unwrap();
        let status = process
            .wait_exit(Duration::from_secs(10))
            .await
            .expect("exited");
        assert!(status.success());
        assert!(process.stdout().contains("got-term"));
    })
    .await;
}

#[tokio::test]
async fn drop_kills_the_process() {
    bounded(async {
        let bins = tempfile::tempdir().unwrap();
        let bin = script(bins.path(), "pylon", FAKE_PYLON);
        let admin = StatusServer::start(200).await.unwrap();
        let process = PylonProcess::start_with(&bin, &config(admin.addr()))
            .await
            .unwrap();
        let pid = process.pid().to_string();
        let dir = process.dir().to_path_buf();
        drop(process);
        let alive = std::process::Command::new("kill")
            .args(["-0", &pid])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!alive.success(), "process {pid} still alive");
        assert!(!dir.exists(), "temp dir removed");
    })
    .await;
}

#[tokio::test]
async fn an_early_exit_is_reported_with_stderr() {
    bounded(async {
        let bins = tempfile::tempdir().unwrap();
        let bin = script(bins.path(), "pylon", FAILING_PYLON);
        let admin = free_addr().unwrap();
        let err = PylonProcess::start_with(&bin, &config(admin))
            .await
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("exited"), "{text}");
        assert!(text.contains("boom: bad config"), "{text}");
    })
    .await;
}

#[test]
fn a_missing_binary_is_a_clear_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = runtime
        .block_on(PylonProcess::start_with(
            Path::new("/nonexistent/pylon"),
            "{}",
        ))
        .unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/pylon"));
}
