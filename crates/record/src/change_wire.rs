//! Parsing of Dataverse Web API audit data into [`AuditChange`] and [`ChangeDetail`]: one row of
//! an `audits` page, the `RetrieveAuditDetails` response of a row, and the splitting of an
//! `audits` page into the exact bytes of each row (so the archive keeps each row as received).
//!
//! Rules:
//! - A row needs `auditid` (a GUID) and `createdon` (ISO 8601, `Z`, fractions and offsets
//!   accepted); anything else missing gets a neutral value: `action` / `operation` absent or
//!   `null` are `0` (Unknown), optional GUIDs that are absent, not GUIDs or the all-zero GUID are
//!   `None`, an `attributemask` part that is not a number is skipped.
//! - Annotations (`Prefer: odata.include-annotations="*"`) are optional everywhere: they only add
//!   names (`FormattedValue`) and lookup tables (`lookuplogicalname`).
//! - A detail is decoded by its `@odata.type` (with or without the leading `#` and the
//!   `Microsoft.Dynamics.CRM.` namespace, any case). Without `@odata.type` the type is inferred
//!   from the members (`OldValue`/`NewValue`, `Principal`, `RelationshipName`,
//!   `OldRolePrivileges`/`NewRolePrivileges`, `AccessTime`); a type this crate does not decode is
//!   [`ChangeDetail::Other`], the base type `AuditDetail` (no detail) is [`ChangeDetail::None`].
//! - A container of the wrong JSON type (an `OldValue` that is a string, `TargetRecords` that is
//!   not an array) or a role privilege without a readable `PrivilegeId` is an error: the bytes
//!   are quarantined rather than half-read.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::activity::{first_significant_byte, strip_bom};
use crate::change::{
    AuditAction, AuditChange, AuditOperation, ChangeDetail, EntityRef, FieldChange, FieldValue,
    RolePrivilege,
};
use crate::error::{MalformedBlob, MalformedKind, MalformedRecord};
use crate::ids::parse_guid;
use crate::timestamp::parse_creation_time;

/// The annotation with what Dataverse shows a person (`Prefer: odata.include-annotations`).
const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";
/// The annotation naming the table a lookup points to.
const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
/// The namespace of Dataverse's `@odata.type` values.
const CRM_NAMESPACE: &str = "Microsoft.Dynamics.CRM.";

/// One page of the `audits` entity set, split but not parsed.
#[derive(Debug, Clone)]
pub struct AuditPage<'a> {
    /// Each element of `value`, exactly as received (parse with [`parse_audit_row`]).
    pub rows: Vec<&'a RawValue>,
    /// `@odata.nextLink`: the next page's URL, to follow verbatim; `None` on the last page.
    pub next_link: Option<String>,
}

/// What an OData collection response holds for us.
#[derive(Deserialize)]
struct PageWire<'a> {
    #[serde(borrow, default)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// Splits an OData collection response (`{"@odata.context":…,"value":[…],
/// "@odata.nextLink":…}`) into the exact bytes of each row and the next page's link.
///
/// Elements of `value` that are not objects are still returned: [`parse_audit_row`] reports
/// them, so one bad row never hides the others. Invalid JSON anywhere, a body that is not an
/// object, or one without a `value` array makes the whole page a [`MalformedBlob`] (an error
/// page or a response cut off in transit: fetch it again). A blank `@odata.nextLink` counts as
/// absent.
pub fn split_audit_page(bytes: &[u8]) -> Result<AuditPage<'_>, MalformedBlob> {
    const SHAPE: &str = "an audits page must be a JSON object with a `value` array of audit rows \
                         (an OData collection response)";
    let body = strip_bom(bytes);
    match first_significant_byte(body) {
        Some(b'{') => {}
        Some(_) => {
            let found = match not_an_object(body) {
                MalformedKind::NotAnObject { found } => format!("it is a JSON {found}"),
                other => other.to_string(),
            };
            return Err(MalformedBlob::new(bytes, format!("{SHAPE}; {found}")));
        }
        None => return Err(MalformedBlob::new(bytes, "the audits page is empty")),
    }
    let page: PageWire<'_> = serde_json::from_slice(body)
        .map_err(|error| MalformedBlob::new(bytes, format!("{SHAPE}; {error}")))?;
    let Some(rows) = page.value else {
        return Err(MalformedBlob::new(bytes, format!("{SHAPE}; `value` is missing or null")));
    };
    let next_link = page.next_link.filter(|link| !link.trim().is_empty());
    Ok(AuditPage { rows, next_link })
}

