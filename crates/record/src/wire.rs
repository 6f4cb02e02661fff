//! The wire form of an activity record: one pass of serde over the record's bytes into a flat,
//! borrowing structure of lenient values, with no `serde_json::Value` tree. Every known key is
//! matched without regard to ASCII case (`ClientIP`, `ClientIp`); unknown keys are skipped; no
//! value of an unexpected JSON type ever fails the parse (the type is noted and normalization
//! decides). Only invalid JSON is an error here.
//!
//! Normalization into the domain type lives in [`crate::activity`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::activity::Field;
use crate::ids::{push_id_token, split_id_list};

/// A JSON value reduced to what normalization needs: scalars in full, containers by kind only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// A string, borrowed from the input when it has no escapes.
    Str(Cow<'a, str>),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A number with a fraction or exponent (or too large for 64 bits).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array (content skipped).
    Array,
    /// An object (content skipped).
    Object,
}

impl Scalar<'_> {
    /// The JSON type name, for error messages and notes.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "string",
            Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_) => "number",
            Scalar::Bool(_) => "boolean",
            Scalar::Null => "null",
            Scalar::Array => "array",
            Scalar::Object => "object",
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(if value >= 0 { Scalar::UInt(value.unsigned_abs()) } else { Scalar::Int(value) })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(value))
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(value)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(value)))
    }
}

/// The record keys normalization reads, in one table: the wire name (as Microsoft spells it)
/// and the slot it fills. Matching ignores ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Id,
    CreationTime,
    RecordType,
    Operation,
    OrganizationId,
    UserType,
    UserKey,
    UserId,
    Workload,
    ResultStatus,
    ObjectId,
    ClientIp,
    Version,
    CrmOrganizationUniqueName,
    InstanceUrl,
    ItemUrl,
    ItemType,
    UserAgent,
    Message,
    EntityId,
    EntityName,
    PrimaryFieldValue,
    Query,
    CorrelationId,
    SystemUserId,
    UserUpn,
    ServiceName,
    ServiceContextId,
    ServiceContextIdType,
    QueryResults,
    Fields,
}

/// Number of slots holding a [`Scalar`] (every slot before `QueryResults`).
pub(crate) const SCALAR_SLOTS: usize = Slot::QueryResults as usize;

/// Wire names, indexed by `Slot as usize`.
const SLOT_NAMES: [&str; SCALAR_SLOTS + 2] = [
    "Id",
    "CreationTime",
    "RecordType",
    "Operation",
    "OrganizationId",
    "UserType",
    "UserKey",
    "UserId",
    "Workload",
    "ResultStatus",
    "ObjectId",
    "ClientIP",
    "Version",
    "CrmOrganizationUniqueName",
    "InstanceUrl",
    "ItemUrl",
    "ItemType",
    "UserAgent",
    "Message",
    "EntityId",
    "EntityName",
    "PrimaryFieldValue",
    "Query",
    "CorrelationId",
    "SystemUserId",
    "UserUpn",
    "ServiceName",
    "ServiceContextId",
    "ServiceContextIdType",
    "QueryResults",
    "Fields",
];

/// Slots in `SLOT_NAMES` order.
const SLOTS: [Slot; SCALAR_SLOTS + 2] = [
    Slot::Id,
    Slot::CreationTime,
    Slot::RecordType,
    Slot::Operation,
    Slot::OrganizationId,
    Slot::UserType,
    Slot::UserKey,
    Slot::UserId,
    Slot::Workload,
    Slot::ResultStatus,
    Slot::ObjectId,
    Slot::ClientIp,
    Slot::Version,
    Slot::CrmOrganizationUniqueName,
    Slot::InstanceUrl,
    Slot::ItemUrl,
    Slot::ItemType,
    Slot::UserAgent,
    Slot::Message,
    Slot::EntityId,
    Slot::EntityName,
    Slot::PrimaryFieldValue,
    Slot::Query,
    Slot::CorrelationId,
    Slot::SystemUserId,
    Slot::UserUpn,
    Slot::ServiceName,
    Slot::ServiceContextId,
    Slot::ServiceContextIdType,
    Slot::QueryResults,
    Slot::Fields,
];

