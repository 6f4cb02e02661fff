//! Access tokens the emulated Entra ID issues and the emulated API accepts: HS256 JWTs with the
//! app-only claims of reference §2.4, signed with a key that lives only in this emulator.
//! Revocation ("401 mid-run") rejects every token issued before the revocation.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Claims of an app-only access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) aud: String,
    pub(crate) iss: String,
    pub(crate) iat: i64,
    pub(crate) nbf: i64,
    pub(crate) exp: i64,
    pub(crate) appid: String,
    /// `1` = client secret, `2` = certificate.
    pub(crate) appidacr: String,
    pub(crate) idp: String,
    pub(crate) oid: String,
    pub(crate) sub: String,
    pub(crate) tid: String,
    pub(crate) roles: Vec<String>,
    /// Unique token id; the emulator keeps the issue sequence in its first eight bytes.
    pub(crate) uti: String,
    pub(crate) ver: String,
}

/// What a token is being issued for.
#[derive(Debug, Clone)]
pub(crate) struct Grant<'a> {
    pub(crate) tenant_id: Uuid,
    pub(crate) client_id: Uuid,
    pub(crate) resource: &'a str,
    pub(crate) roles: &'a [String],
    pub(crate) with_certificate: bool,
}

/// Issues and checks access tokens.
pub(crate) struct TokenMint {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issued: AtomicU64,
    revoked_through: AtomicU64,
    lifetime: chrono::Duration,
}

impl std::fmt::Debug for TokenMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMint")
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .field("revoked_through", &self.revoked_through.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why a bearer token is refused (all answered with the same 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    Malformed,
    Expired,
    NotYetValid,
    Revoked,
    WrongAudience,
}

impl TokenMint {
    pub(crate) fn new(lifetime: chrono::Duration) -> TokenMint {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        TokenMint {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            issued: AtomicU64::new(0),
            revoked_through: AtomicU64::new(0),
            lifetime,
        }
    }

    pub(crate) fn lifetime(&self) -> chrono::Duration {
        self.lifetime
    }

    /// Issues a token valid from `now` for the configured lifetime.
    pub(crate) fn issue(&self, grant: &Grant<'_>, now: DateTime<Utc>) -> Result<String, String> {
        let sequence = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let mut uti = sequence.to_be_bytes().to_vec();
        let mut noise = [0u8; 8];
        rand::rng().fill_bytes(&mut noise);
        uti.extend_from_slice(&noise);
        let issuer = format!("https://sts.windows.net/{}/", grant.tenant_id);
        // The service principal's object id: stable per tenant and app.
        let oid = Uuid::from_u64_pair(
            grant.tenant_id.as_u64_pair().0 ^ grant.client_id.as_u64_pair().1,
            grant.client_id.as_u64_pair().0,
        )
        .to_string();
        let claims = AccessClaims {
            aud: grant.resource.to_owned(),
            iss: issuer.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + self.lifetime).timestamp(),
            appid: grant.client_id.to_string(),
            appidacr: if grant.with_certificate { "2" } else { "1" }.to_owned(),
            idp: issuer,
            oid: oid.clone(),
            sub: oid,
            tid: grant.tenant_id.to_string(),
            roles: grant.roles.to_vec(),
            uti: URL_SAFE_NO_PAD.encode(uti),
            ver: "1.0".to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())
    }

    /// Every token issued so far is rejected from now on.
    pub(crate) fn revoke_all(&self) {
        self.revoked_through.store(self.issued.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Checks a bearer token at `now` against the accepted audiences.
    pub(crate) fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
        audiences: &[String],
    ) -> Result<AccessClaims, TokenRejection> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Times are checked against the emulated clock below, not the machine's.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| TokenRejection::Malformed)?
            .claims;
        if now.timestamp() >= claims.exp {
            return Err(TokenRejection::Expired);
        }
        if claims.nbf > now.timestamp() + 300 {
            return Err(TokenRejection::NotYetValid);
        }
        let sequence = URL_SAFE_NO_PAD
            .decode(&claims.uti)
            .ok()
            .and_then(|bytes| bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()))
            .map(u64::from_be_bytes)
            .ok_or(TokenRejection::Malformed)?;
        if sequence <= self.revoked_through.load(Ordering::SeqCst) {
            return Err(TokenRejection::Revoked);
        }
        let aud = claims.aud.trim_end_matches('/');
        if !audiences.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(aud)) {
            return Err(TokenRejection::WrongAudience);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn grant() -> (Vec<String>, Uuid, Uuid) {
        (vec!["ActivityFeed.Read".to_owned()], Uuid::from_u128(1), Uuid::from_u128(2))
    }

    #[test]
    fn tokens_verify_until_they_expire_or_are_revoked() {
        let mint = TokenMint::new(Duration::seconds(3599));
        let (roles, tenant_id, client_id) = grant();
        let audiences = vec!["https://manage.office.com".to_owned()];
        let g = Grant {
            tenant_id,
            client_id,
            resource: "https://manage.office.com",
            roles: &roles,
            with_certificate: false,
        };
        let token = mint.issue(&g, now()).unwrap();
        let claims = mint.verify(&token, now() + Duration::seconds(10), &audiences).unwrap();
        assert_eq!(claims.tid, tenant_id.to_string());
        assert_eq!(claims.roles, roles);
        assert_eq!(claims.iss, format!("https://sts.windows.net/{tenant_id}/"));
        assert_eq!(
            mint.verify(&token, now() + Duration::seconds(3599), &audiences),
            Err(TokenRejection::Expired)
        );
        assert_eq!(
            mint.verify(&token, now(), &["https://other".to_owned()]),
            Err(TokenRejection::WrongAudience)
        );
        mint.revoke_all();
        assert_eq!(mint.verify(&token, now(), &audiences), Err(TokenRejection::Revoked));
        let fresh = mint.issue(&g, now()).unwrap();
        assert!(mint.verify(&fresh, now(), &audiences).is_ok());
        assert_eq!(mint.verify("not.a.token", now(), &audiences), Err(TokenRejection::Malformed));
        let other_mint = TokenMint::new(Duration::seconds(3599));
        assert_eq!(
            other_mint.verify(&fresh, now(), &audiences),
            Err(TokenRejection::Malformed),
            "tokens of another emulator are refused"
        );
    }
}
