//! Incremental NDJSON (newline-delimited JSON) line decoder, the framing
//! of Ollama's streams: bytes arrive split anywhere (inside a line or a
//! UTF-8 character); complete lines come out (`\n` or `\r\n` ends, blank
//! lines skipped); a final line without its newline is taken at the end.

/// A line longer than the decoder's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NDJSON line longer than {0} bytes")]
pub struct LineTooLong(pub usize);

#[derive(Debug)]
pub struct NdjsonDecoder {
    buf: Vec<u8>,
    max_line: usize,
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonDecoder {
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            max_line: 16 << 20,
        }
    }

    /// Feed bytes; complete non-blank lines (without their line end) go to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), LineTooLong> {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(pos);
            if self.buf.is_empty() {
                push_line(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.buf);
                whole.extend_from_slice(line);
                push_line(&whole, out);
            }
            bytes = &rest[1..];
        }
        if self.buf.len() + bytes.len() > self.max_line {
            return Err(LineTooLong(self.max_line));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The stream ended: a last line without `\n` is complete.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        let rest = std::mem::take(&mut self.buf);
        push_line(&rest, out);
    }
}

fn push_line(line: &[u8], out: &mut Vec<Vec<u8>>) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.iter().all(u8::is_ascii_whitespace) {
        out.push(line.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut d = NdjsonDecoder::new();
        let mut out = Vec::new();
        for c in input.chunks(piece) {
            d.feed(c, &mut out).unwrap();
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn lines_split_anywhere() {
        let input = "{\"a\":1}\n\n{\"b\":\"ünï\"}\r\n  \n{\"c\":3}".as_bytes();
        let whole = decode(input, input.len());
        assert_eq!(
            whole,
            vec![
                b"{\"a\":1}".to_vec(),
                "{\"b\":\"ünï\"}".as_bytes().to_vec(),
                b"{\"c\":3}".to_vec()
            ]
        );
        for piece in 1..input.len() {
            assert_eq!(decode(input, piece), whole, "piece {piece}");
        }
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut d = NdjsonDecoder {
            buf: Vec::new(),
            max_line: 8,
        };
        let mut out = Vec::new();
        assert!(d.feed(b"{\"x\": 12345678", &mut out).is_err());
    }
}
