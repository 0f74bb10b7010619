//! `mtls-auth`: identify the consumer by the verified TLS client certificate
//! (listener `tls.client_auth`), matching a consumer's `mtls` credential
//! subject against the certificate's common name or subject alternative names.

mod policy;
#[cfg(test)]
mod tests;

pub use policy::{MtlsAuth, MtlsAuthConfig, build};
