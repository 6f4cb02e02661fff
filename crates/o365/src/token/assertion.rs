//! Certificate credentials: a PEM certificate and its PEM private key, turned into the signed
//! JWT client assertion Entra ID expects (PS256 with `x5t#S256` by default, or the older RS256
//! with `x5t`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha1::Digest as _;
use uuid::Uuid;

use crate::error::ConfigError;
use crate::token::AuthError;

/// How the client assertion is signed and which thumbprint names the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionStyle {
    /// `alg: PS256`, `x5t#S256` = base64url(SHA-256 of the certificate DER): current
    /// documentation.
    #[default]
    Ps256Sha256Thumbprint,
    /// `alg: RS256`, `x5t` = base64url(SHA-1 of the certificate DER): the older documentation.
    Rs256Sha1Thumbprint,
}

/// How long an assertion is valid.
pub const ASSERTION_LIFETIME: Duration = Duration::minutes(10);

/// A certificate and its private key. `Debug` shows only the thumbprint.
#[derive(Clone)]
pub struct CertificateCredential {
    key: EncodingKey,
    style: AssertionStyle,
    /// base64url(SHA-1(DER)).
    x5t: String,
    /// base64url(SHA-256(DER)).
    x5t_s256: String,
    /// Upper-case hex SHA-1, as the Azure portal shows certificate thumbprints.
    thumbprint_hex: String,
    not_after: Option<DateTime<Utc>>,
}

impl fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("thumbprint", &self.thumbprint_hex)
            .field("style", &self.style)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The claims of a client assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub aud: String,
    pub iss: String,
    pub sub: String,
    pub jti: String,
    pub nbf: i64,
    pub exp: i64,
    pub iat: i64,
}

