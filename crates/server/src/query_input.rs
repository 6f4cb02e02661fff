//! The query model as HTTP parameters, shared by the web UI's search form and the REST API:
//! a one-line query (`q`, the CLI's syntax) and one parameter per filter, combined (every
//! filter narrows), plus keyset paging. Also the reverse: a [`RecordQuery`] written back as one
//! line, for links, the access log and the search box.

use archive::query::{FieldFilter, MAX_PAGE, QueryError, parse_time};
use archive::{Order, PageCursor, PageRequest, RecordQuery};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// Filters as query-string parameters. Every field is text so that a malformed value gets a
/// message saying what to write, not a generic decoding error. Lists are comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FilterParams {
    /// One-line query, e.g. `user:alice@contoso.com entity:contact from:-30d "Fabrikam"`.
    pub q: String,
    pub user: String,
    pub org: String,
    pub entity: String,
    pub record: String,
    pub message: String,
    pub access: String,
    pub category: String,
    /// `name` or `name=value`.
    pub field: String,
    pub ip: String,
    pub correlation: String,
    pub workload: String,
    pub from: String,
    pub to: String,
    pub text: String,
}

/// Paging as query-string parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PageParams {
    /// The page token of the previous page's `next`.
    pub after: String,
    pub limit: String,
    /// `newest_first` (default) or `oldest_first`.
    pub order: String,
}

