//! `jwt`: authenticate requests by a signed JSON Web Token (HMAC, RSA, RSA-PSS,
//! ECDSA, EdDSA), with keys from consumer `jwt` credentials, the policy config
//! or a JWKS URL, and checks on the standard claims.

mod claims;
mod config;
mod jwks;
mod keys;
mod policy;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jwks;

pub use config::{InlineKey, JwtConfig};
pub(crate) use policy::parse_url;
pub use policy::{Jwt, build};
