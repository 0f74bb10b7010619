//! A segment trie holding the exact, prefix and template paths of one host bucket.
//!
//! A normalized path `/a/b/` is the segment list `["a", "b", ""]` (the text after
//! the leading `/`, split on `/`; `/` itself is `[""]`). Each node is reached by a
//! sequence of segments and holds the entries that match there:
//!
//! * `end`: exact paths and templates that end at this node; they match only when
//!   the request path has no segment left;
//! * `prefix`: prefixes without a trailing `/` (`/api`); they match whatever is left;
//! * `prefix_more`: prefixes with a trailing `/` (`/api/`, and `/` at the root); they
//!   need at least one more segment, possibly empty (`/api/` but not `/api`);
//! * `catch_all`: templates ending in `{*rest}`; they match whatever is left.
//!
//! Literal children are looked up by the next segment; the single parameter child
//! accepts any non-empty segment. A lookup walks every branch that can match and
//! hands each matching entry list to the caller, which keeps the best entry.
//! Entry ids are ranks in the global route order, so every list is sorted best
//! first and the caller can stop early.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::compile::{Seg, Template};

/// Rank of a route variant in the global order; also its index in the entry table.
pub(crate) type EntryId = u32;

/// A fast, non-keyed hasher for the string keys of the lookup tables. Only
/// configuration inserts keys, so hash flooding by clients is not a concern.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// Above this many literal children a node switches from a list to a hash map.
const SMALL_CHILDREN: usize = 8;

#[derive(Debug)]
enum Children {
    Small(Vec<(Box<str>, u32)>),
    Map(FastMap<Box<str>, u32>),
}

impl Default for Children {
    fn default() -> Self {
        Children::Small(Vec::new())
    }
}

impl Children {
    fn get(&self, seg: &str) -> Option<u32> {
        match self {
            Children::Small(list) => list.iter().find(|(s, _)| **s == *seg).map(|(_, id)| *id),
            Children::Map(map) => map.get(seg).copied(),
        }
    }

    fn insert(&mut self, seg: &str, id: u32) {
        match self {
            Children::Small(list) if list.len() < SMALL_CHILDREN => list.push((seg.into(), id)),
            Children::Small(list) => {
                let mut map: FastMap<Box<str>, u32> = list.drain(..).collect();
                map.insert(seg.into(), id);
                *self = Children::Map(map);
            }
            Children::Map(map) => {
                map.insert(seg.into(), id);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    children: Children,
    param: Option<u32>,
    end: Vec<EntryId>,
    prefix: Vec<EntryId>,
    prefix_more: Vec<EntryId>,
    catch_all: Vec<EntryId>,
}

/// The trie; entries must be inserted in ascending id order.
#[derive(Debug)]
pub(crate) struct SegmentTrie {
    nodes: Vec<Node>,
}

impl Default for SegmentTrie {
    fn default() -> Self {
        SegmentTrie {
            nodes: vec![Node::default()],
        }
    }
}

impl SegmentTrie {
    fn literal(&mut self, from: u32, seg: &str) -> u32 {
        if let Some(id) = self.nodes[from as usize].children.get(seg) {
            return id;
        }
        let id = self.new_node();
        self.nodes[from as usize].children.insert(seg, id);
        id
    }

    fn param(&mut self, from: u32) -> u32 {
        if let Some(id) = self.nodes[from as usize].param {
            return id;
        }
        let id = self.new_node();
        self.nodes[from as usize].param = Some(id);
        id
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        // Node count is bounded by the total length of configured paths.
        (self.nodes.len() - 1) as u32
    }

    fn node_for_literal_path(&mut self, path: &str) -> u32 {
        let mut node = 0;
        if let Some(rest) = path.strip_prefix('/') {
            for seg in rest.split('/') {
                node = self.literal(node, seg);
            }
        }
        node
    }

    /// An exact, normalized path.
    pub(crate) fn insert_exact(&mut self, path: &str, id: EntryId) {
        let node = self.node_for_literal_path(path);
        self.nodes[node as usize].end.push(id);
    }

    /// A segment-aware, normalized prefix (`/api`, `/api/` or `/`).
    pub(crate) fn insert_prefix(&mut self, prefix: &str, id: EntryId) {
        match prefix.strip_suffix('/') {
            Some(stem) => {
                let node = self.node_for_literal_path(stem);
                self.nodes[node as usize].prefix_more.push(id);
            }
            None => {
                let node = self.node_for_literal_path(prefix);
                self.nodes[node as usize].prefix.push(id);
            }
        }
    }

    pub(crate) fn insert_template(&mut self, template: &Template, id: EntryId) {
        let mut node = 0;
        for seg in &template.segs {
            node = match seg {
                Seg::Literal(l) => self.literal(node, l),
                Seg::Param(_) => self.param(node),
                Seg::CatchAll(_) => {
                    self.nodes[node as usize].catch_all.push(id);
                    return;
                }
            };
        }
        self.nodes[node as usize].end.push(id);
    }

    /// Call `f` with every entry list whose paths match the normalized `path`.
    pub(crate) fn walk(&self, path: &str, f: &mut impl FnMut(&[EntryId])) {
        if let Some(rest) = path.strip_prefix('/') {
            self.walk_node(0, Some(rest), f);
        }
    }

    /// `rest` is the unconsumed part of the path after a `/`, or `None` when every
    /// segment has been consumed.
    fn walk_node(&self, id: u32, rest: Option<&str>, f: &mut impl FnMut(&[EntryId])) {
        let Some(node) = self.nodes.get(id as usize) else {
            return;
        };
        if !node.prefix.is_empty() {
            f(&node.prefix);
        }
        if !node.catch_all.is_empty() {
            f(&node.catch_all);
        }
        let Some(rest) = rest else {
            if !node.end.is_empty() {
                f(&node.end);
            }
            return;
        };
        if !node.prefix_more.is_empty() {
            f(&node.prefix_more);
        }
        let (seg, next) = match rest.split_once('/') {
            Some((seg, next)) => (seg, Some(next)),
            None => (rest, None),
        };
        if let Some(child) = node.children.get(seg) {
            self.walk_node(child, next, f);
        }
        if let Some(child) = node.param.filter(|_| !seg.is_empty()) {
            self.walk_node(child, next, f);
        }
    }
}
