//! The small enums of the Management Activity API common schema: `RecordType`
//! (`AuditLogRecordType`) and `UserType`, kept as numbers so that values Microsoft adds later
//! survive, with the documented names for display and for parsing re-shipped data that carries
//! names instead of numbers.

use std::fmt;

use serde::Serialize;

/// The kind of audit record (`AuditLogRecordType` in the Management Activity API schema).
///
/// Microsoft adds values several times a year, so every `u16` is accepted and kept;
/// [`RecordType::name`] knows the values documented when this crate was written (257 entries,
/// Management Activity API schema reference, 2026-06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecordType(pub u16);

impl RecordType {
    /// `8`: Microsoft Entra ID (Azure Active Directory) directory events.
    pub const AZURE_ACTIVE_DIRECTORY: Self = Self(8);
    /// `9`: Microsoft Entra ID account logon events.
    pub const AZURE_ACTIVE_DIRECTORY_ACCOUNT_LOGON: Self = Self(9);
    /// `15`: Microsoft Entra ID secure token service (STS) logon events.
    pub const AZURE_ACTIVE_DIRECTORY_STS_LOGON: Self = Self(15);
    /// `20`: Power BI.
    pub const POWER_BI_AUDIT: Self = Self(20);
    /// `21`: Dynamics 365 / Dataverse model-driven apps activity logging (`Workload` `CRM`).
    pub const CRM: Self = Self(21);
    /// `30`: Power Automate (Microsoft Flow).
    pub const MICROSOFT_FLOW: Self = Self(30);
    /// `45`: Power Apps apps.
    pub const POWER_APPS_APP: Self = Self(45);
    /// `46`: Power Apps plans.
    pub const POWER_APPS_PLAN: Self = Self(46);
    /// `79`: Power Platform connectors and other Power Apps resources.
    pub const POWER_APPS_RESOURCE: Self = Self(79);
    /// `186`: Power Pages sites.
    pub const POWER_PAGES_SITE: Self = Self(186);
    /// `187`: Power Platform admin center data loss prevention (DLP) policies.
    pub const POWER_PLATFORM_ADMIN_DLP: Self = Self(187);
    /// `256`: Power Platform administrator activity (admin center, environment lifecycle).
    pub const POWER_PLATFORM_ADMINISTRATOR_ACTIVITY: Self = Self(256);
    /// `278`: Dynamics 365 Business Central.
    pub const DYNAMICS_365_BUSINESS_CENTRAL: Self = Self(278);

    /// The documented member name (`"CRM"`, `"PowerAppsApp"`, ...), or `None` for a value this
    /// crate does not know yet.
    pub fn name(self) -> Option<&'static str> {
        RECORD_TYPE_NAMES
            .binary_search_by_key(&self.0, |&(value, _)| value)
            .ok()
            .map(|index| RECORD_TYPE_NAMES[index].1)
    }

    /// Looks a documented member name up, ignoring ASCII case (`"crm"` gives `RecordType(21)`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        RECORD_TYPE_NAMES
            .iter()
            .find(|(_, known)| known.eq_ignore_ascii_case(name))
            .map(|&(value, _)| Self(value))
    }

    /// Whether this is one of the Dynamics 365 / Power Platform record types (CRM, Power Apps,
    /// Power Automate, Power BI, Power Pages, Power Platform admin, Business Central).
    pub fn is_power_platform(self) -> bool {
        matches!(self.0, 20 | 21 | 30 | 45 | 46 | 79 | 186 | 187 | 256 | 278)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unknown record type {}", self.0),
        }
    }
}

/// Who performed the action (`UserType` in the Management Activity API common schema).
///
/// Any `u16` is kept; [`UserType::name`] knows the eleven documented values. Microsoft Entra ID
/// events record admins as `Regular` (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserType(pub u16);

