//! The normalized activity record (the domain type the archive, collector and server use) and
//! [`parse_record`], which reads one record's bytes into it.
//!
//! Normalization rules, in one place:
//! - Mandatory: `Id`, `CreationTime`, `RecordType`, `Operation`, `Workload`. Anything else may be
//!   absent, `null`, or of an unexpected type without failing the record (a [`ParseNote`] says so).
//! - Text values are trimmed (`ObjectId` arrives with a trailing space); empty text is `None`.
//!   Numbers and booleans where text is expected are printed.
//! - Identifiers that are GUIDs become lower-case hyphenated (`Id`, `OrganizationId`,
//!   `EntityId`, `CorrelationId`, `SystemUserId`, `QueryResults` entries); other identifiers are
//!   kept as sent (`"sanitized"` stays `"sanitized"`).
//! - `EntityId`, `CorrelationId`, `SystemUserId`: the all-zero GUID and `N/A` mean `None`.
//! - `EntityName`: lower-cased (Dataverse logical names are lower case; the documented examples
//!   show display names such as `Account`); `Unknown` and `N/A` mean `None`.
//! - `Query`, `ItemUrl`: `N/A` means `None`.
//! - The Dynamics part is present when `Workload` is `CRM`, `RecordType` is 21, or
//!   `CrmOrganizationUniqueName` is present.
//! - Keys are matched without regard to ASCII case; unknown keys are ignored here (the raw bytes
//!   keep them). When a key repeats, the last value wins and a note records it.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::IgnoredAny;

use crate::client_ip::ClientIp;
use crate::error::{MalformedKind, MalformedRecord};
use crate::ids::{canonical_id, is_not_applicable, optional_reference};
use crate::schema::{RecordType, UserType};
use crate::timestamp::parse_creation_time;
use crate::wire::{Scalar, Slot, WireRecord};

/// What auditors see as the actor when a record names nobody.
pub const UNKNOWN_ACTOR: &str = "Unknown";

/// `Operation` of every Dynamics 365 / Dataverse activity-logging record; the SDK message is in
/// `Message`.
pub const CRM_DEFAULT_ACTIVITY: &str = "CrmDefaultActivity";

/// One activity record from the Management Activity API, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRecord {
    /// `Id`: the record's unique id, Microsoft's dedupe key (canonical when a GUID).
    pub id: String,
    /// `RecordType`.
    pub record_type: RecordType,
    /// `CreationTime`, in UTC.
    pub creation_time: DateTime<Utc>,
    /// `Operation` (`CrmDefaultActivity` for Dynamics 365 activity logging).
    pub operation: String,
    /// `OrganizationId`: the tenant (canonical when a GUID).
    pub organization_id: Option<String>,
    /// `UserType`.
    pub user_type: Option<UserType>,
    /// `UserKey`: an alternative user id (PUID), or `Unknown` for some system events.
    pub user_key: Option<String>,
    /// `UserId`: in practice the actor's UPN, a system account, or `Unknown`.
    pub user_id: Option<String>,
    /// `Workload` (`CRM` for Dynamics 365).
    pub workload: String,
    /// `ResultStatus` as sent (`Success`, `Succeeded`, `failed`, ...).
    pub result_status: Option<String>,
    /// `ObjectId`, trimmed.
    pub object_id: Option<String>,
    /// `ClientIP`, with the address and port read from it.
    pub client_ip: ClientIp,
    /// `Version` of the record schema.
    pub version: Option<u32>,
    /// The Dynamics 365 / Dataverse fields, for CRM records.
    pub dynamics: Option<DynamicsActivity>,
    /// What could not be interpreted (the raw bytes keep the original).
    pub notes: Vec<ParseNote>,
}

