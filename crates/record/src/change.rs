//! Dataverse audit changes: one row of the environment's `audit` table (who did what to which
//! record, when) with its decoded detail (old and new value per column, sharing, N:N links,
//! role privileges, user access). The same domain type comes from the Web API sync
//! (`audits` + `RetrieveAuditDetails`) and from on-premises `AuditBase` exports.
//!
//! The wire parsing lives in `change_wire`; the code tables in `change_codes`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One audited event of Dataverse with its decoded detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditChange {
    /// `auditid`: the key; ingest dedupes on it.
    pub audit_id: Uuid,
    /// `createdon`: when the operation happened (UTC).
    pub created_on: DateTime<Utc>,
    /// `action`: the event (Create, Update, Share, Assign Role To User, ...).
    pub action: AuditAction,
    /// `operation`: Create, Update, Delete, Access, ...
    pub operation: AuditOperation,
    /// `objecttypecode`: logical name of the audited record's table (`contact`).
    pub table: String,
    /// `_objectid_value`: the audited record.
    pub object_id: Option<Uuid>,
    /// The audited record's name when Dataverse formats it (annotation), else `None`.
    pub object_name: Option<String>,
    /// `_userid_value`: who made the change.
    pub user_id: Option<Uuid>,
    /// Who made the change, as Dataverse formats it ("Alice Example").
    pub user_name: Option<String>,
    /// `_callinguserid_value`: the impersonating caller, if any.
    pub calling_user_id: Option<Uuid>,
    /// `transactionid`, `None` when absent or the all-zero GUID.
    pub transaction_id: Option<Uuid>,
    /// `attributemask`: column numbers of the changed columns, in order.
    pub attribute_mask: Vec<u32>,
    /// The decoded detail; [`ChangeDetail::None`] when the row has none or it was not retrieved.
    pub detail: ChangeDetail,
}

/// The `action` choice value of an audit row (global choice `audit_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditAction(pub i32);

/// The `operation` choice value of an audit row (global choice `audit_operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditOperation(pub i32);

/// What an audit row's detail says, by `@odata.type` of `RetrieveAuditDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeDetail {
    /// No detail: the row has none (e.g. a delete without old values) or it was not retrieved.
    None,
    /// `AttributeAuditDetail`: old and new value of each changed column.
    Attributes {
        /// In the order the columns appear (old values first, then columns only in the new).
        changes: Vec<FieldChange>,
        /// `DeletedAttributes`: columns removed from the table since, with their old values.
        deleted: Vec<FieldChange>,
        /// `InvalidNewValueAttributes`: columns whose new value could not be shown.
        invalid_new: Vec<String>,
    },
    /// `ShareAuditDetail`: access granted, modified or revoked for a principal.
    Share {
        principal: EntityRef,
        /// `AccessRights` flags as Dataverse words them ("ReadAccess, WriteAccess"), `None` when
        /// the principal had no access before.
        old_privileges: Option<String>,
        new_privileges: Option<String>,
    },
    /// `RelationshipAuditDetail`: records associated or disassociated through an N:N relationship.
    Relationship { relationship: String, targets: Vec<EntityRef> },
    /// `RolePrivilegeAuditDetail`: a security role's privileges before and after.
    RolePrivileges { old: Vec<RolePrivilege>, new: Vec<RolePrivilege>, invalid_new: Vec<Uuid> },
    /// `UserAccessAuditDetail`: a user accessed Dataverse (by web or web services).
    UserAccess {
        access_time: Option<DateTime<Utc>>,
        /// The organization's `UserAccessAuditingInterval`, in hours.
        interval_hours: Option<i32>,
    },
    /// A detail type this version does not decode (kept verbatim in the archive anyway).
    Other { odata_type: String },
}

/// One column's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The column's logical name (`telephone1`; lookups without the `_..._value` wrapping:
    /// `parentaccountid`).
    pub field: String,
    /// `None` when the column was empty before (absent from `OldValue`).
    pub old: Option<FieldValue>,
    /// `None` when the column is empty after, or the new value is unknown.
    pub new: Option<FieldValue>,
}

/// A column value as Dataverse returns it, with what it shows a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    /// The value as sent (string, number, bool; a lookup's GUID as a string; an option set's
    /// integer). `null` never appears here: an empty value is `None` in [`FieldChange`].
    pub value: serde_json::Value,
    /// `@OData.Community.Display.V1.FormattedValue`: the label of an option set, the name of a
    /// looked-up record, the localized date.
    pub formatted: Option<String>,
    /// `@Microsoft.Dynamics.CRM.lookuplogicalname`: the table a lookup points to.
    pub lookup_table: Option<String>,
}

/// A reference to a Dataverse row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    /// Logical name of the table (`systemuser`, `team`, `account`).
    pub table: String,
    pub id: Option<Uuid>,
    /// Its name, when given.
    pub name: Option<String>,
}

/// One privilege of a security role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePrivilege {
    pub privilege_id: Uuid,
    /// `Basic`, `Local`, `Deep`, `Global` (or the number as sent).
    pub depth: String,
    /// The privilege's business unit, when given.
    pub business_unit_id: Option<Uuid>,
}

impl FieldValue {
    /// What a person reads: the formatted value when there is one, else the value itself
    /// (strings without quotes).
    pub fn display(&self) -> String {
        if let Some(formatted) = &self.formatted {
            return formatted.clone();
        }
        match &self.value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

impl AuditChange {
    /// The changes of the named column in this row (compared case-insensitively), if any.
    pub fn field(&self, name: &str) -> Option<&FieldChange> {
        match &self.detail {
            ChangeDetail::Attributes { changes, .. } => {
                changes.iter().find(|change| change.field.eq_ignore_ascii_case(name))
            }
            _ => None,
        }
    }
}
