//! `resources/dlpSensitiveTypes` (reference §1.11): friendly names of sensitive information
//! types, in the single language of `Accept-Language`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::api_error::{ApiError, af, json_response};

/// A few well-known built-in types (id, name).
const SENSITIVE_TYPES: [(&str, &str); 6] = [
    ("50842eb7-edc8-4019-85dd-5a5c1f2bb085", "CreditCardNumber"),
    ("a44669fe-0d48-453d-a9b1-2cc83f2cba77", "USSocialSecurityNumber"),
    ("178ec42a-18b4-47cc-85c7-d62c92fd67f8", "USUKPassportNumber"),
    ("e7dc4711-11b7-4cb0-b88b-2c394a771f0e", "InternationalBankingAccountNumber"),
    ("cb353f78-2b72-4c3c-8827-92ebe4f69fdf", "ABARoutingNumber"),
    ("0e9b3178-9678-47dd-a509-37222ca96b42", "EUDebitCardNumber"),
];

/// `Ok` for one well-formed language tag (or none); `AF20053` for several, `AF20054` for
/// malformed ones.
pub(crate) fn check_language(value: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(()) };
    let languages: Vec<&str> = value.split(',').map(str::trim).filter(|l| !l.is_empty()).collect();
    if languages.len() > 1 {
        return Err(af(
            "AF20053",
            "More than one language was specified in the Accept-Language header.",
        ));
    }
    let tag = languages.first().map_or("", |l| l.split(';').next().unwrap_or("").trim());
    let quality_ok = languages.first().is_none_or(|l| {
        l.split(';').skip(1).all(|p| {
            p.trim()
                .strip_prefix("q=")
                .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| (0.0..=1.0).contains(&q)))
        })
    });
    let mut subtags = tag.split('-');
    let primary_ok = subtags
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if tag == "*" || (primary_ok && rest_ok && quality_ok) {
        Ok(())
    } else {
        Err(af("AF20054", format!("Invalid Accept-Language header value: {value}.")))
    }
}

pub(super) fn sensitive_types(headers: &HeaderMap) -> Result<Response, ApiError> {
    check_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))?;
    let body: Vec<_> =
        SENSITIVE_TYPES.iter().map(|(id, name)| json!({"id": id, "name": name})).collect();
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: Option<&str>) -> &'static str {
        match check_language(value) {
            Ok(()) => "ok",
            Err(ApiError::Af { code, .. }) => code,
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn accept_language_rules() {
        assert_eq!(code(None), "ok");
        assert_eq!(code(Some("en-US")), "ok");
        assert_eq!(code(Some("fr")), "ok");
        assert_eq!(code(Some("de-DE;q=0.8")), "ok");
        assert_eq!(code(Some("*")), "ok");
        assert_eq!(code(Some("en-US, fr-FR")), "AF20053");
        assert_eq!(code(Some("en_US")), "AF20054");
        assert_eq!(code(Some("english please")), "AF20054");
        assert_eq!(code(Some("en;q=x")), "AF20054");
    }
}
