//! Sets of IP networks for allow/deny and trusted-proxy lists. CIDRs (IPv4
//! and IPv6; IPv4-mapped IPv6 is folded into IPv4) become merged, sorted
//! ranges in one 128-bit space, looked up by binary search: thousands of
//! entries cost a dozen comparisons per request.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::PolicyError;

/// A set of IP addresses given as networks.
#[derive(Debug, Clone, Default)]
pub struct IpSet {
    /// Inclusive, sorted, non-overlapping, non-adjacent ranges.
    ranges: Vec<(u128, u128)>,
}

/// The address as a point in one IPv6-sized space (IPv4 as IPv4-mapped IPv6,
/// so `::ffff:10.0.0.1` and `10.0.0.1` are the same point).
fn point(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// `s` as a network: a CIDR (`10.0.0.0/8`, `2001:db8::/32`; host bits are
/// ignored) or a single address.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    match s.parse::<IpNet>() {
        Ok(n) => Some(n.trunc()),
        Err(_) => s.parse::<IpAddr>().ok().map(IpNet::from),
    }
}

impl IpSet {
    /// Parse `items` (CIDRs or addresses); an error names `path[i]`.
    pub fn parse(path: &str, items: &[String]) -> Result<Self, PolicyError> {
        let mut ranges = Vec::with_capacity(items.len());
        for (i, s) in items.iter().enumerate() {
            let net = parse_net(s).ok_or_else(|| {
                PolicyError::config(
                    format!("{path}[{i}]"),
                    format!("`{s}` is not an IP address or CIDR network"),
                )
            })?;
            let (lo, hi) = match net {
                IpNet::V4(n) => (
                    point(IpAddr::V4(n.network())),
                    point(IpAddr::V4(n.broadcast())),
                ),
                IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
            };
            ranges.push((lo, hi));
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged.shrink_to_fit();
        Ok(Self { ranges: merged })
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let p = point(ip);
        let i = self.ranges.partition_point(|r| r.0 <= p);
        i > 0 && self.ranges[i - 1].1 >= p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> IpSet {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        match IpSet::parse("list", &items) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(i) => i,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn v4_v6_and_mapped_addresses() {
        let s = set(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"]);
        assert!(s.contains(ip("10.255.0.1")));
        assert!(s.contains(ip("::ffff:10.1.2.3")));
        assert!(!s.contains(ip("11.0.0.0")));
        assert!(!s.contains(ip("9.255.255.255")));
        assert!(s.contains(ip("192.168.1.7")));
        assert!(!s.contains(ip("192.168.1.8")));
        assert!(s.contains(ip("2001:db8:ffff::1")));
        assert!(!s.contains(ip("2001:db9::")));
        assert!(s.contains(ip("::1")));
        assert!(!s.contains(ip("127.0.0.1")));
        // A mapped network in config means the IPv4 network.
        let m = set(&["::ffff:172.16.0.0/108"]);
        assert!(m.contains(ip("172.16.5.5")));
        assert!(!m.contains(ip("172.32.0.0")));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let s = set(&["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "0.0.0.0/0"]);
        assert_eq!(s.ranges.len(), 1);
        assert!(s.contains(ip("8.8.8.8")));
        assert!(!s.contains(ip("2001:db8::1")));
        let s = set(&["10.0.0.0/24", "10.0.1.0/24"]);
        assert_eq!(s.ranges.len(), 1);
        assert!(s.contains(ip("10.0.1.255")));
        assert!(!s.contains(ip("10.0.2.0")));
    }

    #[test]
    fn thousands_of_entries_match_like_a_linear_scan() {
        let items: Vec<String> = (0..5000u32)
            .map(|i| format!("{}.{}.{}.0/24", 1 + i % 200, (i * 7) % 256, (i * 13) % 256))
            .collect();
        let s = match IpSet::parse("l", &items) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let nets: Vec<IpNet> = items.iter().filter_map(|i| parse_net(i)).collect();
        for i in 0..20_000u32 {
            let probe = IpAddr::V4(std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761)));
            let linear = nets.iter().any(|n| n.contains(&probe));
            assert_eq!(s.contains(probe), linear, "{probe}");
        }
        for n in &nets {
            assert!(s.contains(n.addr()), "{n}");
        }
    }

    #[test]
    fn bad_entries_name_their_index() {
        let err = IpSet::parse("allow", &["10.0.0.0/8".into(), "10.0.0.0/33".into()]);
        match err {
            Err(PolicyError::Config { path, .. }) => assert_eq!(path, "allow[1]"),
            other => panic!("{other:?}"),
        }
    }
}
