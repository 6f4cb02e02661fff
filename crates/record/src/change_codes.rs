//! The code tables of Dataverse audit rows: the labels of the `action` and `operation` choice
//! values (global choices `audit_action` and `audit_operation`) and the category of each action
//! (row event, sharing, N:N link, user access, metadata, audit settings, security role).
//!
//! Values are kept as numbers ([`AuditAction`], [`AuditOperation`]) so that values Microsoft adds
//! later survive; the tables here know the values documented when this crate was written (the
//! newer generated `audit` table reference, which goes up to action 125).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::change::{AuditAction, AuditChange, AuditOperation};

/// What kind of event an audit row's `action` is, following the groups of Microsoft's "audit
/// data" article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditCategory {
    /// A row was created, changed or removed: Create (1), Update (2), Delete (3), Activate (4),
    /// Deactivate (5), Upsert (6), Merge (12), Assign (13), Set State (41), and the AI-assisted
    /// Create (123) and Update (124).
    ///
    /// Microsoft's list is 1, 2, 3, 12, 13, 41; Activate, Deactivate and Upsert change a row's
    /// state or values the same way, and the AI-assisted variants are creates and updates.
    RowEvent,
    /// Access to a row granted (Share, 14), modified (Modify Share, 48) or revoked (Unshare, 49).
    Sharing,
    /// Rows linked or unlinked through an N:N relationship (33, 34), including security roles
    /// assigned to or removed from teams and users (53 to 56).
    Relationship,
    /// A user reached Dataverse: by web (64) or web services (65), user-access auditing started
    /// (112) or stopped (113), and the access decisions of the IP firewall (118, 119) and of
    /// application-based access control (121, 122).
    ///
    /// Microsoft's list is 64, 65, 112, 113; the firewall and application-based access rows
    /// record the same kind of event (who tried to reach the environment, and the outcome).
    UserAccess,
    /// A table or column was deleted, or its auditing changed (100 to 104).
    Metadata,
    /// Auditing itself was started, stopped, or its logs deleted (105 to 111).
    AuditSettings,
    /// A security role's privileges were added, removed or replaced (57 to 59).
    SecurityRole,
    /// Everything else: application-specific messages (Qualify, Win, Close, ...), retention
    /// (Archive, Retain, Restore), Read Unmasked, and values this crate does not know.
    Other,
}

impl AuditCategory {
    /// The category's name as serialized (`row_event`, `sharing`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditCategory::RowEvent => "row_event",
            AuditCategory::Sharing => "sharing",
            AuditCategory::Relationship => "relationship",
            AuditCategory::UserAccess => "user_access",
            AuditCategory::Metadata => "metadata",
            AuditCategory::AuditSettings => "audit_settings",
            AuditCategory::SecurityRole => "security_role",
            AuditCategory::Other => "other",
        }
    }
}

