//! AI governance through the real binary: virtual keys (any SDK header, unknown /
//! disabled / expired keys refused, per-key model lists), requests-per-minute and
//! tokens-per-minute limits, a dollar budget refusing with 402, and the race test: 100
//! concurrent calls through two Pylon nodes sharing one Redis against a nearly spent
//! budget, with the measured overspend (none is allowed).

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::*;
use common_http::*;
use pylon_testkit::ai::{MockOpenAi, Reply};
use serde_json::{Value, json};

const KEY: &str = "sk-test-governance-0123456789";

fn provider(base: &str) -> Value {
    json!({"name": "oai", "kind": "openai_compatible", "base_url": base, "keys": ["k"]})
}

/// A prompt of about 1,000 tokens with `max_tokens` 100, consistent with the usage the
/// mock reports (1,000 in, 100 out), so reservations bound the real cost.
fn chat(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100,
           "messages": [{"role": "user", "content": "abcd".repeat(990)}]})
}

/// A mock reporting 1,000 input and 100 output tokens per call: on gpt-4o ($2.50 in,
/// $10 out per million) each call costs $0.0035.
async fn priced_mock() -> MockOpenAi {
    let mock = MockOpenAi::start().await.expect("mock");
    mock.script().set(Reply {
        text: Some("hi".into()),
        input_tokens: 1000,
        output_tokens: 100,
        ..Default::default()
    });
    mock
}

/// `PYLON_TEST_REDIS_URL` (set by scripts/test), else the local default.
fn redis_url() -> String {
    std::env::var("PYLON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn error_code(r: &pylon_testkit::FullResponse) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn virtual_keys_authenticate_and_limit_callers() {
    bounded(60, async {
        let mock = MockOpenAi::start().await.expect("mock");
        let base = mock.base_url();
        let (p, ports) = start_pylon(|p| {
            ai_config(
                p,
                json!({
                    "providers": [provider(&base)],
                    "models": [{"name": "smart", "deployments": [{"provider": "oai", "model": "gpt-4o"}]}],
                    "virtual_keys": [
                        {"name": "app", "key": KEY, "team": "search", "user": "alice",
                         "models": ["smart"], "limits": {"rpm": 3}},
                        {"name": "off", "key": "sk-test-disabled-0123456789", "disabled": true},
                        {"name": "old", "key": "sk-test-expired-0123456789",
                         "expires_at": "2020-01-01T00:00:00Z"},
                    ],
                }),
                json!({}),
            )
        })
        .await;
        let bearer = format!("Bearer {KEY}");
        // No key, an unknown key, a disabled and an expired key: 401, nothing reaches the provider.
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("smart")).await;
        assert_eq!((r.status.as_u16(), error_code(&r).as_str()), (401, "missing_api_key"), "{}", r.text());
        for (key, code) in [
            ("Bearer sk-nope", "invalid_api_key"),
            ("Bearer sk-test-disabled-0123456789", "key_disabled"),
            ("Bearer sk-test-expired-0123456789", "key_expired"),
        ] {
            let r = post_json(&ports, "/v1/chat/completions", &[("authorization", key)], &chat("smart")).await;
            assert_eq!((r.status.as_u16(), error_code(&r).as_str()), (401, code), "{}", r.text());
        }
        assert!(mock.chat_bodies().is_empty());
        // The key works with each SDK's header, for its models only.
        let r = post_json(&ports, "/v1/chat/completions", &[("authorization", &bearer)], &chat("smart")).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        let r = post_json(&ports, "/v1/chat/completions", &[("x-api-key", KEY)], &chat("oai/gpt-4o")).await;
        assert_eq!((r.status.as_u16(), error_code(&r).as_str()), (403, "model_not_allowed"), "{}", r.text());
        let r = call(http::Method::GET, &ports.url("/v1/models"), &[("api-key", KEY)], "").await;
        let ids: Vec<String> = serde_json::from_slice::<Value>(&r.body).unwrap()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["smart"]);
        // 3 requests per minute: the second and third pass, the fourth is refused.
        for _ in 0..2 {
            let r = post_json(&ports, "/v1/chat/completions", &[("api-key", KEY)], &chat("smart")).await;
            assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        }
        let r = post_json(&ports, "/v1/chat/completions", &[("api-key", KEY)], &chat("smart")).await;
        assert_eq!((r.status.as_u16(), error_code(&r).as_str()), (429, "rate_limit_exceeded"), "{}", r.text());
        assert!(r.headers.get("retry-after").is_some());
        // Records name the key, its team and user; never the key itself.
        assert!(eventually(Duration::from_secs(5), || async { ai_log_lines(&p.stdout()).len() >= 3 }).await);
        let out = p.stdout();
        assert!(!out.contains(KEY));
        let rec = ai_log_lines(&out)
            .into_iter()
            .find(|l| l["status"] == 200)
            .expect("a served call");
        assert_eq!(rec["ai"]["virtual_key"], "app");
        assert_eq!(rec["ai"]["team"], "search");
        assert_eq!(rec["ai"]["user"], "alice");
    })
    .await;
}