/// Parses one row of an `audits` page (a JSON object, with or without annotations) into an
/// [`AuditChange`] whose detail is [`ChangeDetail::None`] (fetch it with `RetrieveAuditDetails`
/// and [`parse_audit_detail`]).
///
/// `auditid` and `createdon` are mandatory; the rest is read tolerantly (rules in the module
/// documentation). Never panics; unreadable input gives a [`MalformedRecord`] with the bytes. A
/// leading UTF-8 byte-order mark is ignored.
pub fn parse_audit_row(bytes: &[u8]) -> Result<AuditChange, MalformedRecord> {
    read_audit_row(bytes).map_err(|kind| MalformedRecord::new(bytes, kind, None))
}

/// Parses a `RetrieveAuditDetails` response (`{"@odata.context":…,"AuditDetail":{…}}`) or a
/// bare `AuditDetail` object (an element of `AuditDetailCollection.AuditDetails`).
///
/// `"AuditDetail": null` gives [`ChangeDetail::None`]. Never panics; unreadable input gives a
/// [`MalformedRecord`] with the bytes.
pub fn parse_audit_detail(bytes: &[u8]) -> Result<ChangeDetail, MalformedRecord> {
    read_audit_detail(bytes).map_err(|kind| MalformedRecord::new(bytes, kind, None))
}

fn read_audit_row(bytes: &[u8]) -> Result<AuditChange, MalformedKind> {
    let row = read_object(bytes)?;

    let audit_text = row.mandatory_text("auditid")?;
    let audit_id = parse_guid(audit_text.trim())
        .ok_or_else(|| MalformedKind::invalid_value("auditid", &audit_text))?;
    let created_text = row.mandatory_text("createdon")?;
    let created_on = parse_creation_time(&created_text)
        .ok_or_else(|| MalformedKind::invalid_value("createdon", &created_text))?;

    let table = row
        .scalar_text("objecttypecode")
        .or_else(|| row.annotation("_objectid_value", LOOKUP_LOGICAL_NAME))
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();

    Ok(AuditChange {
        audit_id,
        created_on,
        action: AuditAction(row.choice("action")?.unwrap_or(0)),
        operation: AuditOperation(row.choice("operation")?.unwrap_or(0)),
        table,
        object_id: row.optional_guid("_objectid_value"),
        object_name: row.annotation("_objectid_value", FORMATTED_VALUE),
        user_id: row.optional_guid("_userid_value"),
        user_name: row.annotation("_userid_value", FORMATTED_VALUE),
        calling_user_id: row.optional_guid("_callinguserid_value"),
        transaction_id: row.optional_guid("transactionid"),
        attribute_mask: row
            .scalar_text("attributemask")
            .map(|t| attribute_mask(&t))
            .unwrap_or_default(),
        detail: ChangeDetail::None,
    })
}

/// `attributemask` (`,47,45,42,`): the column numbers, skipping empty and unreadable parts.
fn attribute_mask(text: &str) -> Vec<u32> {
    text.split(',').filter_map(|part| part.trim().parse().ok()).collect()
}

fn read_audit_detail(bytes: &[u8]) -> Result<ChangeDetail, MalformedKind> {
    let outer = read_object(bytes)?;
    let detail = match outer.get("AuditDetail") {
        Some(raw) if is_null(raw) => return Ok(ChangeDetail::None),
        Some(raw) => object_member(raw, "AuditDetail")?,
        None => outer,
    };
    decode_detail(&detail)
}

/// The `AuditDetail` derived types this crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DetailKind {
    Base,
    Attribute,
    Share,
    Relationship,
    RolePrivilege,
    UserAccess,
}

