//! What is stored: a response (status, headers, body) or the `Vary` list of
//! a key, with when it was stored and for how long; and its compact binary
//! form for Redis.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderName, HeaderValue};

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unix time in milliseconds when it was stored.
    pub stored_at_ms: u64,
    pub ttl_ms: u64,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The request header names of the upstream's `Vary`.
    Vary(Vec<String>),
    Response(Entry),
}

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub status: u16,
    /// The `Age` the response arrived with, in seconds.
    pub initial_age: u64,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Record {
    /// Whether the record is still fresh at `now_ms`.
    pub fn fresh(&self, now_ms: u64) -> bool {
        now_ms < self.stored_at_ms.saturating_add(self.ttl_ms)
    }

    /// The `Age` to report at `now_ms`, in seconds.
    pub fn age(&self, now_ms: u64) -> u64 {
        let initial = match &self.kind {
            Kind::Response(e) => e.initial_age,
            Kind::Vary(_) => 0,
        };
        initial + now_ms.saturating_sub(self.stored_at_ms) / 1000
    }

    /// Approximate memory use, for the size bound.
    pub fn weight(&self) -> usize {
        64 + match &self.kind {
            Kind::Vary(names) => names.iter().map(|n| n.len() + 24).sum(),
            Kind::Response(e) => {
                e.body.len()
                    + e.headers
                        .iter()
                        .map(|(k, v)| k.as_str().len() + v.len() + 32)
                        .sum::<usize>()
            }
        }
    }

    /// The binary form: version, kind, times, then the kind's fields, all
    /// lengths big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = BytesMut::with_capacity(self.weight());
        b.put_u8(VERSION);
        b.put_u64(self.stored_at_ms);
        b.put_u64(self.ttl_ms);
        match &self.kind {
            Kind::Vary(names) => {
                b.put_u8(0);
                b.put_u16(u16::try_from(names.len()).unwrap_or(u16::MAX));
                for n in names.iter().take(u16::MAX as usize) {
                    put_bytes16(&mut b, n.as_bytes());
                }
            }
            Kind::Response(e) => {
                b.put_u8(1);
                b.put_u16(e.status);
                b.put_u64(e.initial_age);
                b.put_u16(u16::try_from(e.headers.len()).unwrap_or(u16::MAX));
                for (k, v) in e.headers.iter().take(u16::MAX as usize) {
                    put_bytes16(&mut b, k.as_str().as_bytes());
                    put_bytes32(&mut b, v.as_bytes());
                }
                put_bytes32(&mut b, &e.body);
            }
        }
        b.to_vec()
    }

    /// Read the binary form; `None` when it is not valid.
    pub fn decode(data: Bytes) -> Option<Record> {
        let mut r = Reader(data);
        if r.u8()? != VERSION {
            return None;
        }
        let stored_at_ms = r.u64()?;
        let ttl_ms = r.u64()?;
        let kind = match r.u8()? {
            0 => {
                let n = r.u16()?;
                let mut names = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let len = usize::from(r.u16()?);
                    names.push(String::from_utf8(r.take(len)?.to_vec()).ok()?);
                }
                Kind::Vary(names)
            }
            1 => {
                let status = r.u16()?;
                let initial_age = r.u64()?;
                let n = r.u16()?;
                let mut headers = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let len = usize::from(r.u16()?);
                    let name = HeaderName::from_bytes(&r.take(len)?).ok()?;
                    let len = usize::try_from(r.u32()?).ok()?;
                    let value = HeaderValue::from_maybe_shared(r.take(len)?).ok()?;
                    headers.push((name, value));
                }
                let len = usize::try_from(r.u32()?).ok()?;
                let body = r.take(len)?;
                Kind::Response(Entry {
                    status,
                    initial_age,
                    headers,
                    body,
                })
            }
            _ => return None,
        };
        if r.0.has_remaining() {
            return None;
        }
        Some(Record {
            stored_at_ms,
            ttl_ms,
            kind,
        })
    }
}

const VERSION: u8 = 1;

fn put_bytes16(b: &mut BytesMut, data: &[u8]) {
    let data = &data[..data.len().min(u16::MAX as usize)];
    b.put_u16(data.len() as u16);
    b.put_slice(data);
}

fn put_bytes32(b: &mut BytesMut, data: &[u8]) {
    let data = &data[..data.len().min(u32::MAX as usize)];
    b.put_u32(data.len() as u32);
    b.put_slice(data);
}

/// Bounds-checked reading.
struct Reader(Bytes);

impl Reader {
    fn u8(&mut self) -> Option<u8> {
        self.0.try_get_u8().ok()
    }
    fn u16(&mut self) -> Option<u16> {
        self.0.try_get_u16().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.0.try_get_u32().ok()
    }
    fn u64(&mut self) -> Option<u64> {
        self.0.try_get_u64().ok()
    }
    fn take(&mut self, len: usize) -> Option<Bytes> {
        (self.0.remaining() >= len).then(|| self.0.split_to(len))
    }
}
