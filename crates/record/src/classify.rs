//! Classification of activity records, from Microsoft's activity-logging documentation
//! (`power-platform/admin/enable-use-comprehensive-auditing.md` and
//! `power-platform/admin/activity-logging-auditing/activity-logs-dataverse-model-driven-apps.md`
//! in MicrosoftDocs/power-platform, plus the original Dynamics 365 page
//! `ce/admin/enable-use-comprehensive-auditing.md` in MicrosoftDocs/dynamics-365-customer-engagement,
//! which lists the Purview report names).
//!
//! What is documented, and used as written:
//! - the Read / ReadMultiple prefix table ([`READ_MULTIPLE_PREFIXES`], [`READ_PREFIXES`]);
//! - the 25 SDK messages that are never logged ([`NEVER_LOGGED_MESSAGES`]);
//! - the names of the nine preconfigured Dynamics 365 activity reports ([`ReportCategory`]).
//!
//! What is not documented (Gap), and decided here:
//! - Create / Update / Delete: exact message names ([`CREATE_MESSAGES`], [`UPDATE_MESSAGES`],
//!   [`DELETE_MESSAGES`]); everything else is [`AccessKind::Other`].
//! - Which records fall in which report: Microsoft publishes the report names only. The rules
//!   are in [`report_categories`]. A record can fall into several reports (an `ExportToExcel` of
//!   accounts is both "out-of-box entity" access and a "bulk action"; activating a workflow is
//!   "admin entity" access and "process or plug-in activation"). For Dynamics records, exactly
//!   one of the four entity reports applies (out-of-box, custom, admin, or other when the record
//!   names no table).
//! - Which tables are "admin" tables ([`ADMIN_ENTITIES`]) and which publisher prefixes are
//!   Microsoft's own ([`MICROSOFT_PUBLISHER_PREFIXES`]).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::activity::ActivityRecord;
use crate::schema::{RecordType, UserType};

/// How a Dataverse SDK message touches data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AccessKind {
    /// Reads one row (documented prefixes `Retrieve`, `Search`, `Get`, `Export`).
    Read,
    /// Reads many rows: grids, views, exports (documented prefixes in [`READ_MULTIPLE_PREFIXES`]).
    ReadMultiple,
    /// Creates rows.
    Create,
    /// Changes rows.
    Update,
    /// Deletes rows.
    Delete,
    /// Any other message.
    Other,
}