impl DetailKind {
    /// The kind named by an `@odata.type` (`#Microsoft.Dynamics.CRM.ShareAuditDetail`,
    /// `ShareAuditDetail`, any case).
    fn from_type(odata_type: &str) -> Option<Self> {
        let name = short_type_name(odata_type);
        [
            ("AuditDetail", DetailKind::Base),
            ("AttributeAuditDetail", DetailKind::Attribute),
            ("ShareAuditDetail", DetailKind::Share),
            ("RelationshipAuditDetail", DetailKind::Relationship),
            ("RolePrivilegeAuditDetail", DetailKind::RolePrivilege),
            ("UserAccessAuditDetail", DetailKind::UserAccess),
        ]
        .into_iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, kind)| kind)
    }

    /// The kind a detail without `@odata.type` must be, by its members.
    fn infer(detail: &Members<'_>) -> Option<Self> {
        let has = |key: &str| detail.get(key).is_some();
        if has("OldValue") || has("NewValue") {
            Some(DetailKind::Attribute)
        } else if has("Principal") {
            Some(DetailKind::Share)
        } else if has("RelationshipName") || has("TargetRecords") {
            Some(DetailKind::Relationship)
        } else if has("OldRolePrivileges") || has("NewRolePrivileges") {
            Some(DetailKind::RolePrivilege)
        } else if has("AccessTime") {
            Some(DetailKind::UserAccess)
        } else {
            None
        }
    }
}

/// `#Microsoft.Dynamics.CRM.account` → `account`.
fn short_type_name(odata_type: &str) -> &str {
    let name = odata_type.trim();
    let name = name.strip_prefix('#').unwrap_or(name);
    match name.get(..CRM_NAMESPACE.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(CRM_NAMESPACE) => &name[CRM_NAMESPACE.len()..],
        _ => name,
    }
}

fn decode_detail(detail: &Members<'_>) -> Result<ChangeDetail, MalformedKind> {
    let odata_type = detail.text("@odata.type");
    let kind = match &odata_type {
        Some(odata_type) => DetailKind::from_type(odata_type),
        None => Some(
            DetailKind::infer(detail)
                .ok_or(MalformedKind::MissingField { field: "@odata.type" })?,
        ),
    };
    match kind {
        Some(DetailKind::Base) => Ok(ChangeDetail::None),
        Some(DetailKind::Attribute) => attribute_detail(detail),
        Some(DetailKind::Share) => share_detail(detail),
        Some(DetailKind::Relationship) => relationship_detail(detail),
        Some(DetailKind::RolePrivilege) => role_privilege_detail(detail),
        Some(DetailKind::UserAccess) => user_access_detail(detail),
        None => Ok(ChangeDetail::Other {
            odata_type: odata_type.map(|text| text.trim().to_owned()).unwrap_or_default(),
        }),
    }
}

/// `AttributeAuditDetail`: old and new value per column, deleted and invalid columns.
fn attribute_detail(detail: &Members<'_>) -> Result<ChangeDetail, MalformedKind> {
    let mut changes: Vec<FieldChange> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (field, value) in entity_values(detail, "OldValue")? {
        index.insert(field.clone(), changes.len());
        changes.push(FieldChange { field, old: value, new: None });
    }
    for (field, value) in entity_values(detail, "NewValue")? {
        match index.get(&field) {
            Some(&position) => changes[position].new = value,
            None => {
                index.insert(field.clone(), changes.len());
                changes.push(FieldChange { field, old: None, new: value });
            }
        }
    }
    Ok(ChangeDetail::Attributes {
        changes,
        deleted: deleted_attributes(detail)?,
        invalid_new: string_list(detail, "InvalidNewValueAttributes")?,
    })
}

/// The columns of an entity member (`OldValue`, `NewValue`), in order; absent or `null` is none.
fn entity_values(
    detail: &Members<'_>,
    field: &'static str,
) -> Result<Vec<(String, Option<FieldValue>)>, MalformedKind> {
    match detail.get(field) {
        None => Ok(Vec::new()),
        Some(raw) if is_null(raw) => Ok(Vec::new()),
        Some(raw) => entity_columns(&object_member(raw, field)?),
    }
}

/// Annotations that belong to one property of an entity object.
#[derive(Debug, Default)]
struct Annotations {
    formatted: Option<String>,
    lookup_table: Option<String>,
}

