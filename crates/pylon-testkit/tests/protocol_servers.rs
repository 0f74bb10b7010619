//! Tests of the protocol mock servers: WebSocket echo and gRPC echo.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pylon_testkit::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn websocket_echoes_text_and_binary_until_close() {
    bounded(async {
        let server = WebSocketServer::start().await.unwrap();
        let mut req = server.ws_url("/chat?room=1").into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("echo, other"),
        );
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(resp.headers()["sec-websocket-protocol"], "echo");

        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        ws.send(Message::binary(vec![0u8, 1, 2, 255]))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(vec![0u8, 1, 2, 255])
        );
        ws.send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"p"))
        );

        ws.close(None).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            assert!(
                msg.is_close(),
                "only the close reply may follow, got {msg:?}"
            );
        }
        assert_eq!(server.messages(), 2);
        assert_eq!(server.request_count(), 1);
        let handshake = server.last_request().unwrap();
        assert_eq!(handshake.path(), "/chat");
        assert_eq!(handshake.uri.query(), Some("room=1"));
        assert_eq!(handshake.header("upgrade"), Some("websocket"));
    })
    .await;
}

#[tokio::test]
async fn grpc_unary_echo_ends_with_trailers() {
    bounded(async {
        let server = GrpcEchoServer::start().await.unwrap();
        let reply = grpc_call(&server.url(), "/echo.Echo/Say", &[b"hello"])
            .await
            .unwrap();
        assert_eq!(reply.http_status, StatusCode::OK);
        assert_eq!(reply.headers["content-type"], "application/grpc");
        assert_eq!(reply.messages, vec![b"hello".to_vec()]);
        let trailers = reply.trailers.as_ref().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["grpc-message"], "ok");
        assert_eq!(trailers[ECHO_COUNT_TRAILER], "1");
        assert_eq!(reply.grpc_status(), Some("0"));

        let many: Vec<&[u8]> = vec![b"a", b"", b"ccc"];
        let reply = grpc_call(&server.url(), "/echo.Echo/Many", &many)
            .await
            .unwrap();
        assert_eq!(
            reply.messages,
            vec![b"a".to_vec(), Vec::new(), b"ccc".to_vec()]
        );
        assert_eq!(reply.trailers.unwrap()[ECHO_COUNT_TRAILER], "3");

        let seen = server.requests();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].path(), "/echo.Echo/Say");
        assert_eq!(seen[0].body_len, 5 + 5);
    })
    .await;
}

#[tokio::test]
async fn grpc_fail_path_is_trailers_only() {
    bounded(async {
        let server = GrpcEchoServer::start().await.unwrap();
        let reply = grpc_call(&server.url(), "/echo.Echo/Fail", &[b"x"])
            .await
            .unwrap();
        assert_eq!(reply.http_status, StatusCode::OK);
        assert_eq!(reply.headers["grpc-status"], "13");
        assert!(reply.trailers.is_none());
        assert!(reply.messages.is_empty());
        assert_eq!(reply.grpc_status(), Some("13"));
    })
    .await;
}

#[tokio::test]
async fn grpc_refuses_other_content_types_and_partial_messages() {
    bounded(async {
        let server = GrpcEchoServer::start().await.unwrap();
        let resp = get_h2c(&server.url_for("/echo.Echo/Say")).await.unwrap();
        assert_eq!(resp.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let mut req = request(
            http::Method::POST,
            &server.url_for("/echo.Echo/Say"),
            grpc_frame(b"cut").slice(..6),
        )
        .unwrap();
        req.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        let resp = send_h2c(req).await.unwrap();
        assert_eq!(resp.trailers.unwrap()["grpc-status"], "13");

        assert!(get(&server.url()).await.is_err(), "HTTP/1.1 is not spoken");
    })
    .await;
}

#[tokio::test]
async fn grpc_bidi_stream_echoes_each_message_as_it_arrives() {
    bounded(async {
        let server = GrpcEchoServer::start().await.unwrap();
        let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let (tx, body) = channel_body(4);
        let req = Request::post(server.url_for("/echo.Echo/Chat"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut resp_body = resp.into_body();

        for word in ["one", "two", "three"] {
            // Send one message split across two DATA frames; its echo must come
            // back before the next one is sent.
            let frame = grpc_frame(word.as_bytes());
            tx.send(Frame::data(frame.slice(..3))).await.unwrap();
            tx.send(Frame::data(frame.slice(3..))).await.unwrap();
            let mut got = BytesMut::new();
            while parse_grpc_frames(&got).is_empty() {
                let frame = resp_body.frame().await.unwrap().unwrap();
                got.extend_from_slice(&frame.into_data().unwrap());
            }
            assert_eq!(parse_grpc_frames(&got), vec![word.as_bytes().to_vec()]);
        }
        drop(tx);
        let rest = resp_body.collect().await.unwrap();
        let trailers = rest.trailers().cloned().expect("trailers");
        assert!(rest.to_bytes().is_empty());
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["grpc-message"], "ok");
        assert_eq!(trailers[ECHO_COUNT_TRAILER], "3");
    })
    .await;
}