impl fmt::Display for AuditCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The documented `action` labels, sorted by value. Spellings as Microsoft publishes them,
/// including the misspelled `IPFirewallAcccesDenied` / `IPFirewallAcccesAllowed`.
const ACTION_NAMES: &[(i32, &str)] = &[
    (0, "Unknown"),
    (1, "Create"),
    (2, "Update"),
    (3, "Delete"),
    (4, "Activate"),
    (5, "Deactivate"),
    (6, "Upsert"),
    (11, "Cascade"),
    (12, "Merge"),
    (13, "Assign"),
    (14, "Share"),
    (15, "Retrieve"),
    (16, "Close"),
    (17, "Cancel"),
    (18, "Complete"),
    (20, "Resolve"),
    (21, "Reopen"),
    (22, "Fulfill"),
    (23, "Paid"),
    (24, "Qualify"),
    (25, "Disqualify"),
    (26, "Submit"),
    (27, "Reject"),
    (28, "Approve"),
    (29, "Invoice"),
    (30, "Hold"),
    (31, "Add Member"),
    (32, "Remove Member"),
    (33, "Associate Entities"),
    (34, "Disassociate Entities"),
    (35, "Add Members"),
    (36, "Remove Members"),
    (37, "Add Item"),
    (38, "Remove Item"),
    (39, "Add Substitute"),
    (40, "Remove Substitute"),
    (41, "Set State"),
    (42, "Renew"),
    (43, "Revise"),
    (44, "Win"),
    (45, "Lose"),
    (46, "Internal Processing"),
    (47, "Reschedule"),
    (48, "Modify Share"),
    (49, "Unshare"),
    (50, "Book"),
    (51, "Generate Quote From Opportunity"),
    (52, "Add To Queue"),
    (53, "Assign Role To Team"),
    (54, "Remove Role From Team"),
    (55, "Assign Role To User"),
    (56, "Remove Role From User"),
    (57, "Add Privileges to Role"),
    (58, "Remove Privileges From Role"),
    (59, "Replace Privileges In Role"),
    (60, "Import Mappings"),
    (61, "Clone"),
    (62, "Send Direct Email"),
    (63, "Enabled for organization"),
    (64, "User Access via Web"),
    (65, "User Access via Web Services"),
    (100, "Delete Entity"),
    (101, "Delete Attribute"),
    (102, "Audit Change at Entity Level"),
    (103, "Audit Change at Attribute Level"),
    (104, "Audit Change at Org Level"),
    (105, "Entity Audit Started"),
    (106, "Attribute Audit Started"),
    (107, "Audit Enabled"),
    (108, "Entity Audit Stopped"),
    (109, "Attribute Audit Stopped"),
    (110, "Audit Disabled"),
    (111, "Audit Log Deletion"),
    (112, "User Access Audit Started"),
    (113, "User Access Audit Stopped"),
    (115, "Archive"),
    (116, "Retain"),
    (117, "RollbackRetain"),
    (118, "IPFirewallAcccesDenied"),
    (119, "IPFirewallAcccesAllowed"),
    (120, "Restore"),
    (121, "ApplicationBasedAccessDenied"),
    (122, "ApplicationBasedAccessAllowed"),
    (123, "Create - AI assisted"),
    (124, "Update - AI assisted"),
    (125, "Read Unmasked"),
];

/// Other names people use for actions, accepted by [`AuditAction::from_name`]: the correctly
/// spelled firewall names.
const ACTION_ALIASES: &[(i32, &str)] =
    &[(118, "IPFirewallAccessDenied"), (119, "IPFirewallAccessAllowed")];

/// The documented `operation` labels, sorted by value. `0` is not in Microsoft's list; it is what
/// a row without `operation` gets.
const OPERATION_NAMES: &[(i32, &str)] = &[
    (0, "Unknown"),
    (1, "Create"),
    (2, "Update"),
    (3, "Delete"),
    (4, "Access"),
    (5, "Upsert"),
    (115, "Archive"),
    (116, "Retain"),
    (117, "RollbackRetain"),
    (118, "Restore"),
    (200, "CustomOperation"),
];

/// Looks a value up in a table sorted by value.
fn lookup(table: &'static [(i32, &'static str)], value: i32) -> Option<&'static str> {
    table.binary_search_by_key(&value, |&(known, _)| known).ok().map(|index| table[index].1)
}