/// The columns of an entity object in the order sent: `@`-annotations are not columns, a lookup
/// `_x_value` is column `x`, `null` is `None`. A column sent twice keeps its first place and its
/// last value.
fn entity_columns(
    entity: &Members<'_>,
) -> Result<Vec<(String, Option<FieldValue>)>, MalformedKind> {
    let mut annotations: HashMap<&str, Annotations> = HashMap::new();
    let mut properties: Vec<(&str, &RawValue)> = Vec::new();
    for (key, raw) in &entity.0 {
        match key.split_once('@') {
            None => properties.push((key, raw)),
            Some(("", _)) => {}
            Some((property, annotation)) => {
                let slot = annotations.entry(property).or_default();
                if annotation.eq_ignore_ascii_case(FORMATTED_VALUE) {
                    slot.formatted = text(raw);
                } else if annotation.eq_ignore_ascii_case(LOOKUP_LOGICAL_NAME) {
                    slot.lookup_table = text(raw);
                }
            }
        }
    }

    let mut columns: Vec<(String, Option<FieldValue>)> = Vec::with_capacity(properties.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for (key, raw) in properties {
        let field = lookup_column(key).unwrap_or(key).to_owned();
        let value = if is_null(raw) {
            None
        } else {
            let annotation = annotations.get(key);
            Some(FieldValue {
                value: json_value(raw)?,
                formatted: annotation.and_then(|found| found.formatted.clone()),
                lookup_table: annotation.and_then(|found| found.lookup_table.clone()),
            })
        };
        match index.get(&field) {
            Some(&position) => columns[position].1 = value,
            None => {
                index.insert(field.clone(), columns.len());
                columns.push((field, value));
            }
        }
    }
    Ok(columns)
}

/// `_parentaccountid_value` → `parentaccountid`.
fn lookup_column(key: &str) -> Option<&str> {
    key.strip_prefix('_')?.strip_suffix("_value").filter(|name| !name.is_empty())
}

/// `DeletedAttributes`: `{"Count":n,"Keys":[…],"Values":[…]}` as documented; also tolerated: a
/// plain object `{"column": old value}` and an array of `{"Key":…,"Value":…}`.
fn deleted_attributes(detail: &Members<'_>) -> Result<Vec<FieldChange>, MalformedKind> {
    const FIELD: &str = "DeletedAttributes";
    let Some(raw) = detail.get(FIELD) else { return Ok(Vec::new()) };
    let deleted = |field: String, value: Option<&RawValue>| -> Result<FieldChange, MalformedKind> {
        let old = match value {
            Some(raw) if !is_null(raw) => Some(plain_value(raw)?),
            _ => None,
        };
        Ok(FieldChange { field, old, new: None })
    };
    match json_kind(raw) {
        "null" => Ok(Vec::new()),
        "array" => array_member(raw, FIELD)?
            .into_iter()
            .filter_map(|pair| {
                let pair = serde_json::from_str::<Members<'_>>(pair.get()).ok()?;
                let key = pair.scalar_text("Key")?;
                Some(deleted(key, pair.get("Value")))
            })
            .collect(),
        _ => {
            let members = object_member(raw, FIELD)?;
            if members.get("Keys").is_some() || members.get("Values").is_some() {
                let keys = optional_array(&members, "Keys")?;
                let values = optional_array(&members, "Values")?;
                keys.iter()
                    .enumerate()
                    .filter_map(|(position, key)| {
                        scalar(key).map(|key| deleted(key, values.get(position).copied()))
                    })
                    .collect()
            } else {
                members
                    .0
                    .iter()
                    .filter(|(key, _)| key != "Count" && !key.contains('@'))
                    .map(|(key, value)| deleted(key.clone(), Some(value)))
                    .collect()
            }
        }
    }
}

/// A value without annotations.
fn plain_value(raw: &RawValue) -> Result<FieldValue, MalformedKind> {
    Ok(FieldValue { value: json_value(raw)?, formatted: None, lookup_table: None })
}

/// `ShareAuditDetail`: the principal and its access rights before and after.
fn share_detail(detail: &Members<'_>) -> Result<ChangeDetail, MalformedKind> {
    const FIELD: &str = "Principal";
    let principal = match detail.get(FIELD) {
        Some(raw) if !is_null(raw) => entity_ref(&object_member(raw, FIELD)?),
        _ => return Err(MalformedKind::MissingField { field: FIELD }),
    };
    Ok(ChangeDetail::Share {
        principal,
        old_privileges: access_rights(detail, "OldPrivileges")?,
        new_privileges: access_rights(detail, "NewPrivileges")?,
    })
}

/// The `AccessRights` flags and their names in the SDK (`Microsoft.Crm.Sdk.AccessRights`).
const ACCESS_RIGHTS: &[(u64, &str)] = &[
    (1, "ReadAccess"),
    (2, "WriteAccess"),
    (4, "AppendAccess"),
    (16, "AppendToAccess"),
    (32, "CreateAccess"),
    (65_536, "DeleteAccess"),
    (262_144, "ShareAccess"),
    (524_288, "AssignAccess"),
];

/// `OldPrivileges` / `NewPrivileges`: the text as Dataverse words it (`"ReadAccess,
/// WriteAccess"`); a number (flags) is worded the same way, unknown bits kept as a number;
/// absent, `null` or blank is `None`.
fn access_rights(
    detail: &Members<'_>,
    field: &'static str,
) -> Result<Option<String>, MalformedKind> {
    let Some(raw) = detail.get(field) else { return Ok(None) };
    match json_kind(raw) {
        "null" => Ok(None),
        "string" => Ok(text(raw).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())),
        "number" => {
            let flags: u64 = serde_json::from_str(raw.get())
                .map_err(|_| MalformedKind::invalid_value(field, raw.get()))?;
            Ok(Some(access_rights_words(flags)))
        }
        found => {
            Err(MalformedKind::WrongType { field, found, expected: "a string of access rights" })
        }
    }
}

