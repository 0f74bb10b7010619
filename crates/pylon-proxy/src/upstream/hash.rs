//! Consistent hashing: the request key (`HashInput` + `HashKey`) and the ketama
//! ring that maps a key hash to a target.
//!
//! Every target owns `POINTS_PER_WEIGHT × weight` points on a 64-bit ring; the
//! position of a point depends only on the target's configured address and the
//! point number, so adding or removing one target of N moves only about 1/N of
//! the keys. Huge weights are scaled down so that a ring never holds more than
//! `MAX_POINTS` points.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{COOKIE, HeaderName};
use pylon_config::HashOn;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Points on the ring per unit of weight.
pub const POINTS_PER_WEIGHT: u64 = 160;
/// Upper bound on the points of one ring (memory: 16 bytes each).
const MAX_POINTS: u64 = 1 << 17;

/// What a request offers to the balancer: the consistent-hash algorithm reads
/// the property its `hash_on` names; the other algorithms ignore it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashInput<'a> {
    /// Request headers (for `header` and `cookie` hashing).
    pub headers: Option<&'a HeaderMap>,
    /// The client's address (for `client_ip` hashing).
    pub client_ip: Option<IpAddr>,
    /// The request path, without the query (for `path` hashing).
    pub path: Option<&'a str>,
}

impl<'a> HashInput<'a> {
    /// An input carrying everything a request can offer.
    pub fn new(headers: &'a HeaderMap, client_ip: Option<IpAddr>, path: &'a str) -> Self {
        Self {
            headers: Some(headers),
            client_ip,
            path: Some(path),
        }
    }

    /// An input with no key at all (consistent hashing falls back to round robin).
    pub fn none() -> Self {
        Self::default()
    }
}

/// The compiled form of `HashOn`.
#[derive(Debug, Clone)]
pub(crate) enum HashKey {
    Header(HeaderName),
    Cookie(String),
    ClientIp,
    Path,
}

impl HashKey {
    /// Compile `hash_on`; fails only on an invalid header name.
    pub(crate) fn new(on: &HashOn) -> Result<Self, String> {
        Ok(match on {
            HashOn::Header(name) => HashKey::Header(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("invalid header name `{name}`"))?,
            ),
            HashOn::Cookie(name) => HashKey::Cookie(name.clone()),
            HashOn::ClientIp => HashKey::ClientIp,
            HashOn::Path => HashKey::Path,
        })
    }

    /// The key's hash for this request, or `None` when the request lacks it.
    pub(crate) fn hash(&self, input: &HashInput<'_>) -> Option<u64> {
        match self {
            HashKey::Header(name) => {
                let v = input.headers?.get(name)?.as_bytes();
                (!v.is_empty()).then(|| xxh3_64(v))
            }
            HashKey::Cookie(name) => cookie_value(input.headers?, name.as_bytes()).map(xxh3_64),
            HashKey::ClientIp => Some(match input.client_ip? {
                IpAddr::V4(a) => xxh3_64(&a.octets()),
                IpAddr::V6(a) => match a.to_ipv4_mapped() {
                    Some(v4) => xxh3_64(&v4.octets()),
                    None => xxh3_64(&a.octets()),
                },
            }),
            HashKey::Path => {
                let p = input.path?;
                (!p.is_empty()).then(|| xxh3_64(p.as_bytes()))
            }
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers, if non-empty.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &[u8]) -> Option<&'h [u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            let (k, v) = (&pair[..eq], &pair[eq + 1..]);
            if k.trim_ascii() != name {
                return None;
            }
            let v = v.trim_ascii();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|x| x.strip_suffix(b"\""))
                .unwrap_or(v);
            (!v.is_empty()).then_some(v)
        })
}

/// A ketama ring over target indexes.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    /// `(position, target index)`, sorted by position.
    points: Vec<(u64, u32)>,
    targets: usize,
}

impl Ring {
    /// Build the ring for `(key, weight)` targets, in target-index order.
    pub(crate) fn new(targets: &[(&str, u32)]) -> Self {
        let total: u64 = targets.iter().map(|(_, w)| u64::from(*w)).sum();
        let wanted = total.saturating_mul(POINTS_PER_WEIGHT);
        let mut points = Vec::new();
        for (idx, (key, weight)) in targets.iter().enumerate() {
            let mut n = u64::from(*weight) * POINTS_PER_WEIGHT;
            if wanted > MAX_POINTS {
                n = (n * MAX_POINTS / wanted).max(1);
            }
            let idx = u32::try_from(idx).unwrap_or(u32::MAX);
            points.extend((0..n).map(|i| (xxh3_64_with_seed(key.as_bytes(), i), idx)));
        }
        points.sort_unstable();
        Self {
            points,
            targets: targets.len(),
        }
    }