impl fmt::Display for AccessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Message prefixes Microsoft categorizes as `ReadMultiple` (checked before [`READ_PREFIXES`], so
/// `RetrieveMultiple` is not a `Retrieve` and `ExportToExcel` is not an `Export`).
pub const READ_MULTIPLE_PREFIXES: [&str; 7] = [
    "RetrieveMultiple",
    "ExportToExcel",
    "RollUp",
    "RetrieveEntitiesForAggregateQuery",
    "RetrieveRecordWall",
    "RetrievePersonalWall",
    "ExecuteFetch",
];

/// Message prefixes Microsoft categorizes as `Read`.
pub const READ_PREFIXES: [&str; 4] = ["Retrieve", "Search", "Get", "Export"];

/// Messages counted as [`AccessKind::Create`] (Gap: not documented).
pub const CREATE_MESSAGES: [&str; 2] = ["Create", "CreateMultiple"];

/// Messages counted as [`AccessKind::Update`] (Gap: not documented). `Upsert` is counted as an
/// update: the log does not say whether it created the row. `Assign` and `SetState` change
/// columns of an existing row.
pub const UPDATE_MESSAGES: [&str; 7] = [
    "Update",
    "UpdateMultiple",
    "Upsert",
    "UpsertMultiple",
    "Assign",
    "SetState",
    "SetStateDynamicEntity",
];

/// Messages counted as [`AccessKind::Delete`] (Gap: not documented).
pub const DELETE_MESSAGES: [&str; 2] = ["Delete", "DeleteMultiple"];

/// Classifies an SDK message by Microsoft's prefix table, then by the exact Create / Update /
/// Delete lists. Comparison ignores ASCII case and surrounding whitespace.
pub fn access_kind(message: &str) -> AccessKind {
    let message = message.trim();
    let has_prefix = |prefix: &&str| {
        message.len() >= prefix.len()
            && message.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    let is_one_of = |names: &[&str]| names.iter().any(|name| name.eq_ignore_ascii_case(message));
    if READ_MULTIPLE_PREFIXES.iter().any(has_prefix) {
        AccessKind::ReadMultiple
    } else if READ_PREFIXES.iter().any(has_prefix) {
        AccessKind::Read
    } else if is_one_of(&CREATE_MESSAGES) {
        AccessKind::Create
    } else if is_one_of(&UPDATE_MESSAGES) {
        AccessKind::Update
    } else if is_one_of(&DELETE_MESSAGES) {
        AccessKind::Delete
    } else {
        AccessKind::Other
    }
}

/// The SDK messages activity logging never records, as documented ("The system logs all SDK
/// messages except the following"). A record carrying one of them means the documentation is out
/// of date or the record did not come from activity logging.
pub const NEVER_LOGGED_MESSAGES: [&str; 25] = [
    "WhoAmI",
    "RetrieveFilteredForms",
    "TriggerServiceEndpointCheck",
    "QueryExpressionToFetchXml",
    "FetchXmlToQueryExpression",
    "FireNotificationEvent",
    "RetrieveMetadataChanges",
    "RetrieveEntityChanges",
    "RetrieveProvisionedLanguagePackVersion",
    "RetrieveInstalledLanguagePackVersion",
    "RetrieveProvisionedLanguages",
    "RetrieveAvailableLanguages",
    "RetrieveDeprovisionedLanguages",
    "RetrieveInstalledLanguagePacks",
    "GetAllTimeZonesWithDisplayName",
    "GetTimeZoneCodeByLocalizedName",
    "IsReportingDataConnectorInstalled",
    "LocalTimeFromUtcTime",
    "IsBackOfficeInstalled",
    "FormatAddress",
    "IsSupportUserRole",
    "IsComponentCustomizable",
    "ConfigureReportingDataConnector",
    "CheckClientCompatibility",
    "RetrieveAttribute",
];

/// Whether activity logging is documented never to record this message (exact name, ignoring
/// ASCII case and surrounding whitespace).
pub fn is_never_logged(message: &str) -> bool {
    let message = message.trim();
    NEVER_LOGGED_MESSAGES.iter().any(|name| name.eq_ignore_ascii_case(message))
}

/// What kind of Dataverse table a record touched, for the entity-access reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EntityKind {
    /// A table shipped by Microsoft (no publisher prefix, or a Microsoft publisher prefix).
    OutOfBox,
    /// A table created by a customer or ISV (a publisher prefix such as `new_` or `contoso_`).
    Custom,
    /// A security, customization, extensibility or system-job table ([`ADMIN_ENTITIES`]).
    Admin,
}

/// Tables whose access the "Accessed admin entity" report covers (Gap: Microsoft publishes no
/// list). Assembled from the Dataverse table reference: the security model (users, teams,
/// roles, business units, field security), solutions and customizations, plug-in and
/// service-endpoint registration, processes, and system jobs. Logical names, sorted.
pub const ADMIN_ENTITIES: &[&str] = &[
    "appmodule",
    "appmodulecomponent",
    "asyncoperation",
    "attribute",
    "audit",
    "bulkdeleteoperation",
    "businessunit",
    "canvasapp",
    "connectionreference",
    "customapi",
    "customapirequestparameter",
    "customapiresponseproperty",
    "duplicaterule",
    "duplicaterulecondition",
    "emailserverprofile",
    "entity",
    "environmentvariabledefinition",
    "environmentvariablevalue",
    "fieldpermission",
    "fieldsecurityprofile",
    "import",
    "importfile",
    "importjob",
    "importmap",
    "mailbox",
    "organization",
    "pluginassembly",
    "pluginpackage",
    "plugintracelog",
    "plugintype",
    "position",
    "principalobjectattributeaccess",
    "privilege",
    "publisher",
    "role",
    "roleprivileges",
    "savedquery",
    "sdkmessage",
    "sdkmessagefilter",
    "sdkmessageprocessingstep",
    "sdkmessageprocessingstepimage",
    "sdkmessageprocessingstepsecureconfig",
    "serviceendpoint",
    "sitemap",
    "solution",
    "solutioncomponent",
    "systemform",
    "systemuser",
    "systemuserprofiles",
    "systemuserroles",
    "team",
    "teammembership",
    "teamprofiles",
    "teamroles",
    "teamtemplate",
    "webresource",
    "workflow",
];

/// Publisher prefixes of Microsoft's own first-party solutions (Gap: not documented as such):
/// tables carrying them ship with Dynamics 365 apps and count as out-of-box.
pub const MICROSOFT_PUBLISHER_PREFIXES: &[&str] = &[
    "adx_",
    "msa_",
    "msdyn_",
    "msdynce_",
    "msdynci_",
    "msdyncrm_",
    "msdynmkt_",
    "mserp_",
    "msevtmgt_",
    "msfp_",
    "msft_",
    "mspcat_",
    "mspp_",
];

/// Classifies a table by its logical name (ASCII case ignored): [`ADMIN_ENTITIES`] first, then a
/// publisher prefix (`prefix_`) that is not Microsoft's means custom, anything else out-of-box.
pub fn entity_kind(logical_name: &str) -> EntityKind {
    let name = logical_name.trim().to_ascii_lowercase();
    if ADMIN_ENTITIES.binary_search(&name.as_str()).is_ok() {
        return EntityKind::Admin;
    }
    match name.find('_') {
        Some(end) if end > 0 => {
            let prefix = &name[..=end];
            if MICROSOFT_PUBLISHER_PREFIXES.contains(&prefix) {
                EntityKind::OutOfBox
            } else {
                EntityKind::Custom
            }
        }
        _ => EntityKind::OutOfBox,
    }
}

/// Messages that act on many rows at once: bulk delete, imports, duplicate detection jobs, bulk
/// mail, and the `*Multiple` / `ExecuteMultiple` batch messages (Gap: the report is documented
/// only as "such as delete and import").
pub const BULK_MESSAGES: [&str; 11] = [
    "BulkDelete",
    "BulkDetectDuplicates",
    "ImportRecordsImport",
    "ParseImport",
    "TransformImport",
    "SendBulkMail",
    "ExecuteMultiple",
    "CreateMultiple",
    "UpdateMultiple",
    "UpsertMultiple",
    "DeleteMultiple",
];

/// Message prefixes that are bulk exports of rows.
pub const BULK_MESSAGE_PREFIXES: [&str; 1] = ["ExportToExcel"];

/// Whether a message is a bulk action ([`BULK_MESSAGES`] exactly, or a [`BULK_MESSAGE_PREFIXES`]
/// prefix), ignoring ASCII case.
pub fn is_bulk_message(message: &str) -> bool {
    let message = message.trim();
    BULK_MESSAGES.iter().any(|name| name.eq_ignore_ascii_case(message))
        || BULK_MESSAGE_PREFIXES.iter().any(|prefix| {
            message.len() >= prefix.len()
                && message.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        })
}

/// Tables whose activation means a process or plug-in starts or stops running.
const PROCESS_ENTITIES: [&str; 5] =
    ["workflow", "sdkmessageprocessingstep", "pluginassembly", "plugintype", "serviceendpoint"];

/// Messages that activate, deactivate or register a process or plug-in step.
const ACTIVATION_MESSAGES: [&str; 4] = ["SetState", "SetStateDynamicEntity", "Update", "Create"];

/// Operations of Microsoft Entra ID sign-in records (the Purview activities "User logged in" and
/// "User login failed").
const SIGN_IN_OPERATIONS: [&str; 2] = ["UserLoggedIn", "UserLoginFailed"];

/// SDK messages of Dataverse sign-in and sign-out records. `UserSignIn` is the message
/// Microsoft Sentinel's Dataverse analytics query; `UserSignOut` is its counterpart (Gap: no
/// Microsoft source names it).
const SIGN_IN_MESSAGES: [&str; 2] = ["UserSignIn", "UserSignOut"];

/// One of the nine preconfigured Dynamics 365 activity reports of the Purview (formerly Office 365
/// Security & Compliance Center) audit log search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ReportCategory {
    /// "Accessed out-of-box entity".
    OutOfBoxEntityAccess,
    /// "Accessed custom entity".
    CustomEntityAccess,
    /// "Accessed admin entity".
    AdminEntityAccess,
    /// "Performed bulk actions (such as delete and import)".
    BulkActions,
    /// "Accessed other entity type": here, a Dynamics record that names no table
    /// (`EntityName` `Unknown`), such as `UpdateRibbonClientMetadata`.
    OtherEntityType,
    /// "Accessed Dynamics 365 admin center": here, Power Platform administrator activity
    /// (`RecordType` 256) and admin center DLP policy changes (187).
    AdminCenter,
    /// "Accessed internal management tool": here, actions by Microsoft datacenter operators
    /// (`UserType` 3, `DcAdmin`), which is how Microsoft support and backend commands appear.
    InternalManagementTool,
    /// "Signed in or out": here, Microsoft Entra ID logon records (`RecordType` 9 and 15), the
    /// `UserLoggedIn` / `UserLoginFailed` operations, and Dataverse `UserSignIn` /
    /// `UserSignOut` messages.
    SignInOut,
    /// "Activated process or plug-in": here, `SetState`, `Update` or `Create` on workflows,
    /// plug-in steps, plug-in assemblies and types, and service endpoints, and `ExecuteWorkflow`.
    ProcessOrPluginActivation,
}

