//! Differential test: the indexed lookup must agree with a naive scan that checks
//! every (route, host, path) variant directly and keeps the best by order key.

use http::{HeaderMap, HeaderValue, Method};
use pylon_config::{PathMatch, RouteConfig};

use super::compile::{CompiledRoute, PathPattern, allow_list};
use super::tests::{route, vm};
use super::{Lookup, RequestView, Router};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SEGS: [&str; 5] = ["a", "b", "c", "api", "v1"];
const HOSTS: [&str; 6] = [
    "x.com",
    "a.x.com",
    "b.a.x.com",
    "y.org",
    "*.x.com",
    "*.a.x.com",
];
const METHODS: [&str; 4] = ["GET", "POST", "DELETE", "HEAD"];

fn random_path(rng: &mut Rng, max: usize) -> String {
    let n = rng.below(max + 1);
    let mut p = String::new();
    for _ in 0..n {
        p.push('/');
        p.push_str(rng.pick(&SEGS));
    }
    if p.is_empty() || rng.below(4) == 0 {
        p.push('/');
    }
    p
}

fn random_path_match(rng: &mut Rng) -> PathMatch {
    match rng.below(5) {
        0 => PathMatch::Exact(random_path(rng, 3)),
        1 | 2 => PathMatch::Prefix(random_path(rng, 2)),
        3 => {
            let mut t = String::new();
            let n = 1 + rng.below(3);
            for i in 0..n {
                t.push('/');
                match rng.below(4) {
                    0 => t.push_str(&format!("{{p{i}}}")),
                    1 if i + 1 == n => t.push_str("{*rest}"),
                    _ => t.push_str(rng.pick(&SEGS)),
                }
            }
            PathMatch::Template(t)
        }
        _ => {
            let seg = rng.pick(&SEGS);
            PathMatch::Regex(match rng.below(4) {
                0 => format!("/{seg}(/.*)?"),
                1 => format!("^/{seg}/.*"),
                2 => format!("/{seg}$"),
                _ => format!("/{seg}/[a-z]+/?"),
            })
        }
    }
}

fn random_route(rng: &mut Rng, i: usize) -> RouteConfig {
    let mut r = route(&format!("r{i}"));
    r.priority = rng.below(3) as i32 - 1;
    for _ in 0..rng.below(3) {
        r.matches.paths.push(random_path_match(rng));
    }
    for _ in 0..rng.below(3) {
        r.matches.hosts.push(rng.pick(&HOSTS).to_string());
    }
    for _ in 0..rng.below(3) {
        r.matches.methods.push(rng.pick(&METHODS).to_string());
    }
    if rng.below(4) == 0 {
        r.matches.headers.push(vm("x-h", Some("1"), None, None));
    }
    if rng.below(5) == 0 {
        r.matches.query.push(vm("q", None, Some("[0-9]+"), None));
    }
    if rng.below(6) == 0 {
        r.listeners.push("main".into());
    }
    r
}

fn host_ok(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.len() > domain.len() + 1 && host.ends_with(domain) && {
                let cut = host.len() - domain.len() - 1;
                host.as_bytes()[cut] == b'.'
            }
        }
        None => pattern == host,
    }
}

fn path_ok(p: &PathPattern, path: &str) -> bool {
    match p {
        PathPattern::Exact(e) => e == path,
        PathPattern::Prefix(pre) => {
            path.starts_with(pre.as_str())
                && (pre.ends_with('/')
                    || path.len() == pre.len()
                    || path.as_bytes()[pre.len()] == b'/')
        }
        PathPattern::Template(t) => t.capture(path, |_, _| {}),
        PathPattern::Regex { regex, .. } => regex.is_match(path),
    }
}

/// The specification, executed literally.
fn naive(
    routes: &[CompiledRoute],
    req: &RequestView<'_>,
) -> (Option<(usize, Option<usize>)>, Vec<Method>) {
    let mut best = None;
    let (mut bits, mut ext) = (0u16, Vec::new());
    let mut miss = false;
    for (i, r) in routes.iter().enumerate() {
        let hosts: Vec<Option<usize>> = if r.hosts.is_empty() {
            vec![None]
        } else {
            (0..r.hosts.len()).map(Some).collect()
        };
        let paths: Vec<Option<usize>> = if r.paths.is_empty() {
            vec![None]
        } else {
            (0..r.paths.len()).map(Some).collect()
        };
        for &h in &hosts {
            for &p in &paths {
                let host_match = h.is_none_or(|h| host_ok(&r.hosts[h], req.host));
                let path_match = p.is_none_or(|p| path_ok(&r.paths[p], req.path));
                if !(host_match
                    && path_match
                    && r.listener_ok(req.listener)
                    && r.conditions_ok(req.headers, req.query))
                {
                    continue;
                }
                if !r.methods.allows(req.method) {
                    miss = true;
                    r.methods.add_to(&mut bits, &mut ext);
                    continue;
                }
                let key = r.order_key(i, h, p);
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    best = Some((key, (i, p)));
                }
            }
        }
    }
    let allow = if miss {
        allow_list(bits, ext)
    } else {
        Vec::new()
    };
    (best.map(|(_, v)| v), allow)
}

#[test]
fn indexed_lookup_agrees_with_naive_scan() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seen = [0usize; 3];
    for round in 0..60 {
        let configs: Vec<RouteConfig> = (0..1 + rng.below(40))
            .map(|i| random_route(&mut rng, i))
            .collect();
        let router = match Router::build(&configs) {
            Ok(r) => r,
            Err(e) => panic!("round {round}: {e}"),
        };
        for _ in 0..200 {
            let path = random_path(&mut rng, 4);
            let host = rng.pick(&[
                "x.com",
                "a.x.com",
                "b.a.x.com",
                "c.b.a.x.com",
                "y.org",
                "z.y.org",
            ]);
            let method = Method::from_bytes(rng.pick(&["GET", "HEAD", "POST", "PUT"]).as_bytes())
                .unwrap_or_default();
            let mut headers = HeaderMap::new();
            if rng.below(2) == 0 {
                headers.insert("x-h", HeaderValue::from_static("1"));
            }
            let query = rng.pick(&["", "q=12", "q=x"]);
            let listener = rng.pick(&["main", "other"]);
            let view = RequestView {
                listener,
                host,
                path: &path,
                method: &method,
                headers: &headers,
                query: Some(query),
            };
            let (want, allow) = naive(&router.routes, &view);
            let got = router.lookup(&view);
            match (want, got) {
                (Some((route, path_index)), Lookup::Matched(m)) => {
                    assert_eq!(
                        (m.route, m.path_index),
                        (route, path_index),
                        "round {round} {host}{path} {method}"
                    );
                    seen[0] += 1;
                }
                (None, Lookup::MethodNotAllowed { allow: got }) => {
                    assert_eq!(got, allow, "round {round} {path}");
                    seen[1] += 1;
                }
                (None, Lookup::NotFound) => {
                    assert!(allow.is_empty(), "round {round} {host}{path}: expected 405");
                    seen[2] += 1;
                }
                (want, got) => panic!(
                    "round {round} {host}{path} {method}: want {want:?} / {allow:?}, got {got:?}"
                ),
            }
        }
    }
    // Every outcome must be well represented, or the test proves little.
    assert!(seen.iter().all(|&n| n > 500), "outcomes {seen:?}");
}
