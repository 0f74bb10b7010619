//! `POST /v1/chat/completions`: OpenAI Chat Completions over any provider.

use http::{Response, StatusCode};

use super::serve::{ChatAnswer, run_chat, served_headers, start_chat, stream_response};
use crate::error::AiError;
use crate::providers::openai::{request, response, stream::ChunkEncoder};
use crate::route::{AiBody, Call, json_response};

pub async fn handle(call: Call<'_>) -> Result<Response<AiBody>, AiError> {
    let mut req = request::decode_request(&call.body)?;
    let plan = start_chat(&call, &mut req)?;
    let (answer, served, tracker) = run_chat(&call, &req, plan).await?;
    let mut resp = match answer {
        ChatAnswer::Whole(mut answer) => {
            if answer.id.is_empty() {
                answer.id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
            }
            let body = response::encode_response(&answer, &req.model);
            tracker.whole(&answer);
            json_response(StatusCode::OK, &body)
        }
        ChatAnswer::Stream(events) => stream_response(
            events,
            Box::new(ChunkEncoder::new(&req.model, req.include_usage)),
            tracker,
        ),
    };
    served_headers(&mut resp, &call, &served);
    Ok(resp)
}