fn list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn some(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

/// Parses a GUID the way the one-line syntax does (braces allowed).
pub fn parse_guid(what: &str, value: &str) -> Result<Uuid, QueryError> {
    Uuid::parse_str(value.trim().trim_matches(|c| c == '{' || c == '}')).map_err(|_| {
        QueryError::new(format!(
            "{what} `{value}` is not a GUID; write it like 5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b"
        ))
    })
}

impl FilterParams {
    /// The query these parameters describe; relative times resolve against `now`.
    pub fn to_query(&self, now: DateTime<Utc>) -> Result<RecordQuery, QueryError> {
        let mut query = RecordQuery::parse(&self.q, now)?;
        query.users.extend(list(&self.user));
        if let Some(org) = some(&self.org) {
            query.organization = Some(org.to_string());
        }
        if let Some(entity) = some(&self.entity) {
            query.entity = Some(entity.to_ascii_lowercase());
        }
        if let Some(record) = some(&self.record) {
            query.record_id = Some(parse_guid("record", record)?);
        }
        query.messages.extend(list(&self.message));
        query.access.extend(list(&self.access).map(|a| a.to_ascii_lowercase()));
        if let Some(category) = some(&self.category) {
            query.category = Some(category.to_ascii_lowercase());
        }
        if let Some(field) = some(&self.field) {
            query.field = Some(match field.split_once('=') {
                Some((name, value)) => {
                    FieldFilter { name: name.trim().into(), value: Some(value.into()) }
                }
                None => FieldFilter { name: field.into(), value: None },
            });
        }
        if let Some(ip) = some(&self.ip) {
            query.client_ip = Some(ip.to_string());
        }
        if let Some(correlation) = some(&self.correlation) {
            query.correlation_id = Some(parse_guid("correlation", correlation)?);
        }
        query.workloads.extend(list(&self.workload));
        if let Some(from) = some(&self.from) {
            query.from = Some(parse_time(from, now)?);
        }
        if let Some(to) = some(&self.to) {
            query.to = Some(parse_time(to, now)?);
        }
        if let Some(text) = some(&self.text) {
            query.text = Some(match query.text.take() {
                Some(existing) => format!("{existing} {text}"),
                None => text.to_string(),
            });
        }
        if let Some(category) = &query.category
            && archive::columns::category_bit(category).is_none()
        {
            return Err(QueryError::new(format!(
                "`{category}` is not a report category; use one of {}",
                archive::columns::CATEGORIES.join(", ")
            )));
        }
        for access in &query.access {
            if !archive::columns::ACCESS_KINDS.contains(&access.as_str()) {
                return Err(QueryError::new(format!(
                    "`{access}` is not an access kind; use one of {}",
                    archive::columns::ACCESS_KINDS.join(", ")
                )));
            }
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from >= to
        {
            return Err(QueryError::new(format!(
                "from ({from}) must be before to ({to}); swap them"
            )));
        }
        Ok(query)
    }
}

impl PageParams {
    /// The page to read, with `default_limit` rows unless asked otherwise (at most `MAX_PAGE`).
    pub fn to_page(
        &self,
        default_limit: u32,
        default_order: Order,
    ) -> Result<PageRequest, QueryError> {
        let limit = match some(&self.limit) {
            None => default_limit,
            Some(text) => text.parse::<u32>().map_err(|_| {
                QueryError::new(format!("limit `{text}` is not a number; use 1 to {MAX_PAGE}"))
            })?,
        };
        let order = match some(&self.order) {
            None => default_order,
            Some("newest_first") | Some("newest") => Order::NewestFirst,
            Some("oldest_first") | Some("oldest") => Order::OldestFirst,
            Some(other) => {
                return Err(QueryError::new(format!(
                    "order `{other}` is unknown; use newest_first or oldest_first"
                )));
            }
        };
        let after = some(&self.after).map(PageCursor::decode).transpose()?;
        Ok(PageRequest { limit: limit.clamp(1, MAX_PAGE), after, order })
    }
}

/// A value as the one-line syntax reads it back: quoted when it holds a space. (The syntax has
/// no escape for a double quote; one inside a value is dropped.)
fn quoted(value: &str) -> String {
    let value = value.replace('"', "");
    if value.chars().any(char::is_whitespace) || value.is_empty() {
        format!("\"{value}\"")
    } else {
        value
    }
}

/// A time as the one-line syntax reads it back exactly.
pub fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Writes `query` in the one-line syntax; `RecordQuery::parse` of the result gives it back.
pub fn query_line(query: &RecordQuery) -> String {
    let mut parts = Vec::new();
    let mut key = |k: &str, v: &str| parts.push(format!("{k}:{}", quoted(v)));
    for user in &query.users {
        key("user", user);
    }
    if let Some(org) = &query.organization {
        key("org", org);
    }
    if let Some(entity) = &query.entity {
        key("entity", entity);
    }
    if let Some(record) = &query.record_id {
        key("record", &record.to_string());
    }
    for message in &query.messages {
        key("message", message);
    }
    for access in &query.access {
        key("access", access);
    }
    if let Some(category) = &query.category {
        key("category", category);
    }
    if let Some(field) = &query.field {
        match &field.value {
            Some(value) => key("field", &format!("{}={value}", field.name)),
            None => key("field", &field.name),
        }
    }
    if let Some(ip) = &query.client_ip {
        key("ip", ip);
    }
    if let Some(correlation) = &query.correlation_id {
        key("correlation", &correlation.to_string());
    }
    for workload in &query.workloads {
        key("workload", workload);
    }
    if let Some(from) = query.from {
        key("from", &time_text(from));
    }
    if let Some(to) = query.to {
        key("to", &time_text(to));
    }
    if let Some(text) = &query.text {
        parts.push(format!("\"{}\"", text.replace('"', "")));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap()
    }

    #[test]
    fn form_fields_and_one_line_query_combine() {
        let params = FilterParams {
            q: "entity:contact from:-7d".into(),
            user: "alice@contoso.com, bob@contoso.com".into(),
            message: "ExportToExcel".into(),
            record: "{5F3B0B3E-1C2D-4E5F-9A8B-7C6D5E4F3A2B}".into(),
            text: "Fabrikam".into(),
            ..Default::default()
        };
        let query = params.to_query(now()).unwrap();
        assert_eq!(query.users, vec!["alice@contoso.com", "bob@contoso.com"]);
        assert_eq!(query.entity.as_deref(), Some("contact"));
        assert_eq!(query.messages, vec!["ExportToExcel"]);
        assert_eq!(query.from, Some(now() - chrono::Duration::days(7)));
        assert_eq!(query.record_id.unwrap().to_string(), "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b");
        assert_eq!(query.text.as_deref(), Some("Fabrikam"));
    }

    #[test]
    fn one_line_round_trips() {
        let params = FilterParams {
            q: r#"user:alice@contoso.com org:org1 entity:contact message:Retrieve access:read category:bulk_actions field:telephone1="555 0100" ip:203.0.113.9 workload:CRM from:2026-06-01T10:00:00.5Z to:2026-06-03 "Fabrikam Inc""#.into(),
            correlation: "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b".into(),
            ..Default::default()
        };
        let query = params.to_query(now()).unwrap();
        let line = query_line(&query);
        assert_eq!(RecordQuery::parse(&line, now()).unwrap(), query, "{line}");
    }

    #[test]
    fn mistakes_say_what_to_write() {
        let bad = |p: FilterParams| p.to_query(now()).unwrap_err().message;
        assert!(bad(FilterParams { record: "123".into(), ..Default::default() }).contains("GUID"));
        assert!(
            bad(FilterParams { from: "yesterday".into(), ..Default::default() }).contains("-7d")
        );
        assert!(
            bad(FilterParams { category: "exports".into(), ..Default::default() })
                .contains("bulk_actions")
        );
        assert!(
            bad(FilterParams { access: "write".into(), ..Default::default() }).contains("read")
        );
        let page = PageParams { limit: "many".into(), ..Default::default() };
        assert!(page.to_page(50, Order::NewestFirst).unwrap_err().message.contains("number"));
        let page = PageParams { after: "garbage".into(), ..Default::default() };
        assert!(page.to_page(50, Order::NewestFirst).is_err());
    }
}
