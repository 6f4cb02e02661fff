//! The query model shared by the CLI, the REST API and the web UI: filters over the normalized
//! records, a one-line syntax for them, keyset pagination, and report aggregations.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Filters over archived records. Every filter narrows; an empty query matches everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordQuery {
    /// Event time, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Event time, exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Who acted: UPN (case-insensitive) or Dataverse system user id. Any of them matches.
    pub users: Vec<String>,
    /// Organization unique name (`org1a2b3c4d`) or instance host (`contoso.crm4.dynamics.com`).
    pub organization: Option<String>,
    /// Entity (table) logical name, e.g. `contact`.
    pub entity: Option<String>,
    /// A Dataverse record: matches records about it (`EntityId`) and RetrieveMultiple results
    /// that listed it (`QueryResults`).
    pub record_id: Option<Uuid>,
    /// SDK messages (`Retrieve`, `ExportToExcel`, ...), case-insensitive. Any of them matches.
    pub messages: Vec<String>,
    /// Access kinds (`read`, `read_multiple`, `create`, `update`, `delete`, `other`).
    pub access: Vec<String>,
    /// A Purview report category (snake_case name, e.g. `bulk_actions`).
    pub category: Option<String>,
    /// A field that was created or updated, optionally with its value.
    pub field: Option<FieldFilter>,
    pub client_ip: Option<String>,
    pub correlation_id: Option<Uuid>,
    /// Workloads (`CRM`, `PowerApps`, ...). Empty means every workload.
    pub workloads: Vec<String>,
    /// Free text over user, entity, message, primary field value and item URL.
    pub text: Option<String>,
}

/// A field name, and optionally the value it was set to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldFilter {
    pub name: String,
    pub value: Option<String>,
}

/// Newest first is what auditors scan; oldest first is what a timeline reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Where the next page starts: the (event time, archive sequence) of the last row returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCursor {
    pub time_micros: i64,
    pub seq: i64,
}

impl PageCursor {
    /// An opaque token for URLs and the CLI.
    pub fn encode(&self) -> String {
        format!("{:x}.{:x}", self.time_micros, self.seq)
    }

    pub fn decode(token: &str) -> Result<PageCursor, QueryError> {
        let bad = || QueryError::new(format!("`{token}` is not a page token from this archive"));
        let (t, s) = token.split_once('.').ok_or_else(bad)?;
        Ok(PageCursor {
            time_micros: i64::from_str_radix(t, 16).map_err(|_| bad())?,
            seq: i64::from_str_radix(s, 16).map_err(|_| bad())?,
        })
    }
}

/// One page of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<PageCursor>,
    pub order: Order,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: 100, after: None, order: Order::NewestFirst }
    }
}

/// The largest page any caller gets, whatever it asks for.
pub const MAX_PAGE: u32 = 10_000;

/// What a report counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Day,
    HourOfDay,
    Weekday,
    User,
    Organization,
    Entity,
    Message,
    Access,
    Category,
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub key: String,
    pub count: u64,
}

/// A query the user wrote that cannot run; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub message: String,
}

impl QueryError {
    pub fn new(message: impl Into<String>) -> QueryError {
        QueryError { message: message.into() }
    }
}

/// The keys of the one-line syntax, for help texts.
pub const ONE_LINE_KEYS: &[(&str, &str)] = &[
    ("user:", "UPN or system user id (repeatable)"),
    ("org:", "organization unique name or instance host"),
    ("entity:", "table logical name, e.g. contact"),
    ("record:", "record GUID: its own events and RetrieveMultiple results listing it"),
    ("message:", "SDK message, e.g. ExportToExcel (repeatable)"),
    ("access:", "read | read_multiple | create | update | delete | other (repeatable)"),
    ("category:", "Purview report category, e.g. bulk_actions"),
    ("field:", "field name, or name=value"),
    ("ip:", "client IP address"),
    ("correlation:", "correlation id of a split record"),
    ("workload:", "CRM, PowerApps, ... (repeatable)"),
    ("from: / to:", "2026-06-01, 2026-06-01T10:00, or -7d / -12h relative to now"),
    ("\"words\"", "free text"),
];

