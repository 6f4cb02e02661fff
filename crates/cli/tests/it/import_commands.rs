//! import-purview and import-auditbase as a user runs them: real files, the real binary, a real
//! SQLite archive.

use std::collections::BTreeSet;

use archive::{Archive, ChangeStore};

use crate::support::{Workspace, generated_records, write_array};

#[test]
fn a_purview_export_round_trips_into_another_archive() {
    // One archive's records, exported in the Purview CSV layout...
    let first = Workspace::new();
    let records = generated_records(1);
    assert!(records.len() > 100);
    let input = first.path("records.json");
    write_array(&input, &records);
    first.run_ok(&["import-json", input.to_str().unwrap()], 0);
    let csv = first.path("AuditLog_20260602_080000.csv");
    first.run_ok(&["export", "--format", "csv", "-o", csv.to_str().unwrap()], 0);

    // ...imported into another: the same records, byte for byte.
    let second = Workspace::new();
    let out =
        second.run_ok(&["import-purview", csv.to_str().unwrap(), "--all-workloads", "--json"], 0);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let unique: BTreeSet<String> = records.iter().cloned().collect();
    assert_eq!(summary["items"], records.len() as u64);
    assert_eq!(summary["inserted"], unique.len() as u64);
    assert_eq!(summary["quarantined"], 0);
    assert_eq!(summary["per_file"][0]["format"], "audit_search");
    assert_eq!(summary["creation_date_mismatches"], 0);
    let exported = second.path("export.jsonl");
    second.run_ok(&["export", "--format", "jsonl", "-o", exported.to_str().unwrap()], 0);
    let lines: BTreeSet<String> =
        std::fs::read_to_string(&exported).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines, unique);

    // A row broken by hand: quarantined with its line, the rest still imported, exit status 2.
    let text = std::fs::read_to_string(&csv).unwrap();
    let broken = second.path("edited.csv");
    let header_end = text.find("\r\n").unwrap() + 2;
    let extra = r#"9ac0b2e3-0000-4000-8000-000000000001,2026-06-02T08:00:00Z,21,CrmDefaultActivity,alice@contoso.com,"{""Id"":""9ac0b2e3-0000-4000-8000-000000000001"",""CreationTime"":",,"#;
    std::fs::write(&broken, format!("{}{extra}\r\n{}", &text[..header_end], &text[header_end..]))
        .unwrap();
    let out = second.run_ok(&["import-purview", broken.to_str().unwrap()], 2);
    assert!(out.contains("0 records new"), "{out}");
    assert!(out.contains("1 quarantined"), "{out}");
    assert!(out.contains("Purview audit search export"), "{out}");
    let out = second.run_ok(&["quarantine"], 0);
    assert!(out.contains(&format!("{}:2", broken.display())), "{out}");
}

