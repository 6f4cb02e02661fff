//! Purview audit CSV exports of all three formats into a real archive: what is stored (the
//! `AuditData` bytes exactly), what is skipped, what is quarantined and where, and that a
//! re-run inserts nothing.

use std::path::PathBuf;

use archive::Archive;
use import::NoProgress;
use import::purview::{PurviewFormat, PurviewImport, PurviewSummary, import_purview};

use crate::{CsvFile, open_archive, quoted};

const ORG: &str = "41463f53-8812-40f4-890f-865bf6e35190";

/// A Dynamics 365 activity record as the Management Activity API writes it.
fn crm(id: &str, time: &str, message: &str, user: &str) -> String {
    format!(
        r#"{{"CreationTime":"{time}","Id":"{id}","Operation":"CrmDefaultActivity","OrganizationId":"{ORG}","RecordType":21,"UserKey":"10033FFF8C2A1B3E","UserType":0,"Version":1,"Workload":"CRM","ClientIP":"52.163.88.69:50749","ObjectId":"https://contoso.crm4.dynamics.com/api/data/v9.0/accounts(5e8f2f2a-7b1c-4c1e-9d3a-2f1e0c9b8a7d)","UserId":"{user}","CrmOrganizationUniqueName":"orgc111a6c1","InstanceUrl":"https://contoso.crm4.dynamics.com","ItemType":"account","Message":"{message}","PrimaryFieldValue":"Contoso \"West\", Ltd","EntityId":"5e8f2f2a-7b1c-4c1e-9d3a-2f1e0c9b8a7d","EntityName":"account","UserAgent":"Mozilla/5.0"}}"#
    )
}

/// The same record pretty-printed over several lines (valid JSON with line breaks).
fn crm_multiline(id: &str, time: &str, line_end: &str) -> String {
    format!(
        "{{{line_end}  \"CreationTime\": \"{time}\",{line_end}  \"Id\": \"{id}\",{line_end}  \"Operation\": \"CrmDefaultActivity\",{line_end}  \"RecordType\": 21,{line_end}  \"Workload\": \"CRM\",{line_end}  \"UserId\": \"bob@contoso.com\",{line_end}  \"Message\": \"Retrieve\",{line_end}  \"EntityName\": \"contact\"{line_end}}}"
    )
}

/// An Exchange record: not Dynamics 365.
fn exchange(id: &str, time: &str) -> String {
    format!(
        r#"{{"CreationTime":"{time}","Id":"{id}","Operation":"MailItemsAccessed","OrganizationId":"{ORG}","RecordType":50,"UserKey":"10033FFF8C2A1B3E","UserType":0,"Version":1,"Workload":"Exchange","UserId":"alice@contoso.com","ResultStatus":"Succeeded"}}"#
    )
}

fn power_apps(id: &str, time: &str) -> String {
    format!(
        r#"{{"CreationTime":"{time}","Id":"{id}","Operation":"LaunchPowerApp","RecordType":45,"Workload":"PowerApps","UserId":"alice@contoso.com"}}"#
    )
}

const CRM1: &str = "6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b";
const CRM2: &str = "7a2e3b4c-1d5e-4f60-9bac-1d2e3f4a5b6c";
const CRM3: &str = "8b3f4c5d-2e6f-4071-8cbd-2e3f4a5b6c7d";
const MAIL: &str = "9c405d6e-3f70-4182-9dce-3f4a5b6c7d8e";
const APPS: &str = "ad516e7f-4081-4293-aedf-4a5b6c7d8e9f";

async fn import(archive: &dyn Archive, path: &PathBuf, options: &PurviewImport) -> PurviewSummary {
    import_purview(archive, std::slice::from_ref(path), options, &NoProgress).await.unwrap()
}

async fn raw_of(archive: &dyn Archive, id: &str) -> String {
    String::from_utf8(archive.record(id).await.unwrap().unwrap().raw).unwrap()
}

