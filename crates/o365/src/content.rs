//! Content: listing the blobs of a window (every `NextPageUri` followed verbatim, or one page at
//! a time), fetching a blob's raw bytes exactly as served, the notification history, and the DLP
//! sensitive-type names.

use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http::header::{ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::api_url::parse_received;
use crate::client::{ActivityClient, Call, RequestBody};
use crate::content_type::ContentType;
use crate::error::{Error, Operation};
use crate::window::ListingWindow;
use crate::wire_time::parse_service_time;

/// Pages followed at most for one window before the listing is declared broken.
const MAX_PAGES: usize = 100_000;

/// A blob of audit records that is available for download.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentBlob {
    pub content_type: ContentType,
    /// Opaque id (contains `$`); the key to deduplicate blobs by.
    pub content_id: String,
    /// Where to fetch it (see [`ActivityClient::fetch_content`]).
    pub content_uri: Url,
    /// When the blob became available (what listing windows filter on).
    pub content_created: DateTime<Utc>,
    /// After this the blob cannot be fetched any more.
    pub content_expiration: DateTime<Utc>,
}

/// One notification attempt from the notification history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationAttempt {
    pub blob: ContentBlob,
    pub notification_sent: Option<DateTime<Utc>>,
    /// `success` or a failure value (undocumented).
    pub notification_status: String,
}

/// A DLP sensitive information type and its friendly name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SensitiveType {
    #[serde(alias = "Id")]
    pub id: String,
    #[serde(alias = "Name")]
    pub name: String,
}

/// The link to the next page of a listing (from `NextPageUri`, kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPage {
    content_type: ContentType,
    url: Url,
}

impl NextPage {
    /// The URL exactly as the service sent it (resolved if it was relative).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The content type being listed.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }
}

