//! Smoke test of the real binary through the testkit launcher: start, proxy one
//! request to an echo upstream, stop cleanly on SIGTERM.

use std::path::Path;
use std::time::Duration;

use pylon_testkit::{EchoServer, PylonProcess, UPSTREAM_HEADER, free_addr, get};

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
