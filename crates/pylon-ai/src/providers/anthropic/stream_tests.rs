//! Tests of the Messages stream codec: a recorded-shape stream decoded
//! split at every byte boundary, cuts and error events, and the encoder's
//! event sequence decoding back to the same answer.

use super::*;

const STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":10,\"output_tokens\":1}}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Paris? \"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig==\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking ünï\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Par\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"is\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_02\",\"name\":\"get_time\",\"input\":{}}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// The events with the start time (the clock's, not the stream's) zeroed.
fn timeless(mut events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    for e in &mut events {
        if let StreamEvent::Start { created, .. } = e {
            *created = 0;
        }
    }
    events
}

fn decode_all(input: &str, piece: usize) -> Result<Vec<StreamEvent>, AiError> {
    let mut d = EventDecoder::new();
    let mut out = Vec::new();
    for c in input.as_bytes().chunks(piece) {
        d.feed(c, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(timeless(out))
}

fn assemble(events: &[StreamEvent]) -> ChatResponse {
    let mut acc = StreamAccumulator::default();
    events.iter().for_each(|e| acc.push(e));
    acc.finish()
}

#[test]
fn decodes_the_recorded_shape_split_at_every_byte() {
    let whole = decode_all(STREAM, STREAM.len()).unwrap();
    for piece in 1..=64 {
        assert_eq!(decode_all(STREAM, piece).unwrap(), whole, "piece {piece}");
    }
    for cut in 0..STREAM.len() {
        let mut d = EventDecoder::new();
        let mut out = Vec::new();
        d.feed(&STREAM.as_bytes()[..cut], &mut out).unwrap();
        d.feed(&STREAM.as_bytes()[cut..], &mut out).unwrap();
        d.finish(&mut out).unwrap();
        assert_eq!(timeless(out), whole, "split at byte {cut}");
    }
    let r = assemble(&whole);
    assert_eq!(r.id, "msg_01");
    let c = &r.choices[0];
    assert_eq!(c.message.reasoning.as_deref(), Some("Paris? "));
    assert_eq!(c.message.reasoning_signature.as_deref(), Some("EqQBsig=="));
    assert_eq!(c.message.content.as_deref(), Some("Checking ünï"));
    let calls = &c.message.tool_calls;
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("toolu_01", "get_weather")
    );
    assert_eq!(calls[0].arguments, "{\"city\": \"Paris\"}");
    assert_eq!(
        (calls[1].name.as_str(), calls[1].arguments.as_str()),
        ("get_time", "{}")
    );
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    let u = r.usage.unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.cached_input_tokens,
            u.cache_creation_tokens,
            u.output_tokens
        ),
        (135, 100, 10, 42)
    );
    // Tool indices count tool calls, not content blocks.
    let indices: Vec<u32> = whole
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(indices, [0, 0, 0, 1, 1]);
}

#[test]
fn cuts_malformed_events_and_error_events_are_errors() {
    let cut = &STREAM[..STREAM.find("event: message_delta").unwrap()];
    let e = decode_all(cut, 7).unwrap_err();
    assert!(e.message.contains("before message_stop"), "{e}");
    let mid = format!(
        "{}event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}}}\n\n",
        &STREAM[..STREAM.find("event: content_block_start").unwrap()]
    );
    let e = decode_all(&mid, 5).unwrap_err();
    assert_eq!(e.class, crate::error::ErrorClass::Overloaded);
    assert_eq!(e.message, "Overloaded");
    let e = decode_all("event: content_block_delta\ndata: {nope\n\n", 3).unwrap_err();
    assert_eq!(e.class, crate::error::ErrorClass::BadResponse);
    let rl = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}\n\n";
    assert_eq!(
        decode_all(rl, 4).unwrap_err().class,
        crate::error::ErrorClass::RateLimited
    );
}

#[test]
fn the_forced_json_tool_streams_as_text() {
    let s = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"pylon_json_response\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let r = assemble(&decode_all(s, 11).unwrap());
    assert_eq!(r.choices[0].message.content.as_deref(), Some("{\"a\":1}"));
    assert!(r.choices[0].message.tool_calls.is_empty());
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
}

