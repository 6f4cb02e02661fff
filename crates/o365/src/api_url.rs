//! Management Activity API URLs: the per-tenant operation root, the pin that keeps the bearer
//! token on the configured API origin, and the `PublisherIdentifier` every request carries.
//! URLs received from the service (`contentUri`, `NextPageUri`) are used verbatim: only
//! `PublisherIdentifier` is appended when missing, nothing is re-encoded (the literal `$` in
//! content ids stays a `$`).

use url::{Origin, Url};
use uuid::Uuid;

use crate::cloud::require_safe_base;
use crate::error::{ConfigError, Error};

/// The query parameter naming the software publisher's tenant.
pub(crate) const PUBLISHER_IDENTIFIER: &str = "PublisherIdentifier";

/// `{api}/api/v1.0/{tenant}/activity/feed/` plus the origin the token may be sent to.
#[derive(Debug, Clone)]
pub(crate) struct ApiRoot {
    root: Url,
    origin: Origin,
}

impl ApiRoot {
    pub(crate) fn new(api_base: &Url, tenant_id: Uuid) -> Result<ApiRoot, ConfigError> {
        require_safe_base("API base", api_base)?;
        let mut root = api_base.clone();
        root.path_segments_mut()
            .map_err(|()| ConfigError::InvalidUrl {
                what: "API base".to_owned(),
                url: api_base.to_string(),
                reason: "it cannot be a base URL".to_owned(),
            })?
            .pop_if_empty()
            .extend(["api", "v1.0", &tenant_id.to_string(), "activity", "feed"]);
        Ok(ApiRoot { origin: api_base.origin(), root })
    }

    /// The URL of an operation below the root, e.g. `["subscriptions", "start"]`.
    pub(crate) fn operation(&self, segments: &[&str]) -> Url {
        let mut url = self.root.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// The trusted origin, as text (for messages).
    pub(crate) fn origin_text(&self) -> String {
        self.origin.ascii_serialization()
    }

    /// Refuses any URL that is not on the configured API origin (scheme, host and port), or
    /// that carries credentials, before anything is sent.
    pub(crate) fn pin(&self, url: &Url) -> Result<(), Error> {
        if url.origin() != self.origin || !url.username().is_empty() || url.password().is_some() {
            let mut shown = url.clone();
            // Never repeat credentials found in a URL.
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(Error::ForeignUrl { url: shown.to_string(), expected: self.origin_text() });
        }
        Ok(())
    }
}

/// Parses a URL received from the service or from a webhook notification. Relative references
/// are resolved against `base` (the request that returned them), everything else is kept as is.
pub(crate) fn parse_received(
    what: &'static str,
    text: &str,
    base: Option<&Url>,
) -> Result<Url, Error> {
    let text = text.trim();
    let parsed = match (Url::parse(text), base) {
        (Ok(url), _) => Ok(url),
        (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => base.join(text),
        (Err(e), _) => Err(e),
    };
    parsed.map_err(|e| Error::InvalidUrl {
        what,
        url: text.chars().take(300).collect(),
        reason: e.to_string(),
    })
}

/// `url` with `PublisherIdentifier={publisher}` appended, unless it already has the parameter
/// (any case). The existing query is left byte for byte as it was.
pub(crate) fn with_publisher(mut url: Url, publisher: &str) -> Url {
    let present = url.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case(PUBLISHER_IDENTIFIER));
    if !present {
        url.query_pairs_mut().append_pair(PUBLISHER_IDENTIFIER, publisher);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";
    const CONTENT_URI: &str = "https://manage.office.com/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/audit/20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036";

    fn root() -> ApiRoot {
        ApiRoot::new(&Url::parse("https://manage.office.com").unwrap(), TENANT.parse().unwrap())
            .unwrap()
    }

    #[test]
    fn operation_urls() {
        assert_eq!(
            root().operation(&["subscriptions", "start"]).as_str(),
            format!(
                "https://manage.office.com/api/v1.0/{TENANT}/activity/feed/subscriptions/start"
            )
        );
        let prefixed = ApiRoot::new(
            &Url::parse("http://127.0.0.1:8080/emu/").unwrap(),
            TENANT.parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            prefixed.operation(&["resources", "dlpSensitiveTypes"]).as_str(),
            format!(
                "http://127.0.0.1:8080/emu/api/v1.0/{TENANT}/activity/feed/resources/dlpSensitiveTypes"
            )
        );
    }

    #[test]
    fn dollar_signs_survive_parsing_and_publisher_identifier() {
        let url = parse_received("contentUri", CONTENT_URI, None).unwrap();
        assert_eq!(url.as_str(), CONTENT_URI);
        let sent = with_publisher(url, TENANT);
        assert_eq!(sent.as_str(), format!("{CONTENT_URI}?PublisherIdentifier={TENANT}"));
        assert!(!sent.as_str().contains("%24"));
        root().pin(&sent).unwrap();
    }

    #[test]
    fn next_page_uri_is_kept_verbatim_and_not_given_a_second_publisher_identifier() {
        let next = format!(
            "https://manage.office.com/api/v1/{TENANT}/activity/feed/subscriptions/content?contentType=Audit.General&startTime=2026-06-01T00:00:00&endTime=2026-06-02T00:00:00&nextPage=20260601183000R000000000123"
        );
        let url = with_publisher(parse_received("NextPageUri", &next, None).unwrap(), TENANT);
        assert_eq!(url.as_str(), format!("{next}&PublisherIdentifier={TENANT}"));

        let already = format!("{next}&publisheridentifier=46b472a7-c68e-4adf-8ade-3db49497518e");
        let url = with_publisher(parse_received("NextPageUri", &already, None).unwrap(), TENANT);
        assert_eq!(url.as_str(), already);
    }

    #[test]
    fn relative_next_page_is_resolved_against_the_request() {
        let base = root().operation(&["subscriptions", "content"]);
        let url = parse_received("NextPageUri", "content?nextPage=abc", Some(&base)).unwrap();
        assert_eq!(
            url.as_str(),
            format!(
                "https://manage.office.com/api/v1.0/{TENANT}/activity/feed/subscriptions/content?nextPage=abc"
            )
        );
        assert!(parse_received("NextPageUri", "content?x", None).is_err());
    }

    #[test]
    fn only_the_api_origin_gets_the_token() {
        let root = root();
        for foreign in [
            "https://evil.example.com/api/v1.0/x/activity/feed/audit/1$2",
            "http://manage.office.com/api/v1.0/x",
            "https://manage.office.com:8443/api/v1.0/x",
            "https://manage.office.com.evil.example/api",
            "https://user:pw@manage.office.com/api",
        ] {
            let err = root.pin(&Url::parse(foreign).unwrap()).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::ForeignUrl { .. }), "{foreign}");
            assert!(text.contains("https://manage.office.com"), "{text}");
            assert!(!text.contains("pw"), "{text}");
        }
        // Default port written out is the same origin.
        root.pin(&Url::parse("https://manage.office.com:443/api/v1.0/x").unwrap()).unwrap();
        root.pin(&Url::parse("https://MANAGE.office.com/api/v1.0/x").unwrap()).unwrap();
    }
}
