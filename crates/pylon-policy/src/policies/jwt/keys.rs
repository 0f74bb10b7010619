//! Verification keys: parsed from config (inline keys, consumer credentials)
//! or from a JWKS. Each key carries the algorithms it accepts, decided by the
//! key (its configured algorithm, its JWK `alg`, or its key type) and never
//! by the token header; that is what defeats algorithm confusion.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use pylon_config::CredentialConfig;
use serde_json::Value;

use crate::consumer::{Consumer, Consumers};
use crate::error::PolicyError;

pub(super) struct VerifyKey {
    pub(super) kid: Option<Arc<str>>,
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) key: DecodingKey,
}

impl VerifyKey {
    /// A key given as `algorithm` plus `secret` or PEM `public_key`.
    pub(super) fn from_config(
        kid: Option<&str>,
        algorithm: &str,
        secret: Option<&str>,
        public_key: Option<&str>,
    ) -> Result<Self, String> {
        let alg = Algorithm::from_str(algorithm)
            .map_err(|_| format!("unsupported JWT algorithm `{algorithm}`"))?;
        let key = match (alg.family(), secret, public_key) {
            (AlgorithmFamily::Hmac, Some(s), None) if !s.is_empty() => {
                DecodingKey::from_secret(s.as_bytes())
            }
            (AlgorithmFamily::Hmac, _, _) => {
                return Err(format!(
                    "{algorithm} needs a non-empty `secret` and no `public_key`"
                ));
            }
            (family, None, Some(pem)) => {
                let pem = pem.as_bytes();
                let parsed = match family {
                    AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
                    AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
                    _ => DecodingKey::from_ed_pem(pem),
                };
                parsed
                    .map_err(|e| format!("public_key is not a usable {algorithm} PEM key: {e}"))?
            }
            _ => return Err(format!("{algorithm} needs `public_key` and no `secret`")),
        };
        Ok(Self {
            kid: kid.map(Arc::from),
            algorithms: vec![alg],
            key,
        })
    }

    /// A signature key from a JWKS entry; `None` for keys that are not for
    /// signatures, symmetric (never taken from the network) or unsupported.
    pub(super) fn from_jwk(value: &Value) -> Option<Self> {
        let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let by_type: &[Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa.algorithms(),
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                &[Algorithm::EdDSA]
            }
            _ => return None,
        };
        let algorithms = match jwk.common.key_algorithm {
            Some(a) => {
                let alg = Algorithm::try_from(a).ok()?;
                if !by_type.contains(&alg) {
                    return None;
                }
                vec![alg]
            }
            None => by_type.to_vec(),
        };
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.as_deref().map(Arc::from),
            algorithms,
            key,
        })
    }

    /// Whether this key may verify a token with this header.
    pub(super) fn fits(&self, alg: Algorithm, kid: Option<&str>) -> bool {
        self.algorithms.contains(&alg)
            && match (kid, &self.kid) {
                (Some(want), Some(have)) => **have == *want,
                _ => true,
            }
    }

    /// The token's claims if its signature verifies with this key under one
    /// of this key's algorithms. Time, issuer and audience are checked by the
    /// caller (strictly typed), so the library checks the signature only.
    pub(super) fn verify(&self, token: &str) -> Option<Value> {
        let mut v = Validation::new(*self.algorithms.first()?);
        v.algorithms = self.algorithms.clone();
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        jsonwebtoken::decode::<Value>(token, &self.key, &v)
            .ok()
            .map(|d| d.claims)
    }
}

/// A consumer `jwt` credential's key.
pub(super) struct CredentialKey {
    pub(super) consumer: Arc<Consumer>,
    pub(super) id: Arc<str>,
    pub(super) key: VerifyKey,
}

/// Consumer `jwt` credentials of one snapshot, by their `key`.
pub(super) struct CredentialKeys {
    pub(super) by_key: HashMap<String, CredentialKey>,
    pub(super) error: Option<PolicyError>,
}

impl CredentialKeys {
    pub(super) fn build(consumers: &Consumers) -> Self {
        let mut by_key = HashMap::new();
        let mut error = None;
        for entry in consumers.credentials("jwt") {
            let CredentialConfig::Jwt {
                key,
                algorithm,
                secret,
                public_key,
                ..
            } = &entry.config
            else {
                continue;
            };
            match VerifyKey::from_config(None, algorithm, secret.as_deref(), public_key.as_deref())
            {
                Ok(k) => {
                    by_key.entry(key.clone()).or_insert(CredentialKey {
                        consumer: entry.consumer.clone(),
                        id: entry.id.clone(),
                        key: k,
                    });
                }
                Err(reason) => {
                    error.get_or_insert_with(|| {
                        PolicyError::config(
                            "",
                            format!(
                                "consumer `{}`, credential `{}`: {reason}",
                                entry.consumer.name, entry.id
                            ),
                        )
                    });
                }
            }
        }
        Self { by_key, error }
    }
}
