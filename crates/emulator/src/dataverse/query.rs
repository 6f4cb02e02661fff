//! The OData query options of `GET audits` the emulator understands (`$select`, `$filter`,
//! `$orderby`, `$top`, `$skiptoken`), the `Prefer` header, and the paging cookie inside
//! `@odata.nextLink`.
//!
//! Paging is keyset paging on `(createdon, auditid)`: the cookie names the last row of the page,
//! so rows that become visible late never shift a page. Ties of `createdon` are broken by
//! `auditid` in its textual (lowercase hexadecimal) order, in the same direction as `createdon`.
//! The cookie carries a check value over the position and the query, so a client that edits the
//! link gets 400 instead of a wrong page.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::history::AuditRow;
use super::wire::{AUDIT_COLUMNS, Annotations};

/// A refused request, answered with the OData error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ODataError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ODataError {
    ODataError { status: 400, code, message: message.into() }
}

fn unknown_property(name: &str, entity: &str) -> ODataError {
    bad_request(
        "0x0",
        format!(
            "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{entity}'."
        ),
    )
}

/// One condition of `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    CreatedOn(Comparison, DateTime<Utc>),
    Table(String),
    Object(Uuid),
    User(Uuid),
    Operation(i32),
    Action(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Condition {
    pub(crate) fn matches(&self, row: &AuditRow) -> bool {
        match self {
            Condition::CreatedOn(op, at) => match op {
                Comparison::Eq => row.created_on == *at,
                Comparison::Gt => row.created_on > *at,
                Comparison::Ge => row.created_on >= *at,
                Comparison::Lt => row.created_on < *at,
                Comparison::Le => row.created_on <= *at,
            },
            Condition::Table(table) => row.table == *table,
            Condition::Object(id) => row.object_id == *id,
            Condition::User(id) => row.user_id == *id,
            Condition::Operation(value) => row.operation == *value,
            Condition::Action(value) => row.action == *value,
        }
    }
}

/// Where the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The page number the cookie asks for (2 for the second page).
    pub(crate) page: u32,
    pub(crate) created_on: i64,
    pub(crate) audit_id: Uuid,
}

/// The parsed query of `GET audits`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditQuery {
    /// Decoded `(name, value)` pairs as sent, `$skiptoken` excluded (to build the next link).
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) select: Vec<String>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) descending: bool,
    pub(crate) top: Option<usize>,
    pub(crate) cursor: Option<Cursor>,
    /// The raw `$skiptoken` (for the next-link fault).
    pub(crate) has_skiptoken: bool,
}

/// Decodes a query string into pairs.
pub(crate) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// Parses `$select` of an entity set with the given columns (`key` always included).
pub(crate) fn parse_select(
    value: &str,
    columns: &[&str],
    entity: &str,
) -> Result<Vec<String>, ODataError> {
    let mut select = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !columns.contains(&name) {
            return Err(unknown_property(name, entity));
        }
        if !select.iter().any(|s| s == name) {
            select.push(name.to_owned());
        }
    }
    Ok(select)
}

impl AuditQuery {
    pub(crate) fn parse(raw: Option<&str>, check_key: u64) -> Result<AuditQuery, ODataError> {
        let mut query = AuditQuery::default();
        let mut skiptoken = None;
        for (name, value) in pairs(raw) {
            match name.as_str() {
                "$select" => query.select = parse_select(&value, AUDIT_COLUMNS, "audit")?,
                "$filter" => query.conditions = parse_filter(&value)?,
                "$orderby" => query.descending = parse_orderby(&value)?,
                "$top" => {
                    let top = value.trim().parse::<usize>().map_err(|_| {
                        bad_request(
                            "0x0",
                            format!("Invalid value '{value}' for $top: expected a whole number."),
                        )
                    })?;
                    query.top = Some(top);
                }
                "$skiptoken" => {
                    skiptoken = Some(value);
                    continue;
                }
                "$skip" => {
                    return Err(bad_request(
                        "0x0",
                        "The query parameter $skip is not supported; follow @odata.nextLink to page.",
                    ));
                }
                other if other.starts_with('$') => {
                    return Err(bad_request(
                        "0x0",
                        format!(
                            "The query option {other} is not supported by the emulator for audits; \
                             use $select, $filter, $orderby, $top and @odata.nextLink."
                        ),
                    ));
                }
                _ => {}
            }
            query.pairs.push((name, value));
        }
        if let Some(token) = skiptoken {
            query.has_skiptoken = true;
            query.cursor = Some(parse_skiptoken(&token, &query.pairs, check_key)?);
        }
        Ok(query)
    }

