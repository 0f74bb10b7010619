//! The candidate index: host buckets, each holding a path index.
//!
//! Hosts are bucketed three ways: exact names in a hash map, `*.domain` wildcards
//! in a hash map keyed by `domain` (probed with every proper suffix of the request
//! host that follows a `.`), and one bucket for routes without hosts. Inside a
//! bucket, exact, prefix and template paths live in a [`SegmentTrie`], regex paths
//! in lists keyed by the literal first segment the pattern requires (when it
//! provably requires one, see [`literal_first_segment`]) or else in one list gated
//! by a [`regex::RegexSet`], and routes without a path condition in a plain list. A lookup therefore touches at most a handful of buckets and only
//! the entries whose host and path can match.

use super::compile::PathPattern;
use super::trie::{EntryId, FastMap, SegmentTrie};

/// Regex paths of one bucket.
#[derive(Debug, Default)]
struct RegexGroup {
    /// Gate: `None` when there are too few regexes to be worth it, or the set could
    /// not be built (size limits); then every entry is checked on its own.
    set: Option<regex::RegexSet>,
    patterns: Vec<String>,
    ids: Vec<EntryId>,
}

impl RegexGroup {
    fn push(&mut self, pattern: &str, id: EntryId) {
        self.patterns.push(pattern.to_string());
        self.ids.push(id);
    }

    fn finish(&mut self) {
        const MIN_SET: usize = 3;
        if self.ids.len() >= MIN_SET {
            self.set = regex::RegexSet::new(&self.patterns).ok();
        }
        self.patterns = Vec::new();
    }

    fn walk(&self, path: &str, f: &mut impl FnMut(&[EntryId])) {
        if !self.ids.is_empty() && self.set.as_ref().is_none_or(|s| s.is_match(path)) {
            f(&self.ids);
        }
    }
}

/// The first path segment every match of `pattern` (a user regex, before
/// anchoring) must have, when that is evident from its text: `^?/lit/...` or
/// `^?/lit` with `lit` made of `[A-Za-z0-9_~-]` and no `|` anywhere in the
/// pattern. Anything less obvious gives `None`, which is always safe.
pub(crate) fn literal_first_segment(pattern: &str) -> Option<&str> {
    if pattern.contains('|') {
        return None;
    }
    let p = pattern
        .strip_prefix('^')
        .unwrap_or(pattern)
        .strip_prefix('/')?;
    let end = p
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~')))
        .unwrap_or(p.len());
    let (lit, rest) = p.split_at(end);
    if lit.is_empty() {
        return None;
    }
    let ok = match rest.strip_prefix('/') {
        // The `/` must not be quantified.
        Some(after) => !after.starts_with(['?', '*', '+', '{']),
        None => rest.is_empty() || rest == "$",
    };
    ok.then_some(lit)
}

/// The paths of one host bucket.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    trie: SegmentTrie,
    /// Regex paths keyed by the literal first segment they require.
    regex_by_segment: FastMap<Box<str>, RegexGroup>,
    /// Regex paths without such a segment.
    regex_other: RegexGroup,
    any_path: Vec<EntryId>,
}

impl PathIndex {
    /// Add an entry; ids must arrive in ascending order.
    fn insert(&mut self, path: Option<&PathPattern>, id: EntryId) {
        match path {
            None => self.any_path.push(id),
            Some(PathPattern::Exact(p)) => self.trie.insert_exact(p, id),
            Some(PathPattern::Prefix(p)) => self.trie.insert_prefix(p, id),
            Some(PathPattern::Template(t)) => self.trie.insert_template(t, id),
            Some(PathPattern::Regex { regex, source }) => match literal_first_segment(source) {
                Some(seg) => self
                    .regex_by_segment
                    .entry(seg.into())
                    .or_default()
                    .push(regex.as_str(), id),
                None => self.regex_other.push(regex.as_str(), id),
            },
        }
    }

    fn finish(&mut self) {
        self.regex_by_segment
            .values_mut()
            .for_each(RegexGroup::finish);
        self.regex_other.finish();
    }

