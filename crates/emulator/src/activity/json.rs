//! Writing audit records as JSON text, straight into a `String`: the common schema header, the
//! Dynamics 365 fields in the order Microsoft sends them, the odd shapes seen in the wild, and
//! the 3 KB split into parts that share a `CorrelationId`.

use super::randomness::push_guid;
use super::world::{Organization, User, push_decimal};

/// Microsoft splits records over 3 KB; parts are kept at or under this many bytes.
pub(crate) const RECORD_LIMIT: usize = 3072;

const ZERO_GUID: [u8; 16] = [0; 16];

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends `text` JSON-escaped, without quotes.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    // Fast path: most values need no escaping; this scan vectorizes (no early exit per byte).
    let clean = bytes
        .chunks(32)
        .all(|chunk| !chunk.iter().fold(false, |found, &byte| found | needs_escape(byte)));
    if clean {
        out.push_str(text);
        return;
    }
    let mut clean_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape: Option<&str> = match byte {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&text[clean_from..at]);
        match escape {
            Some(sequence) => out.push_str(sequence),
            None => {
                out.push_str("\\u00");
                out.push(char::from(b"0123456789abcdef"[(byte >> 4) as usize]));
                out.push(char::from(b"0123456789abcdef"[(byte & 0xf) as usize]));
            }
        }
        clean_from = at + 1;
    }
    out.push_str(&text[clean_from..]);
}

/// Appends `text` as a JSON string.
pub(crate) fn push_string(out: &mut String, text: &str) {
    out.push('"');
    push_escaped(out, text);
    out.push('"');
}

/// Appends `,"key":` (or `"key":` right after the opening brace).
pub(crate) fn push_key(out: &mut String, key: &str) {
    if !out.ends_with('{') && !out.ends_with('[') {
        out.push(',');
    }
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

pub(crate) fn push_str_field(out: &mut String, key: &str, value: &str) {
    push_key(out, key);
    push_string(out, value);
}

pub(crate) fn push_guid_field(out: &mut String, key: &str, value: &[u8; 16]) {
    push_key(out, key);
    out.push('"');
    push_guid(out, value);
    out.push('"');
}

pub(crate) fn push_int_field(out: &mut String, key: &str, value: u64) {
    push_key(out, key);
    push_decimal(out, value);
}

/// How `CreationTime` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeStyle {
    /// `2026-06-01T09:14:22` (the documented shape).
    Plain,
    /// `2026-06-01T09:14:22Z`.
    Zulu,
    /// `2026-06-01T09:14:22.1234567Z` with the given 7-digit fraction.
    Fraction(u32),
}

/// Per-record departures from the documented shape (see [`super::ShapeOddities`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) record_type_as_string: bool,
    pub(crate) client_port: Option<u16>,
    pub(crate) time: TimeStyle,
    pub(crate) fields_as_string: bool,
    pub(crate) object_id_trailing_space: bool,
    /// 0 = the workload's usual status word, 1 = `Succeeded`/`Success` swapped, 2 = lowercase.
    pub(crate) status_variant: u8,
}

/// Appends `YYYY-MM-DDTHH:MM:SS` (+ the style's suffix) for Unix seconds `time`.
pub(crate) fn push_time(out: &mut String, time: i64, style: TimeStyle) {
    let days = time.div_euclid(86_400);
    let seconds = time.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    push_padded(out, year as u64, 4);
    out.push('-');
    push_padded(out, u64::from(month), 2);
    out.push('-');
    push_padded(out, u64::from(day), 2);
    out.push('T');
    push_padded(out, (seconds / 3600) as u64, 2);
    out.push(':');
    push_padded(out, ((seconds / 60) % 60) as u64, 2);
    out.push(':');
    push_padded(out, (seconds % 60) as u64, 2);
    match style {
        TimeStyle::Plain => {}
        TimeStyle::Zulu => out.push('Z'),
        TimeStyle::Fraction(fraction) => {
            out.push('.');
            push_padded(out, u64::from(fraction % 10_000_000), 7);
            out.push('Z');
        }
    }
}

fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut v = value;
    let mut at = digits.len();
    while v > 0 || at == digits.len() {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for _ in (digits.len() - at)..width {
        out.push('0');
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// Howard Hinnant's days-to-civil algorithm.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The common schema fields every record starts with (`{` up to and including `UserId`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    pub(crate) time: i64,
    pub(crate) id: &'a [u8; 16],
    pub(crate) operation: &'a str,
    /// Tenant GUID text.
    pub(crate) organization_id: &'a str,
    pub(crate) record_type: u16,
    /// The status word before the shape's variant is applied (`Success`, `Succeeded`, `Failed`).
    pub(crate) result_status: &'a str,
    pub(crate) user_key: &'a str,
    pub(crate) user_type: u8,
    pub(crate) workload: &'a str,
    /// `None` writes `null`.
    pub(crate) client_ip: Option<&'a str>,
    pub(crate) object_id: &'a str,
    pub(crate) user_id: &'a str,
}

pub(crate) fn push_header(out: &mut String, header: &Header<'_>, shape: &Shape) {
    out.push('{');
    push_key(out, "CreationTime");
    out.push('"');
    push_time(out, header.time, shape.time);
    out.push('"');
    push_guid_field(out, "Id", header.id);
    push_str_field(out, "Operation", header.operation);
    push_str_field(out, "OrganizationId", header.organization_id);
    push_key(out, "RecordType");
    if shape.record_type_as_string {
        out.push('"');
        push_decimal(out, u64::from(header.record_type));
        out.push('"');
    } else {
        push_decimal(out, u64::from(header.record_type));
    }
    push_str_field(out, "ResultStatus", &status_word(header.result_status, shape.status_variant));
    push_str_field(out, "UserKey", header.user_key);
    push_int_field(out, "UserType", u64::from(header.user_type));
    push_int_field(out, "Version", 1);
    push_str_field(out, "Workload", header.workload);
    push_key(out, "ClientIP");
    match header.client_ip {
        None => out.push_str("null"),
        Some(ip) => {
            out.push('"');
            match shape.client_port {
                Some(port) if ip.contains(':') => {
                    out.push('[');
                    out.push_str(ip);
                    out.push_str("]:");
                    push_decimal(out, u64::from(port));
                }
                Some(port) => {
                    out.push_str(ip);
                    out.push(':');
                    push_decimal(out, u64::from(port));
                }
                None => out.push_str(ip),
            }
            out.push('"');
        }
    }
    push_key(out, "ObjectId");
    out.push('"');
    push_escaped(out, header.object_id);
    if shape.object_id_trailing_space {
        out.push(' ');
    }
    out.push('"');
    push_str_field(out, "UserId", header.user_id);
}

fn status_word(base: &str, variant: u8) -> std::borrow::Cow<'_, str> {
    match (variant, base) {
        (1, "Success") => "Succeeded".into(),
        (1, "Succeeded") => "Success".into(),
        (2, _) => base.to_ascii_lowercase().into(),
        _ => base.into(),
    }
}

/// Where the record's `ItemUrl` / `ObjectId` point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Not entity-related: `EntityName` `Unknown`, zero `EntityId`, `ItemType` `Dynamics365`.
    None,
    /// A table as a whole (grids, exports): the list page.
    Table,
    /// One row: the record form page.
    Row([u8; 16]),
}

/// One Dynamics 365 activity record before serialization.
#[derive(Debug, Clone)]
pub(crate) struct CrmRecord<'a> {
    pub(crate) time: i64,
    pub(crate) user: &'a User,
    pub(crate) org: &'a Organization,
    pub(crate) message: &'a str,
    /// Logical name of the table, or `Unknown`.
    pub(crate) entity_name: &'a str,
    pub(crate) target: Target,
    pub(crate) primary_value: Option<String>,
    /// `(column, value)`; secured values already masked.
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) query: Option<String>,
    /// `None` writes `null`; an empty list writes `""`.
    pub(crate) results: Option<Vec<[u8; 16]>>,
    pub(crate) failed: bool,
    pub(crate) user_agent: &'a str,
    pub(crate) app_context: Option<AppContext>,
}

/// Values of `AppAccessContext`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppContext {
    pub(crate) session: [u8; 16],
    pub(crate) correlation: [u8; 16],
    pub(crate) token: [u8; 16],
    pub(crate) issued_at: i64,
}

/// Tenant-wide constants every record needs.
#[derive(Debug)]
pub(crate) struct TenantText {
    pub(crate) tenant_id: String,
}