    /// The next link after a page that ended at `last`.
    pub(crate) fn next_link(&self, api_root: &str, last: &AuditRow, check_key: u64) -> String {
        let page = self.cursor.map_or(2, |c| c.page + 1);
        let cursor =
            Cursor { page, created_on: last.created_on.timestamp(), audit_id: last.audit_id };
        let mut link = format!("{api_root}audits?");
        for (name, value) in &self.pairs {
            link.push_str(name);
            link.push('=');
            link.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
            link.push('&');
        }
        link.push_str("$skiptoken=");
        let token = skiptoken(&cursor, &self.pairs, check_key);
        link.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
        link
    }
}

fn parse_orderby(value: &str) -> Result<bool, ODataError> {
    let mut parts = value.split_whitespace();
    let (Some(column), direction, None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported_order(value));
    };
    if column != "createdon" {
        return Err(if AUDIT_COLUMNS.contains(&column) {
            unsupported_order(value)
        } else {
            unknown_property(column, "audit")
        });
    }
    match direction {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(_) => Err(unsupported_order(value)),
    }
}

fn unsupported_order(value: &str) -> ODataError {
    bad_request(
        "0x0",
        format!("The emulator supports $orderby=createdon asc|desc only, not '{value}'."),
    )
}

fn unsupported_filter(clause: &str) -> ODataError {
    bad_request(
        "0x0",
        format!(
            "The emulator does not support the $filter clause '{clause}'. Supported, joined by \
             'and': createdon gt|ge|lt|le|eq <ISO date-time>, objecttypecode eq '<table>', \
             _objectid_value eq <guid>, _userid_value eq <guid>, operation eq <n>, action eq <n>."
        ),
    )
}

/// Splits on the keyword `and` (outside quotes) and parses each clause.
fn parse_filter(value: &str) -> Result<Vec<Condition>, ODataError> {
    let mut clauses: Vec<String> = vec![String::new()];
    let mut in_quotes = false;
    for word in value.split(' ') {
        if word.is_empty() {
            continue;
        }
        if !in_quotes && word == "and" {
            clauses.push(String::new());
            continue;
        }
        let current = clauses.last_mut().ok_or_else(|| unsupported_filter(value))?;
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        in_quotes ^= word.matches('\'').count() % 2 == 1;
    }
    clauses.iter().map(|clause| parse_clause(clause)).collect()
}

