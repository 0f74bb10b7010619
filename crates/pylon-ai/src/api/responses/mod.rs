//! `POST /v1/responses`: the OpenAI Responses API over any provider, whole
//! or streamed with the Responses event sequence. Stateless: every request
//! carries its whole conversation.

mod decode;
mod encode;
mod stream;

use http::{Response, StatusCode};

pub use decode::decode_request;
pub use encode::encode_response;
pub use stream::ResponsesEncoder;

use super::serve::{ChatAnswer, run_chat, served_headers, start_chat, stream_response};
use crate::error::AiError;
use crate::route::{AiBody, Call, json_response};

pub async fn handle(call: Call<'_>) -> Result<Response<AiBody>, AiError> {
    let mut req = decode_request(&call.body)?;
    let plan = start_chat(&call, &mut req)?;
    let (answer, served, tracker) = run_chat(&call, &req, plan).await?;
    let mut resp = match answer {
        ChatAnswer::Whole(answer) => {
            let body = encode_response(&answer, &req.model);
            tracker.whole(&answer);
            json_response(StatusCode::OK, &body)
        }
        ChatAnswer::Stream(events) => {
            stream_response(events, Box::new(ResponsesEncoder::new(&req.model)), tracker)
        }
    };
    served_headers(&mut resp, &call, &served);
    Ok(resp)
}