impl CertificateCredential {
    /// Reads a PEM certificate (the first `CERTIFICATE` block) and a PEM RSA private key (PKCS#8
    /// `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, unencrypted), and checks that they belong
    /// together.
    pub fn from_pem(
        certificate_pem: &[u8],
        private_key_pem: &[u8],
        style: AssertionStyle,
    ) -> Result<CertificateCredential, ConfigError> {
        let bad = |reason: String| ConfigError::Certificate { reason };
        let blocks = pem::parse_many(certificate_pem)
            .map_err(|e| bad(format!("the certificate is not valid PEM ({e})")))?;
        let der = blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| bad("the certificate file has no CERTIFICATE block".to_owned()))?
            .into_contents();
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad(format!("the certificate cannot be parsed ({e})")))?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
            return Err(bad("the certificate key must be RSA (2048 bits or more)".to_owned()));
        }
        let public = DecodingKey::from_rsa_der(&spki.subject_public_key.data);
        let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0);

        let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|_| {
            bad("the private key must be an unencrypted RSA key in PEM (\"PRIVATE KEY\" or \
                 \"RSA PRIVATE KEY\")"
                .to_owned())
        })?;
        let probe = b"d365audit key check";
        let matches = jsonwebtoken::crypto::sign(probe, &key, Algorithm::RS256)
            .and_then(|sig| jsonwebtoken::crypto::verify(&sig, probe, &public, Algorithm::RS256))
            .unwrap_or(false);
        if !matches {
            return Err(bad("the private key does not belong to the certificate".to_owned()));
        }

        let sha1 = sha1::Sha1::digest(&der);
        let sha256 = sha2::Sha256::digest(&der);
        Ok(CertificateCredential {
            key,
            style,
            x5t: URL_SAFE_NO_PAD.encode(sha1),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
            thumbprint_hex: sha1.iter().map(|b| format!("{b:02X}")).collect(),
            not_after,
        })
    }

    /// Upper-case hex SHA-1 thumbprint, as shown under Certificates & secrets in the portal.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint_hex
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> Option<DateTime<Utc>> {
        self.not_after
    }

    /// The signing style.
    pub fn style(&self) -> AssertionStyle {
        self.style
    }

    /// The JWT header this credential produces.
    pub fn header(&self) -> Header {
        match self.style {
            AssertionStyle::Ps256Sha256Thumbprint => {
                let mut header = Header::new(Algorithm::PS256);
                header.x5t_s256 = Some(self.x5t_s256.clone());
                header
            }
            AssertionStyle::Rs256Sha1Thumbprint => {
                let mut header = Header::new(Algorithm::RS256);
                header.x5t = Some(self.x5t.clone());
                header
            }
        }
    }

    /// A signed client assertion for `audience` (the token endpoint URL the assertion is posted
    /// to), valid from `now` for [`ASSERTION_LIFETIME`].
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: DateTime<Utc>,
        jti: Uuid,
    ) -> Result<String, AuthError> {
        let claims = AssertionClaims {
            aud: audience.to_owned(),
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            jti: jti.to_string(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            exp: (now + ASSERTION_LIFETIME).timestamp(),
        };
        jsonwebtoken::encode(&self.header(), &claims, &self.key)
            .map_err(|e| AuthError::Assertion { reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use jsonwebtoken::{Validation, decode};

    const APP_CERT: &[u8] = include_bytes!("../../../emulator/testdata/app-cert.pem");
    const APP_KEY: &[u8] = include_bytes!("../../../emulator/testdata/app-key.pem");
    const OTHER_KEY: &[u8] = include_bytes!("../../../emulator/testdata/other-key.pem");

    fn der() -> Vec<u8> {
        pem::parse(APP_CERT).unwrap().into_contents()
    }

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn ps256_assertion_has_the_documented_header_and_claims() {
        let cred =
            CertificateCredential::from_pem(APP_CERT, APP_KEY, AssertionStyle::default()).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        let jti = Uuid::new_v4();
        let aud = "https://login.microsoftonline.com/41463f53-8812-40f4-890f-865bf6e35190/oauth2/v2.0/token";
        let jwt = cred.assertion("a6099727-6b7b-482c-b509-1df309acc563", aud, now, jti).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);

        let header = decode_part(parts[0]);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t#S256"], URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der())));
        assert!(header.get("x5t").is_none());

        let claims = decode_part(parts[1]);
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["iss"], "a6099727-6b7b-482c-b509-1df309acc563");
        assert_eq!(claims["sub"], "a6099727-6b7b-482c-b509-1df309acc563");
        assert_eq!(claims["jti"], jti.to_string());
        assert_eq!(claims["nbf"], now.timestamp());
        assert_eq!(claims["iat"], now.timestamp());
        assert_eq!(claims["exp"], now.timestamp() + 600);

        // The signature verifies with the certificate's public key.
        let public = DecodingKey::from_rsa_pem(APP_CERT).unwrap();
        let mut validation = Validation::new(Algorithm::PS256);
        validation.set_audience(&[aud]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = decode::<AssertionClaims>(&jwt, &public, &validation).unwrap();
        assert_eq!(data.claims.jti, jti.to_string());
    }

    #[test]
    fn rs256_assertion_uses_the_sha1_thumbprint() {
        let cred =
            CertificateCredential::from_pem(APP_CERT, APP_KEY, AssertionStyle::Rs256Sha1Thumbprint)
                .unwrap();
        let jwt = cred
            .assertion("c", "https://login.example/t/oauth2/token", Utc::now(), Uuid::new_v4())
            .unwrap();
        let header = decode_part(jwt.split('.').next().unwrap());
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der())));
        assert!(header.get("x5t#S256").is_none());
        let hex: String = sha1::Sha1::digest(der()).iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(cred.thumbprint(), hex);
    }

    #[test]
    fn each_assertion_has_a_new_jti() {
        let cred =
            CertificateCredential::from_pem(APP_CERT, APP_KEY, AssertionStyle::default()).unwrap();
        let now = Utc::now();
        let a = cred.assertion("c", "aud", now, Uuid::new_v4()).unwrap();
        let b = cred.assertion("c", "aud", now, Uuid::new_v4()).unwrap();
        assert_ne!(
            decode_part(a.split('.').nth(1).unwrap())["jti"],
            decode_part(b.split('.').nth(1).unwrap())["jti"]
        );
    }

    #[test]
    fn mismatched_or_broken_inputs_are_refused_with_reasons() {
        let err = CertificateCredential::from_pem(APP_CERT, OTHER_KEY, AssertionStyle::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not belong to the certificate"), "{err}");
        let err = CertificateCredential::from_pem(APP_KEY, APP_KEY, AssertionStyle::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no CERTIFICATE block"), "{err}");
        let err =
            CertificateCredential::from_pem(APP_CERT, b"not a key", AssertionStyle::default())
                .unwrap_err()
                .to_string();
        assert!(err.contains("RSA key in PEM"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let cred =
            CertificateCredential::from_pem(APP_CERT, APP_KEY, AssertionStyle::default()).unwrap();
        let debug = format!("{cred:?}");
        assert!(debug.contains("[redacted]") && debug.contains(cred.thumbprint()), "{debug}");
        let key_body: String = String::from_utf8_lossy(APP_KEY).lines().nth(1).unwrap().to_owned();
        assert!(!debug.contains(&key_body[..20]));
    }
}
