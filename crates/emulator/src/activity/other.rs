//! Records of workloads other than Dynamics 365: Power Apps, Power Automate, Power BI and Power
//! Platform admin activity inside `Audit.General`, and low-volume Entra ID, Exchange,
//! SharePoint and DLP records for the other content types. A collector must filter these out.

use rand::Rng;

use super::crm::Emitter;
use super::json::{
    Header, Shape, push_guid_field, push_header, push_int_field, push_key, push_str_field,
    push_string,
};
use super::randomness::{guid_text, random_guid};
use super::world::User;

fn pick_person<'w>(emitter: &mut Emitter<'w>) -> &'w User {
    let world = emitter.world;
    &world.users[world.people[emitter.rng.random_range(0..world.people.len())]]
}

fn stable_guid(user: &User, salt: u64) -> [u8; 16] {
    let a = super::randomness::mix(user.key, salt);
    let b = super::randomness::mix(a, salt ^ 0xFEED);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

/// One Power Platform record (not CRM) of `Audit.General` at `time`.
pub(crate) fn power_platform_record(emitter: &mut Emitter<'_>, time: i64) {
    let user = pick_person(emitter);
    let world = emitter.world;
    let shape = emitter.shape();
    let id = random_guid(&mut emitter.rng);
    let org = &world.organizations[emitter.rng.random_range(0..world.organizations.len())];
    let environment = guid_text(org.organization_id.as_bytes());
    let mut out = String::with_capacity(900);
    match emitter.rng.random_range(0..20) {
        // Power Apps (RecordType 45).
        0..=8 => {
            let app = guid_text(&stable_guid(user, emitter.rng.random_range(0..4)));
            let operation = [
                "LaunchPowerApp",
                "LaunchPowerApp",
                "LaunchPowerApp",
                "LaunchPowerApp",
                "LaunchPowerApp",
                "LaunchPowerApp",
                "LaunchPowerApp",
                "LaunchPowerApp",
                "EditPowerApp",
                "PublishPowerApp",
            ][emitter.rng.random_range(0..10)];
            let header =
                header(emitter, user, time, &id, operation, 45, "Succeeded", "PowerApps", &app);
            push_header(&mut out, &header, &shape);
            push_str_field(&mut out, "AppName", &app);
            push_str_field(&mut out, "EnvironmentName", &environment);
            push_key(&mut out, "AdditionalInfo");
            let mut info = String::from("{\"environmentName\":\"");
            info.push_str(&environment);
            info.push_str("\",\"appName\":\"");
            info.push_str(&app);
            info.push_str("\",\"userAgent\":");
            push_string(&mut info, &user.user_agent);
            info.push('}');
            push_string(&mut out, &info);
        }
        // Power Automate (RecordType 30).
        9..=14 => {
            let flow = guid_text(&stable_guid(user, 100 + emitter.rng.random_range(0..6)));
            let operation = [
                "EditFlow",
                "EditFlow",
                "EditFlow",
                "EditFlow",
                "CreateFlow",
                "CreateFlow",
                "CreateFlow",
                "PutPermissions",
                "PutPermissions",
                "DeleteFlow",
            ][emitter.rng.random_range(0..10)];
            let header = header(
                emitter,
                user,
                time,
                &id,
                operation,
                30,
                "Succeeded",
                "MicrosoftFlow",
                &flow,
            );
            push_header(&mut out, &header, &shape);
            push_str_field(
                &mut out,
                "FlowConnectorNames",
                "Microsoft Dataverse, Office 365 Outlook",
            );
            let mut url = String::from("https://make.powerautomate.com/manage/environments/");
            url.push_str(&environment);
            url.push_str("/flows/");
            url.push_str(&flow);
            url.push_str("/details");
            push_str_field(&mut out, "FlowDetailsUrl", &url);
            push_str_field(&mut out, "LicenseDisplayName", "Microsoft Power Automate Free");
            push_str_field(&mut out, "RecipientUPN", "");
            push_int_field(&mut out, "SharingPermission", 0);
            push_int_field(&mut out, "UserTypeInitiated", 1);
            push_str_field(&mut out, "UserUPN", &user.upn);
        }
        // Power BI (RecordType 20).
        15..=18 => {
            let report =
                ["Sales Pipeline", "Case Backlog", "Revenue by Region", "Contract Renewals"]
                    [emitter.rng.random_range(0..4)];
            let operation = ["ViewReport", "ViewReport", "ViewDashboard", "ExportReport"]
                [emitter.rng.random_range(0..4)];
            let header =
                header(emitter, user, time, &id, operation, 20, "Succeeded", "PowerBI", report);
            push_header(&mut out, &header, &shape);
            push_str_field(&mut out, "UserAgent", &user.user_agent);
            push_str_field(&mut out, "Activity", operation);
            push_str_field(&mut out, "ItemName", report);
            push_str_field(&mut out, "WorkSpaceName", "Dynamics 365 Analytics");
            push_str_field(&mut out, "DatasetName", "Dataverse CRM");
            push_str_field(&mut out, "ReportName", report);
            let workspace = random_guid(&mut emitter.rng);
            push_guid_field(&mut out, "WorkspaceId", &workspace);
            let request = random_guid(&mut emitter.rng);
            push_guid_field(&mut out, "RequestId", &request);
            push_guid_field(&mut out, "ActivityId", &id);
            push_key(&mut out, "IsSuccess");
            out.push_str("true");
            push_str_field(&mut out, "DistributionMethod", "Workspace");
            push_str_field(&mut out, "ConsumptionMethod", "Power BI Web");
        }
        // Power Platform administrator activity (RecordType 256).
        _ => {
            let admin = world
                .users
                .iter()
                .find(|u| u.kind == super::world::UserKind::Admin)
                .unwrap_or(user);
            let operation = [
                "ApplyAdminRole",
                "GovernanceApiPolicyOperation",
                "LockboxRequestOperation",
                "UpdateEnvironmentGroup",
            ][emitter.rng.random_range(0..4)];
            let header = header(
                emitter,
                admin,
                time,
                &id,
                operation,
                256,
                "Succeeded",
                "PowerPlatform",
                &environment,
            );
            push_header(&mut out, &header, &shape);
            push_key(&mut out, "PropertyCollection");
            out.push('[');
            for (index, (name, value)) in [
                ("powerplatform.analytics.activity.name", operation),
                ("powerplatform.analytics.resource.environment.id", environment.as_str()),
                ("enduser.principal_name", admin.upn.as_str()),
                ("enduser.role", "Admin"),
                ("type", "PowerPlatformAdministratorActivityRecord"),
                ("version", "1.0"),
            ]
            .into_iter()
            .enumerate()
            {
                if index > 0 {
                    out.push(',');
                }
                out.push_str("{\"Name\":");
                push_string(&mut out, name);
                out.push_str(",\"Value\":");
                push_string(&mut out, value);
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    emitter.push(time, out);
}

#[allow(clippy::too_many_arguments)]
fn header<'a>(
    emitter: &'a Emitter<'_>,
    user: &'a User,
    time: i64,
    id: &'a [u8; 16],
    operation: &'a str,
    record_type: u16,
    status: &'a str,
    workload: &'a str,
    object_id: &'a str,
) -> Header<'a> {
    Header {
        time,
        id,
        operation,
        organization_id: &emitter.tenant.tenant_id,
        record_type,
        result_status: status,
        user_key: &user.user_key,
        user_type: user.user_type,
        workload,
        client_ip: Some(&user.client_ip),
        object_id,
        user_id: &user.upn,
    }
}

/// One record of a non-General content type at `time`.
pub(crate) fn content_type_record(emitter: &mut Emitter<'_>, content_type: &str, time: i64) {
    let user = pick_person(emitter);
    let shape = emitter.shape();
    let id = random_guid(&mut emitter.rng);
    let mut out = String::with_capacity(900);
    match content_type {
        "Audit.AzureActiveDirectory" => aad(emitter, user, time, &id, &shape, &mut out),
        "Audit.Exchange" => exchange(emitter, user, time, &id, &shape, &mut out),
        "Audit.SharePoint" => sharepoint(emitter, user, time, &id, &shape, &mut out),
        _ => dlp(emitter, user, time, &id, &shape, &mut out),
    }
    out.push('}');
    emitter.push(time, out);
}

fn aad(
    emitter: &mut Emitter<'_>,
    user: &User,
    time: i64,
    id: &[u8; 16],
    shape: &Shape,
    out: &mut String,
) {
    let failed = emitter.rng.random_bool(0.05);
    let operation = if failed { "UserLoginFailed" } else { "UserLoggedIn" };
    let user_id_guid = guid_text(&stable_guid(user, 7));
    let mut header = header(
        emitter,
        user,
        time,
        id,
        operation,
        15,
        if failed { "Failed" } else { "Success" },
        "AzureActiveDirectory",
        "00000007-0000-0000-c000-000000000000",
    );
    header.user_key = &user_id_guid;
    push_header(out, &header, shape);
    push_int_field(out, "AzureActiveDirectoryEventType", 1);
    push_key(out, "ExtendedProperties");
    out.push_str("[{\"Name\":\"UserAgent\",\"Value\":");
    push_string(out, &user.user_agent);
    out.push_str("},{\"Name\":\"RequestType\",\"Value\":\"OAuth2:Authorize\"},{\"Name\":\"ResultStatusDetail\",\"Value\":\"");
    out.push_str(if failed { "Redirect" } else { "Success" });
    out.push_str("\"}]");
    push_key(out, "Actor");
    out.push_str("[{\"ID\":\"");
    out.push_str(&user_id_guid);
    out.push_str("\",\"Type\":0},{\"ID\":");
    push_string(out, &user.upn);
    out.push_str(",\"Type\":5}]");
    push_str_field(out, "ActorContextId", &emitter.tenant.tenant_id);
    push_str_field(out, "ActorIpAddress", &user.client_ip);
    push_guid_field(out, "InterSystemsId", &random_guid(&mut emitter.rng));
    push_guid_field(out, "IntraSystemId", &random_guid(&mut emitter.rng));
    push_key(out, "Target");
    out.push_str("[{\"ID\":\"00000007-0000-0000-c000-000000000000\",\"Type\":0}]");
    push_str_field(out, "TargetContextId", &emitter.tenant.tenant_id);
    push_str_field(out, "ApplicationId", "00000007-0000-0000-c000-000000000000");
    push_str_field(out, "ErrorNumber", if failed { "50126" } else { "0" });
    if failed {
        push_str_field(out, "LogonError", "InvalidUserNameOrPassword");
    }
}

fn exchange(
    emitter: &mut Emitter<'_>,
    user: &User,
    time: i64,
    id: &[u8; 16],
    shape: &Shape,
    out: &mut String,
) {
    let operation = ["MailItemsAccessed", "Send", "MoveToDeletedItems", "Update"]
        [emitter.rng.random_range(0..4)];
    let mailbox = guid_text(&stable_guid(user, 9));
    let header = header(emitter, user, time, id, operation, 50, "Succeeded", "Exchange", &mailbox);
    push_header(out, &header, shape);
    push_str_field(out, "AppId", "00000002-0000-0ff1-ce00-000000000000");
    push_str_field(out, "ClientInfoString", "Client=OWA;Action=ViaProxy");
    push_str_field(out, "ExternalAccess", "false");
    push_key(out, "InternalLogonType");
    out.push('0');
    push_key(out, "LogonType");
    out.push('0');
    push_str_field(out, "MailboxGuid", &mailbox);
    push_str_field(out, "MailboxOwnerUPN", &user.upn);
    push_str_field(out, "OrganizationName", "contoso.onmicrosoft.com");
    push_str_field(out, "OriginatingServer", "AM0PR01MB1234 (15.20.7000.000)");
}

fn sharepoint(
    emitter: &mut Emitter<'_>,
    user: &User,
    time: i64,
    id: &[u8; 16],
    shape: &Shape,
    out: &mut String,
) {
    let operation =
        ["FileAccessed", "FileModified", "FileUploaded", "FileDownloaded", "FilePreviewed"]
            [emitter.rng.random_range(0..5)];
    let file = ["Proposal.docx", "Price list 2026.xlsx", "Signed contract.pdf", "Site survey.jpg"]
        [emitter.rng.random_range(0..4)];
    let folder = ["account/Fabrikam_Rotterdam", "opportunity/Renewal_2026", "incident/CAS-01234"]
        [emitter.rng.random_range(0..3)];
    let site = "https://contoso.sharepoint.com/sites/crm";
    let object = format!("{site}/{folder}/{file}");
    let header = header(emitter, user, time, id, operation, 6, "Succeeded", "SharePoint", &object);
    push_header(out, &header, shape);
    push_str_field(out, "UserAgent", &user.user_agent);
    push_str_field(out, "EventSource", "SharePoint");
    push_str_field(out, "ItemType", "File");
    push_guid_field(out, "ListId", &stable_guid(user, 11));
    push_guid_field(out, "ListItemUniqueId", &random_guid(&mut emitter.rng));
    push_guid_field(out, "Site", &stable_guid(user, 12));
    push_str_field(out, "SiteUrl", &format!("{site}/"));
    push_str_field(out, "SourceFileExtension", file.rsplit('.').next().unwrap_or(""));
    push_str_field(out, "SourceFileName", file);
    push_str_field(out, "SourceRelativeUrl", folder);
}

fn dlp(
    emitter: &mut Emitter<'_>,
    user: &User,
    time: i64,
    id: &[u8; 16],
    shape: &Shape,
    out: &mut String,
) {
    let exchange = emitter.rng.random_bool(0.5);
    let object = if exchange {
        format!("<{}@mail.contoso.com>", guid_text(&random_guid(&mut emitter.rng)))
    } else {
        "https://contoso.sharepoint.com/sites/crm/account/Customer list.xlsx".to_owned()
    };
    let header = header(
        emitter,
        user,
        time,
        id,
        "DLPRuleMatch",
        if exchange { 13 } else { 11 },
        "Success",
        if exchange { "Exchange" } else { "SharePoint" },
        &object,
    );
    push_header(out, &header, shape);
    push_guid_field(out, "IncidentId", &random_guid(&mut emitter.rng));
    push_key(out, "PolicyDetails");
    out.push_str("[{\"PolicyId\":\"");
    out.push_str(&guid_text(&stable_guid(user, 13)));
    out.push_str("\",\"PolicyName\":\"GDPR personal data\",\"Rules\":[{\"RuleId\":\"");
    out.push_str(&guid_text(&stable_guid(user, 14)));
    out.push_str("\",\"RuleName\":\"EU national identifiers\",\"Severity\":\"Medium\",\"Actions\":[\"NotifyUser\"],\"ConditionsMatched\":{\"SensitiveInformation\":[{\"SensitiveInformationTypeName\":\"EU National Identification Number\",\"Count\":");
    super::world::push_decimal(out, emitter.rng.random_range(1..40));
    out.push_str(",\"Confidence\":85}]}}]}]");
    push_key(out, "SensitiveInfoDetectionIsIncluded");
    out.push_str("false");
}