/// The Dynamics 365 / Dataverse part of an activity record (Management Activity API "Dynamics
/// 365 schema" and the activity-logging field list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DynamicsActivity {
    /// `CrmOrganizationUniqueName` (e.g. `orgc111a6c1`).
    pub organization_unique_name: Option<String>,
    /// `InstanceUrl` (e.g. `https://contoso.crm5.dynamics.com/`).
    pub instance_url: Option<String>,
    /// `ItemUrl`: the record's URL.
    pub item_url: Option<String>,
    /// `ItemType`: an entity name or `Dynamics365`.
    pub item_type: Option<String>,
    /// `UserAgent`.
    pub user_agent: Option<String>,
    /// `Message`: the SDK message (`Retrieve`, `RetrieveMultiple`, `Update`, `ExportToExcel`, ...).
    pub message: Option<String>,
    /// `EntityName`: the table's logical name, lower case; `None` for `Unknown`.
    pub entity_name: Option<String>,
    /// `EntityId`: the row id; `None` for the all-zero GUID.
    pub entity_id: Option<String>,
    /// `PrimaryFieldValue`: the row's primary name.
    pub primary_field_value: Option<String>,
    /// `Query`: the FetchXML filter.
    pub query: Option<String>,
    /// `QueryResults`: ids of the rows returned, in order (tokens that are not GUIDs kept as text).
    pub query_result_ids: Vec<String>,
    /// `Fields`: the name/value pairs created or updated (column-secured values arrive as `*`).
    pub fields: Vec<Field>,
    /// `CorrelationId`: shared by the parts of a record Microsoft split; `None` when all-zero.
    pub correlation_id: Option<String>,
    /// `SystemUserId`: the Dataverse `systemuserid`; `None` when all-zero.
    pub system_user_id: Option<String>,
    /// `UserUpn`: the actor's user principal name.
    pub user_upn: Option<String>,
    /// `ServiceName`: the service that produced the log.
    pub service_name: Option<String>,
    /// `ServiceContextId`; `None` when all-zero.
    pub service_context_id: Option<String>,
    /// `ServiceContextIdType`.
    pub service_context_id_type: Option<String>,
}

/// One name/value pair of `Fields`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Field {
    /// The column's logical name.
    pub name: String,
    /// The value as text: strings as sent, other JSON values as their JSON text, `null` as `None`.
    pub value: Option<String>,
}

/// Something in a record that normalization could not use. The record is still valid; the raw
/// bytes keep the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum ParseNote {
    /// A field had a JSON type the normalized form cannot carry (an object for `ObjectId`, ...).
    UnexpectedType {
        /// The field's wire name.
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A field's value could not be read (a masked `ClientIP`, `Fields` that are not name/value
    /// pairs, a `UserType` name nobody documented, ...).
    Uninterpreted {
        /// The field's wire name.
        field: &'static str,
    },
    /// A key appeared more than once; the last value was used.
    DuplicateKey {
        /// The field's wire name.
        field: &'static str,
    },
}

impl fmt::Display for ParseNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseNote::UnexpectedType { field, found } => {
                write!(f, "`{field}` is a JSON {found}; kept only in the raw record")
            }
            ParseNote::Uninterpreted { field } => {
                write!(f, "`{field}` could not be interpreted; kept only in the raw record")
            }
            ParseNote::DuplicateKey { field } => {
                write!(f, "`{field}` appears more than once; the last value was used")
            }
        }
    }
}

impl ActivityRecord {
    /// The identity auditors see: `UserUpn`, else `UserId`, else [`UNKNOWN_ACTOR`]. Values equal
    /// to `Unknown` are skipped.
    pub fn actor(&self) -> &str {
        let upn = self.dynamics.as_ref().and_then(|dynamics| dynamics.user_upn.as_deref());
        [upn, self.user_id.as_deref()]
            .into_iter()
            .flatten()
            .find(|name| !name.eq_ignore_ascii_case(UNKNOWN_ACTOR))
            .unwrap_or(UNKNOWN_ACTOR)
    }