impl ReportCategory {
    /// All nine reports, in the order Microsoft's table lists them.
    pub const ALL: [ReportCategory; 9] = [
        ReportCategory::OutOfBoxEntityAccess,
        ReportCategory::CustomEntityAccess,
        ReportCategory::AdminEntityAccess,
        ReportCategory::BulkActions,
        ReportCategory::OtherEntityType,
        ReportCategory::AdminCenter,
        ReportCategory::InternalManagementTool,
        ReportCategory::SignInOut,
        ReportCategory::ProcessOrPluginActivation,
    ];

    /// The report's name as Microsoft shows it.
    pub fn purview_name(self) -> &'static str {
        match self {
            ReportCategory::OutOfBoxEntityAccess => "Accessed out-of-box entity",
            ReportCategory::CustomEntityAccess => "Accessed custom entity",
            ReportCategory::AdminEntityAccess => "Accessed admin entity",
            ReportCategory::BulkActions => "Performed bulk actions (such as delete and import)",
            ReportCategory::OtherEntityType => "Accessed other entity type",
            ReportCategory::AdminCenter => "Accessed Dynamics 365 admin center",
            ReportCategory::InternalManagementTool => "Accessed internal management tool",
            ReportCategory::SignInOut => "Signed in or out",
            ReportCategory::ProcessOrPluginActivation => "Activated process or plug-in",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for ReportCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.purview_name())
    }
}

