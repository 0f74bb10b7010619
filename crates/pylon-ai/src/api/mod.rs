//! The inbound APIs: each decodes its wire format into unified types, runs
//! the call through the router, and encodes the answer (whole or streamed)
//! back in its own format.

pub mod chat;
pub mod count_tokens;
pub mod embeddings;
pub mod messages;
pub mod models;
pub mod responses;
mod serve;

pub use serve::{
    ChatAnswer, ChatAttempt, ChatPlan, Served, resolve_group, run_chat, served_headers, start_chat,
    stream_response,
};