fn parse_clause(clause: &str) -> Result<Condition, ODataError> {
    let trimmed = clause.trim().trim_start_matches('(').trim_end_matches(')').trim();
    let mut parts = trimmed.splitn(3, ' ');
    let (Some(property), Some(op), Some(literal)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(unsupported_filter(clause));
    };
    if !AUDIT_COLUMNS.contains(&property) {
        return Err(unknown_property(property, "audit"));
    }
    let literal = literal.trim();
    let op = match op {
        "eq" => Comparison::Eq,
        "gt" => Comparison::Gt,
        "ge" => Comparison::Ge,
        "lt" => Comparison::Lt,
        "le" => Comparison::Le,
        _ => return Err(unsupported_filter(clause)),
    };
    let guid = |text: &str| {
        Uuid::parse_str(text.trim_matches('\'')).map_err(|_| unsupported_filter(clause))
    };
    let int = |text: &str| text.parse::<i32>().map_err(|_| unsupported_filter(clause));
    match (property, op) {
        ("createdon", op) => {
            // A literal '+' of an offset arrives as a space when the client did not encode it.
            let text = literal.replace(' ', "+");
            let at = DateTime::parse_from_rfc3339(&text).map_err(|_| {
                bad_request(
                    "0x0",
                    format!(
                        "'{literal}' is not a valid date and time for createdon: write e.g. \
                         2026-06-01T00:00:00Z."
                    ),
                )
            })?;
            Ok(Condition::CreatedOn(op, at.with_timezone(&Utc)))
        }
        ("objecttypecode", Comparison::Eq) => {
            let table = literal
                .strip_prefix('\'')
                .and_then(|t| t.strip_suffix('\''))
                .ok_or_else(|| unsupported_filter(clause))?;
            Ok(Condition::Table(table.to_owned()))
        }
        ("_objectid_value", Comparison::Eq) => Ok(Condition::Object(guid(literal)?)),
        ("_userid_value", Comparison::Eq) => Ok(Condition::User(guid(literal)?)),
        ("operation", Comparison::Eq) => Ok(Condition::Operation(int(literal)?)),
        ("action", Comparison::Eq) => Ok(Condition::Action(int(literal)?)),
        _ => Err(unsupported_filter(clause)),
    }
}

fn check_value(cursor: &Cursor, pairs: &[(String, String)], key: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"d365audit-emulator-dataverse-cookie-v1");
    hasher.update(key.to_le_bytes());
    hasher.update(cursor.page.to_le_bytes());
    hasher.update(cursor.created_on.to_le_bytes());
    hasher.update(cursor.audit_id.as_bytes());
    for (name, value) in pairs {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    hasher.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// `<cookie pagenumber="2" pagingcookie="…" istracking="False" />`, the `pagingcookie` being the
/// URL-encoded inner cookie (as Dataverse writes it).
fn skiptoken(cursor: &Cursor, pairs: &[(String, String)], key: u64) -> String {
    let created = chrono::DateTime::from_timestamp(cursor.created_on, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let inner = format!(
        "<cookie page=\"{}\" check=\"{}\"><createdon last=\"{created}\" /><auditid last=\"{{{}}}\" /></cookie>",
        cursor.page - 1,
        check_value(cursor, pairs, key),
        cursor.audit_id.to_string().to_uppercase(),
    );
    let encoded: String = url::form_urlencoded::byte_serialize(inner.as_bytes()).collect();
    format!(
        "<cookie pagenumber=\"{}\" pagingcookie=\"{encoded}\" istracking=\"False\" />",
        cursor.page
    )
}

fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("{name}=\""))? + name.len() + 2;
    let end = text[start..].find('"')? + start;
    Some(&text[start..end])
}

fn invalid_token() -> ODataError {
    bad_request(
        "0x80040203",
        "The $skiptoken is not valid (it was changed, or belongs to another query): follow \
         @odata.nextLink verbatim, or start again without $skiptoken.",
    )
}