#[tokio::test]
async fn budgets_and_tokens_per_minute_refuse_what_would_exceed_them() {
    bounded(60, async {
        let mock = priced_mock().await;
        let base = mock.base_url();
        // gpt-4o: $2.50 in, $10 out per million tokens: each call costs $0.0035.
        let (_p, ports) = start_pylon(|p| {
            ai_config(
                p,
                json!({
                    "providers": [provider(&base)],
                    "virtual_keys": [
                        {"name": "app", "key": KEY, "team": "search",
                         "budget": {"amount_usd": 0.01, "period": "day"}},
                        {"name": "tpm", "key": "sk-test-tpm-0123456789abc",
                         "limits": {"tpm": 2500}},
                    ],
                }),
                json!({}),
            )
        })
        .await;
        let h = [("authorization", "Bearer sk-test-governance-0123456789")];
        let mut served = 0;
        for _ in 0..5 {
            let r = post_json(&ports, "/v1/chat/completions", &h, &chat("oai/gpt-4o")).await;
            match r.status.as_u16() {
                200 => served += 1,
                402 => {
                    assert_eq!(error_code(&r), "budget_exceeded", "{}", r.text());
                    let msg = r.text();
                    assert!(msg.contains("key app") && msg.contains("per day"), "{msg}");
                    break;
                }
                s => panic!("unexpected {s}: {}", r.text()),
            }
        }
        // $0.0035 each: two calls ($0.007) fit in $0.01, a third could not be paid for.
        assert_eq!(served, 2);
        // Tokens per minute count what calls really used: 1,100 each, 2,500 a minute.
        // The three calls must fall in one minute (pots are per UTC minute).
        let into_minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 60;
        if into_minute > 50 {
            tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
        }
        let h = [("authorization", "Bearer sk-test-tpm-0123456789abc")];
        for _ in 0..2 {
            let r = post_json(&ports, "/v1/chat/completions", &h, &chat("oai/gpt-4o")).await;
            assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        }
        let r = post_json(&ports, "/v1/chat/completions", &h, &chat("oai/gpt-4o")).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r).as_str()),
            (429, "tokens_per_minute_exceeded"),
            "{}",
            r.text()
        );
    })
    .await;
}

/// 100 concurrent calls through two nodes sharing Redis against a budget that pays for
/// about 28 of them: none beyond the budget is served.
#[tokio::test]
async fn a_budget_shared_by_two_nodes_is_never_overspent_under_concurrency() {
    bounded(120, async {
        let mock = priced_mock().await;
        let base = mock.base_url();
        // A budget of this run only (pots are named by the budget): reruns never share one.
        let team = format!("race-{}", uuid::Uuid::new_v4().simple());
        let budget_usd = 0.1;
        let make = |p: &Ports| {
            let mut cfg = ai_config(
                p,
                json!({
                    "providers": [provider(&base)],
                    "virtual_keys": [{"name": "app", "key": KEY, "team": team}],
                    "budgets": [{"name": team, "scope": {"team": team},
                                 "amount_usd": budget_usd, "period": "day"}],
                }),
                json!({}),
            );
            cfg["cluster"] = json!({"redis_url": redis_url()});
            cfg
        };
        let (_a, pa) = start_pylon(make).await;
        let (_b, pb) = start_pylon(make).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut calls = Vec::new();
        for i in 0..100 {
            let url = if i % 2 == 0 { pa.url("/v1/chat/completions") } else { pb.url("/v1/chat/completions") };
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(KEY)
                    .json(&chat("oai/gpt-4o"))
                    .send()
                    .await
                    .expect("answer");
                r.status().as_u16()
            }));
        }
        let mut ok = 0u32;
        let mut refused = 0u32;
        for c in calls {
            match c.await.unwrap() {
                200 => ok += 1,
                402 => refused += 1,
                s => panic!("unexpected status {s}"),
            }
        }
        let per_call = 1000.0 * 2.5e-6 + 100.0 * 10e-6;
        let spent = f64::from(ok) * per_call;
        let overspend = (spent - budget_usd).max(0.0);
        eprintln!(
            "budget race: {ok} served, {refused} refused, ${spent:.4} spent of ${budget_usd:.4}, overspend ${overspend:.4}"
        );
        assert_eq!(ok + refused, 100);
        assert_eq!(overspend, 0.0, "spent ${spent} of ${budget_usd}");
        // Reservations are upper bounds, so some room may stay unused, but most of the
        // budget is spent (28 calls would spend all of it).
        assert!(ok >= 20, "only {ok} calls served");
        assert_eq!(mock.chat_bodies().len() as u32, ok);
    })
    .await;
}
