//! Test support for Pylon: real mock upstreams on 127.0.0.1 ephemeral ports,
//! and a launcher for the real `pylon` binary.
//!
//! Every server binds `127.0.0.1:0`, is started with an `async fn start...`,
//! derefs to a [`ServerHandle`] (`addr()`, `url()`, `connections()`,
//! `request_count()`, `requests()`), and stops when dropped or when
//! `shutdown()` is awaited. The servers:
//!
//! - [`EchoServer`]: 200 with a JSON description of the request (HTTP/1.1 + h2c).
//! - [`StatusServer`]: a fixed, switchable status.
//! - [`DelayServer`]: answers after a delay (before the head or before the body).
//! - [`DropServer`]: accepts and hangs up without answering.
//! - [`SlowBodyServer`]: a body in timed chunks, optionally cut short.
//! - [`SseServer`]: `text/event-stream` events on a timer.
//! - [`WebSocketServer`]: echoes WebSocket messages.
//! - [`GrpcEchoServer`]: gRPC wire-level echo over h2c, unary and streaming.
//!
//! [`PylonProcess`] runs the binary; [`client`] has small request helpers.

pub mod ai;
pub mod body;
pub mod client;
pub mod delay;
pub mod drop;
pub mod echo;
pub mod grpc_echo;
pub mod launcher;
pub mod server;
pub mod slow_body;
pub mod sse;
pub mod status;
pub mod websocket;

pub use body::{ChannelBody, ResponseBody, channel_body};
pub use client::{FullResponse, GrpcReply, get, get_h2c, grpc_call, request, send, send_h2c};
pub use delay::{DelayConfig, DelayServer};
pub use drop::{DropMode, DropServer};
pub use echo::{EchoServer, UPSTREAM_HEADER};
pub use grpc_echo::{ECHO_COUNT_TRAILER, GrpcEchoServer, grpc_frame, parse_grpc_frames};
pub use launcher::{DeadAddr, PylonProcess, find_pylon_binary, free_addr, free_port};
pub use server::{RecordedRequest, ServerHandle};
pub use slow_body::{SlowBodyConfig, SlowBodyServer};
pub use sse::{SseServer, sse_event};
pub use status::{CannedResponse, StatusServer};
pub use websocket::WebSocketServer;