    /// The Dataverse SDK message of a CRM record: `Message`, else `Operation` when it is not
    /// `CrmDefaultActivity` (the documented example logs show the message as the operation).
    /// `None` for records of other workloads.
    pub fn sdk_message(&self) -> Option<&str> {
        let dynamics = self.dynamics.as_ref()?;
        dynamics.message.as_deref().or_else(|| {
            (!self.operation.eq_ignore_ascii_case(CRM_DEFAULT_ACTIVITY))
                .then_some(self.operation.as_str())
        })
    }

    /// The table's logical name, for CRM records that concern one.
    pub fn entity_name(&self) -> Option<&str> {
        self.dynamics.as_ref()?.entity_name.as_deref()
    }

    /// The row id, for CRM records that concern one.
    pub fn entity_id(&self) -> Option<&str> {
        self.dynamics.as_ref()?.entity_id.as_deref()
    }

    /// The split-record correlation id, when non-zero.
    pub fn correlation_id(&self) -> Option<&str> {
        self.dynamics.as_ref()?.correlation_id.as_deref()
    }

    /// The ids listed in `QueryResults` (empty for other workloads).
    pub fn query_result_ids(&self) -> &[String] {
        self.dynamics.as_ref().map_or(&[], |dynamics| &dynamics.query_result_ids)
    }

    /// The `Fields` pairs (empty for other workloads).
    pub fn fields(&self) -> &[Field] {
        self.dynamics.as_ref().map_or(&[], |dynamics| &dynamics.fields)
    }
}

/// Reads one record's bytes (a JSON object) into an [`ActivityRecord`].
///
/// Never panics; any input that is not a readable record gives a [`MalformedRecord`] carrying
/// the bytes and the reason. A leading UTF-8 byte-order mark is ignored.
pub fn parse_record(raw: &[u8]) -> Result<ActivityRecord, MalformedRecord> {
    read_record(raw).map_err(|kind| MalformedRecord::new(raw, kind, None))
}

/// [`parse_record`] without the bytes in the error, for callers that attach them themselves.
pub(crate) fn read_record(raw: &[u8]) -> Result<ActivityRecord, MalformedKind> {
    let body = strip_bom(raw);
    check_starts_as_object(body)?;
    // One UTF-8 check for the whole record lets serde borrow every string without checking
    // each again; input that is not UTF-8 goes through the byte reader for a precise error.
    let wire = match std::str::from_utf8(body) {
        Ok(text) => read_wire(&mut serde_json::Deserializer::from_str(text)),
        Err(_) => read_wire(&mut serde_json::Deserializer::from_slice(body)),
    };
    normalize(wire.map_err(|error| MalformedKind::InvalidJson { message: error.to_string() })?)
}

/// [`read_record`] for text already known to be UTF-8 (a record split out of a blob).
pub(crate) fn read_record_text(text: &str) -> Result<ActivityRecord, MalformedKind> {
    check_starts_as_object(text.as_bytes())?;
    let wire = read_wire(&mut serde_json::Deserializer::from_str(text));
    normalize(wire.map_err(|error| MalformedKind::InvalidJson { message: error.to_string() })?)
}

/// Rejects input that is empty or does not start with `{`, naming what it is instead.
fn check_starts_as_object(body: &[u8]) -> Result<(), MalformedKind> {
    match first_significant_byte(body) {
        Some(b'{') => Ok(()),
        Some(_) => Err(not_an_object(body)),
        None => Err(MalformedKind::InvalidJson { message: "the input is empty".into() }),
    }
}

/// Reads one record object and checks that nothing but whitespace follows it.
fn read_wire<'de, R: serde_json::de::Read<'de>>(
    deserializer: &mut serde_json::Deserializer<R>,
) -> Result<WireRecord<'de>, serde_json::Error> {
    let wire = WireRecord::read(deserializer)?;
    deserializer.end()?;
    Ok(wire)
}

