//! The hub of the hub-and-spoke translation: provider-neutral chat,
//! embedding and streaming types. Every inbound API and every provider
//! converts between its own wire format and these, never to another format.

mod embeddings;
mod request;
mod response;
mod stream;

pub use embeddings::*;
pub use request::*;
pub use response::*;
pub use stream::*;