fn access_rights_words(flags: u64) -> String {
    if flags == 0 {
        return "None".to_owned();
    }
    let mut words: Vec<String> = Vec::new();
    let mut rest = flags;
    for &(bit, name) in ACCESS_RIGHTS {
        if flags & bit != 0 {
            words.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        words.push(rest.to_string());
    }
    words.join(", ")
}

/// `RelationshipAuditDetail`: the N:N relationship and the records on the other side.
fn relationship_detail(detail: &Members<'_>) -> Result<ChangeDetail, MalformedKind> {
    const FIELD: &str = "TargetRecords";
    let targets = optional_array(detail, FIELD)?
        .into_iter()
        .map(|raw| object_member(raw, FIELD).map(|entity| entity_ref(&entity)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChangeDetail::Relationship {
        relationship: detail
            .text("RelationshipName")
            .map(|t| t.trim().to_owned())
            .unwrap_or_default(),
        targets,
    })
}

/// A reference to a row from an entity object: the table from `@odata.type`, the id from
/// `<table>id` (else `systemuserid`, `teamid`, else the first `…id` member holding a GUID), the
/// name from the id's formatted value, else `name` or `fullname`.
fn entity_ref(entity: &Members<'_>) -> EntityRef {
    let mut table = entity
        .text("@odata.type")
        .map(|odata_type| short_type_name(&odata_type).to_owned())
        .unwrap_or_default();
    let guid_of = |key: &str| entity.text(key).and_then(|t| parse_guid(t.trim()));
    let own_key = (!table.is_empty()).then(|| format!("{table}id"));
    let id_key: Option<String> = own_key
        .into_iter()
        .chain(["systemuserid".to_owned(), "teamid".to_owned()])
        .find(|key| guid_of(key).is_some())
        .or_else(|| {
            entity
                .0
                .iter()
                .map(|(key, _)| key)
                .find(|key| !key.contains('@') && key.ends_with("id") && guid_of(key).is_some())
                .cloned()
        });
    if table.is_empty()
        && let Some(key) = &id_key
    {
        table = key.strip_suffix("id").unwrap_or(key).to_owned();
    }
    let name = id_key
        .as_deref()
        .and_then(|key| entity.annotation(key, FORMATTED_VALUE))
        .or_else(|| entity.text("name"))
        .or_else(|| entity.text("fullname"));
    EntityRef { table, id: id_key.as_deref().and_then(guid_of), name }
}

/// `RolePrivilegeAuditDetail`: a role's privileges before and after.
fn role_privilege_detail(detail: &Members<'_>) -> Result<ChangeDetail, MalformedKind> {
    let invalid_new = optional_array(detail, "InvalidNewPrivileges")?
        .into_iter()
        .filter_map(|raw| text(raw).and_then(|t| parse_guid(t.trim())))
        .collect();
    Ok(ChangeDetail::RolePrivileges {
        old: role_privileges(detail, "OldRolePrivileges")?,
        new: role_privileges(detail, "NewRolePrivileges")?,
        invalid_new,
    })
}

fn role_privileges(
    detail: &Members<'_>,
    field: &'static str,
) -> Result<Vec<RolePrivilege>, MalformedKind> {
    optional_array(detail, field)?
        .into_iter()
        .map(|raw| {
            let privilege = object_member(raw, field)?;
            let id_text = privilege.mandatory_text("PrivilegeId")?;
            let privilege_id = parse_guid(id_text.trim())
                .ok_or_else(|| MalformedKind::invalid_value("PrivilegeId", &id_text))?;
            Ok(RolePrivilege {
                privilege_id,
                depth: privilege
                    .scalar_text("Depth")
                    .map(|t| t.trim().to_owned())
                    .unwrap_or_default(),
                business_unit_id: privilege.optional_guid("BusinessUnitId"),
            })
        })
        .collect()
}

/// `UserAccessAuditDetail`: when the user came, and the organization's auditing interval.
fn user_access_detail(detail: &Members<'_>) -> Result<ChangeDetail, MalformedKind> {
    let access_time = match detail.get("AccessTime") {
        None => None,
        Some(raw) if is_null(raw) => None,
        Some(raw) => {
            let text = text(raw).ok_or(MalformedKind::WrongType {
                field: "AccessTime",
                found: json_kind(raw),
                expected: "a date-time string",
            })?;
            Some(
                parse_creation_time(&text)
                    .ok_or_else(|| MalformedKind::invalid_value("AccessTime", &text))?,
            )
        }
    };
    Ok(ChangeDetail::UserAccess { access_time, interval_hours: detail.choice("Interval")? })
}

/// A JSON object's members in the order sent, values left as raw JSON.
#[derive(Debug)]
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
            members.push((key, value));
        }
        Ok(Members(members))
    }
}

