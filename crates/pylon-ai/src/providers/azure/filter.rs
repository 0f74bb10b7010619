//! Azure's content filtering: error bodies whose `code` is `content_filter`
//! or whose `innererror.code` is `ResponsibleAIPolicyViolation` become
//! [`ErrorClass::ContentFilter`] (naming the filtered categories), and a
//! choice whose `content_filter_results` mark something filtered finishes
//! with `content_filter`.

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{AiError, ErrorClass};
use crate::providers::generic_error;
use crate::types::{ChatResponse, FinishReason};

/// Categories of a `content_filter_result(s)` object that were filtered.
fn filtered_categories(results: &Value) -> Vec<String> {
    let mut out: Vec<String> = results
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.get("filtered").and_then(Value::as_bool) == Some(true))
        .map(|(k, _)| k.clone())
        .collect();
    out.sort();
    out
}

/// An Azure OpenAI error answer.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let mut e = generic_error(status, headers, body);
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let err = &v["error"];
    let inner = &err["innererror"];
    let filtered =
        inner["code"] == "ResponsibleAIPolicyViolation" || err["code"] == "content_filter";
    if filtered {
        e.class = ErrorClass::ContentFilter;
        e.code = Some("content_filter".into());
        let cats = filtered_categories(&inner["content_filter_result"]);
        if !cats.is_empty() {
            e.message = format!("{} (filtered: {})", e.message, cats.join(", "));
        }
    }
    if let Some(p) = err["param"].as_str() {
        e.param = Some(p.to_string());
    }
    e
}

/// Set `content_filter` on choices Azure reports as filtered.
pub fn mark_filtered_choices(body: &[u8], r: &mut ChatResponse) {
    // Cheap test first: most answers have nothing filtered.
    if !body.windows(15).any(|w| w == b"\"filtered\":true")
        && !body.windows(16).any(|w| w == b"\"filtered\": true")
    {
        return;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    for (i, c) in v["choices"].as_array().into_iter().flatten().enumerate() {
        if !filtered_categories(&c["content_filter_results"]).is_empty()
            && let Some(choice) = r.choices.get_mut(i)
        {
            choice.finish_reason = Some(FinishReason::ContentFilter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_filter_errors_are_content_filter() {
        let body = json!({"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            "type": null, "param": "prompt", "code": "content_filter", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": {"filtered": false, "severity": "safe"},
                "jailbreak": {"filtered": true, "detected": true},
                "violence": {"filtered": true, "severity": "medium"}
            }}
        }});
        let e = decode_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        );
        assert_eq!(e.class, ErrorClass::ContentFilter);
        assert_eq!(e.status, 400);
        assert_eq!(e.code.as_deref(), Some("content_filter"));
        assert_eq!(e.param.as_deref(), Some("prompt"));
        assert!(
            e.message.ends_with("(filtered: jailbreak, violence)"),
            "{}",
            e.message
        );
        // Only the inner code says it.
        let body = json!({"error": {"message": "blocked", "code": "400", "innererror": {"code": "ResponsibleAIPolicyViolation"}}});
        let e = decode_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        );
        assert_eq!(e.class, ErrorClass::ContentFilter);
    }

    #[test]
    fn rate_limits_keep_retry_after_ms_and_other_errors_pass() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "6".parse().unwrap());
        h.insert("retry-after-ms", "5500".parse().unwrap());
        let body = json!({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation have exceeded token rate limit. Please retry after 6 seconds."}});
        let e = decode_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            body.to_string().as_bytes(),
        );
        assert_eq!(e.class, ErrorClass::RateLimited);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_millis(5500)));
        assert!(e.message.contains("exceeded token rate limit"));
        let body = json!({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}});
        let e = decode_error(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        );
        assert_eq!(
            (e.class, e.code.as_deref()),
            (ErrorClass::NotFound, Some("DeploymentNotFound"))
        );
    }

    #[test]
    fn filtered_choices_finish_with_content_filter() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}],
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"},
                 "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}},
                {"index": 1, "finish_reason": "stop", "message": {"role": "assistant", "content": "partial"},
                 "content_filter_results": {"sexual": {"filtered": true, "severity": "high"}}}
            ]
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let mut r = crate::providers::openai::response::decode_response(&bytes).unwrap();
        mark_filtered_choices(&bytes, &mut r);
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            r.choices[1].finish_reason,
            Some(FinishReason::ContentFilter)
        );
    }
}