fn parse_skiptoken(
    token: &str,
    pairs: &[(String, String)],
    key: u64,
) -> Result<Cursor, ODataError> {
    let token = token.trim();
    if !token.starts_with("<cookie ") || !token.ends_with("/>") {
        return Err(invalid_token());
    }
    let page: u32 = attribute(token, "pagenumber")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 2)
        .ok_or_else(invalid_token)?;
    let encoded = attribute(token, "pagingcookie").ok_or_else(invalid_token)?;
    let inner: String = url::form_urlencoded::parse(format!("c={encoded}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(invalid_token)?;
    let created_on = attribute(&inner, "last")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .ok_or_else(invalid_token)?;
    let audit_id = inner
        .find("<auditid last=\"{")
        .and_then(|at| inner.get(at + 16..at + 16 + 36))
        .and_then(|t| Uuid::parse_str(t).ok())
        .ok_or_else(invalid_token)?;
    let check = attribute(&inner, "check").ok_or_else(invalid_token)?;
    let cursor = Cursor { page, created_on, audit_id };
    if check != check_value(&cursor, pairs, key)
        || attribute(&inner, "page") != Some(&(page - 1).to_string())
    {
        return Err(invalid_token());
    }
    Ok(cursor)
}

/// The preferences of a request (`Prefer` headers, comma-separated, quotes respected).
#[derive(Debug, Clone, Default)]
pub(crate) struct Preferences {
    pub(crate) max_page_size: Option<usize>,
    pub(crate) annotations: Annotations,
}

impl Preferences {
    pub(crate) fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Preferences {
        let mut prefs = Preferences::default();
        for value in values {
            let mut items = Vec::new();
            let mut current = String::new();
            let mut quoted = false;
            for c in value.chars() {
                match c {
                    '"' => {
                        quoted = !quoted;
                        current.push(c);
                    }
                    ',' if !quoted => items.push(std::mem::take(&mut current)),
                    c => current.push(c),
                }
            }
            items.push(current);
            for item in items {
                let Some((name, value)) = item.split_once('=') else { continue };
                match name.trim() {
                    "odata.maxpagesize" => prefs.max_page_size = value.trim().parse().ok(),
                    "odata.include-annotations" => {
                        prefs.annotations = Annotations::from_preference(value.trim());
                    }
                    _ => {}
                }
            }
        }
        prefs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_refuse() {
        let conditions = parse_filter(
            "createdon gt 2026-06-01T00:00:00Z and objecttypecode eq 'contact' and operation eq 2",
        )
        .unwrap();
        assert_eq!(conditions.len(), 3);
        assert_eq!(conditions[1], Condition::Table("contact".into()));
        let quoted =
            parse_filter("_userid_value eq '4026be43-6b69-e111-8f65-78e7d1620f5e'").unwrap();
        assert!(matches!(quoted[0], Condition::User(_)));
        assert_eq!(parse_filter("createdon gt 2026-06-01 or action eq 1").unwrap_err().code, "0x0");
        assert!(parse_filter("nosuch eq 1").unwrap_err().message.contains("nosuch"));
        assert!(parse_filter("attributemask eq '1'").is_err());
        assert!(parse_filter("createdon gt yesterday").is_err());
        let offset = parse_filter("createdon ge 2026-06-01T02:00:00 02:00").unwrap();
        assert_eq!(
            offset[0],
            Condition::CreatedOn(Comparison::Ge, "2026-06-01T00:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn skiptokens_round_trip_and_detect_edits() {
        let pairs = vec![("$filter".to_owned(), "operation eq 2".to_owned())];
        let cursor = Cursor { page: 3, created_on: 1_780_000_000, audit_id: Uuid::from_u128(7) };
        let token = skiptoken(&cursor, &pairs, 9);
        assert!(token.starts_with("<cookie pagenumber=\"3\" pagingcookie=\"%3Ccookie"), "{token}");
        assert_eq!(parse_skiptoken(&token, &pairs, 9).unwrap(), cursor);
        assert!(parse_skiptoken(&token, &pairs, 10).is_err(), "another emulator's key");
        let other = vec![("$filter".to_owned(), "operation eq 1".to_owned())];
        assert!(parse_skiptoken(&token, &other, 9).is_err(), "another query");
        let edited = token.replace("pagenumber=\"3\"", "pagenumber=\"4\"");
        assert!(parse_skiptoken(&edited, &pairs, 9).is_err());
        assert!(parse_skiptoken("garbage", &pairs, 9).is_err());
    }

    #[test]
    fn preferences_split_outside_quotes() {
        let prefs = Preferences::parse(
            ["odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*\", odata.maxpagesize=10"]
                .into_iter(),
        );
        assert_eq!(prefs.max_page_size, Some(10));
        assert!(prefs.annotations.wants("OData.Community.Display.V1.FormattedValue"));
        assert!(prefs.annotations.wants("Microsoft.Dynamics.CRM.lookuplogicalname"));
        assert!(!prefs.annotations.wants("Other.Thing"));
    }
}