impl<'a> Members<'a> {
    /// The member's raw value; the last one when the key is sent twice (as `serde_json` does).
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(name, _)| name == key).map(|&(_, raw)| raw)
    }

    /// A string member's text; `None` when absent, `null` or not a string.
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(text)
    }

    /// A string or number member as text; `None` when absent, blank or of another type.
    fn scalar_text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(scalar).filter(|t| !t.trim().is_empty())
    }

    /// A property's annotation (`key@name`) when it is a non-blank string.
    fn annotation(&self, key: &str, name: &str) -> Option<String> {
        self.text(&format!("{key}@{name}")).filter(|t| !t.trim().is_empty())
    }

    /// A mandatory string member.
    fn mandatory_text(&self, field: &'static str) -> Result<String, MalformedKind> {
        let raw = match self.get(field) {
            Some(raw) if !is_null(raw) => raw,
            _ => return Err(MalformedKind::MissingField { field }),
        };
        let value = text(raw).ok_or(MalformedKind::WrongType {
            field,
            found: json_kind(raw),
            expected: "a string",
        })?;
        if value.trim().is_empty() {
            return Err(MalformedKind::EmptyField { field });
        }
        Ok(value)
    }

    /// A GUID member; `None` when absent, not a GUID, or the all-zero GUID.
    fn optional_guid(&self, key: &str) -> Option<Uuid> {
        self.text(key).and_then(|t| parse_guid(t.trim())).filter(|guid| !guid.is_nil())
    }

    /// An integer member (a choice value, an interval): a JSON integer, an integral number or a
    /// decimal string; `None` when absent or `null`.
    fn choice(&self, field: &'static str) -> Result<Option<i32>, MalformedKind> {
        let Some(raw) = self.get(field) else { return Ok(None) };
        let invalid = || MalformedKind::invalid_value(field, raw.get());
        match json_kind(raw) {
            "null" => Ok(None),
            "number" => {
                let number: f64 = serde_json::from_str(raw.get()).map_err(|_| invalid())?;
                let in_range = number.fract() == 0.0
                    && number >= f64::from(i32::MIN)
                    && number <= f64::from(i32::MAX);
                // Integral and in range, so the conversion is exact.
                if in_range { Ok(Some(number as i32)) } else { Err(invalid()) }
            }
            "string" => {
                let value = text(raw).unwrap_or_default();
                value.trim().parse().map(Some).map_err(|_| invalid())
            }
            found => Err(MalformedKind::WrongType { field, found, expected: "an integer" }),
        }
    }
}

/// Reads input that must be one JSON object.
fn read_object(bytes: &[u8]) -> Result<Members<'_>, MalformedKind> {
    let body = strip_bom(bytes);
    match first_significant_byte(body) {
        Some(b'{') => serde_json::from_slice(body)
            .map_err(|error| MalformedKind::InvalidJson { message: error.to_string() }),
        Some(_) => Err(not_an_object(body)),
        None => Err(MalformedKind::InvalidJson { message: "the input is empty".into() }),
    }
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