/// One page of a content listing.
#[derive(Debug, Clone)]
pub struct ContentPage {
    pub blobs: Vec<ContentBlob>,
    /// `None` on the last page.
    pub next: Option<NextPage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBlob {
    #[serde(default, alias = "ContentType")]
    content_type: Option<String>,
    #[serde(default, alias = "ContentId")]
    content_id: Option<String>,
    #[serde(default, alias = "ContentUri")]
    content_uri: Option<String>,
    #[serde(default, alias = "ContentCreated")]
    content_created: Option<String>,
    #[serde(default, alias = "ContentExpiration")]
    content_expiration: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNotification {
    #[serde(flatten)]
    blob: WireBlob,
    #[serde(default, alias = "NotificationSent")]
    notification_sent: Option<String>,
    #[serde(default, alias = "NotificationStatus")]
    notification_status: Option<String>,
}

impl WireBlob {
    fn into_blob(
        self,
        requested: ContentType,
        base: &Url,
        operation: Operation,
        index: usize,
    ) -> Result<ContentBlob, Error> {
        let invalid = |what: &str| Error::InvalidResponse {
            operation,
            detail: format!("element {index}: {what}"),
        };
        let content_type = match self.content_type.as_deref().map(str::parse::<ContentType>) {
            Some(Ok(ct)) => ct,
            Some(Err(_)) => {
                tracing::warn!(content_type = ?self.content_type, requested = requested.as_str(), "unknown contentType in listing; using the requested one");
                requested
            }
            None => requested,
        };
        let content_id =
            self.content_id.filter(|id| !id.is_empty()).ok_or_else(|| invalid("no contentId"))?;
        let content_uri =
            self.content_uri.filter(|u| !u.is_empty()).ok_or_else(|| invalid("no contentUri"))?;
        let content_uri = parse_received("contentUri", &content_uri, Some(base))?;
        let created_text = self.content_created.ok_or_else(|| invalid("no contentCreated"))?;
        let content_created = parse_service_time(&created_text)
            .ok_or_else(|| invalid(&format!("contentCreated {created_text:?} is not a time")))?;
        let content_expiration = match self.content_expiration.as_deref() {
            Some(text) => parse_service_time(text)
                .ok_or_else(|| invalid(&format!("contentExpiration {text:?} is not a time")))?,
            // Undocumented absence: blobs live 7 days after they became available.
            None => content_created + Duration::days(7),
        };
        Ok(ContentBlob {
            content_type,
            content_id,
            content_uri,
            content_created,
            content_expiration,
        })
    }
}

/// Parses a JSON array body; an empty body or `null` is an empty list.
fn parse_array<T: DeserializeOwned>(operation: Operation, body: &[u8]) -> Result<Vec<T>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let items: Option<Vec<T>> =
        serde_json::from_slice(body).map_err(|e| Error::InvalidResponse {
            operation,
            detail: format!("the body is not the documented JSON array: {e}"),
        })?;
    Ok(items.unwrap_or_default())
}

/// The next-page link of a listing answer (`NextPageUri`, or the old `NextPageUrl` spelling;
/// header names are case-insensitive).
fn next_page_link(headers: &HeaderMap, request: &Url) -> Result<Option<Url>, Error> {
    let value = ["NextPageUri", "NextPageUrl"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .find(|v| !v.is_empty());
    value.map(|v| parse_received("NextPageUri", v, Some(request))).transpose()
}

impl ActivityClient {
    /// Every blob available in `window` for `content_type`, following every `NextPageUri` to
    /// the end. Blobs are in the order the service listed them (not deduplicated: the service
    /// can list a blob again; dedupe on `content_id`).
    pub async fn list_content(
        &self,
        content_type: ContentType,
        window: &ListingWindow,
    ) -> Result<Vec<ContentBlob>, Error> {
        let mut page = self.content_page(content_type, window).await?;
        let mut blobs = std::mem::take(&mut page.blobs);
        let mut seen_links = HashSet::new();
        while let Some(next) = page.next.take() {
            if !seen_links.insert(next.url.clone()) || seen_links.len() > MAX_PAGES {
                return Err(Error::InvalidResponse {
                    operation: Operation::ListContent,
                    detail: format!(
                        "the listing of {window} loops (NextPageUri {} seen before, or more than {MAX_PAGES} pages)",
                        next.url
                    ),
                });
            }
            page = self.next_content_page(&next).await?;
            blobs.append(&mut page.blobs);
        }
        tracing::debug!(content_type = content_type.as_str(), %window, blobs = blobs.len(), pages = seen_links.len() + 1, "listed content");
        Ok(blobs)
    }

    /// The first page of the listing of `window`.
    pub async fn content_page(
        &self,
        content_type: ContentType,
        window: &ListingWindow,
    ) -> Result<ContentPage, Error> {
        let url = self.window_url(&["subscriptions", "content"], content_type, window);
        self.content_page_at(content_type, url).await
    }

    /// The page a [`NextPage`] points to (the URL is used verbatim, plus `PublisherIdentifier`
    /// if it lacks one; a URL off the API origin is refused without a request).
    pub async fn next_content_page(&self, next: &NextPage) -> Result<ContentPage, Error> {
        self.content_page_at(next.content_type, next.url.clone()).await
    }

    async fn content_page_at(
        &self,
        content_type: ContentType,
        url: Url,
    ) -> Result<ContentPage, Error> {
        let reply = self.get(Operation::ListContent, url, None).await?;
        let wire: Vec<WireBlob> = parse_array(Operation::ListContent, &reply.body)?;
        let blobs = wire
            .into_iter()
            .enumerate()
            .map(|(i, w)| w.into_blob(content_type, &reply.url, Operation::ListContent, i))
            .collect::<Result<Vec<_>, _>>()?;
        let next =
            next_page_link(&reply.headers, &reply.url)?.map(|url| NextPage { content_type, url });
        Ok(ContentPage { blobs, next })
    }

    /// The raw bytes of a blob (normally a JSON array of audit records), exactly as served.
    /// `content_uri` is used verbatim (its `$` stay as they are) plus `PublisherIdentifier`;
    /// it must be on the configured API origin, or nothing is sent. Parsing is not done here.
    pub async fn fetch_content(&self, content_uri: &str) -> Result<Bytes, Error> {
        let url = parse_received("contentUri", content_uri, None)?;
        let reply = self.get(Operation::FetchContent, url, None).await?;
        Ok(reply.body)
    }

    /// [`ActivityClient::fetch_content`] for a listed blob.
    pub async fn fetch_blob(&self, blob: &ContentBlob) -> Result<Bytes, Error> {
        self.fetch_content(blob.content_uri.as_str()).await
    }

    /// The webhook notification attempts in `window` (every page).
    pub async fn list_notifications(
        &self,
        content_type: ContentType,
        window: &ListingWindow,
    ) -> Result<Vec<NotificationAttempt>, Error> {
        let mut url =
            Some(self.window_url(&["subscriptions", "notifications"], content_type, window));
        let mut attempts = Vec::new();
        let mut seen = HashSet::new();
        while let Some(current) = url.take() {
            if !seen.insert(current.clone()) || seen.len() > MAX_PAGES {
                return Err(Error::InvalidResponse {
                    operation: Operation::ListNotifications,
                    detail: format!("the notification listing of {window} loops at {current}"),
                });
            }
            let reply = self.get(Operation::ListNotifications, current, None).await?;
            let wire: Vec<WireNotification> =
                parse_array(Operation::ListNotifications, &reply.body)?;
            for (i, w) in wire.into_iter().enumerate() {
                attempts.push(NotificationAttempt {
                    blob: w.blob.into_blob(
                        content_type,
                        &reply.url,
                        Operation::ListNotifications,
                        i,
                    )?,
                    notification_sent: w.notification_sent.as_deref().and_then(parse_service_time),
                    notification_status: w.notification_status.unwrap_or_default(),
                });
            }
            url = next_page_link(&reply.headers, &reply.url)?;
        }
        Ok(attempts)
    }

    /// `GET resources/dlpSensitiveTypes`: friendly names of DLP sensitive types, in
    /// `accept_language` (one language, e.g. `en-US`; `None` = the service default).
    pub async fn dlp_sensitive_types(
        &self,
        accept_language: Option<&str>,
    ) -> Result<Vec<SensitiveType>, Error> {
        let header = match accept_language {
            Some(lang) => Some((
                ACCEPT_LANGUAGE,
                HeaderValue::from_str(lang).map_err(|_| Error::InvalidUrl {
                    what: "Accept-Language",
                    url: lang.chars().take(50).collect(),
                    reason: "not a valid header value".to_owned(),
                })?,
            )),
            None => None,
        };
        let url = self.inner.root.operation(&["resources", "dlpSensitiveTypes"]);
        let reply = self.get(Operation::DlpSensitiveTypes, url, header).await?;
        parse_array(Operation::DlpSensitiveTypes, &reply.body)
    }

    fn window_url(
        &self,
        segments: &[&str],
        content_type: ContentType,
        window: &ListingWindow,
    ) -> Url {
        let mut url = self.inner.root.operation(segments);
        url.query_pairs_mut()
            .append_pair("contentType", content_type.as_str())
            .append_pair("startTime", &window.start_param())
            .append_pair("endTime", &window.end_param());
        url
    }

    async fn get(
        &self,
        operation: Operation,
        url: Url,
        header: Option<(http::HeaderName, HeaderValue)>,
    ) -> Result<crate::client::Reply, Error> {
        self.execute(Call {
            operation,
            method: Method::GET,
            url,
            body: RequestBody::None,
            header,
            retry: true,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn base() -> Url {
        Url::parse("https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content")
            .unwrap()
    }

    #[test]
    fn documented_listing_element() {
        let body = br#"[{"contentType":"Audit.General",
  "contentId":"20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036",
  "contentUri":"https://manage.office.com/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/audit/20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036",
  "contentCreated":"2026-06-01T10:30:00.123Z",
  "contentExpiration":"2026-06-08T10:30:00.123Z"}]"#;
        let wire: Vec<WireBlob> = parse_array(Operation::ListContent, body).unwrap();
        let blob = wire
            .into_iter()
            .next()
            .unwrap()
            .into_blob(ContentType::DlpAll, &base(), Operation::ListContent, 0)
            .unwrap();
        assert_eq!(blob.content_type, ContentType::General);
        assert!(blob.content_uri.as_str().ends_with("$audit_general$Audit_General$emea0036"));
        assert_eq!(
            blob.content_created,
            Utc.with_ymd_and_hms(2026, 6, 1, 10, 30, 0).unwrap() + Duration::milliseconds(123)
        );
        assert_eq!(blob.content_expiration - blob.content_created, Duration::days(7));
    }

    #[test]
    fn tolerant_listing_elements() {
        let body = br#"[{"ContentId":"a$b","ContentUri":"https://manage.office.com/x/a$b","ContentCreated":"2026-06-01T10:30:00"}]"#;
        let wire: Vec<WireBlob> = parse_array(Operation::ListContent, body).unwrap();
        let blob = wire
            .into_iter()
            .next()
            .unwrap()
            .into_blob(ContentType::Exchange, &base(), Operation::ListContent, 0)
            .unwrap();
        assert_eq!(blob.content_type, ContentType::Exchange);
        assert_eq!(blob.content_expiration, Utc.with_ymd_and_hms(2026, 6, 8, 10, 30, 0).unwrap());
        assert!(parse_array::<WireBlob>(Operation::ListContent, b"").unwrap().is_empty());
        assert!(parse_array::<WireBlob>(Operation::ListContent, b"null").unwrap().is_empty());
        assert!(parse_array::<WireBlob>(Operation::ListContent, b"{}").is_err());

        let missing = br#"[{"contentId":"a","contentCreated":"2026-06-01T10:30:00"}]"#;
        let wire: Vec<WireBlob> = parse_array(Operation::ListContent, missing).unwrap();
        let err = wire
            .into_iter()
            .next()
            .unwrap()
            .into_blob(ContentType::Exchange, &base(), Operation::ListContent, 0)
            .unwrap_err();
        assert!(err.to_string().contains("no contentUri"), "{err}");
    }

    #[test]
    fn next_page_header_spellings() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_page_link(&headers, &base()).unwrap(), None);
        headers.insert(
            "nextpageurl",
            HeaderValue::from_static("https://manage.office.com/p?nextPage=2"),
        );
        assert_eq!(
            next_page_link(&headers, &base()).unwrap().unwrap().as_str(),
            "https://manage.office.com/p?nextPage=2"
        );
        headers.insert(
            "NEXTPAGEURI",
            HeaderValue::from_static("https://manage.office.com/p?nextPage=1"),
        );
        assert_eq!(
            next_page_link(&headers, &base()).unwrap().unwrap().as_str(),
            "https://manage.office.com/p?nextPage=1"
        );
        let mut empty = HeaderMap::new();
        empty.insert("NextPageUri", HeaderValue::from_static(" "));
        assert_eq!(next_page_link(&empty, &base()).unwrap(), None);
    }

    #[test]
    fn notification_history_element() {
        let body = br#"[{"contentType":"Audit.SharePoint","contentId":"x$y","contentUri":"https://manage.office.com/a/x$y","contentCreated":"2026-06-01T10:30:00.000Z","contentExpiration":"2026-06-08T10:30:00.000Z","notificationSent":"2026-06-01T10:31:00.000Z","notificationStatus":"success"}]"#;
        let wire: Vec<WireNotification> = parse_array(Operation::ListNotifications, body).unwrap();
        let w = wire.into_iter().next().unwrap();
        assert_eq!(w.notification_status.as_deref(), Some("success"));
        let blob = w
            .blob
            .into_blob(ContentType::General, &base(), Operation::ListNotifications, 0)
            .unwrap();
        assert_eq!(blob.content_type, ContentType::SharePoint);
    }

    #[test]
    fn sensitive_types() {
        let types: Vec<SensitiveType> = parse_array(
            Operation::DlpSensitiveTypes,
            br#"[{"id":"50842eb7-edc8-4019-85dd-5a5c1f2bb085","name":"CreditCardNumber"}]"#,
        )
        .unwrap();
        assert_eq!(types[0].name, "CreditCardNumber");
    }
}