impl RecordQuery {
    /// Parses the one-line syntax, e.g.
    /// `user:alice@contoso.com entity:contact from:-30d message:ExportToExcel "Fabrikam"`.
    /// Relative times are resolved against `now`.
    pub fn parse(line: &str, now: DateTime<Utc>) -> Result<RecordQuery, QueryError> {
        let mut query = RecordQuery::default();
        let mut text = Vec::new();
        for token in tokenize(line)? {
            let Some((key, value)) = token.split_once(':').filter(|(k, _)| is_key(k)) else {
                text.push(token);
                continue;
            };
            if value.is_empty() {
                return Err(QueryError::new(format!("`{key}:` needs a value, e.g. {key}:...")));
            }
            let value = value.to_string();
            match key.to_ascii_lowercase().as_str() {
                "user" => query.users.push(value),
                "org" | "organization" => query.organization = Some(value),
                "entity" => query.entity = Some(value.to_ascii_lowercase()),
                "record" => query.record_id = Some(parse_guid("record", &value)?),
                "message" => query.messages.push(value),
                "access" => query.access.push(value.to_ascii_lowercase()),
                "category" => query.category = Some(value.to_ascii_lowercase()),
                "field" => {
                    query.field = Some(match value.split_once('=') {
                        Some((name, v)) => {
                            FieldFilter { name: name.to_string(), value: Some(v.to_string()) }
                        }
                        None => FieldFilter { name: value, value: None },
                    })
                }
                "ip" => query.client_ip = Some(value),
                "correlation" => query.correlation_id = Some(parse_guid("correlation", &value)?),
                "workload" => query.workloads.push(value),
                "from" | "after" | "since" => query.from = Some(parse_time(&value, now)?),
                "to" | "before" | "until" => query.to = Some(parse_time(&value, now)?),
                _ => unreachable!("is_key accepted it"),
            }
        }
        if !text.is_empty() {
            query.text = Some(text.join(" "));
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from >= to
        {
            return Err(QueryError::new(format!(
                "from: ({from}) must be before to: ({to}); swap them"
            )));
        }
        Ok(query)
    }
}

const KEYS: &[&str] = &[
    "user",
    "org",
    "organization",
    "entity",
    "record",
    "message",
    "access",
    "category",
    "field",
    "ip",
    "correlation",
    "workload",
    "from",
    "after",
    "since",
    "to",
    "before",
    "until",
];

fn is_key(candidate: &str) -> bool {
    KEYS.iter().any(|k| k.eq_ignore_ascii_case(candidate))
}

/// Splits on whitespace, keeping "quoted phrases" (also in values: `field:name="A B"`) whole.
fn tokenize(line: &str) -> Result<Vec<String>, QueryError> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(QueryError::new("a quote is not closed: add the closing \""));
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    Ok(tokens)
}

fn parse_guid(key: &str, value: &str) -> Result<Uuid, QueryError> {
    Uuid::parse_str(value.trim_matches(|c| c == '{' || c == '}')).map_err(|_| {
        QueryError::new(format!(
            "{key}:{value} is not a GUID; write it like 5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b"
        ))
    })
}

/// `2026-06-01`, `2026-06-01T10:00`, `2026-06-01T10:00:00`, RFC 3339, or `-7d` / `-12h` / `-30m`.
pub fn parse_time(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, QueryError> {
    if let Some(relative) = value.strip_prefix('-') {
        let (number, unit) = relative.split_at(relative.len().saturating_sub(1));
        if let Ok(n) = number.parse::<i64>() {
            let span = match unit {
                "d" => Some(Duration::days(n)),
                "h" => Some(Duration::hours(n)),
                "m" => Some(Duration::minutes(n)),
                "w" => Some(Duration::weeks(n)),
                _ => None,
            };
            if let Some(span) = span {
                return Ok(now - span);
            }
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(QueryError::new(format!(
        "`{value}` is not a time: use 2026-06-01, 2026-06-01T10:00 (UTC), or -7d / -12h / -30m"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap()
    }

    #[test]
    fn one_line_query_sets_every_filter() {
        let q = RecordQuery::parse(
            r#"user:alice@contoso.com user:bob@contoso.com entity:Contact record:5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b message:ExportToExcel access:read category:bulk_actions field:telephone1="555 0100" ip:203.0.113.24 workload:CRM from:-7d to:2026-06-10 "Fabrikam Inc""#,
            now(),
        )
        .unwrap();
        assert_eq!(q.users, vec!["alice@contoso.com", "bob@contoso.com"]);
        assert_eq!(q.entity.as_deref(), Some("contact"));
        assert_eq!(q.record_id.unwrap().to_string(), "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b");
        assert_eq!(
            q.field,
            Some(FieldFilter { name: "telephone1".into(), value: Some("555 0100".into()) })
        );
        assert_eq!(q.from, Some(now() - Duration::days(7)));
        assert_eq!(q.to, Some(Utc.with_ymd_and_hms(2026, 6, 10, 0, 0, 0).unwrap()));
        assert_eq!(q.text.as_deref(), Some("Fabrikam Inc"));
        assert_eq!(q.category.as_deref(), Some("bulk_actions"));
    }

    #[test]
    fn mistakes_say_what_to_write() {
        let err = RecordQuery::parse("record:12345", now()).unwrap_err();
        assert!(err.message.contains("not a GUID"), "{err}");
        let err = RecordQuery::parse("from:yesterday", now()).unwrap_err();
        assert!(err.message.contains("-7d"), "{err}");
        let err = RecordQuery::parse("from:2026-06-10 to:2026-06-01", now()).unwrap_err();
        assert!(err.message.contains("swap"), "{err}");
        let err = RecordQuery::parse("\"open", now()).unwrap_err();
        assert!(err.message.contains("quote"), "{err}");
    }

    #[test]
    fn words_with_colons_that_are_not_keys_are_text() {
        let q = RecordQuery::parse("https://contoso.crm4.dynamics.com", now()).unwrap();
        assert_eq!(q.text.as_deref(), Some("https://contoso.crm4.dynamics.com"));
    }

    #[test]
    fn page_cursor_round_trips_and_rejects_garbage() {
        let cursor = PageCursor { time_micros: 1_780_000_000_000_000, seq: 42 };
        assert_eq!(PageCursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(PageCursor::decode("nope").is_err());
    }
}
