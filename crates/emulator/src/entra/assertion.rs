//! Certificate credentials (reference §2.3): registering an app's certificates and checking a
//! client assertion: RS256 or PS256, signed by the key of a registered certificate found by
//! `x5t#S256` (SHA-256 thumbprint) or legacy `x5t` (SHA-1), `aud` = the token endpoint called,
//! `iss` = `sub` = client id, valid `nbf`/`exp`, and a `jti`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use x509_parser::public_key::PublicKey;

use super::aadsts::{self, AadError};

/// A certificate registered on an app: its thumbprints and RSA public key.
#[derive(Debug, Clone)]
pub(crate) struct RegisteredCertificate {
    sha1: [u8; 20],
    sha256: [u8; 32],
    key: DecodingKey,
}

/// Parses a PEM certificate with an RSA key.
pub(crate) fn register_certificate(pem: &str) -> Result<RegisteredCertificate, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let certificate = pem.parse_x509().map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let key = match certificate.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => DecodingKey::from_rsa_raw_components(
            strip_zeros(rsa.modulus),
            strip_zeros(rsa.exponent),
        ),
        Ok(_) => return Err("only RSA certificates are supported".to_owned()),
        Err(e) => return Err(format!("unreadable public key: {e}")),
    };
    Ok(RegisteredCertificate {
        sha1: Sha1::digest(&pem.contents).into(),
        sha256: Sha256::digest(&pem.contents).into(),
        key,
    })
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

fn decode_thumbprint(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).or_else(|_| STANDARD.decode(text)).ok()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// What the assertion is checked against.
#[derive(Debug)]
pub(crate) struct AssertionCheck<'a> {
    pub(crate) client_id: Uuid,
    pub(crate) now: i64,
    /// Token endpoint URLs the `aud` may name (the endpoint called, in its accepted spellings).
    pub(crate) audiences: &'a [String],
    pub(crate) certificates: &'a [RegisteredCertificate],
}

/// Allowed clock skew for `nbf` (Entra ID tolerates a few minutes).
const NBF_SKEW_SECONDS: i64 = 300;