/// A member that must be an object.
fn object_member<'a>(raw: &'a RawValue, field: &'static str) -> Result<Members<'a>, MalformedKind> {
    match json_kind(raw) {
        "object" => serde_json::from_str(raw.get())
            .map_err(|error| MalformedKind::InvalidJson { message: error.to_string() }),
        found => Err(MalformedKind::WrongType { field, found, expected: "an object" }),
    }
}

/// A member that must be an array when present; absent or `null` is empty.
fn optional_array<'a>(
    members: &Members<'a>,
    field: &'static str,
) -> Result<Vec<&'a RawValue>, MalformedKind> {
    match members.get(field) {
        None => Ok(Vec::new()),
        Some(raw) if is_null(raw) => Ok(Vec::new()),
        Some(raw) => array_member(raw, field),
    }
}

fn array_member<'a>(
    raw: &'a RawValue,
    field: &'static str,
) -> Result<Vec<&'a RawValue>, MalformedKind> {
    match json_kind(raw) {
        "array" => serde_json::from_str(raw.get())
            .map_err(|error| MalformedKind::InvalidJson { message: error.to_string() }),
        found => Err(MalformedKind::WrongType { field, found, expected: "an array" }),
    }
}

/// An array of strings (numbers kept as text, other elements skipped); absent or `null` is empty.
fn string_list(members: &Members<'_>, field: &'static str) -> Result<Vec<String>, MalformedKind> {
    Ok(optional_array(members, field)?.into_iter().filter_map(scalar).collect())
}

/// The JSON type of a raw value (serde_json strips the whitespace around it).
fn json_kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// A string value's text.
fn text(raw: &RawValue) -> Option<String> {
    match json_kind(raw) {
        "string" => serde_json::from_str(raw.get()).ok(),
        _ => None,
    }
}

/// A string's text or a number as written.
fn scalar(raw: &RawValue) -> Option<String> {
    match json_kind(raw) {
        "string" => text(raw),
        "number" => Some(raw.get().to_owned()),
        _ => None,
    }
}

/// A raw value as a [`Value`].
fn json_value(raw: &RawValue) -> Result<Value, MalformedKind> {
    serde_json::from_str(raw.get())
        .map_err(|error| MalformedKind::InvalidJson { message: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_masks_tolerate_commas_spaces_and_junk() {
        assert_eq!(attribute_mask(",47,45,42,"), [47, 45, 42]);
        assert_eq!(attribute_mask(" 1 , 2,,x,3 "), [1, 2, 3]);
        assert_eq!(attribute_mask(""), Vec::<u32>::new());
    }

    #[test]
    fn type_names_lose_hash_and_namespace() {
        assert_eq!(short_type_name("#Microsoft.Dynamics.CRM.account"), "account");
        assert_eq!(short_type_name("microsoft.dynamics.crm.team"), "team");
        assert_eq!(short_type_name("#Other.Type"), "Other.Type");
        assert_eq!(short_type_name("#"), "");
        assert_eq!(
            DetailKind::from_type("#microsoft.dynamics.crm.shareauditdetail"),
            Some(DetailKind::Share)
        );
        assert_eq!(
            DetailKind::from_type("#Microsoft.Dynamics.CRM.IPFirewallAccessAuditDetail"),
            None
        );
    }

    #[test]
    fn lookup_columns_are_unwrapped() {
        assert_eq!(lookup_column("_parentaccountid_value"), Some("parentaccountid"));
        assert_eq!(lookup_column("_value"), None);
        assert_eq!(lookup_column("__value"), None);
        assert_eq!(lookup_column("telephone1"), None);
    }

    #[test]
    fn access_rights_numbers_are_worded() {
        assert_eq!(access_rights_words(3), "ReadAccess, WriteAccess");
        assert_eq!(access_rights_words(0), "None");
        assert_eq!(access_rights_words(1 | 8), "ReadAccess, 8");
    }

    #[test]
    fn raw_kinds() {
        let raw: Box<RawValue> = serde_json::from_str(r#" [1, {"a": null}] "#).expect("json");
        assert_eq!(json_kind(&raw), "array");
        let members: Vec<&RawValue> = serde_json::from_str(raw.get()).expect("array");
        assert_eq!(json_kind(members[0]), "number");
        assert_eq!(json_kind(members[1]), "object");
    }
}
