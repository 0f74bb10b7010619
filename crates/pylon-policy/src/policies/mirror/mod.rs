//! `mirror`: copy a share of a route's requests to a shadow upstream whose
//! answers are discarded (testing a new release on real traffic). The proxy
//! sends the copy; this policy decides which requests are copied and where.

mod policy;
#[cfg(test)]
mod tests;

pub use policy::{Mirror, MirrorConfig, MirrorTo, build};