/// Drops a UTF-8 byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The first byte that is not JSON whitespace.
pub(crate) fn first_significant_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The error for input that does not start with `{`: valid JSON of another type, or not JSON.
fn not_an_object(body: &[u8]) -> MalformedKind {
    if let Err(error) = serde_json::from_slice::<IgnoredAny>(body) {
        return MalformedKind::InvalidJson { message: error.to_string() };
    }
    let found = match first_significant_byte(body) {
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    };
    MalformedKind::NotAnObject { found }
}

/// Builds the domain record from the wire record (rules in the module documentation).
fn normalize(mut wire: WireRecord<'_>) -> Result<ActivityRecord, MalformedKind> {
    let mut notes: Vec<ParseNote> = wire
        .duplicate_keys
        .iter()
        .map(|slot| ParseNote::DuplicateKey { field: slot.name() })
        .collect();

    let id = canonical_id(&mandatory_text(&mut wire, Slot::Id)?);
    let creation_text = mandatory_text(&mut wire, Slot::CreationTime)?;
    let creation_time = parse_creation_time(&creation_text)
        .ok_or_else(|| MalformedKind::invalid_value("CreationTime", &creation_text))?;
    let record_type = read_record_type(wire.take(Slot::RecordType))?;
    let operation = mandatory_text(&mut wire, Slot::Operation)?.into_owned();
    let workload = mandatory_text(&mut wire, Slot::Workload)?.into_owned();

    let is_dynamics = workload.eq_ignore_ascii_case("CRM")
        || record_type == RecordType::CRM
        || wire.has(Slot::CrmOrganizationUniqueName);

    let mut reader = OptionalFields { wire: &mut wire, notes: &mut notes };
    let organization_id = reader.text(Slot::OrganizationId).map(|id| canonical_id(&id));
    let user_type = reader.user_type();
    let user_key = reader.owned(Slot::UserKey);
    let user_id = reader.owned(Slot::UserId);
    let result_status = reader.owned(Slot::ResultStatus);
    let object_id = reader.owned(Slot::ObjectId);
    let client_ip = reader.client_ip();
    let version = reader.version();
    let dynamics = is_dynamics.then(|| reader.dynamics());

    Ok(ActivityRecord {
        id,
        record_type,
        creation_time,
        operation,
        organization_id,
        user_type,
        user_key,
        user_id,
        workload,
        result_status,
        object_id,
        client_ip,
        version,
        dynamics,
        notes,
    })
}

/// A mandatory text field: present, a string, not blank; trimmed.
fn mandatory_text<'a>(
    wire: &mut WireRecord<'a>,
    slot: Slot,
) -> Result<Cow<'a, str>, MalformedKind> {
    let field = slot.name();
    match wire.take(slot) {
        None | Some(Scalar::Null) => Err(MalformedKind::MissingField { field }),
        Some(Scalar::Str(text)) => trimmed(text).ok_or(MalformedKind::EmptyField { field }),
        Some(other) => {
            Err(MalformedKind::WrongType { field, found: other.kind(), expected: "a string" })
        }
    }
}

/// `RecordType`: a number, a numeric string (`"21"`), or a documented name (`"CRM"`).
fn read_record_type(value: Option<Scalar<'_>>) -> Result<RecordType, MalformedKind> {
    const FIELD: &str = "RecordType";
    let out_of_range = |text: String| MalformedKind::invalid_value(FIELD, &text);
    match value {
        None | Some(Scalar::Null) => Err(MalformedKind::MissingField { field: FIELD }),
        Some(Scalar::UInt(number)) => {
            u16::try_from(number).map(RecordType).map_err(|_| out_of_range(number.to_string()))
        }
        Some(Scalar::Int(number)) => Err(out_of_range(number.to_string())),
        Some(Scalar::Float(number)) => {
            float_to_u16(number).map(RecordType).ok_or_else(|| out_of_range(number.to_string()))
        }
        Some(Scalar::Str(text)) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(MalformedKind::EmptyField { field: FIELD });
            }
            text.parse::<u16>()
                .ok()
                .map(RecordType)
                .or_else(|| RecordType::from_name(text))
                .ok_or_else(|| MalformedKind::invalid_value(FIELD, text))
        }
        Some(other) => Err(MalformedKind::WrongType {
            field: FIELD,
            found: other.kind(),
            expected: "a number or a record type name",
        }),
    }
}

