//! The secrets people hold and the server never stores: passwords (kept as argon2id PHC
//! strings), session cookies and API tokens (kept as SHA-256 digests), and the anti-CSRF token
//! of a session (derived from the session's cookie, kept as a digest).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// API tokens start with this, so that secret scanners and people recognize them.
pub const API_TOKEN_PREFIX: &str = "d365a_";

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A password or token in transit: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

fn random_text(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// SHA-256 of a secret's text: what the store keeps and looks up by.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new session cookie value (256 random bits).
pub fn new_session_token() -> Secret {
    Secret(random_text(32))
}

/// A new API token (256 random bits, with the recognizable prefix).
pub fn new_api_token() -> Secret {
    Secret(format!("{API_TOKEN_PREFIX}{}", random_text(32)))
}

/// The anti-CSRF token of a session: derived from the session cookie, so forms can carry it
/// without the server storing it, and useless without the cookie it belongs to.
pub fn csrf_token(session_token: &Secret) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"d365audit csrf v1\0");
    hasher.update(session_token.0.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// Whether `presented` is the CSRF token whose digest the session keeps, in constant time.
pub fn csrf_matches(presented: &str, expected_digest: &[u8; 32]) -> bool {
    bool::from(digest(presented).ct_eq(expected_digest))
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password cannot be hashed: {0}")]
    Hashing(String),
}

/// Checks the password policy (length only: long passphrases beat composition rules).
pub fn check_password_policy(password: &Secret) -> Result<(), PasswordError> {
    if password.0.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// Hashes a password with argon2id (the crate's default parameters, OWASP's minimum) and a
/// random salt. Slow on purpose: call it on a blocking thread.
pub fn hash_password(password: &Secret) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches a stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &Secret, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.0.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the username is unknown so that a
/// failed sign-in takes as long whether or not the account exists.
pub fn decoy_hash() -> String {
    hash_password(&Secret(random_text(24))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_hashes_are_salted() {
        let password = Secret::new("correct horse battery staple");
        let first = hash_password(&password).unwrap();
        let second = hash_password(&password).unwrap();
        assert_ne!(first, second, "a random salt makes every hash different");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert!(verify_password(&password, &first));
        assert!(!verify_password(&Secret::new("correct horse battery stapler"), &first));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let session = new_session_token();
        let other = new_session_token();
        let token = csrf_token(&session);
        assert!(csrf_matches(&token, &digest(&token)));
        assert!(!csrf_matches(&csrf_token(&other), &digest(&token)));
        assert_ne!(token, session.expose(), "the form token is not the cookie");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let token = new_api_token();
        assert!(token.expose().starts_with(API_TOKEN_PREFIX));
        assert!(!format!("{token:?}").contains(&token.expose()[6..]));
    }

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        let err = check_password_policy(&Secret::new("short")).unwrap_err();
        assert!(err.to_string().contains("12"), "{err}");
    }
}