impl AuditAction {
    /// The documented label (`"Create"`, `"Assign Role To User"`, `"IPFirewallAcccesDenied"`
    /// spelled as Microsoft does), or `None` for a value this crate does not know.
    pub fn name(self) -> Option<&'static str> {
        lookup(ACTION_NAMES, self.0)
    }

    /// The label, or `action N` for a value this crate does not know.
    pub fn label(self) -> String {
        match self.name() {
            Some(name) => name.to_owned(),
            None => format!("action {}", self.0),
        }
    }

    /// The kind of event (see [`AuditCategory`] for which values belong where).
    pub fn category(self) -> AuditCategory {
        match self.0 {
            1..=6 | 12 | 13 | 41 | 123 | 124 => AuditCategory::RowEvent,
            14 | 48 | 49 => AuditCategory::Sharing,
            33 | 34 | 53..=56 => AuditCategory::Relationship,
            64 | 65 | 112 | 113 | 118 | 119 | 121 | 122 => AuditCategory::UserAccess,
            100..=104 => AuditCategory::Metadata,
            105..=111 => AuditCategory::AuditSettings,
            57..=59 => AuditCategory::SecurityRole,
            _ => AuditCategory::Other,
        }
    }

    /// Looks a documented label up, ignoring ASCII case and surrounding spaces
    /// (`"assign role to user"` gives `AuditAction(55)`). The correctly spelled
    /// `IPFirewallAccessDenied` / `IPFirewallAccessAllowed` are accepted too.
    pub fn from_name(name: &str) -> Option<AuditAction> {
        let name = name.trim();
        ACTION_NAMES
            .iter()
            .chain(ACTION_ALIASES)
            .find(|(_, known)| known.eq_ignore_ascii_case(name))
            .map(|&(value, _)| AuditAction(value))
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "action {}", self.0),
        }
    }
}

impl AuditOperation {
    /// The documented label (`"Create"`, `"Access"`, `"CustomOperation"`), `"Unknown"` for `0`,
    /// or `None` for a value this crate does not know.
    pub fn name(self) -> Option<&'static str> {
        lookup(OPERATION_NAMES, self.0)
    }

    /// The label, or `operation N` for a value this crate does not know.
    pub fn label(self) -> String {
        match self.name() {
            Some(name) => name.to_owned(),
            None => format!("operation {}", self.0),
        }
    }
}

impl fmt::Display for AuditOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "operation {}", self.0),
        }
    }
}

impl AuditChange {
    /// The kind of event this row records ([`AuditAction::category`] of its action).
    pub fn category(&self) -> AuditCategory {
        self.action.category()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [ACTION_NAMES, OPERATION_NAMES] {
            assert!(table.windows(2).all(|pair| pair[0].0 < pair[1].0));
        }
        for (index, (_, name)) in ACTION_NAMES.iter().enumerate() {
            let same = ACTION_NAMES[index + 1..]
                .iter()
                .chain(ACTION_ALIASES)
                .any(|(_, other)| other.eq_ignore_ascii_case(name));
            assert!(!same, "{name} appears twice");
        }
    }

    #[test]
    fn every_named_action_reads_back() {
        for &(value, name) in ACTION_NAMES {
            assert_eq!(AuditAction::from_name(name), Some(AuditAction(value)), "{name}");
            assert_eq!(AuditAction(value).to_string(), name);
        }
        assert_eq!(AuditAction::from_name("IPFirewallAccessAllowed"), Some(AuditAction(119)));
        assert_eq!(AuditAction::from_name("Shared"), None);
    }

    #[test]
    fn gaps_in_the_table_have_no_name() {
        for value in [7, 19, 66, 99, 114, 126, -1] {
            assert_eq!(AuditAction(value).name(), None, "{value}");
            assert_eq!(AuditAction(value).category(), AuditCategory::Other);
        }
        assert_eq!(AuditOperation(6).name(), None);
        assert_eq!(AuditOperation(6).to_string(), "operation 6");
    }

    #[test]
    fn categories_serialize_in_snake_case() {
        for category in [
            AuditCategory::RowEvent,
            AuditCategory::Sharing,
            AuditCategory::Relationship,
            AuditCategory::UserAccess,
            AuditCategory::Metadata,
            AuditCategory::AuditSettings,
            AuditCategory::SecurityRole,
            AuditCategory::Other,
        ] {
            let json = serde_json::to_string(&category).expect("serializable");
            assert_eq!(json, format!("\"{category}\""));
            let back: AuditCategory = serde_json::from_str(&json).expect("readable");
            assert_eq!(back, category);
        }
    }
}