impl Slot {
    /// The wire name, as Microsoft spells it.
    pub(crate) fn name(self) -> &'static str {
        SLOT_NAMES[self as usize]
    }

    /// The slot a key fills, ignoring ASCII case; `None` for keys normalization does not read.
    /// Microsoft's exact spelling is matched first (the hot path); other spellings fall back to
    /// a case-insensitive scan of the table.
    fn for_key(key: &str) -> Option<Slot> {
        let exact = match key {
            "Id" => Slot::Id,
            "CreationTime" => Slot::CreationTime,
            "RecordType" => Slot::RecordType,
            "Operation" => Slot::Operation,
            "OrganizationId" => Slot::OrganizationId,
            "UserType" => Slot::UserType,
            "UserKey" => Slot::UserKey,
            "UserId" => Slot::UserId,
            "Workload" => Slot::Workload,
            "ResultStatus" => Slot::ResultStatus,
            "ObjectId" => Slot::ObjectId,
            "ClientIP" => Slot::ClientIp,
            "Version" => Slot::Version,
            "CrmOrganizationUniqueName" => Slot::CrmOrganizationUniqueName,
            "InstanceUrl" => Slot::InstanceUrl,
            "ItemUrl" => Slot::ItemUrl,
            "ItemType" => Slot::ItemType,
            "UserAgent" => Slot::UserAgent,
            "Message" => Slot::Message,
            "EntityId" => Slot::EntityId,
            "EntityName" => Slot::EntityName,
            "PrimaryFieldValue" => Slot::PrimaryFieldValue,
            "Query" => Slot::Query,
            "CorrelationId" => Slot::CorrelationId,
            "SystemUserId" => Slot::SystemUserId,
            "UserUpn" => Slot::UserUpn,
            "ServiceName" => Slot::ServiceName,
            "ServiceContextId" => Slot::ServiceContextId,
            "ServiceContextIdType" => Slot::ServiceContextIdType,
            "QueryResults" => Slot::QueryResults,
            "Fields" => Slot::Fields,
            _ => {
                return SLOT_NAMES
                    .iter()
                    .position(|name| name.len() == key.len() && name.eq_ignore_ascii_case(key))
                    .map(|index| SLOTS[index]);
            }
        };
        Some(exact)
    }
}

/// `Fields` as read from the wire.
#[derive(Debug, Default)]
pub(crate) struct WireFields {
    /// The name/value pairs that could be read, in order.
    pub(crate) fields: Vec<Field>,
    /// Whether part of the value had a shape that could not be read as name/value pairs.
    pub(crate) uninterpreted: bool,
}

/// `QueryResults` as read from the wire.
#[derive(Debug, Default)]
pub(crate) struct WireIds {
    /// The id tokens that could be read, in order.
    pub(crate) ids: Vec<String>,
    /// Whether part of the value had a shape that could not be read as ids.
    pub(crate) uninterpreted: bool,
}

/// One record as read from the wire: a slot per key normalization reads.
#[derive(Debug)]
pub(crate) struct WireRecord<'a> {
    scalars: [Option<Scalar<'a>>; SCALAR_SLOTS],
    /// `Fields`, when present.
    pub(crate) fields: Option<WireFields>,
    /// `QueryResults`, when present.
    pub(crate) query_results: Option<WireIds>,
    /// Keys that appeared more than once (the last value wins).
    pub(crate) duplicate_keys: Vec<Slot>,
}

impl<'a> WireRecord<'a> {
    /// Removes and returns the value of a scalar slot.
    pub(crate) fn take(&mut self, slot: Slot) -> Option<Scalar<'a>> {
        self.scalars.get_mut(slot as usize).and_then(Option::take)
    }

    /// Whether a scalar slot holds a value other than `null`.
    pub(crate) fn has(&self, slot: Slot) -> bool {
        matches!(self.scalars.get(slot as usize), Some(Some(value)) if *value != Scalar::Null)
    }

    /// Reads one record object from a serde_json deserializer positioned on it.
    pub(crate) fn read<R: serde_json::de::Read<'a>>(
        deserializer: &mut serde_json::Deserializer<R>,
    ) -> Result<Self, serde_json::Error> {
        de::Deserializer::deserialize_map(deserializer, RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = WireRecord<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an activity record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = WireRecord {
            scalars: std::array::from_fn(|_| None),
            fields: None,
            query_results: None,
            duplicate_keys: Vec::new(),
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let Some(slot) = Slot::for_key(&key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let duplicate = match slot {
                Slot::Fields => {
                    let value = map.next_value_seed(FieldsSeed { nested: false })?;
                    record.fields.replace(value).is_some()
                }
                Slot::QueryResults => {
                    let value = map.next_value_seed(IdsSeed { nested: false })?;
                    record.query_results.replace(value).is_some()
                }
                _ => {
                    let value = map.next_value::<Scalar<'de>>()?;
                    record.scalars[slot as usize].replace(value).is_some()
                }
            };
            if duplicate && !record.duplicate_keys.contains(&slot) {
                record.duplicate_keys.push(slot);
            }
        }
        Ok(record)
    }
}

/// Placeholders that mean "no value" inside `Fields` and `QueryResults` strings.
fn is_empty_placeholder(text: &str) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case("N/A")
        || text.eq_ignore_ascii_case("null")
        || text == "[]"
        || text == "{}"
}