#[tokio::test]
async fn classic_export_with_bom_crlf_duplicates_and_broken_rows() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(dir.path());
    let mut file = CsvFile::new("\r\n");
    file.row("CreationDate,UserIds,Operations,AuditData");
    let first = crm(CRM1, "2026-06-01T09:14:22", "Update", "alice@contoso.com");
    let multiline = crm_multiline(CRM2, "2026-06-01T09:15:00", "\r\n");
    let d = "2026-06-01T09:14:22.0000000Z";
    file.row(&format!("{d},alice@contoso.com,CrmDefaultActivity,{}", quoted(&first)));
    let multiline_line =
        file.row(&format!("{d},bob@contoso.com,CrmDefaultActivity,{}", quoted(&multiline)));
    file.row(&format!("{d},alice@contoso.com,MailItemsAccessed,{}", quoted(&exchange(MAIL, d))));
    // Microsoft duplicates records; the portal export is not always free of them either.
    file.row(&format!("{d},alice@contoso.com,CrmDefaultActivity,{}", quoted(&first)));
    let not_json = file.row(&format!(
        "{d},alice@contoso.com,CrmDefaultActivity,{}",
        quoted(r#"{"Id":"cut-off","CreationTime":"2026"#)
    ));
    let broken = file.row("2026-06-01T09:20:00.0000000Z,alice@contoso.com");
    let no_id = file.row(&format!(
        "{d},alice@contoso.com,CrmDefaultActivity,{}",
        quoted(r#"{"CreationTime":"2026-06-01T09:21:00","RecordType":21,"Operation":"CrmDefaultActivity","Workload":"CRM"}"#)
    ));
    let path = dir.path().join("AuditLog_20260601_091500.csv");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(file.text.as_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let summary = import(&archive, &path, &PurviewImport::default()).await;
    let totals = &summary.totals;
    assert_eq!(
        (totals.files, totals.items, totals.inserted, totals.duplicates),
        (1, 7, 2, 1),
        "{summary:?}"
    );
    assert_eq!((totals.skipped_out_of_scope, totals.quarantined), (1, 3), "{summary:?}");
    assert_eq!(totals.bytes, bytes.len() as u64);
    assert_eq!(summary.per_file[0].format, PurviewFormat::ClassicSearch);
    assert_eq!(summary.per_file[0].rows, 7);

    // The stored bytes are AuditData exactly, `""` unescaped, line breaks kept.
    assert_eq!(raw_of(&archive, CRM1).await, first);
    assert_eq!(raw_of(&archive, CRM2).await, multiline);
    assert!(archive.record(MAIL).await.unwrap().is_none(), "Exchange is out of scope");
    let stored = archive.record(CRM1).await.unwrap().unwrap();
    assert_eq!(stored.summary.user, "alice@contoso.com");
    assert_eq!(stored.summary.message.as_deref(), Some("Update"));

    let mut quarantined = archive.quarantined(100).await.unwrap();
    quarantined.sort_by(|a, b| a.source.cmp(&b.source));
    let name = path.display().to_string();
    let sources: Vec<&str> = quarantined.iter().map(|q| q.source.as_str()).collect();
    let mut expected =
        vec![format!("{name}:{not_json}"), format!("{name}:{broken}"), format!("{name}:{no_id}")];
    expected.sort();
    assert_eq!(sources, expected);
    let by_line = |line: u64| {
        quarantined.iter().find(|q| q.source == format!("{name}:{line}")).unwrap().clone()
    };
    assert_eq!(by_line(broken).raw, b"2026-06-01T09:20:00.0000000Z,alice@contoso.com");
    assert!(by_line(broken).reason.contains("2 fields where the header has 4"));
    assert!(by_line(not_json).reason.contains("not valid JSON"), "{}", by_line(not_json).reason);
    assert!(by_line(no_id).reason.contains("`Id`"), "{}", by_line(no_id).reason);
    assert!(String::from_utf8(by_line(no_id).raw).unwrap().starts_with(d));
    assert_eq!(multiline_line, 3);

    // The same file again: nothing new.
    let again = import(&archive, &path, &PurviewImport::default()).await;
    assert_eq!((again.totals.inserted, again.totals.duplicates), (0, 3), "{again:?}");
    assert_eq!(archive.summary().await.unwrap().records, 2);
}

#[tokio::test]
async fn new_purview_search_export_with_any_workload_and_date_cross_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = CsvFile::new("\n");
    // Columns in another order, other case, and the `AssociatedAdminUnitNames` spelling.
    file.row("RecordId,CreationDate,RecordType,Operation,UserId,auditdata,AssociatedAdminUnits,AssociatedAdminUnitNames");
    let one = crm(CRM1, "2026-01-24T06:54:24", "Retrieve", "alice@contoso.com");
    let two = crm(CRM2, "2026-01-24T07:00:00", "Create", "Unknown");
    file.row(&format!(
        "{CRM1},\"2026-01-24T06:54:24.0000000Z \",21,CrmDefaultActivity,alice@contoso.com,{},,",
        quoted(&one)
    ));
    // Its CreationDate says 08:00 where AuditData says 07:00: imported, counted.
    file.row(&format!(
        "{CRM2},\"2026-01-24T08:00:00.0000000Z \",21,CrmDefaultActivity,Unknown,{},,",
        quoted(&two)
    ));
    file.row(&format!(
        "{APPS},9/20/2023 4:05:03 AM,45,LaunchPowerApp,alice@contoso.com,{},,",
        quoted(&power_apps(APPS, "2023-09-20T04:05:03"))
    ));
    let path = dir.path().join("export.csv");
    std::fs::write(&path, &file.text).unwrap();

    let crm_only = open_archive(dir.path());
    let summary = import(&crm_only, &path, &PurviewImport::default()).await;
    assert_eq!(summary.per_file[0].format, PurviewFormat::AuditSearch);
    assert_eq!((summary.totals.inserted, summary.totals.skipped_out_of_scope), (2, 1));
    assert_eq!(summary.creation_date_mismatches, 1);
    assert_eq!(raw_of(&crm_only, CRM2).await, two);

    let sub = dir.path().join("all");
    std::fs::create_dir(&sub).unwrap();
    let everything = open_archive(&sub);
    let all = PurviewImport { workloads: Vec::new(), ..PurviewImport::default() };
    // A folder is searched for *.csv.
    let summary = import(&everything, &dir.path().to_path_buf(), &all).await;
    assert_eq!((summary.totals.files, summary.totals.inserted), (1, 3), "{summary:?}");
    assert_eq!(summary.totals.skipped_out_of_scope, 0);
    assert_eq!(raw_of(&everything, APPS).await, power_apps(APPS, "2023-09-20T04:05:03"));
}

#[tokio::test]
async fn search_unified_audit_log_export_csv() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(dir.path());
    let mut file = CsvFile::new("\r\n");
    file.row(
        "#TYPE Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.AuditRecord",
    );
    file.row(r#""RecordType","CreationDate","UserIds","Operations","AuditData","ResultIndex","ResultCount","Identity","IsValid","ObjectState","PSComputerName","RunspaceId","PSShowComputerName""#);
    let tail = r#""outlook.office365.com","0b9e2f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b","False""#;
    let one = crm(CRM1, "2026-06-01T09:14:22", "Retrieve", "alice@contoso.com");
    let three = crm(CRM3, "2026-06-01T09:16:40", "Delete", "carol@contoso.com");
    file.row(&format!(
        r#""CRM","6/1/2026 9:14:22 AM","alice@contoso.com","CrmDefaultActivity",{},"1","4","{CRM1}","True","Unchanged",{tail}"#,
        quoted(&one)
    ));
    file.row(&format!(
        r#""ExchangeItemAggregated","6/1/2026 9:15:00 AM","alice@contoso.com","MailItemsAccessed",{},"2","4","{MAIL}","True","Unchanged",{tail}"#,
        quoted(&exchange(MAIL, "2026-06-01T09:15:00"))
    ));
    // A stray character after a closing quote: broken CSV, quarantined; the next row is fine.
    let broken = file.row(&format!(
        r#""CRM","6/1/2026 9:16:00 AM"x,"alice@contoso.com","CrmDefaultActivity",{},"3","4","{CRM2}","True","Unchanged",{tail}"#,
        quoted(&crm(CRM2, "2026-06-01T09:16:00", "Update", "alice@contoso.com"))
    ));
    file.row(&format!(
        r#""CRM","6/1/2026 9:16:40 AM","carol@contoso.com","CrmDefaultActivity",{},"4","4","{CRM3}","True","Unchanged",{tail}"#,
        quoted(&three)
    ));
    let path = dir.path().join("sual.csv");
    std::fs::write(&path, &file.text).unwrap();

    let summary = import(&archive, &path, &PurviewImport::default()).await;
    assert_eq!(summary.per_file[0].format, PurviewFormat::SearchUnifiedAuditLog);
    let t = &summary.totals;
    assert_eq!((t.items, t.inserted, t.skipped_out_of_scope, t.quarantined), (4, 2, 1, 1));
    assert_eq!(raw_of(&archive, CRM3).await, three);
    let quarantined = archive.quarantined(10).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].source, format!("{}:{broken}", path.display()));
    assert_eq!(broken, 5);
    assert!(quarantined[0].reason.contains("after its closing quote"));
    assert!(String::from_utf8_lossy(&quarantined[0].raw).contains(CRM2));

    let again = import(&archive, &path, &PurviewImport::default()).await;
    assert_eq!((again.totals.inserted, again.totals.duplicates), (0, 2));
}

#[tokio::test]
async fn a_file_that_is_not_a_purview_export_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(dir.path());
    let path = dir.path().join("other.csv");
    std::fs::write(&path, "Name,Email\nAlice,alice@contoso.com\n").unwrap();
    let error = import_purview(&archive, &[path], &PurviewImport::default(), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no AuditData column"), "{error}");
    assert!(error.contains("Search-UnifiedAuditLog"), "{error}");
}