impl UserType {
    /// `0`: a regular user.
    pub const REGULAR: Self = Self(0);
    /// `1`: a reserved user.
    pub const RESERVED: Self = Self(1);
    /// `2`: an administrator in the tenant.
    pub const ADMIN: Self = Self(2);
    /// `3`: a Microsoft datacenter operator.
    pub const DC_ADMIN: Self = Self(3);
    /// `4`: a system account.
    pub const SYSTEM: Self = Self(4);
    /// `5`: an application.
    pub const APPLICATION: Self = Self(5);
    /// `6`: a service principal.
    pub const SERVICE_PRINCIPAL: Self = Self(6);
    /// `7`: a custom policy.
    pub const CUSTOM_POLICY: Self = Self(7);
    /// `8`: a system policy.
    pub const SYSTEM_POLICY: Self = Self(8);
    /// `9`: a partner technician acting through granular delegated admin privileges (GDAP).
    pub const PARTNER_TECHNICIAN: Self = Self(9);
    /// `10`: a guest user.
    pub const GUEST: Self = Self(10);

    /// The documented member name (`"Regular"`, `"DcAdmin"`, ...), or `None` for an unknown value.
    pub fn name(self) -> Option<&'static str> {
        USER_TYPE_NAMES.get(usize::from(self.0)).copied()
    }

    /// Looks a documented member name up, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        USER_TYPE_NAMES
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
            .and_then(|index| u16::try_from(index).ok())
            .map(Self)
    }
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unknown user type {}", self.0),
        }
    }
}

/// `UserType` member names, indexed by value (Management Activity API schema, "Enum: User Type").
const USER_TYPE_NAMES: [&str; 11] = [
    "Regular",
    "Reserved",
    "Admin",
    "DcAdmin",
    "System",
    "Application",
    "ServicePrincipal",
    "CustomPolicy",
    "SystemPolicy",
    "PartnerTechnician",
    "Guest",
];

