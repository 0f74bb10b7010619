//! `POST /v1/messages`: the Anthropic Messages API over any provider, so
//! the Anthropic SDKs work unchanged. Requests and answers use the same
//! wire module as the Anthropic provider; streams are re-encoded as the
//! Anthropic event sequence whatever the provider streamed. The
//! `anthropic-version` and `anthropic-beta` request headers are accepted and
//! not forwarded (set provider `headers` to send betas to Anthropic).

use http::{Response, StatusCode};

use super::serve::{ChatAnswer, run_chat, served_headers, start_chat, stream_response};
use crate::error::AiError;
use crate::providers::anthropic::{request, response, stream::EventEncoder};
use crate::route::{AiBody, Call, json_response};
use crate::types::Usage;

pub async fn handle(call: Call<'_>) -> Result<Response<AiBody>, AiError> {
    let mut req = request::decode_request(&call.body, false)?;
    let plan = start_chat(&call, &mut req)?;
    let estimate = crate::tokens::estimate_prompt(&req);
    let (answer, served, tracker) = run_chat(&call, &req, plan).await?;
    let mut resp = match answer {
        ChatAnswer::Whole(answer) => {
            // Anthropic always reports usage: estimate when the provider did not.
            let usage = answer
                .usage
                .filter(|u| u.input_tokens > 0 || u.output_tokens > 0)
                .unwrap_or_else(|| Usage {
                    input_tokens: estimate,
                    output_tokens: answer
                        .choices
                        .first()
                        .and_then(|c| c.message.content.as_deref())
                        .map_or(0, crate::tokens::estimate_text),
                    ..Default::default()
                });
            let body = response::encode_response(&answer, &req.model, &usage);
            tracker.whole(&answer);
            json_response(StatusCode::OK, &body)
        }
        ChatAnswer::Stream(events) => stream_response(
            events,
            Box::new(EventEncoder::new(&req.model, estimate)),
            tracker,
        ),
    };
    served_headers(&mut resp, &call, &served);
    Ok(resp)
}