/// A set of report categories (a record can be in several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReportCategories(u16);

impl ReportCategories {
    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Adds a category.
    pub fn insert(&mut self, category: ReportCategory) {
        self.0 |= category.bit();
    }

    /// Whether the set holds a category.
    pub fn contains(self, category: ReportCategory) -> bool {
        self.0 & category.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of categories in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The categories, in [`ReportCategory::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = ReportCategory> {
        ReportCategory::ALL.into_iter().filter(move |category| self.contains(*category))
    }
}

impl FromIterator<ReportCategory> for ReportCategories {
    fn from_iter<I: IntoIterator<Item = ReportCategory>>(iter: I) -> Self {
        let mut set = Self::empty();
        for category in iter {
            set.insert(category);
        }
        set
    }
}

impl Serialize for ReportCategories {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// The Purview report categories a record falls into (rules on [`ReportCategory`]'s variants).
pub fn report_categories(record: &ActivityRecord) -> ReportCategories {
    let mut set = ReportCategories::empty();
    let message = record.sdk_message();

    if record.dynamics.is_some() {
        set.insert(match record.entity_name().map(entity_kind) {
            Some(EntityKind::OutOfBox) => ReportCategory::OutOfBoxEntityAccess,
            Some(EntityKind::Custom) => ReportCategory::CustomEntityAccess,
            Some(EntityKind::Admin) => ReportCategory::AdminEntityAccess,
            None => ReportCategory::OtherEntityType,
        });
        if let Some(message) = message {
            if is_bulk_message(message) {
                set.insert(ReportCategory::BulkActions);
            }
            if is_process_activation(message, record.entity_name()) {
                set.insert(ReportCategory::ProcessOrPluginActivation);
            }
        }
    }
    if matches!(
        record.record_type,
        RecordType::POWER_PLATFORM_ADMINISTRATOR_ACTIVITY | RecordType::POWER_PLATFORM_ADMIN_DLP
    ) {
        set.insert(ReportCategory::AdminCenter);
    }
    if record.user_type == Some(UserType::DC_ADMIN) {
        set.insert(ReportCategory::InternalManagementTool);
    }
    if matches!(
        record.record_type,
        RecordType::AZURE_ACTIVE_DIRECTORY_ACCOUNT_LOGON
            | RecordType::AZURE_ACTIVE_DIRECTORY_STS_LOGON
    ) || SIGN_IN_OPERATIONS.iter().any(|name| name.eq_ignore_ascii_case(&record.operation))
        || message.is_some_and(|m| SIGN_IN_MESSAGES.iter().any(|name| name.eq_ignore_ascii_case(m)))
    {
        set.insert(ReportCategory::SignInOut);
    }
    set
}

/// Whether a message on a table starts, stops or registers a process or plug-in.
fn is_process_activation(message: &str, entity_name: Option<&str>) -> bool {
    let message = message.trim();
    if message.eq_ignore_ascii_case("ExecuteWorkflow") {
        return true;
    }
    entity_name.is_some_and(|entity| PROCESS_ENTITIES.contains(&entity))
        && ACTIVATION_MESSAGES.iter().any(|name| name.eq_ignore_ascii_case(message))
}

impl ActivityRecord {
    /// [`access_kind`] of the record's SDK message; [`AccessKind::Other`] when it has none.
    pub fn access_kind(&self) -> AccessKind {
        self.sdk_message().map_or(AccessKind::Other, access_kind)
    }

    /// [`report_categories`] of the record.
    pub fn report_categories(&self) -> ReportCategories {
        report_categories(self)
    }

    /// [`entity_kind`] of the record's table, when it names one.
    pub fn entity_kind(&self) -> Option<EntityKind> {
        self.entity_name().map(entity_kind)
    }

    /// Whether the record is a bulk action ([`is_bulk_message`] of its SDK message).
    pub fn is_bulk(&self) -> bool {
        self.sdk_message().is_some_and(is_bulk_message)
    }

    /// Whether the record is a sign-in or sign-out ([`ReportCategory::SignInOut`]).
    pub fn is_sign_in_or_out(&self) -> bool {
        self.report_categories().contains(ReportCategory::SignInOut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataverse_sign_in_and_out_messages_are_sign_in_activity() {
        for message in ["UserSignIn", "UserSignOut"] {
            let raw = format!(
                r#"{{"Id":"1","CreationTime":"2026-06-01T09:00:00","RecordType":21,"Operation":"CrmDefaultActivity","Workload":"CRM","Message":"{message}","EntityName":"Unknown","CrmOrganizationUniqueName":"org1"}}"#
            );
            let record = crate::parse_record(raw.as_bytes()).unwrap();
            assert!(record.report_categories().contains(ReportCategory::SignInOut), "{message}");
        }
    }

    #[test]
    fn documented_prefix_table() {
        let cases = [
            ("RetrieveMultiple", AccessKind::ReadMultiple),
            ("ExportToExcel", AccessKind::ReadMultiple),
            ("RollUp", AccessKind::ReadMultiple),
            ("RetrieveEntitiesForAggregateQuery", AccessKind::ReadMultiple),
            ("RetrieveRecordWall", AccessKind::ReadMultiple),
            ("RetrievePersonalWall", AccessKind::ReadMultiple),
            ("ExecuteFetch", AccessKind::ReadMultiple),
            ("Retrieve", AccessKind::Read),
            ("RetrieveUserPrivileges", AccessKind::Read),
            ("Search", AccessKind::Read),
            ("GetQuantityDecimal", AccessKind::Read),
            ("Export", AccessKind::Read),
            ("ExportSolution", AccessKind::Read),
            ("ExportToWord", AccessKind::Read),
            ("retrievemultiple", AccessKind::ReadMultiple),
            (" Retrieve ", AccessKind::Read),
        ];
        for (message, expected) in cases {
            assert_eq!(access_kind(message), expected, "{message}");
        }
    }

    #[test]
    fn create_update_delete_and_other() {
        assert_eq!(access_kind("Create"), AccessKind::Create);
        assert_eq!(access_kind("CreateMultiple"), AccessKind::Create);
        assert_eq!(access_kind("Update"), AccessKind::Update);
        assert_eq!(access_kind("Upsert"), AccessKind::Update);
        assert_eq!(access_kind("SetState"), AccessKind::Update);
        assert_eq!(access_kind("Delete"), AccessKind::Delete);
        assert_eq!(access_kind("DeleteMultiple"), AccessKind::Delete);
        for message in ["CreateEntity", "Updater", "DeleteAuditData", "QualifyLead", "", "Ret"] {
            assert_eq!(access_kind(message), AccessKind::Other, "{message}");
        }
    }

    #[test]
    fn never_logged_list_is_complete_and_exact() {
        assert_eq!(NEVER_LOGGED_MESSAGES.len(), 25);
        let mut unique = NEVER_LOGGED_MESSAGES.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 25);
        assert!(is_never_logged("WhoAmI"));
        assert!(is_never_logged("whoami"));
        assert!(is_never_logged("RetrieveAttribute"));
        assert!(!is_never_logged("RetrieveAttributeChangeHistory"));
        assert!(!is_never_logged("Retrieve"));
    }

    #[test]
    fn admin_table_is_sorted_lowercase_and_unique() {
        assert!(ADMIN_ENTITIES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ADMIN_ENTITIES.iter().all(|name| *name == name.to_ascii_lowercase()));
        assert!(MICROSOFT_PUBLISHER_PREFIXES.iter().all(|prefix| prefix.ends_with('_')));
    }

    #[test]
    fn entity_kinds() {
        assert_eq!(entity_kind("account"), EntityKind::OutOfBox);
        assert_eq!(entity_kind("Account"), EntityKind::OutOfBox);
        assert_eq!(entity_kind("msdyn_workorder"), EntityKind::OutOfBox);
        assert_eq!(entity_kind("adx_webpage"), EntityKind::OutOfBox);
        assert_eq!(entity_kind("new_project"), EntityKind::Custom);
        assert_eq!(entity_kind("cr6a1_invoice"), EntityKind::Custom);
        assert_eq!(entity_kind("systemuser"), EntityKind::Admin);
        assert_eq!(entity_kind("Role"), EntityKind::Admin);
        assert_eq!(entity_kind("_odd"), EntityKind::OutOfBox);
    }

    #[test]
    fn bulk_messages() {
        for message in [
            "BulkDelete",
            "ImportRecordsImport",
            "ExportToExcel",
            "exporttoexcel",
            "ExecuteMultiple",
        ] {
            assert!(is_bulk_message(message), "{message}");
        }
        for message in ["Delete", "Export", "ImportSolution", "RetrieveMultiple"] {
            assert!(!is_bulk_message(message), "{message}");
        }
    }

    #[test]
    fn category_set_operations() {
        let mut set = ReportCategories::empty();
        assert!(set.is_empty());
        set.insert(ReportCategory::SignInOut);
        set.insert(ReportCategory::OutOfBoxEntityAccess);
        set.insert(ReportCategory::SignInOut);
        assert_eq!(set.len(), 2);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [ReportCategory::OutOfBoxEntityAccess, ReportCategory::SignInOut]
        );
        assert_eq!(set, set.iter().collect());
        assert_eq!(
            serde_json::to_string(&set).expect("serializes"),
            r#"["OutOfBoxEntityAccess","SignInOut"]"#
        );
        let names: Vec<&str> = ReportCategory::ALL.iter().map(|c| c.purview_name()).collect();
        assert_eq!(names.len(), 9);
        assert_eq!(
            ReportCategory::BulkActions.to_string(),
            "Performed bulk actions (such as delete and import)"
        );
    }
}
