//! Config checks the policy layer owns: every attached policy builds from its
//! config. Plugged into config loading so `pylon validate` reports them too.

use pylon_config::{Config, ConfigIssue};

use crate::chain::ChainSet;
use crate::shared::Shared;

/// Build every policy of `cfg` (with throwaway state) and report what fails.
pub fn check(cfg: &Config) -> Vec<ConfigIssue> {
    match ChainSet::build(cfg, &Shared::new()) {
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    }
}