    /// The first eligible target at or after `hash` on the ring.
    pub(crate) fn lookup(&self, hash: u64, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let len = self.points.len();
        if len == 0 {
            return None;
        }
        let start = self.points.partition_point(|p| p.0 < hash);
        // For small upstreams remember which targets were already refused so
        // the walk can stop once every target has been seen.
        let track = self.targets <= 64;
        let mut refused = 0u64;
        let mut refused_count = 0usize;
        for k in 0..len {
            let idx = self.points[(start + k) % len].1 as usize;
            if track {
                let bit = 1u64 << idx;
                if refused & bit != 0 {
                    continue;
                }
                if eligible(idx) {
                    return Some(idx);
                }
                refused |= bit;
                refused_count += 1;
                if refused_count == self.targets {
                    return None;
                }
            } else if eligible(idx) {
                return Some(idx);
            }
        }
        None
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:80")).collect()
    }

    fn ring_of(keys: &[String]) -> Ring {
        let t: Vec<(&str, u32)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
        Ring::new(&t)
    }

    #[test]
    fn same_key_same_target_and_spread() {
        let k = keys(5);
        let ring = ring_of(&k);
        assert_eq!(ring.len(), 5 * 160);
        let mut counts = [0usize; 5];
        for i in 0..10_000u64 {
            let h = xxh3_64(format!("user-{i}").as_bytes());
            let a = ring.lookup(h, |_| true);
            assert_eq!(a, ring.lookup(h, |_| true));
            counts[a.unwrap_or(99)] += 1;
        }
        for c in counts {
            assert!((1_000..3_000).contains(&c), "uneven spread: {counts:?}");
        }
    }

    #[test]
    fn removing_one_of_n_moves_about_one_nth() {
        let all = keys(10);
        let before = ring_of(&all);
        let fewer: Vec<String> = all.iter().filter(|k| *k != &all[3]).cloned().collect();
        let after = ring_of(&fewer);
        let total = 20_000u64;
        let mut moved = 0;
        for i in 0..total {
            let h = xxh3_64(format!("session-{i}").as_bytes());
            let a = &all[before.lookup(h, |_| true).unwrap_or(0)];
            let b = &fewer[after.lookup(h, |_| true).unwrap_or(0)];
            if a != b {
                // Only keys of the removed target may move.
                assert_eq!(a, &all[3]);
                moved += 1;
            }
        }
        let frac = moved as f64 / total as f64;
        assert!((0.05..0.15).contains(&frac), "moved {frac}");
    }

    #[test]
    fn ineligible_walks_to_next_and_all_refused_is_none() {
        let k = keys(4);
        let ring = ring_of(&k);
        for i in 0..1_000u64 {
            let h = xxh3_64(&i.to_le_bytes());
            let first = ring.lookup(h, |_| true).unwrap_or(99);
            let next = ring.lookup(h, |t| t != first).unwrap_or(99);
            assert_ne!(first, next);
            assert!(next < 4);
        }
        assert_eq!(ring.lookup(1, |_| false), None);
    }

    #[test]
    fn weights_and_point_cap() {
        let ring = Ring::new(&[("a:1", 3), ("b:1", 1)]);
        assert_eq!(ring.len(), 4 * 160);
        let ring = Ring::new(&[("a:1", 10_000), ("b:1", 10_000)]);
        assert!(ring.len() as u64 <= MAX_POINTS);
        assert!(Ring::new(&[]).lookup(5, |_| true).is_none());
    }

    #[test]
    fn key_extraction() {
        let mut h = HeaderMap::new();
        h.insert("x-user", HeaderValue::from_static("alice"));
        h.append(COOKIE, HeaderValue::from_static("a=1; sid=\"abc\""));
        h.append(COOKIE, HeaderValue::from_static("other=2"));
        let input = HashInput::new(&h, Some("127.0.0.1".parse().unwrap()), "/p");

        let header = HashKey::new(&HashOn::Header("X-User".into())).unwrap();
        assert_eq!(header.hash(&input), Some(xxh3_64(b"alice")));
        let cookie = HashKey::new(&HashOn::Cookie("sid".into())).unwrap();
        assert_eq!(cookie.hash(&input), Some(xxh3_64(b"abc")));
        let missing = HashKey::new(&HashOn::Cookie("nope".into())).unwrap();
        assert_eq!(missing.hash(&input), None);
        let ip = HashKey::new(&HashOn::ClientIp).unwrap();
        let mapped = HashInput {
            client_ip: Some("::ffff:127.0.0.1".parse().unwrap()),
            ..HashInput::none()
        };
        assert_eq!(ip.hash(&input), ip.hash(&mapped));
        assert_eq!(HashKey::Path.hash(&input), Some(xxh3_64(b"/p")));
        assert_eq!(HashKey::Path.hash(&HashInput::none()), None);
        assert!(HashKey::new(&HashOn::Header("bad header".into())).is_err());
    }
}