/// Verifies a client assertion.
pub(crate) fn verify_assertion(
    assertion: &str,
    check: &AssertionCheck<'_>,
) -> Result<(), AadError> {
    let client = check.client_id.to_string();
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| aadsts::assertion_malformed("The client assertion is not a JWT."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(aadsts::assertion_malformed(&format!(
            "The assertion is signed with {:?}; use RS256 or PS256 with the certificate's key.",
            header.alg
        )));
    }
    let sha256 = header.x5t_s256.as_deref().and_then(decode_thumbprint);
    let sha1 = header.x5t.as_deref().and_then(decode_thumbprint);
    if sha256.is_none() && sha1.is_none() {
        return Err(aadsts::unknown_certificate("(no x5t#S256 or x5t header)", &client));
    }
    let certificate = check.certificates.iter().find(|c| {
        sha256.as_deref() == Some(c.sha256.as_slice()) || sha1.as_deref() == Some(c.sha1.as_slice())
    });
    let Some(certificate) = certificate else {
        let shown = sha256.or(sha1).map(|t| hex_upper(&t)).unwrap_or_default();
        return Err(aadsts::unknown_certificate(&shown, &client));
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims =
        match jsonwebtoken::decode::<serde_json::Value>(assertion, &certificate.key, &validation) {
            Ok(data) => data.claims,
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                return Err(aadsts::bad_signature());
            }
            Err(e) => {
                return Err(aadsts::assertion_malformed(&format!(
                    "The assertion could not be read: {e}."
                )));
            }
        };
    let text =
        |name: &str| claims.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let number = |name: &str| claims.get(name).and_then(|v| v.as_i64());

    let aud = text("aud");
    let aud_matches = check
        .audiences
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(aud.trim_end_matches('/')));
    if !aud_matches {
        let expected = check.audiences.first().map_or("", String::as_str);
        return Err(aadsts::assertion_audience(&aud, expected));
    }
    if text("iss") != client || text("sub") != client {
        return Err(aadsts::assertion_subject());
    }
    let Some(exp) = number("exp") else {
        return Err(aadsts::assertion_malformed("The assertion has no 'exp' claim."));
    };
    let nbf = number("nbf");
    if check.now >= exp || nbf.is_some_and(|nbf| nbf > check.now + NBF_SKEW_SECONDS) {
        return Err(aadsts::assertion_time(check.now, nbf, exp));
    }
    if text("jti").is_empty() {
        return Err(aadsts::assertion_malformed("The assertion has no 'jti' claim."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const APP_CERT: &str = include_str!("../../testdata/app-cert.pem");
    const APP_KEY: &str = include_str!("../../testdata/app-key.pem");
    const OTHER_CERT: &str = include_str!("../../testdata/other-cert.pem");
    const OTHER_KEY: &str = include_str!("../../testdata/other-key.pem");
    const AUD: &str = "http://127.0.0.1:1/41463f53-8812-40f4-890f-865bf6e35190/oauth2/v2.0/token";
    const NOW: i64 = 1_780_000_000;

    fn client() -> Uuid {
        Uuid::from_u128(0xa609_9727_6b7b_482c_b509_1df3_09ac_c563)
    }

    fn cert_der(pem_text: &str) -> Vec<u8> {
        x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).unwrap().1.contents
    }

    fn sign(
        alg: Algorithm,
        cert: &str,
        key: &str,
        claims: serde_json::Value,
        legacy_x5t: bool,
    ) -> String {
        let der = cert_der(cert);
        let mut header = Header::new(alg);
        if legacy_x5t {
            header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(&der)));
        } else {
            header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der)));
        }
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap())
            .unwrap()
    }

    fn claims() -> serde_json::Value {
        let id = client().to_string();
        json!({"aud": AUD, "iss": id, "sub": id, "jti": Uuid::new_v4().to_string(), "nbf": NOW, "exp": NOW + 600})
    }

    fn check(assertion: &str) -> Result<(), u32> {
        let certs = [register_certificate(APP_CERT).unwrap()];
        let audiences = [AUD.to_owned()];
        verify_assertion(
            assertion,
            &AssertionCheck {
                client_id: client(),
                now: NOW + 10,
                audiences: &audiences,
                certificates: &certs,
            },
        )
        .map_err(|e| e.code)
    }

    #[test]
    fn registered_certificate_signs_with_ps256_and_rs256() {
        assert_eq!(check(&sign(Algorithm::PS256, APP_CERT, APP_KEY, claims(), false)), Ok(()));
        assert_eq!(check(&sign(Algorithm::RS256, APP_CERT, APP_KEY, claims(), true)), Ok(()));
        let mut with_slash = claims();
        with_slash["aud"] = json!(format!("{AUD}/"));
        assert_eq!(check(&sign(Algorithm::RS256, APP_CERT, APP_KEY, with_slash, false)), Ok(()));
    }

    #[test]
    fn unknown_certificate_and_forged_signature_fail_with_700027() {
        assert_eq!(
            check(&sign(Algorithm::PS256, OTHER_CERT, OTHER_KEY, claims(), false)),
            Err(700027)
        );
        // Claims the registered thumbprint but signs with another key.
        assert_eq!(
            check(&sign(Algorithm::PS256, APP_CERT, OTHER_KEY, claims(), false)),
            Err(700027)
        );
    }

    #[test]
    fn claims_are_checked() {
        let cases: [(&str, serde_json::Value, u32); 5] = [
            ("aud", json!("https://login.microsoftonline.com/x/oauth2/v2.0/token"), 700023),
            ("iss", json!("someone-else"), 700021),
            ("exp", json!(NOW), 700024),
            ("nbf", json!(NOW + 3600), 700024),
            ("jti", json!(""), 50027),
        ];
        for (claim, value, code) in cases {
            let mut c = claims();
            c[claim] = value;
            assert_eq!(
                check(&sign(Algorithm::PS256, APP_CERT, APP_KEY, c, false)),
                Err(code),
                "{claim}"
            );
        }
        assert_eq!(check("garbage"), Err(50027));
    }
}