    /// Call `f` with every entry list that may match `path`. Entries of regex paths
    /// are only pre-filtered: the caller must still test their own regex.
    pub(crate) fn walk(&self, path: &str, f: &mut impl FnMut(&[EntryId])) {
        self.trie.walk(path, f);
        if !self.regex_by_segment.is_empty() {
            let rest = path.strip_prefix('/').unwrap_or(path);
            let first = rest.split_once('/').map_or(rest, |(seg, _)| seg);
            if let Some(group) = self.regex_by_segment.get(first) {
                group.walk(path, f);
            }
        }
        self.regex_other.walk(path, f);
        if !self.any_path.is_empty() {
            f(&self.any_path);
        }
    }
}

/// How a route variant is keyed by host.
pub(crate) enum HostKey<'a> {
    Any,
    Exact(&'a str),
    /// The domain of a `*.domain` wildcard.
    Wildcard(&'a str),
}

/// All buckets.
#[derive(Debug, Default)]
pub(crate) struct HostIndex {
    exact: FastMap<Box<str>, PathIndex>,
    wildcard: FastMap<Box<str>, PathIndex>,
    /// Longest wildcard domain: longer suffixes of the request host are not probed.
    wildcard_max_len: usize,
    any: PathIndex,
}

impl HostIndex {
    /// Add an entry; ids must arrive in ascending order.
    pub(crate) fn insert(&mut self, host: HostKey<'_>, path: Option<&PathPattern>, id: EntryId) {
        let bucket = match host {
            HostKey::Any => &mut self.any,
            HostKey::Exact(h) => self.exact.entry(h.into()).or_default(),
            HostKey::Wildcard(d) => {
                self.wildcard_max_len = self.wildcard_max_len.max(d.len());
                self.wildcard.entry(d.into()).or_default()
            }
        };
        bucket.insert(path, id);
    }

    /// Build the regex gates once every entry is in.
    pub(crate) fn finish(&mut self) {
        self.any.finish();
        self.exact.values_mut().for_each(PathIndex::finish);
        self.wildcard.values_mut().for_each(PathIndex::finish);
    }

    /// Call `f` with every entry list that may match `host` (lower-case, no port,
    /// no trailing dot) and `path` (normalized).
    pub(crate) fn walk(&self, host: &str, path: &str, f: &mut impl FnMut(&[EntryId])) {
        if let Some(bucket) = self.exact.get(host) {
            bucket.walk(path, f);
        }
        if !self.wildcard.is_empty() {
            let mut rest = host;
            while let Some((_, domain)) = rest.split_once('.') {
                if domain.len() <= self.wildcard_max_len
                    && let Some(bucket) = self.wildcard.get(domain)
                {
                    bucket.walk(path, f);
                }
                rest = domain;
            }
        }
        self.any.walk(path, f);
    }
}

#[cfg(test)]
mod tests {
    use super::literal_first_segment as first;

    #[test]
    fn literal_first_segment_is_conservative() {
        assert_eq!(first(r"/legacy17/[a-z]+/\d+"), Some("legacy17"));
        assert_eq!(first(r"^/api/v[0-9]+$"), Some("api"));
        assert_eq!(first("/health"), Some("health"));
        assert_eq!(first("/health$"), Some("health"));
        assert_eq!(first("/a-b_c~/.*"), Some("a-b_c~"));
        assert_eq!(first("/a/?x"), None);
        assert_eq!(first("/a/*"), None);
        assert_eq!(first("/a/{2}"), None);
        assert_eq!(first("/ab?/x"), None);
        assert_eq!(first("/ab*"), None);
        assert_eq!(first("/ab(/.*)?"), None);
        assert_eq!(first("/a/x|/b/y"), None);
        assert_eq!(first("(?i)/a/x"), None);
        assert_eq!(first("/a.b/x"), None);
        assert_eq!(first(r"/a\.b/x"), None);
        assert_eq!(first("//x"), None);
        assert_eq!(first(".*"), None);
        assert_eq!(first("/[a]/"), None);
    }
}