/// An integral float within `u16` (`21.0`).
fn float_to_u16(number: f64) -> Option<u16> {
    (number.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&number))
        .then(|| u16::try_from(number as u64).ok())
        .flatten()
}

/// Trims a string value; `None` when nothing is left. Borrowed input stays borrowed.
fn trimmed(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match text {
        Cow::Borrowed(text) => Some(text.trim()).filter(|text| !text.is_empty()).map(Cow::Borrowed),
        Cow::Owned(text) => {
            let inner = text.trim();
            if inner.is_empty() {
                None
            } else if inner.len() == text.len() {
                Some(Cow::Owned(text))
            } else {
                Some(Cow::Owned(inner.to_owned()))
            }
        }
    }
}

/// Reads the optional fields of one record, noting what it cannot use.
struct OptionalFields<'w, 'a> {
    wire: &'w mut WireRecord<'a>,
    notes: &'w mut Vec<ParseNote>,
}

impl<'a> OptionalFields<'_, 'a> {
    /// Text of an optional field: strings trimmed, numbers and booleans printed, blank as
    /// `None`; arrays and objects noted.
    fn text(&mut self, slot: Slot) -> Option<Cow<'a, str>> {
        match self.wire.take(slot)? {
            Scalar::Str(text) => trimmed(text),
            Scalar::Null => None,
            Scalar::UInt(number) => Some(Cow::Owned(number.to_string())),
            Scalar::Int(number) => Some(Cow::Owned(number.to_string())),
            Scalar::Float(number) => Some(Cow::Owned(number.to_string())),
            Scalar::Bool(flag) => Some(Cow::Borrowed(if flag { "true" } else { "false" })),
            other @ (Scalar::Array | Scalar::Object) => {
                self.notes
                    .push(ParseNote::UnexpectedType { field: slot.name(), found: other.kind() });
                None
            }
        }
    }

    fn owned(&mut self, slot: Slot) -> Option<String> {
        self.text(slot).map(Cow::into_owned)
    }

    /// Text that uses `N/A` as a placeholder for "no value".
    fn owned_unless_not_applicable(&mut self, slot: Slot) -> Option<String> {
        self.text(slot).filter(|text| !is_not_applicable(text)).map(Cow::into_owned)
    }

    /// A GUID reference: `None` when all-zero or `N/A`.
    fn reference(&mut self, slot: Slot) -> Option<String> {
        self.text(slot).and_then(|text| optional_reference(&text))
    }

    fn note_uninterpreted(&mut self, slot: Slot) {
        self.notes.push(ParseNote::Uninterpreted { field: slot.name() });
    }

    /// `UserType`: a number, a numeric string, or a documented name.
    fn user_type(&mut self) -> Option<UserType> {
        let value = match self.wire.take(Slot::UserType)? {
            Scalar::UInt(number) => u16::try_from(number).ok().map(UserType),
            Scalar::Float(number) => float_to_u16(number).map(UserType),
            Scalar::Str(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return None;
                }
                text.parse::<u16>().ok().map(UserType).or_else(|| UserType::from_name(text))
            }
            Scalar::Null => return None,
            Scalar::Int(_) | Scalar::Bool(_) | Scalar::Array | Scalar::Object => None,
        };
        if value.is_none() {
            self.note_uninterpreted(Slot::UserType);
        }
        value
    }

    /// `Version`: a number or a numeric string.
    fn version(&mut self) -> Option<u32> {
        let value = match self.wire.take(Slot::Version)? {
            Scalar::UInt(number) => u32::try_from(number).ok(),
            Scalar::Float(number) => float_to_u16(number).map(u32::from),
            Scalar::Str(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return None;
                }
                text.parse::<u32>().ok()
            }
            Scalar::Null => return None,
            Scalar::Int(_) | Scalar::Bool(_) | Scalar::Array | Scalar::Object => None,
        };
        if value.is_none() {
            self.note_uninterpreted(Slot::Version);
        }
        value
    }

    fn client_ip(&mut self) -> ClientIp {
        let Some(text) = self.text(Slot::ClientIp) else {
            return ClientIp::default();
        };
        let client_ip = ClientIp::parse(&text);
        if client_ip.is_uninterpreted() {
            self.note_uninterpreted(Slot::ClientIp);
        }
        client_ip
    }

    fn dynamics(&mut self) -> DynamicsActivity {
        let entity_name = self
            .text(Slot::EntityName)
            .filter(|name| !name.eq_ignore_ascii_case("Unknown") && !is_not_applicable(name))
            .map(|name| name.to_ascii_lowercase());
        let (query_result_ids, ids_uninterpreted) = match self.wire.query_results.take() {
            Some(ids) => (ids.ids, ids.uninterpreted),
            None => (Vec::new(), false),
        };
        if ids_uninterpreted {
            self.note_uninterpreted(Slot::QueryResults);
        }
        let (fields, fields_uninterpreted) = match self.wire.fields.take() {
            Some(fields) => (fields.fields, fields.uninterpreted),
            None => (Vec::new(), false),
        };
        if fields_uninterpreted {
            self.note_uninterpreted(Slot::Fields);
        }
        DynamicsActivity {
            organization_unique_name: self.owned(Slot::CrmOrganizationUniqueName),
            instance_url: self.owned(Slot::InstanceUrl),
            item_url: self.owned_unless_not_applicable(Slot::ItemUrl),
            item_type: self.owned(Slot::ItemType),
            user_agent: self.owned(Slot::UserAgent),
            message: self.owned(Slot::Message),
            entity_name,
            entity_id: self.reference(Slot::EntityId),
            primary_field_value: self.owned(Slot::PrimaryFieldValue),
            query: self.owned_unless_not_applicable(Slot::Query),
            query_result_ids,
            fields,
            correlation_id: self.reference(Slot::CorrelationId),
            system_user_id: self.reference(Slot::SystemUserId),
            user_upn: self.owned(Slot::UserUpn),
            service_name: self.owned(Slot::ServiceName),
            service_context_id: self.reference(Slot::ServiceContextId),
            service_context_id_type: self.owned(Slot::ServiceContextIdType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""Id":"6F1D2A3B-0C4D-4E5F-8A9B-0C1D2E3F4A5B","CreationTime":"2026-06-01T09:14:22","RecordType":21,"Operation":"CrmDefaultActivity","Workload":"CRM""#;

    fn parse_with(extra: &str) -> ActivityRecord {
        let json =
            if extra.is_empty() { format!("{{{BASE}}}") } else { format!("{{{BASE},{extra}}}") };
        parse_record(json.as_bytes()).expect("valid record")
    }

    fn kind_of(json: &str) -> MalformedKind {
        parse_record(json.as_bytes()).expect_err("malformed").kind
    }

    #[test]
    fn minimal_record_is_normalized() {
        let record = parse_with("");
        assert_eq!(record.id, "6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(record.record_type, RecordType::CRM);
        assert_eq!(record.creation_time.to_rfc3339(), "2026-06-01T09:14:22+00:00");
        assert_eq!(record.actor(), UNKNOWN_ACTOR);
        assert_eq!(record.sdk_message(), None);
        assert!(record.dynamics.is_some());
        assert!(record.notes.is_empty());
    }

    #[test]
    fn actor_prefers_upn_then_user_id() {
        assert_eq!(
            parse_with(r#""UserId":"bob@contoso.com","UserUpn":"alice@contoso.com""#).actor(),
            "alice@contoso.com"
        );
        assert_eq!(
            parse_with(r#""UserId":"bob@contoso.com","UserUpn":"Unknown""#).actor(),
            "bob@contoso.com"
        );
        assert_eq!(
            parse_with(r#""UserId":"bob@contoso.com","UserUpn":"  ""#).actor(),
            "bob@contoso.com"
        );
        assert_eq!(parse_with(r#""UserId":"Unknown""#).actor(), UNKNOWN_ACTOR);
    }

    #[test]
    fn sdk_message_falls_back_to_operation() {
        assert_eq!(parse_with(r#""Message":"Retrieve""#).sdk_message(), Some("Retrieve"));
        let json = BASE.replace("CrmDefaultActivity", "RetrieveMultiple");
        let record = parse_record(format!("{{{json}}}").as_bytes()).expect("valid");
        assert_eq!(record.sdk_message(), Some("RetrieveMultiple"));
    }

    #[test]
    fn mandatory_fields_are_named_when_missing() {
        for field in ["Id", "CreationTime", "RecordType", "Operation", "Workload"] {
            let without: Vec<&str> =
                BASE.split(',').filter(|pair| !pair.starts_with(&format!("\"{field}\""))).collect();
            let json = format!("{{{}}}", without.join(","));
            let expected: &'static str = match field {
                "Id" => "Id",
                "CreationTime" => "CreationTime",
                "RecordType" => "RecordType",
                "Operation" => "Operation",
                _ => "Workload",
            };
            assert_eq!(kind_of(&json), MalformedKind::MissingField { field: expected }, "{json}");
        }
    }

    #[test]
    fn mandatory_fields_are_checked_for_type_and_value() {
        let id_number = BASE.replace(r#""6F1D2A3B-0C4D-4E5F-8A9B-0C1D2E3F4A5B""#, "42");
        assert_eq!(
            kind_of(&format!("{{{id_number}}}")),
            MalformedKind::WrongType { field: "Id", found: "number", expected: "a string" }
        );
        let blank_op = BASE.replace(r#""CrmDefaultActivity""#, r#"" ""#);
        assert_eq!(
            kind_of(&format!("{{{blank_op}}}")),
            MalformedKind::EmptyField { field: "Operation" }
        );
        let bad_time = BASE.replace("2026-06-01T09:14:22", "yesterday");
        assert_eq!(
            kind_of(&format!("{{{bad_time}}}")),
            MalformedKind::InvalidValue { field: "CreationTime", value: "yesterday".into() }
        );
        for (value, kind) in [
            ("70000", MalformedKind::invalid_value("RecordType", "70000")),
            ("-1", MalformedKind::invalid_value("RecordType", "-1")),
            (r#""Nope""#, MalformedKind::invalid_value("RecordType", "Nope")),
            (
                "true",
                MalformedKind::WrongType {
                    field: "RecordType",
                    found: "boolean",
                    expected: "a number or a record type name",
                },
            ),
        ] {
            let json = BASE.replace(r#""RecordType":21"#, &format!(r#""RecordType":{value}"#));
            assert_eq!(kind_of(&format!("{{{json}}}")), kind, "{value}");
        }
    }

    #[test]
    fn record_type_as_string_number_name_or_float() {
        for (value, expected) in [
            (r#""21""#, 21),
            (r#""CRM""#, 21),
            ("21.0", 21),
            (r#""PowerAppsApp""#, 45),
            ("9999", 9999),
        ] {
            let json = BASE.replace(r#""RecordType":21"#, &format!(r#""RecordType":{value}"#));
            let record = parse_record(format!("{{{json}}}").as_bytes()).expect("valid");
            assert_eq!(record.record_type, RecordType(expected), "{value}");
        }
    }

    #[test]
    fn optional_fields_tolerate_odd_types() {
        let record = parse_with(
            r#""UserType":"2","Version":"1","ObjectId":{"a":1},"UserKey":12345,"ResultStatus":true,"ItemType":[1]"#,
        );
        assert_eq!(record.user_type, Some(UserType::ADMIN));
        assert_eq!(record.version, Some(1));
        assert_eq!(record.object_id, None);
        assert_eq!(record.user_key.as_deref(), Some("12345"));
        assert_eq!(record.result_status.as_deref(), Some("true"));
        assert_eq!(
            record.notes,
            [
                ParseNote::UnexpectedType { field: "ObjectId", found: "object" },
                ParseNote::UnexpectedType { field: "ItemType", found: "array" },
            ]
        );
        let named = parse_with(r#""UserType":"Regular","Version":"v2""#);
        assert_eq!(named.user_type, Some(UserType::REGULAR));
        assert_eq!(named.notes, [ParseNote::Uninterpreted { field: "Version" }]);
    }

    #[test]
    fn dynamics_references_and_placeholders() {
        let record = parse_with(
            r#""EntityId":"00000000-0000-0000-0000-000000000000","EntityName":"Unknown",
               "CorrelationId":"00000000-0000-0000-0000-000000000000","Query":"N/A","ItemUrl":"N/A",
               "SystemUserId":"0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D","ObjectId":"UpdateRibbonClientMetadata ""#,
        );
        let dynamics = record.dynamics.as_ref().expect("crm");
        assert_eq!(dynamics.entity_id, None);
        assert_eq!(dynamics.entity_name, None);
        assert_eq!(dynamics.correlation_id, None);
        assert_eq!(dynamics.query, None);
        assert_eq!(dynamics.item_url, None);
        assert_eq!(
            dynamics.system_user_id.as_deref(),
            Some("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d")
        );
        assert_eq!(record.object_id.as_deref(), Some("UpdateRibbonClientMetadata"));
        assert_eq!(parse_with(r#""EntityName":"Account""#).entity_name(), Some("account"));
    }

    #[test]
    fn other_workloads_have_no_dynamics_part() {
        let json = r#"{"Id":"x","CreationTime":"2015-06-29T20:03:19","RecordType":6,"Operation":"FileAccessed","Workload":"SharePoint","UserAgent":"Mozilla","CorrelationId":"1b2c3d4e-0000-0000-0000-000000000001"}"#;
        let record = parse_record(json.as_bytes()).expect("valid");
        assert_eq!(record.dynamics, None);
        assert_eq!(record.correlation_id(), None);
        assert!(record.query_result_ids().is_empty());
        let with_org = r#"{"Id":"x","CreationTime":"2015-06-29T20:03:19","RecordType":999,"Operation":"o","Workload":"Dataverse","CrmOrganizationUniqueName":"org1"}"#;
        assert!(parse_record(with_org.as_bytes()).expect("valid").dynamics.is_some());
    }

    #[test]
    fn not_objects_and_not_json() {
        assert_eq!(kind_of("[1,2]"), MalformedKind::NotAnObject { found: "array" });
        assert_eq!(kind_of(" \"text\""), MalformedKind::NotAnObject { found: "string" });
        assert_eq!(kind_of("-5"), MalformedKind::NotAnObject { found: "number" });
        assert_eq!(kind_of("null"), MalformedKind::NotAnObject { found: "null" });
        assert!(matches!(kind_of(""), MalformedKind::InvalidJson { .. }));
        assert!(matches!(kind_of("{\"Id\":"), MalformedKind::InvalidJson { .. }));
        assert!(matches!(kind_of("{} trailing"), MalformedKind::InvalidJson { .. }));
        assert!(matches!(kind_of("nonsense"), MalformedKind::InvalidJson { .. }));
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let json = format!("\u{feff}{{{BASE}}}");
        assert!(parse_record(json.as_bytes()).is_ok());
    }

    #[test]
    fn errors_carry_the_exact_bytes() {
        let bytes = b"{\"Id\":\"x\"} \xff";
        let error = parse_record(bytes).expect_err("malformed");
        assert_eq!(error.bytes, bytes);
        assert_eq!(error.position, None);
    }
}