/// The encoder's output, checked for Anthropic's event grammar: it starts
/// with message_start, ends with message_delta + message_stop, names every
/// event as its data's `type`, and opens one block at a time, in index order.
fn check_grammar(text: &str) -> Vec<Value> {
    let mut d = SseDecoder::new();
    let mut evs = Vec::new();
    d.feed(text.as_bytes(), &mut evs).unwrap();
    d.finish(&mut evs);
    let data: Vec<Value> = evs
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(e.event.as_deref(), v["type"].as_str(), "{v}");
            v
        })
        .collect();
    assert_eq!(data[0]["type"], "message_start");
    assert_eq!(data[data.len() - 2]["type"], "message_delta");
    assert_eq!(data[data.len() - 1]["type"], "message_stop");
    let (mut open, mut next) = (None::<u64>, 0u64);
    for v in &data {
        match v["type"].as_str().unwrap() {
            "content_block_start" => {
                assert!(open.is_none(), "two blocks open: {v}");
                assert_eq!(v["index"], next);
                open = Some(next);
            }
            "content_block_delta" => assert_eq!(Some(v["index"].as_u64().unwrap()), open, "{v}"),
            "content_block_stop" => {
                assert_eq!(Some(v["index"].as_u64().unwrap()), open);
                open = None;
                next += 1;
            }
            "message_delta" => assert!(open.is_none()),
            _ => {}
        }
    }
    data
}

fn encode_all(events: &[StreamEvent]) -> String {
    let mut enc = EventEncoder::new("smart", 7);
    let mut out = BytesMut::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn encoder_output_follows_the_grammar_and_decodes_to_the_same_answer() {
    let events = decode_all(STREAM, 64).unwrap();
    let text = encode_all(&events);
    let data = check_grammar(&text);
    assert_eq!(data[0]["message"]["model"], "smart");
    assert_eq!(data[1]["type"], "ping");
    let again = decode_all(&text, 9).unwrap();
    let (a, b) = (assemble(&events), assemble(&again));
    assert_eq!(a.choices, b.choices);
    assert_eq!(a.usage, b.usage);
    let last = &data[data.len() - 2];
    assert_eq!(last["delta"]["stop_reason"], "tool_use");
    assert_eq!(last["usage"]["input_tokens"], 25);
    assert_eq!(last["usage"]["cache_read_input_tokens"], 100);
}

#[test]
fn interleaved_tool_calls_are_sent_one_block_at_a_time() {
    let tc = |index: u32, id: Option<&str>, args: &str| StreamEvent::ToolCall {
        choice: 0,
        index,
        id: id.map(str::to_string),
        name: id.map(|_| format!("f{index}")),
        arguments: args.into(),
    };
    let events = vec![
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "gpt".into(),
            created: 1,
        },
        StreamEvent::Text {
            choice: 0,
            text: "Hi".into(),
        },
        tc(0, Some("call_a"), ""),
        tc(1, Some("call_b"), "{\"b\":"),
        tc(0, None, "{\"a\":1}"),
        tc(1, None, "2}"),
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 9,
            output_tokens: 4,
            ..Default::default()
        }),
    ];
    let text = encode_all(&events);
    check_grammar(&text);
    let r = assemble(&decode_all(&text, 5).unwrap());
    let calls = &r.choices[0].message.tool_calls;
    assert_eq!(calls.len(), 2, "{text}");
    assert_eq!(
        (calls[0].id.as_str(), calls[0].arguments.as_str()),
        ("call_a", "{\"a\":1}")
    );
    assert_eq!(
        (calls[1].id.as_str(), calls[1].arguments.as_str()),
        ("call_b", "{\"b\":2}")
    );
    assert_eq!(r.usage.unwrap().input_tokens, 9);
    // No usage from the provider: the estimate, and the error event shape.
    let text = encode_all(&events[..2]);
    let data = check_grammar(&text);
    assert_eq!(data[data.len() - 2]["usage"]["input_tokens"], 7);
    assert_eq!(data[data.len() - 2]["delta"]["stop_reason"], "end_turn");
    let mut enc = EventEncoder::new("m", 1);
    let mut out = BytesMut::new();
    enc.error(
        &AiError::new(crate::error::ErrorClass::Overloaded, "busy"),
        &mut out,
    );
    let s = String::from_utf8(out.to_vec()).unwrap();
    assert!(s.starts_with("event: error\ndata: {"), "{s}");
    assert!(s.contains("\"overloaded_error\""));
}
