//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`)
//! that ConverseStream answers in: an incremental decoder that takes bytes
//! split anywhere and yields whole messages once both CRC32s check out.
//!
//! A message is a 12-byte prelude (total length, headers length, CRC32 of
//! those 8 bytes), typed headers, the payload, and a CRC32 of everything
//! before it. All integers are big-endian.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::AiError;

/// Smallest possible message: prelude and message CRC, nothing else.
const MIN_MESSAGE: usize = 16;
/// Largest message accepted (the format allows 16 MiB of payload).
const MAX_MESSAGE: usize = 16 * 1024 * 1024 + 128 * 1024 + MIN_MESSAGE;

/// A header value; the format has ten types.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Bytes),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Bytes,
}

impl Message {
    /// A string header's value (`:event-type`, `:message-type`, ...).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Incremental decoder: feed bytes as they arrive, take whole messages.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

fn bad(what: impl std::fmt::Display) -> AiError {
    AiError::bad_response(format!("malformed event-stream message: {what}"))
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append `bytes` and push every message now complete onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<(), AiError> {
        self.buf.extend_from_slice(bytes);
        while let Some(m) = self.next_message()? {
            out.push(m);
        }
        Ok(())
    }

    /// Bytes of an unfinished message still waiting for the rest.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn next_message(&mut self) -> Result<Option<Message>, AiError> {
        if self.buf.len() < 12 {
            return Ok(None);
        }
        let total = be_u32(&self.buf[0..4]) as usize;
        let headers_len = be_u32(&self.buf[4..8]) as usize;
        let prelude_crc = be_u32(&self.buf[8..12]);
        if crc32fast::hash(&self.buf[0..8]) != prelude_crc {
            return Err(bad("the prelude checksum does not match"));
        }
        if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&total) {
            return Err(bad(format!("total length {total} is out of range")));
        }
        if headers_len > total - MIN_MESSAGE {
            return Err(bad(format!(
                "headers length {headers_len} exceeds the message length {total}"
            )));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        let message_crc = be_u32(&frame[total - 4..]);
        if crc32fast::hash(&frame[..total - 4]) != message_crc {
            return Err(bad("the message checksum does not match"));
        }
        let headers = parse_headers(frame.slice(12..12 + headers_len))?;
        let payload = frame.slice(12 + headers_len..total - 4);
        Ok(Some(Message { headers, payload }))
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn take(b: &mut Bytes, n: usize, what: &str) -> Result<Bytes, AiError> {
    if b.remaining() < n {
        return Err(bad(format!("header {what} is cut short")));
    }
    Ok(b.split_to(n))
}

fn parse_headers(mut b: Bytes) -> Result<Vec<(String, HeaderValue)>, AiError> {
    let mut out = Vec::new();
    while b.has_remaining() {
        let name_len = usize::from(b.get_u8());
        let name = take(&mut b, name_len, "name")?;
        let name = std::str::from_utf8(&name)
            .map_err(|_| bad("a header name is not UTF-8"))?
            .to_string();
        if !b.has_remaining() {
            return Err(bad(format!("header `{name}` has no type")));
        }
        let value = match b.get_u8() {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(take(&mut b, 1, &name)?.get_i8()),
            3 => HeaderValue::Short(take(&mut b, 2, &name)?.get_i16()),
            4 => HeaderValue::Int(take(&mut b, 4, &name)?.get_i32()),
            5 => HeaderValue::Long(take(&mut b, 8, &name)?.get_i64()),
            t @ (6 | 7) => {
                let len = usize::from(take(&mut b, 2, &name)?.get_u16());
                let v = take(&mut b, len, &name)?;
                if t == 6 {
                    HeaderValue::Bytes(v)
                } else {
                    HeaderValue::String(
                        String::from_utf8(v.to_vec())
                            .map_err(|_| bad(format!("header `{name}` is not UTF-8")))?,
                    )
                }
            }
            8 => HeaderValue::Timestamp(take(&mut b, 8, &name)?.get_i64()),
            9 => {
                let v = take(&mut b, 16, &name)?;
                let mut id = [0u8; 16];
                id.copy_from_slice(&v);
                HeaderValue::Uuid(id)
            }
            other => return Err(bad(format!("header `{name}` has unknown type {other}"))),
        };
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use pylon_testkit::ai::bedrock::frame;
    use pylon_testkit::ai::bedrock::frame_raw;

    #[test]
    fn the_specs_empty_message_vector_decodes() {
        // The event-stream test suite's `empty_message`.
        let bytes = [
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98,
            0xc8, 0xff,
        ];
        assert_eq!(frame(&[], b"").as_ref(), bytes);
        let mut out = Vec::new();
        Decoder::new().feed(&bytes, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Message {
                headers: vec![],
                payload: Bytes::new()
            }]
        );
    }

    #[test]
    fn every_header_type_and_any_split_point() {
        // Build headers of every type by hand.
        let mut h = Vec::new();
        let mut add = |name: &str, ty: u8, val: &[u8]| {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            h.push(ty);
            h.extend_from_slice(val);
        };
        add("t", 0, &[]);
        add("f", 1, &[]);
        add("b", 2, &[0xff]);
        add("s", 3, &[0x01, 0x02]);
        add("i", 4, &[0, 0, 0, 7]);
        add("l", 5, &[0, 0, 0, 0, 0, 0, 1, 0]);
        add("y", 6, &[0, 2, 0xde, 0xad]);
        add(":event-type", 7, &[0, 4, b'p', b'i', b'n', b'g']);
        add("ts", 8, &[0, 0, 0, 0, 0, 0, 0, 9]);
        add("u", 9, &[7u8; 16]);
        let payload = br#"{"x":1}"#;
        let m = frame_raw(&h, payload).to_vec();
        let mut two = m.clone();
        two.extend_from_slice(&m);
        for cut in 0..=two.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.feed(&two[..cut], &mut out).unwrap();
            d.feed(&two[cut..], &mut out).unwrap();
            assert_eq!(out.len(), 2, "cut at {cut}");
            assert_eq!(d.pending(), 0);
            let msg = &out[1];
            assert_eq!(msg.header_str(":event-type"), Some("ping"));
            assert_eq!(msg.payload.as_ref(), payload);
            let vals: Vec<&HeaderValue> = msg.headers.iter().map(|(_, v)| v).collect();
            assert_eq!(
                vals,
                [
                    &HeaderValue::Bool(true),
                    &HeaderValue::Bool(false),
                    &HeaderValue::Byte(-1),
                    &HeaderValue::Short(0x0102),
                    &HeaderValue::Int(7),
                    &HeaderValue::Long(256),
                    &HeaderValue::Bytes(Bytes::from_static(&[0xde, 0xad])),
                    &HeaderValue::String("ping".into()),
                    &HeaderValue::Timestamp(9),
                    &HeaderValue::Uuid([7u8; 16]),
                ]
            );
        }
    }

    #[test]
    fn corrupt_checksums_and_lengths_are_bad_responses() {
        let good = frame(&[(":event-type", "x")], b"{}");
        let good = good.to_vec();
        let mut prelude = good.clone();
        prelude[1] ^= 1;
        let mut body = good.clone();
        let n = body.len();
        body[n - 6] ^= 0x20;
        let mut short = frame(&[], b"").to_vec();
        short[3] = 8; // total length 8 < 16, prelude CRC fixed below
        let c = crc32fast::hash(&short[..8]);
        short[8..12].copy_from_slice(&c.to_be_bytes());
        for (bytes, why) in [
            (prelude, "prelude checksum"),
            (body, "message checksum"),
            (short, "out of range"),
        ] {
            let e = Decoder::new().feed(&bytes, &mut Vec::new()).unwrap_err();
            assert_eq!(e.class, crate::error::ErrorClass::BadResponse);
            assert!(e.message.contains(why), "{e}");
        }
    }
}