/// Reads `Fields`: an array of `{Name, Value}` objects (also `Key`/`Value`), an object of
/// name/value members, or a string holding either as JSON ("stringly JSON"). `nested` is set
/// while reading the JSON inside such a string, so that strings are unwrapped only once.
struct FieldsSeed {
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for FieldsSeed {
    type Value = WireFields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<WireFields, D::Error> {
        deserializer.deserialize_any(FieldsVisitor { nested: self.nested })
    }
}

struct FieldsVisitor {
    nested: bool,
}

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = WireFields;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Fields as name/value pairs")
    }

    fn visit_unit<E: de::Error>(self) -> Result<WireFields, E> {
        Ok(WireFields::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<WireFields, E> {
        Ok(WireFields { fields: Vec::new(), uninterpreted: true })
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<WireFields, E> {
        Ok(WireFields { fields: Vec::new(), uninterpreted: true })
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<WireFields, E> {
        Ok(WireFields { fields: Vec::new(), uninterpreted: true })
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<WireFields, E> {
        Ok(WireFields { fields: Vec::new(), uninterpreted: true })
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<WireFields, E> {
        let trimmed = value.trim();
        if is_empty_placeholder(trimmed) {
            return Ok(WireFields::default());
        }
        if self.nested {
            return Ok(WireFields { fields: Vec::new(), uninterpreted: true });
        }
        let mut inner = serde_json::Deserializer::from_str(trimmed);
        let parsed = FieldsSeed { nested: true }
            .deserialize(&mut inner)
            .and_then(|fields| inner.end().map(|()| fields));
        Ok(parsed.unwrap_or(WireFields { fields: Vec::new(), uninterpreted: true }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireFields, A::Error> {
        let mut out = WireFields::default();
        while let Some(element) = seq.next_element_seed(FieldElementSeed)? {
            match element {
                Some(field) => out.fields.push(field),
                None => out.uninterpreted = true,
            }
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireFields, A::Error> {
        let mut out = WireFields::default();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let value = map.next_value::<&'de RawValue>()?;
            out.fields.push(Field { name: name.into_owned(), value: render_value(value) });
        }
        Ok(out)
    }
}

/// One element of a `Fields` array: `Some` for an object with a name, `None` otherwise.
struct FieldElementSeed;

impl<'de> DeserializeSeed<'de> for FieldElementSeed {
    type Value = Option<Field>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(FieldElementVisitor)
    }
}

struct FieldElementVisitor;

impl<'de> Visitor<'de> for FieldElementVisitor {
    type Value = Option<Field>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a {Name, Value} object")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut name = None;
        let mut value = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key.eq_ignore_ascii_case("Name") || key.eq_ignore_ascii_case("Key") {
                name = scalar_text(map.next_value::<Scalar<'de>>()?);
            } else if key.eq_ignore_ascii_case("Value") {
                value = render_value(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(name.map(|name| Field { name, value }))
    }
}

/// A field value as text: strings unescaped, `null` as `None`, anything else as its JSON text.
fn render_value(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).ok(),
        _ if text == "null" => None,
        _ => Some(text.to_owned()),
    }
}

/// The text of a scalar name: strings as is, numbers and booleans printed, anything else `None`.
fn scalar_text(value: Scalar<'_>) -> Option<String> {
    match value {
        Scalar::Str(text) => Some(text.into_owned()),
        Scalar::Int(number) => Some(number.to_string()),
        Scalar::UInt(number) => Some(number.to_string()),
        Scalar::Float(number) => Some(number.to_string()),
        Scalar::Bool(flag) => Some(flag.to_string()),
        Scalar::Null | Scalar::Array | Scalar::Object => None,
    }
}

/// Reads `QueryResults`: a comma-separated string, a JSON array (of strings, numbers, or
/// objects with an `Id`), or a string holding such an array.
struct IdsSeed {
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for IdsSeed {
    type Value = WireIds;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<WireIds, D::Error> {
        deserializer.deserialize_any(IdsVisitor { nested: self.nested })
    }
}

struct IdsVisitor {
    nested: bool,
}

impl<'de> Visitor<'de> for IdsVisitor {
    type Value = WireIds;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("QueryResults as a list of ids")
    }

    fn visit_unit<E: de::Error>(self) -> Result<WireIds, E> {
        Ok(WireIds::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<WireIds, E> {
        Ok(WireIds { ids: Vec::new(), uninterpreted: true })
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<WireIds, E> {
        Ok(WireIds { ids: vec![value.to_string()], uninterpreted: false })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<WireIds, E> {
        Ok(WireIds { ids: vec![value.to_string()], uninterpreted: false })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<WireIds, E> {
        Ok(WireIds { ids: vec![value.to_string()], uninterpreted: false })
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<WireIds, E> {
        let trimmed = value.trim();
        let mut out = WireIds::default();
        if is_empty_placeholder(trimmed) {
            return Ok(out);
        }
        if !self.nested && trimmed.starts_with('[') {
            let mut inner = serde_json::Deserializer::from_str(trimmed);
            let parsed = IdsSeed { nested: true }
                .deserialize(&mut inner)
                .and_then(|ids| inner.end().map(|()| ids));
            if let Ok(ids) = parsed {
                return Ok(ids);
            }
        }
        split_id_list(trimmed, &mut out.ids);
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireIds, A::Error> {
        let mut out = WireIds::default();
        while let Some(token) = seq.next_element::<Scalar<'de>>()? {
            match token {
                Scalar::Str(text) => push_id_token(&text, &mut out.ids),
                Scalar::Null => {}
                Scalar::Array | Scalar::Object | Scalar::Bool(_) => out.uninterpreted = true,
                number => out.ids.extend(scalar_text(number)),
            }
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireIds, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(WireIds { ids: Vec::new(), uninterpreted: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> WireRecord<'_> {
        let mut deserializer = serde_json::Deserializer::from_slice(json.as_bytes());
        WireRecord::read(&mut deserializer).expect("valid test JSON")
    }

    fn field(name: &str, value: Option<&str>) -> Field {
        Field { name: name.to_owned(), value: value.map(str::to_owned) }
    }

    #[test]
    fn every_slot_is_found_by_its_name_in_any_case() {
        for (slot, name) in SLOTS.iter().zip(SLOT_NAMES) {
            assert_eq!(slot.name(), name);
            assert_eq!(Slot::for_key(name), Some(*slot), "{name}");
            assert_eq!(Slot::for_key(&name.to_ascii_lowercase()), Some(*slot), "{name}");
            assert_eq!(Slot::for_key(&name.to_ascii_uppercase()), Some(*slot), "{name}");
        }
        assert_eq!(Slot::for_key("AppAccessContext"), None);
        assert_eq!(Slot::for_key(""), None);
    }

    #[test]
    fn keys_match_without_case_and_strings_borrow() {
        let mut record = read(r#"{"clientip":"1.2.3.4","ID":"abc","Other":{"x":[1,2]}}"#);
        assert_eq!(record.take(Slot::ClientIp), Some(Scalar::Str(Cow::Borrowed("1.2.3.4"))));
        assert!(matches!(record.take(Slot::Id), Some(Scalar::Str(Cow::Borrowed("abc")))));
        assert_eq!(record.take(Slot::Workload), None);
    }

    #[test]
    fn escaped_strings_are_owned_and_unescaped() {
        let mut record = read(r#"{"Operation":"a\"b"}"#);
        assert_eq!(record.take(Slot::Operation), Some(Scalar::Str(Cow::Owned("a\"b".into()))));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let mut record = read(r#"{"Id":"first","id":"second"}"#);
        assert_eq!(record.duplicate_keys, [Slot::Id]);
        assert_eq!(record.take(Slot::Id), Some(Scalar::Str(Cow::Borrowed("second"))));
    }

    #[test]
    fn scalars_of_every_type_are_read() {
        let mut record = read(
            r#"{"RecordType":21,"UserType":-1,"Version":1.5,"Query":true,"Message":null,
                "ItemUrl":[1,{"a":2}],"ItemType":{"b":[3]}}"#,
        );
        assert_eq!(record.take(Slot::RecordType), Some(Scalar::UInt(21)));
        assert_eq!(record.take(Slot::UserType), Some(Scalar::Int(-1)));
        assert_eq!(record.take(Slot::Version), Some(Scalar::Float(1.5)));
        assert_eq!(record.take(Slot::Query), Some(Scalar::Bool(true)));
        assert!(!record.has(Slot::Message));
        assert_eq!(record.take(Slot::Message), Some(Scalar::Null));
        assert_eq!(record.take(Slot::ItemUrl), Some(Scalar::Array));
        assert_eq!(record.take(Slot::ItemType), Some(Scalar::Object));
    }

    #[test]
    fn fields_as_array_of_name_value_objects() {
        let record = read(
            r#"{"Fields":[{"Name":"name","Value":"Fabrikam"},{"name":"revenue","value":1200.5},
                {"Key":"parentaccountid","Value":{"Id":"x","LogicalName":"account"}},
                {"Name":"telephone1","Value":"*"},{"Name":"description","Value":null},
                {"Value":"orphan"},42]}"#,
        );
        let fields = record.fields.expect("fields present");
        assert_eq!(
            fields.fields,
            [
                field("name", Some("Fabrikam")),
                field("revenue", Some("1200.5")),
                field("parentaccountid", Some(r#"{"Id":"x","LogicalName":"account"}"#)),
                field("telephone1", Some("*")),
                field("description", None),
            ]
        );
        assert!(fields.uninterpreted, "the orphan value and the number are noted");
    }

    #[test]
    fn fields_as_string_holding_json_or_object() {
        let as_string = read(r#"{"Fields":"[{\"Name\":\"name\",\"Value\":\"Contoso\"}]"}"#);
        let as_object = read(r#"{"Fields":{"name":"Contoso"}}"#);
        let as_string_object = read(r#"{"Fields":"{\"name\":\"Contoso\"}"}"#);
        for record in [as_string, as_object, as_string_object] {
            let fields = record.fields.expect("fields present");
            assert_eq!(fields.fields, [field("name", Some("Contoso"))]);
            assert!(!fields.uninterpreted);
        }
    }

    #[test]
    fn fields_placeholders_and_garbage() {
        for json in
            [r#"{"Fields":[]}"#, r#"{"Fields":""}"#, r#"{"Fields":null}"#, r#"{"Fields":"[]"}"#]
        {
            let fields = read(json).fields.expect("fields present");
            assert!(fields.fields.is_empty() && !fields.uninterpreted, "{json}");
        }
        for json in [r#"{"Fields":"name=Contoso"}"#, r#"{"Fields":7}"#, r#"{"Fields":"\"x\""}"#] {
            let fields = read(json).fields.expect("fields present");
            assert!(fields.fields.is_empty() && fields.uninterpreted, "{json}");
        }
    }

    #[test]
    fn query_results_in_every_form() {
        let cases: [(&str, &[&str]); 7] = [
            (r#""a, b""#, &["a", "b"]),
            (r#""N/A""#, &[]),
            (r#""""#, &[]),
            (r#"null"#, &[]),
            (
                r#"["A1B2C3D4-0000-0000-0000-000000000001", null, 7]"#,
                &["a1b2c3d4-0000-0000-0000-000000000001", "7"],
            ),
            (r#""[\"x\",\"y\"]""#, &["x", "y"]),
            (r#""[not json, z""#, &["[not json", "z"]),
        ];
        for (value, expected) in cases {
            let json = format!(r#"{{"QueryResults":{value}}}"#);
            let ids = read(&json).query_results.expect("present");
            assert_eq!(ids.ids, expected, "{value}");
            assert!(!ids.uninterpreted, "{value}");
        }
        let odd = read(r#"{"QueryResults":{"a":1}}"#).query_results.expect("present");
        assert!(odd.ids.is_empty() && odd.uninterpreted);
    }
}