/// `AuditLogRecordType` members, sorted by value. Source: Management Activity API schema
/// reference (`office-365-management-activity-api-schema.md`, "Enum: AuditLogRecordType"),
/// as summarised in `shared/reference/microsoft-apis.md` §3.2. Numbering has real gaps.
const RECORD_TYPE_NAMES: &[(u16, &str)] = &[
    (1, "ExchangeAdmin"),
    (2, "ExchangeItem"),
    (3, "ExchangeItemGroup"),
    (4, "SharePoint"),
    (6, "SharePointFileOperation"),
    (7, "OneDrive"),
    (8, "AzureActiveDirectory"),
    (9, "AzureActiveDirectoryAccountLogon"),
    (10, "DataCenterSecurityCmdlet"),
    (11, "ComplianceDLPSharePoint"),
    (13, "ComplianceDLPExchange"),
    (14, "SharePointSharingOperation"),
    (15, "AzureActiveDirectoryStsLogon"),
    (16, "SkypeForBusinessPSTNUsage"),
    (17, "SkypeForBusinessUsersBlocked"),
    (18, "SecurityComplianceCenterEOPCmdlet"),
    (19, "ExchangeAggregatedOperation"),
    (20, "PowerBIAudit"),
    (21, "CRM"),
    (22, "Yammer"),
    (23, "SkypeForBusinessCmdlets"),
    (24, "Discovery"),
    (25, "MicrosoftTeams"),
    (28, "ThreatIntelligence"),
    (29, "MailSubmission"),
    (30, "MicrosoftFlow"),
    (31, "AeD"),
    (32, "MicrosoftStream"),
    (33, "ComplianceDLPSharePointClassification"),
    (34, "ThreatFinder"),
    (35, "Project"),
    (36, "SharePointListOperation"),
    (37, "SharePointCommentOperation"),
    (38, "DataGovernance"),
    (39, "Kaizala"),
    (40, "SecurityComplianceAlerts"),
    (41, "ThreatIntelligenceUrl"),
    (42, "SecurityComplianceInsights"),
    (43, "MIPLabel"),
    (44, "VivaInsights"),
    (45, "PowerAppsApp"),
    (46, "PowerAppsPlan"),
    (47, "ThreatIntelligenceAtpContent"),
    (48, "LabelContentExplorer"),
    (49, "TeamsHealthcare"),
    (50, "ExchangeItemAggregated"),
    (51, "HygieneEvent"),
    (52, "DataInsightsRestApiAudit"),
    (53, "InformationBarrierPolicyApplication"),
    (54, "SharePointListItemOperation"),
    (55, "SharePointContentTypeOperation"),
    (56, "SharePointFieldOperation"),
    (57, "MicrosoftTeamsAdmin"),
    (58, "HRSignal"),
    (59, "MicrosoftTeamsDevice"),
    (60, "MicrosoftTeamsAnalytics"),
    (61, "InformationWorkerProtection"),
    (62, "Campaign"),
    (63, "DLPEndpoint"),
    (64, "AirInvestigation"),
    (65, "Quarantine"),
    (66, "MicrosoftForms"),
    (67, "ApplicationAudit"),
    (68, "ComplianceSupervisionExchange"),
    (69, "CustomerKeyServiceEncryption"),
    (70, "OfficeNative"),
    (71, "MipAutoLabelSharePointItem"),
    (72, "MipAutoLabelSharePointPolicyLocation"),
    (73, "MicrosoftTeamsShifts"),
    (75, "MipAutoLabelExchangeItem"),
    (76, "CortanaBriefing"),
    (78, "WDATPAlerts"),
    (79, "PowerAppsResource"),
    (82, "SensitivityLabelPolicyMatch"),
    (83, "SensitivityLabelAction"),
    (84, "SensitivityLabeledFileAction"),
    (85, "AttackSim"),
    (86, "AirManualInvestigation"),
    (87, "SecurityComplianceRBAC"),
    (88, "UserTraining"),
    (89, "AirAdminActionInvestigation"),
    (90, "MSTIC"),
    (91, "PhysicalBadgingSignal"),
    (92, "TeamsEasyApprovals"),
    (93, "AipDiscover"),
    (94, "AipSensitivityLabelAction"),
    (95, "AipProtectionAction"),
    (96, "AipFileDeleted"),
    (97, "AipHeartBeat"),
    (98, "MCASAlerts"),
    (99, "OnPremisesFileShareScannerDlp"),
    (100, "OnPremisesSharePointScannerDlp"),
    (101, "ExchangeSearch"),
    (102, "SharePointSearch"),
    (103, "PrivacyInsights"),
    (105, "MyAnalyticsSettings"),
    (106, "SecurityComplianceUserChange"),
    (107, "ComplianceDLPExchangeClassification"),
    (109, "MipExactDataMatch"),
    (113, "MS365DCustomDetection"),
    (147, "CoreReportingSettings"),
    (148, "ComplianceConnector"),
    (154, "OMEPortal"),
    (157, "MipLabelAnalyticsAuditRecord"),
    (164, "ScorePlatformGenericAuditRecord"),
    (174, "DataShareOperation"),
    (181, "EduDataLakeDownloadOperation"),
    (183, "MicrosoftGraphDataConnectOperation"),
    (186, "PowerPagesSite"),
    (187, "PowerPlatformAdminDlp"),
    (188, "PlannerPlan"),
    (189, "PlannerCopyPlan"),
    (190, "PlannerTask"),
    (191, "PlannerRoster"),
    (192, "PlannerPlanList"),
    (193, "PlannerTaskList"),
    (194, "PlannerTenantSettings"),
    (195, "ProjectForThewebProject"),
    (196, "ProjectForThewebTask"),
    (197, "ProjectForThewebRoadmap"),
    (198, "ProjectForThewebRoadmapItem"),
    (199, "ProjectForThewebProjectSettings"),
    (200, "ProjectForThewebRoadmapSettings"),
    (202, "MicrosoftTodoAudit"),
    (206, "MicrosoftTeamsSensitivityLabelAction"),
    (216, "VivaGoals"),
    (217, "MicrosoftGraphDataConnectConsent"),
    (218, "AttackSimAdmin"),
    (230, "TeamsUpdates"),
    (231, "PlannerRosterSensitivityLabel"),
    (235, "MicrosoftDefenderForIdentityAudit"),
    (237, "DefenderExpertsforXDRAdmin"),
    (251, "VfamCreatePolicy"),
    (252, "VfamUpdatePolicy"),
    (253, "VfamDeletePolicy"),
    (256, "PowerPlatformAdministratorActivity"),
    (257, "Windows365CustomerLockbox"),
    (261, "CopilotInteraction"),
    (265, "VivaLearning"),
    (266, "VivaLearningAdmin"),
    (269, "PeopleAdminSettings"),
    (275, "OWAAuth"),
    (277, "SharePointESignature"),
    (278, "Dynamics365BusinessCentral"),
    (279, "MeshWorlds"),
    (280, "VivaPulseResponse"),
    (281, "VivaPulseOrganizer"),
    (282, "VivaPulseAdmin"),
    (283, "VivaPulseReport"),
    (284, "AIAppInteraction"),
    (285, "ComplianceDLMExchange"),
    (286, "ComplianceDLMSharePoint"),
    (287, "ProjectForThewebAssignedToMeSettings"),
    (288, "CloudPolicyService"),
    (291, "SensitiveInfoDiscovered"),
    (292, "InsiderRiskScopedUserInsights"),
    (293, "MicrosoftTeamsRetentionLabelAction"),
    (294, "AadRiskDetection"),
    (295, "AuditSearch"),
    (296, "AuditRetentionPolicy"),
    (297, "AuditConfig"),
    (298, "BackupPolicy"),
    (299, "RestoreTask"),
    (300, "RestoreItem"),
    (301, "BackupItem"),
    (302, "URBACAssignment"),
    (303, "URBACRole"),
    (304, "URBACEnableState"),
    (306, "PurviewInsiderRiskCases"),
    (307, "PurviewInsiderRiskAlerts"),
    (308, "InsiderRiskScopedUsers"),
    (310, "CreateCopilotPlugin"),
    (311, "UpdateCopilotPlugin"),
    (312, "DeleteCopilotPlugin"),
    (313, "EnableCopilotPlugin"),
    (314, "DisableCopilotPlugin"),
    (315, "CreateCopilotWorkspace"),
    (316, "UpdateCopilotWorkspace"),
    (317, "DeleteCopilotWorkspace"),
    (318, "EnableCopilotWorkspace"),
    (319, "DisableCopilotWorkspace"),
    (320, "CreateCopilotPromptBook"),
    (321, "UpdateCopilotPromptBook"),
    (322, "DeleteCopilotPromptBook"),
    (323, "EnableCopilotPromptBook"),
    (324, "DisableCopilotPromptBook"),
    (325, "UpdateCopilotSettings"),
    (328, "ConnectedAIAppInteraction"),
    (329, "PrivaPrivacyConsentOperation"),
    (330, "PrivaPrivacyAssessmentOperation"),
    (331, "DataCatalogAccessRequests"),
    (332, "ComplianceSettingsChange"),
    (333, "DataSecurityInvestigation"),
    (334, "TeamCopilotInteraction"),
    (335, "IRMActivityAuditTrail"),
    (336, "SharePointContentSecurityPolicy"),
    (337, "CloudUpdateProfileConfig"),
    (338, "CloudUpdateTenantConfig"),
    (339, "CloudUpdateDeviceConfig"),
    (341, "DeviceDiscoverySettingsExclusion"),
    (342, "DeviceDiscoverySettingsAuthenticatedScans"),
    (344, "DeviceDiscoverySettings"),
    (345, "USXWorkspaceOnboarding"),
    (346, "VivaGlintAdvancedConfiguration"),
    (347, "VivaGlintPulseProgram"),
    (348, "VivaGlintPulseProgramRespondentRate"),
    (349, "VivaGlintQuestion"),
    (350, "VivaGlintRole"),
    (351, "VivaGlintRubicon"),
    (352, "VivaGlintSupportAccess"),
    (353, "VivaGlintSystem"),
    (354, "VivaGlintUser"),
    (355, "VivaGlintUserGroup"),
    (356, "VivaGlintFeedbackProgram"),
    (357, "FabricAudit"),
    (358, "TrainableClassifier"),
    (359, "WebContentFiltering"),
    (360, "NoisyAlertPolicy"),
    (361, "DataScanClassification"),
    (362, "AIInteractionsExport"),
    (363, "Microsoft365CopilotScheduledPrompt"),
    (364, "PlacesDirectory"),
    (365, "SentinelNotebookOnLake"),
    (366, "SentinelJob"),
    (367, "SentinelKQLOnLake"),
    (368, "SentinelLakeOnboarding"),
    (369, "SentinelLakeDataOnboarding"),
    (370, "SentinelAITool"),
    (371, "SentinelGraph"),
    (372, "CrossTenantAccessPolicy"),
    (373, "OutlookCopilotAutomation"),
    (374, "VivaEngageNetworkAssociation"),
    (375, "AppAdminActivity"),
    (376, "AppSettingsAdminActivity"),
    (377, "UniversalPrintPrintJob"),
    (378, "VivaAmplifyOutlookSensitivityLabel"),
    (379, "AIInteractionsSubscription"),
    (380, "AIInteractionsChangeNotification"),
    (381, "FilteringMailMetadataExtended"),
    (382, "OfficeRestrictedModeAction"),
    (383, "CopilotForSecurityTrigger"),
    (384, "CopilotAgentManagement"),
    (385, "P4AIAssessmentFabricScannerRecord"),
    (386, "PlannerGoal"),
    (387, "PlannerGoalList"),
    (401, "PlannerChatMessage"),
    (402, "PlannerChatMessageList"),
    (414, "VivaEngageSegment"),
    (422, "VivaEngageEvents"),
    (427, "UniversalPrintManagement"),
    (430, "PurviewPostureAgent"),
    (431, "GranularBrowseTask"),
    (444, "TeamsEvalDataHubDataAccess"),
    (445, "TeamsEvalDataHubPermissionChange"),
    (454, "DragonCopilotAdmin"),
    (462, "MicrosoftTeamsUserConcern"),
    (463, "VivaGlintAgenticCampaign"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_type_table_is_sorted_and_unique() {
        assert_eq!(RECORD_TYPE_NAMES.len(), 257);
        assert!(RECORD_TYPE_NAMES.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn power_platform_names_are_known() {
        assert_eq!(RecordType::CRM.name(), Some("CRM"));
        assert_eq!(RecordType(45).name(), Some("PowerAppsApp"));
        assert_eq!(RecordType(46).name(), Some("PowerAppsPlan"));
        assert_eq!(RecordType(79).name(), Some("PowerAppsResource"));
        assert_eq!(RecordType(30).name(), Some("MicrosoftFlow"));
        assert_eq!(RecordType(20).name(), Some("PowerBIAudit"));
        assert_eq!(RecordType(186).name(), Some("PowerPagesSite"));
        assert_eq!(RecordType(187).name(), Some("PowerPlatformAdminDlp"));
        assert_eq!(RecordType(256).name(), Some("PowerPlatformAdministratorActivity"));
        assert_eq!(RecordType(278).name(), Some("Dynamics365BusinessCentral"));
        assert!(RecordType::CRM.is_power_platform());
        assert!(!RecordType::AZURE_ACTIVE_DIRECTORY_STS_LOGON.is_power_platform());
    }

    #[test]
    fn unknown_values_are_kept_and_displayed() {
        assert_eq!(RecordType(5).name(), None);
        assert_eq!(RecordType(9999).to_string(), "unknown record type 9999");
        assert_eq!(RecordType::CRM.to_string(), "CRM (21)");
    }

    #[test]
    fn names_are_looked_up_without_case() {
        assert_eq!(RecordType::from_name("CRM"), Some(RecordType::CRM));
        assert_eq!(RecordType::from_name(" crm "), Some(RecordType::CRM));
        assert_eq!(
            RecordType::from_name("AzureActiveDirectoryStsLogon"),
            Some(RecordType::AZURE_ACTIVE_DIRECTORY_STS_LOGON)
        );
        assert_eq!(RecordType::from_name("NotAType"), None);
    }

    #[test]
    fn user_types_round_trip_through_names() {
        for value in 0..=10 {
            let user_type = UserType(value);
            let name = user_type.name().expect("documented value");
            assert_eq!(UserType::from_name(name), Some(user_type));
        }
        assert_eq!(UserType::from_name("dcadmin"), Some(UserType::DC_ADMIN));
        assert_eq!(UserType(11).name(), None);
        assert_eq!(UserType::ADMIN.to_string(), "Admin (2)");
    }
}
