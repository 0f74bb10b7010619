//! Admin token material: generation (32 random bytes from the OS, base64url, `pyl_` prefix),
//! the SHA-256 digest that is the only thing stored, and the short display hint.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};

use super::error::{Result, StoreError};
use super::model::ClearToken;

/// Prefix of every generated admin token, so secret scanners and people recognize it.
pub const TOKEN_PREFIX: &str = "pyl_";

/// Shortest token accepted from outside (e.g. `PYLON_ADMIN_TOKEN`).
pub const MIN_IMPORTED_TOKEN_LEN: usize = 32;

const HINT_LEN: usize = 8;

/// A new random token: `pyl_` + base64url(32 bytes from the OS RNG).
pub(crate) fn generate() -> Result<ClearToken> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::Config(format!("the OS random source failed: {e}")))?;
    Ok(ClearToken::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// Checks a token given from outside: long enough, printable ASCII without spaces.
pub(crate) fn check_imported(token: &str) -> Result<ClearToken> {
    if token.len() < MIN_IMPORTED_TOKEN_LEN {
        return Err(StoreError::Invalid(format!(
            "an admin token must be at least {MIN_IMPORTED_TOKEN_LEN} characters"
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Invalid(
            "an admin token must be printable ASCII without spaces".into(),
        ));
    }
    Ok(ClearToken::new(token.to_owned()))
}

/// The stored form of a token: SHA-256 of its text. Tokens carry 256 bits of entropy, so a
/// fast unsalted hash is enough (no dictionary to attack), and lookup by digest is exact.
pub(crate) fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The first characters of a token, shown in lists.
pub(crate) fn hint(token: &ClearToken) -> String {
    token.expose().chars().take(HINT_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_long_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(hint(&a).len(), HINT_LEN);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(digest("abc").len(), 32);
        assert_eq!(
            digest("abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts with ba7816bf"
        );
    }

    #[test]
    fn imported_tokens_are_checked() {
        assert!(check_imported("short").is_err());
        assert!(check_imported(&"x".repeat(31)).is_err());
        assert!(check_imported(&format!("{} y", "x".repeat(40))).is_err());
        assert!(check_imported(&"x".repeat(32)).is_ok());
    }
}