/// The list that splitting divides among parts.
enum Items<'r> {
    Fields(&'r [(String, String)]),
    Results(&'r [[u8; 16]]),
    Nothing,
}

/// Writes a CRM record, split into parts sharing `CorrelationId` when it exceeds the 3 KB limit.
/// `ids` supplies a fresh record `Id` per part (the first one is always used).
pub(crate) fn write_crm(
    sink: &mut Vec<String>,
    tenant: &TenantText,
    record: &CrmRecord<'_>,
    shape: &Shape,
    correlation: [u8; 16],
    mut ids: impl FnMut() -> [u8; 16],
) {
    let mut out = String::with_capacity(1400);
    let first_id = ids();
    let all_fields = &record.fields[..];
    let all_results = record.results.as_deref();
    write_crm_part(
        &mut out,
        tenant,
        record,
        shape,
        &first_id,
        &correlation,
        all_fields,
        all_results,
    );
    if out.len() <= RECORD_LIMIT {
        sink.push(out);
        return;
    }
    // Too big: measure the record without its list, then pack the list greedily.
    out.clear();
    let no_results = all_results.map(|_| &[][..]);
    write_crm_part(&mut out, tenant, record, shape, &first_id, &correlation, &[], no_results);
    let base = out.len();
    let items = if all_results.is_some_and(|r| r.len() > 1) {
        Items::Results(all_results.unwrap_or_default())
    } else if all_fields.len() > 1 {
        Items::Fields(all_fields)
    } else {
        Items::Nothing
    };
    let budget = RECORD_LIMIT.saturating_sub(base).max(200);
    let mut scratch = String::new();
    let mut parts: Vec<(usize, usize)> = Vec::new();
    match items {
        Items::Nothing => {
            // A single huge value cannot be divided: send it whole, as Microsoft would truncate.
            out.clear();
            write_crm_part(
                &mut out,
                tenant,
                record,
                shape,
                &first_id,
                &correlation,
                all_fields,
                all_results,
            );
            sink.push(out);
            return;
        }
        Items::Results(results) => {
            let per_id = 36 + record.org.results_separator.len();
            let per_part = (budget / per_id).max(1);
            let mut start = 0;
            while start < results.len() {
                let end = (start + per_part).min(results.len());
                parts.push((start, end));
                start = end;
            }
        }
        Items::Fields(fields) => {
            let mut start = 0;
            let mut used = 2;
            for (index, field) in fields.iter().enumerate() {
                scratch.clear();
                push_field_item(&mut scratch, field);
                let cost = if shape.fields_as_string {
                    let mut twice = String::new();
                    push_escaped(&mut twice, &scratch);
                    twice.len() + 2
                } else {
                    scratch.len() + 1
                };
                if index > start && used + cost > budget {
                    parts.push((start, index));
                    start = index;
                    used = 2;
                }
                used += cost;
            }
            parts.push((start, fields.len()));
        }
    }
    for (number, (start, end)) in parts.into_iter().enumerate() {
        let id = if number == 0 { first_id } else { ids() };
        let mut part = String::with_capacity(RECORD_LIMIT);
        let (fields, results) = match record.results.as_deref() {
            Some(results) if results.len() > 1 => (all_fields, Some(&results[start..end])),
            _ => (&all_fields[start..end], all_results),
        };
        write_crm_part(&mut part, tenant, record, shape, &id, &correlation, fields, results);
        sink.push(part);
    }
}

fn push_field_item(out: &mut String, (name, value): &(String, String)) {
    out.push_str("{\"Name\":");
    push_string(out, name);
    out.push_str(",\"Value\":");
    push_string(out, value);
    out.push('}');
}

#[allow(clippy::too_many_arguments)]
fn write_crm_part(
    out: &mut String,
    tenant: &TenantText,
    record: &CrmRecord<'_>,
    shape: &Shape,
    id: &[u8; 16],
    correlation: &[u8; 16],
    fields: &[(String, String)],
    results: Option<&[[u8; 16]]>,
) {
    let org = record.org;
    let user = record.user;
    // ItemUrl and ObjectId: the record form, the list page, or (not entity-related) the instance
    // URL and the message name, as in the production record of MicrosoftDocs issue #134.
    let mut item_url = String::with_capacity(org.instance_url.len() + 100);
    item_url.push_str(&org.instance_url);
    match record.target {
        Target::None => {}
        Target::Table => {
            item_url.push_str("main.aspx?etn=");
            item_url.push_str(record.entity_name);
            item_url.push_str("&pagetype=entitylist");
        }
        Target::Row(row) => {
            item_url.push_str("main.aspx?etn=");
            item_url.push_str(record.entity_name);
            item_url.push_str("&pagetype=entityrecord&id=");
            push_guid(&mut item_url, &row);
        }
    }
    let object_id = if record.target == Target::None { record.message } else { &item_url };
    let header = Header {
        time: record.time,
        id,
        operation: "CrmDefaultActivity",
        organization_id: &tenant.tenant_id,
        record_type: 21,
        result_status: if record.failed { "Failed" } else { "Success" },
        user_key: &user.user_key,
        user_type: user.user_type,
        workload: "CRM",
        client_ip: Some(&user.client_ip),
        object_id,
        user_id: &user.upn,
    };
    push_header(out, &header, shape);
    push_str_field(out, "CrmOrganizationUniqueName", &org.unique_name);
    push_key(out, "Fields");
    if shape.fields_as_string {
        let mut array = String::with_capacity(fields.len() * 48 + 2);
        push_fields_array(&mut array, fields);
        push_string(out, &array);
    } else {
        push_fields_array(out, fields);
    }
    push_str_field(out, "InstanceUrl", &org.instance_url);
    push_str_field(
        out,
        "ItemType",
        if record.target == Target::None { "Dynamics365" } else { record.entity_name },
    );
    push_str_field(out, "ItemUrl", &item_url);
    push_str_field(out, "UserAgent", record.user_agent);
    push_guid_field(out, "CorrelationId", correlation);
    match record.target {
        Target::Row(row) => push_guid_field(out, "EntityId", &row),
        _ => push_guid_field(out, "EntityId", &ZERO_GUID),
    }
    push_str_field(out, "EntityName", record.entity_name);
    push_str_field(out, "Message", record.message);
    push_key(out, "Query");
    match &record.query {
        Some(query) => push_string(out, query),
        None => out.push_str("null"),
    }
    push_key(out, "QueryResults");
    match results {
        None => out.push_str("null"),
        Some(ids) => {
            out.push('"');
            for (index, row) in ids.iter().enumerate() {
                if index > 0 {
                    out.push_str(org.results_separator);
                }
                push_guid(out, row);
            }
            out.push('"');
        }
    }
    push_key(out, "PrimaryFieldValue");
    match &record.primary_value {
        Some(value) => push_string(out, value),
        None => out.push_str("null"),
    }
    push_guid_field(out, "ServiceContextId", &ZERO_GUID);
    push_str_field(out, "ServiceContextIdType", "");
    push_str_field(out, "ServiceName", "CrmCore");
    push_guid_field(out, "SystemUserId", user.system_user_id(org).as_bytes());
    push_str_field(out, "UserUpn", if user.upn == "Unknown" { "" } else { &user.upn });
    if let Some(context) = &record.app_context {
        push_key(out, "AppAccessContext");
        out.push('{');
        push_guid_field(out, "AADSessionId", &context.session);
        push_str_field(out, "APIId", "");
        push_str_field(out, "ClientAppId", "00000007-0000-0000-c000-000000000000");
        push_str_field(out, "ClientAppName", "Dynamics CRM Online");
        push_guid_field(out, "CorrelationId", &context.correlation);
        push_key(out, "IssuedAtTime");
        out.push('"');
        push_time(out, context.issued_at, TimeStyle::Plain);
        out.push('"');
        push_key(out, "UniqueTokenId");
        out.push('"');
        push_token_id(out, &context.token);
        out.push('"');
        out.push('}');
    }
    out.push('}');
}

fn push_fields_array(out: &mut String, fields: &[(String, String)]) {
    out.push('[');
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_field_item(out, field);
    }
    out.push(']');
}

