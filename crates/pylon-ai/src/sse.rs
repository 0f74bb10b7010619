//! The one SSE (Server-Sent Events) codec: an incremental decoder that takes
//! bytes as they arrive (split anywhere, even inside a line or a UTF-8
//! character) and yields complete events, and the encoder for outgoing events.
//! Follows the WHATWG event-stream rules: `\n`, `\r\n` or `\r` line ends,
//! `:` comments, multi-line `data`, one optional space after the colon.

use bytes::{BufMut, BytesMut};

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` means the default type (`message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    pub id: Option<String>,
}

/// Incremental SSE decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// A `\r` ended the last line; a `\n` right after it belongs to it.
    after_cr: bool,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
    /// Upper bound on a single line, against a provider that never ends one.
    max_line: usize,
}

/// A line longer than the decoder's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event-stream line longer than {0} bytes")]
pub struct LineTooLong(pub usize);

impl SseDecoder {
    pub fn new() -> Self {
        Self {
            max_line: 16 << 20,
            ..Default::default()
        }
    }

    /// Feed bytes; complete events are appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LineTooLong> {
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, rest) = bytes.split_at(pos);
            let mut rest = &rest[1..];
            if bytes[pos] == b'\r' {
                if rest.first() == Some(&b'\n') {
                    rest = &rest[1..];
                } else if rest.is_empty() {
                    self.after_cr = true;
                }
            }
            if self.buf.is_empty() {
                self.line(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.buf);
                whole.extend_from_slice(line);
                self.line(&whole, out);
            }
            bytes = rest;
        }
        if self.buf.len() + bytes.len() > self.max_line {
            return Err(LineTooLong(self.max_line));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The stream ended: an event without its final blank line is dispatched
    /// (providers sometimes omit it), a partial line is taken as complete.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, out);
        }
        self.dispatch(out);
    }

    fn line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if !self.has_data {
            self.event = None;
            return;
        }
        out.push(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
        self.has_data = false;
    }
}

/// Append one event: `event: <name>` (when given) and `data:` lines.
pub fn write_event(out: &mut BytesMut, event: Option<&str>, data: &str) {
    if let Some(e) = event {
        out.put_slice(b"event: ");
        out.put_slice(e.as_bytes());
        out.put_slice(b"\n");
    }
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_slice(b"\n");
    }
    out.put_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            d.feed(chunk, &mut out).unwrap();
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn splits_anywhere_give_the_same_events() {
        let input = "\u{feff}: comment\nevent: message_start\ndata: {\"a\":1}\n\ndata: line1\r\ndata:line2\r\n\r\nid: 7\rdata: x\r\rdata: ünïcode\n\nevent: tail\ndata: no blank line";
        let whole = decode_in_pieces(input.as_bytes(), input.len());
        assert_eq!(whole.len(), 5, "{whole:?}");
        assert_eq!(whole[0].event.as_deref(), Some("message_start"));
        assert_eq!(whole[0].data, "{\"a\":1}");
        assert_eq!(whole[1].data, "line1\nline2");
        assert_eq!(whole[2].id.as_deref(), Some("7"));
        assert_eq!(whole[2].data, "x");
        assert_eq!(whole[3].data, "ünïcode");
        assert_eq!(whole[4].event.as_deref(), Some("tail"));
        for piece in 1..8 {
            assert_eq!(
                decode_in_pieces(input.as_bytes(), piece),
                whole,
                "piece {piece}"
            );
        }
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let got = decode_in_pieces(b"event: ping\n\ndata: [DONE]\n\n", 3);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "[DONE]");
        assert_eq!(got[0].event, None);
    }

    #[test]
    fn encoder_output_decodes_back() {
        let mut out = BytesMut::new();
        write_event(&mut out, Some("content_block_delta"), "{\"x\":\"a\nb\"}");
        write_event(&mut out, None, "[DONE]");
        let got = decode_in_pieces(&out, 2);
        assert_eq!(got[0].event.as_deref(), Some("content_block_delta"));
        assert_eq!(got[0].data, "{\"x\":\"a\nb\"}");
        assert_eq!(got[1].data, "[DONE]");
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut d = SseDecoder::new();
        d.max_line = 10;
        let mut out = Vec::new();
        assert!(d.feed(b"data: 0123456789abc", &mut out).is_err());
    }
}
