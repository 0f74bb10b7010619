//! Smoke tests of the real binary through the testkit launcher: start, proxy to
//! an echo upstream, stop cleanly; report an unreachable upstream at start.

use std::path::Path;
use std::time::Duration;

use pylon_testkit::{DeadAddr, EchoServer, PylonProcess, UPSTREAM_HEADER, free_addr, get};

#[tokio::test]
async fn proxies_to_an_echo_upstream_and_stops_cleanly() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let echo = EchoServer::start_named("e1").await.unwrap();
        let admin = free_addr().unwrap();
        let proxy = free_addr().unwrap();
        let yaml = format!(
            "server:\n  admin_listen: \"{admin}\"\n\
             listeners:\n  - name: public\n    bind: \"{proxy}\"\n\
             upstreams:\n  - name: echo\n    targets:\n      - address: \"{}\"\n\
             routes:\n  - name: all\n    match:\n      paths: [{{ prefix: / }}]\n    upstream: echo\n",
            echo.addr()
        );
        let mut process = PylonProcess::start_with(Path::new(env!("CARGO_BIN_EXE_pylon")), &yaml)
            .await
            .unwrap();
        let (status, headers, body) = get(&format!("http://{proxy}/hello?x=1")).await.unwrap();
        assert_eq!(status, http::StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(headers[UPSTREAM_HEADER], "e1");
        assert_eq!(echo.last_request().unwrap().uri, "/hello?x=1");
        process.terminate().unwrap();
        let exit = process.wait_exit(Duration::from_secs(15)).await;
        assert!(exit.is_some_and(|s| s.success()), "exit {exit:?}\n{}", process.stderr());
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn an_unreachable_upstream_at_start_is_reported_in_one_line() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let admin = free_addr().unwrap();
        let proxy = free_addr().unwrap();
        // A port nothing listens on: bind, note the port, release it.
        let dead_guard = DeadAddr::new().unwrap(); // Connections are refused while it lives.
        let dead = dead_guard.addr();
        let yaml = format!(
            "server:\n  admin_listen: \"{admin}\"\n\
             listeners:\n  - name: public\n    bind: \"{proxy}\"\n\
             upstreams:\n  - name: gone\n    targets:\n      - address: \"{dead}\"\n\
             routes:\n  - name: all\n    match:\n      paths: [{{ prefix: / }}]\n    upstream: gone\n"
        );
        let process = PylonProcess::start_with(Path::new(env!("CARGO_BIN_EXE_pylon")), &yaml)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stderr = process.stderr();
            let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("unreachable at start")).collect();
            if !lines.is_empty() {
                assert_eq!(lines.len(), 1, "{stderr}");
                assert!(lines[0].contains("gone") && lines[0].contains(&dead.to_string()), "{}", lines[0]);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no warning in:\n{stderr}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Pylon still serves, with a clear JSON error for the dead upstream.
        let (status, _, body) = get(&format!("http://{proxy}/x")).await.unwrap();
        assert_eq!(status, http::StatusCode::BAD_GATEWAY);
        assert!(String::from_utf8_lossy(&body).contains("upstream_connect"));
    })
    .await
    .expect("test timed out");
}