#[test]
fn a_purview_export_keeps_dynamics_365_unless_asked_for_everything() {
    let ws = Workspace::new();
    let crm = r#"{"CreationTime":"2026-06-01T09:14:22","Id":"6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b","Operation":"CrmDefaultActivity","RecordType":21,"Workload":"CRM","UserId":"alice@contoso.com","Message":"Update","EntityName":"account"}"#;
    let mail = r#"{"CreationTime":"2026-06-01T09:15:00","Id":"9c405d6e-3f70-4182-9dce-3f4a5b6c7d8e","Operation":"MailItemsAccessed","RecordType":50,"Workload":"Exchange","UserId":"alice@contoso.com"}"#;
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let file = ws.path("classic.csv");
    std::fs::write(
        &file,
        format!(
            "\u{feff}CreationDate,UserIds,Operations,AuditData\r\n\
             2026-06-01T09:14:22.0000000Z,alice@contoso.com,CrmDefaultActivity,{}\r\n\
             2026-06-01T09:15:00.0000000Z,alice@contoso.com,MailItemsAccessed,{}\r\n",
            quote(crm),
            quote(mail)
        ),
    )
    .unwrap();
    let out = ws.run_ok(&["import-purview", file.to_str().unwrap()], 0);
    assert!(out.contains("1 records new"), "{out}");
    assert!(out.contains("1 of other workloads skipped"), "{out}");
    assert!(out.contains("classic audit search export, 2 rows"), "{out}");
    let out = ws.run_ok(&["import-purview", file.to_str().unwrap(), "--all-workloads"], 0);
    assert!(out.contains("1 records new, 1 duplicates skipped"), "{out}");
    assert_eq!(ws.run_ok(&["search", "--count"], 0).trim(), "2");

    let not_purview = ws.path("people.csv");
    std::fs::write(&not_purview, "Name,Email\nAlice,alice@contoso.com\n").unwrap();
    let output = ws.run(&["import-purview", not_purview.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no AuditData column"), "{stderr}");
}

const ACCOUNT: &str = "0e76dc8a-41b5-ec11-983f-0022482bf046";
const ALICE: &str = "4026be43-6b69-e111-8f65-78e7d1620f5e";

#[test]
fn an_auditbase_export_becomes_field_history() {
    let ws = Workspace::new();
    let audit = ws.path("AuditBase.csv");
    let rows = [
        format!(
            "a0000001-0000-4000-8000-000000000000,2019-01-01 09:00:00.000,1,1,{ACCOUNT},1,{ALICE},NULL,\",45,47,\",,NULL"
        ),
        format!(
            "a0000002-0000-4000-8000-000000000000,2019-01-02 09:00:00.000,2,2,{ACCOUNT},1,{ALICE},NULL,\",45,\",Contoso,NULL"
        ),
        format!(
            "a0000003-0000-4000-8000-000000000000,2019-01-03 09:00:00.000,2,2,{ACCOUNT},1,{ALICE},NULL,\",45,47,\",Contoso^sWest~111,NULL"
        ),
        format!(
            "a0000004-0000-4000-8000-000000000000,2019-01-04 09:00:00.000,2,2,{ACCOUNT},1,{ALICE},NULL,\",47,99,\",\"222~x\",NULL"
        ),
        "a0000005-0000-4000-8000-000000000000,yesterday,2,2".to_owned(),
    ];
    std::fs::write(
        &audit,
        format!(
            "AuditId,CreatedOn,Action,Operation,ObjectId,ObjectTypeCode,UserId,CallingUserId,AttributeMask,ChangeData,TransactionId\n{}\n",
            rows.join("\n")
        ),
    )
    .unwrap();
    let metadata = ws.path("metadata.csv");
    std::fs::write(
        &metadata,
        "ObjectTypeCode,ColumnNumber,LogicalName,EntityLogicalName\n1,45,name,account\n1,47,telephone1,account\n",
    )
    .unwrap();
    let current = ws.path("current.csv");
    std::fs::write(&current, format!("ObjectId,LogicalName,Value\n{ACCOUNT},telephone1,333\n"))
        .unwrap();
    let args = [
        "import-auditbase",
        "--audit",
        audit.to_str().unwrap(),
        "--metadata",
        metadata.to_str().unwrap(),
        "--current-values",
        current.to_str().unwrap(),
    ];
    let out = ws.run_ok(&args, 2);
    assert!(out.contains("imported 5 rows of 1 records: 4 changes new"), "{out}");
    assert!(out.contains("1 quarantined"), "{out}");
    assert!(out.contains("1 unknown column numbers"), "{out}");
    assert!(out.contains(&format!("{}:5: column number 99", audit.display())), "{out}");
    let out = ws.run_ok(&["quarantine"], 0);
    assert!(out.contains(&format!("{}:6", audit.display())), "{out}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let history = runtime.block_on(async {
        let archive = archive_sqlite::SqliteArchive::open_read_only(ws.path("archive.db")).unwrap();
        let account = uuid::Uuid::parse_str(ACCOUNT).unwrap();
        assert_eq!(archive.summary().await.unwrap().quarantined, 1);
        archive.record_changes(account, Some("name")).await.unwrap()
    });
    let names: Vec<(Option<String>, Option<String>)> = history
        .iter()
        .map(|stored| {
            let field = stored.change.field("name").unwrap();
            let show = |v: &Option<record::FieldValue>| v.as_ref().map(|v| v.display());
            (show(&field.old), show(&field.new))
        })
        .collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        names,
        [
            (None, some("Contoso")),
            (some("Contoso"), some("Contoso~West")),
            (some("Contoso~West"), None)
        ]
    );
    assert_eq!(history[2].raw_row, rows[2].as_bytes());

    let out = ws.run_ok(&args, 2);
    assert!(out.contains("0 changes new, 4 duplicates skipped"), "{out}");

    let output = ws.run(&[
        "import-auditbase",
        "--audit",
        audit.to_str().unwrap(),
        "--metadata",
        audit.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("ColumnNumber"), "{stderr}");
}