/// A 22-character base64url token id, like Entra ID's `uti` claim.
fn push_token_id(out: &mut String, bytes: &[u8; 16]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut written = 0;
    for &byte in bytes {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 6 && written < 22 {
            bits -= 6;
            out.push(char::from(ALPHABET[((acc >> bits) & 0x3f) as usize]));
            written += 1;
        }
    }
    while written < 22 {
        out.push(char::from(ALPHABET[((acc << (6 - bits.min(6))) & 0x3f) as usize]));
        written += 1;
        bits = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_produces_valid_json() {
        let mut out = String::new();
        push_string(&mut out, "Datum \"Prime\" \\ Ødegård\n\u{1}");
        let parsed: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(parsed, "Datum \"Prime\" \\ Ødegård\n\u{1}");
    }

    #[test]
    fn times_are_formatted_like_the_api() {
        let mut out = String::new();
        // 2026-06-01T09:14:22Z
        push_time(&mut out, 1_780_305_262, TimeStyle::Plain);
        assert_eq!(out, "2026-06-01T09:14:22");
        out.clear();
        push_time(&mut out, 1_780_305_262, TimeStyle::Fraction(1_234_567));
        assert_eq!(out, "2026-06-01T09:14:22.1234567Z");
        out.clear();
        push_time(&mut out, 0, TimeStyle::Zulu);
        assert_eq!(out, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn token_ids_have_22_characters() {
        let mut out = String::new();
        push_token_id(&mut out, &[0xff; 16]);
        assert_eq!(out.len(), 22);
    }
}
