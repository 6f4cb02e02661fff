//! On-premises `AuditBase` exports into a real archive: decoding through the metadata, new
//! values reconstructed across the record's history and from current values, the exact row
//! bytes kept, problems counted, broken rows quarantined with their line, re-runs idempotent.

use archive::{Archive, ChangeSource, ChangeStore};
use import::NoProgress;
use import::auditbase::{AuditBaseFiles, AuditBaseImport, import_auditbase};
use record::{ChangeDetail, FieldValue};
use serde_json::json;
use uuid::Uuid;

use crate::{CsvFile, open_archive, quoted};

const ACCOUNT: &str = "0e76dc8a-41b5-ec11-983f-0022482bf046";
const CONTACT: &str = "1f87ed9b-52c6-fd22-a94f-1133593cf157";
const ALICE: &str = "4026be43-6b69-e111-8f65-78e7d1620f5e";
const BOB: &str = "5137cf54-7c7a-f222-9076-89f8e2731a6f";
const ZERO: &str = "00000000-0000-0000-0000-000000000000";

fn text(value: &str) -> Option<FieldValue> {
    Some(FieldValue { value: json!(value), formatted: None, lookup_table: None })
}

fn audit_id(n: u32) -> String {
    format!("{n:08x}-aaaa-4bbb-8ccc-000000000000")
}

struct Export {
    dir: tempfile::TempDir,
    files: AuditBaseFiles,
    /// Line of each audit row by its number.
    lines: std::collections::HashMap<u32, u64>,
    /// Each row's exact text.
    rows: std::collections::HashMap<u32, String>,
    broken_line: u64,
    bad_id_line: u64,
}

fn export() -> Export {
    let dir = tempfile::tempdir().unwrap();
    let mut audit = CsvFile::new("\r\n");
    // SQL Server Management Studio's "Save results as" with the two name columns joined.
    audit.row("AuditId,CreatedOn,Action,Operation,ObjectId,ObjectTypeCode,UserId,CallingUserId,AttributeMask,ChangeData,TransactionId,UserIdName,ObjectIdName");
    let mut lines = std::collections::HashMap::new();
    let mut rows = std::collections::HashMap::new();
    let mut add = |audit: &mut CsvFile, n: u32, row: String| {
        lines.insert(n, audit.row(&row));
        rows.insert(n, row);
    };
    let row = |n: u32,
               at: &str,
               action: u32,
               operation: u32,
               object: &str,
               code: u32,
               mask: &str,
               data: &str| {
        format!(
            "{},{at},{action},{operation},{object},{code},{ALICE},NULL,{},{},{ZERO},Alice Example,NULL",
            audit_id(n),
            quoted(mask),
            quoted(data)
        )
    };
    // The account's history, not in time order in the file.
    add(&mut audit, 3, row(3, "2019-01-03 09:00:00.000", 2, 2, ACCOUNT, 1, ",47,12,", "111~"));
    add(&mut audit, 1, row(1, "2019-01-01 09:00:00.000", 1, 1, ACCOUNT, 1, ",45,47,", ""));
    add(
        &mut audit,
        4,
        row(
            4,
            "2019-01-04 09:00:00.000",
            2,
            2,
            ACCOUNT,
            1,
            ",45,47,42,",
            &format!("Contoso^s^eLtd~222~systemuser,{BOB}"),
        ),
    );
    add(&mut audit, 2, row(2, "2019-01-02 09:00:00.123", 2, 2, ACCOUNT, 1, ",45,", "Contoso"));
    // A contact: an unknown column number, and a mask with more columns than values.
    add(&mut audit, 5, row(5, "2019-02-01 10:00:00", 2, 2, CONTACT, 2, ",7,99,8,", "True~x"));
    // The same row twice in the export.
    add(&mut audit, 6, row(6, "2019-02-02 10:00:00", 2, 2, CONTACT, 2, ",7,", "False"));
    add(&mut audit, 6, row(6, "2019-02-02 10:00:00", 2, 2, CONTACT, 2, ",7,", "False"));
    let bad_id_line = audit.row(
        &row(0, "2019-02-03 10:00:00", 2, 2, CONTACT, 2, ",7,", "True")
            .replace(&audit_id(0), "not-a-guid"),
    );
    let broken_line = audit.row(&format!("{},2019-02-04 10:00:00,2", audit_id(9)));
    let audit_path = dir.path().join("AuditBase.csv");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(audit.text.as_bytes());
    std::fs::write(&audit_path, bytes).unwrap();

    let metadata = dir.path().join("metadata.csv");
    std::fs::write(
        &metadata,
        "ObjectTypeCode,ColumnNumber,LogicalName,EntityLogicalName\n\
         1,45,name,account\n1,47,telephone1,account\n1,42,ownerid,account\n1,12,industrycode,account\n\
         2,7,donotemail,contact\n2,8,firstname,contact\n",
    )
    .unwrap();
    let current = dir.path().join("current.csv");
    std::fs::write(
        &current,
        format!(
            "ObjectId,LogicalName,Value\n{ACCOUNT},name,Contoso Group\n{ACCOUNT},telephone1,333\n\
             {ACCOUNT},ownerid,\"systemuser,{ALICE}\"\n"
        ),
    )
    .unwrap();
    let files = AuditBaseFiles { audit: audit_path, metadata, current_values: Some(current) };
    Export { dir, files, lines, rows, broken_line, bad_id_line }
}

#[tokio::test]
async fn an_export_becomes_field_history_with_new_values() {
    let export = export();
    let store = open_archive(export.dir.path());
    let summary = import_auditbase(&store, &export.files, &AuditBaseImport::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(summary.rows, 9, "{summary:?}");
    assert_eq!((summary.inserted, summary.duplicates, summary.quarantined), (6, 1, 2));
    assert_eq!(summary.records, 2);
    assert_eq!((summary.unknown_columns, summary.count_mismatches), (1, 1));
    assert_eq!(summary.unknown_tables, 0);
    assert!(summary.has_warnings());
    assert_eq!(summary.listed_problems.len(), 2);
    let name = export.files.audit.display().to_string();
    assert!(summary.listed_problems[0].starts_with(&format!("{name}:{}: ", export.lines[&5])));

    let account = Uuid::parse_str(ACCOUNT).unwrap();
    let history = store.record_changes(account, None).await.unwrap();
    let ids: Vec<String> = history.iter().map(|c| c.change.audit_id.to_string()).collect();
    assert_eq!(ids, [audit_id(1), audit_id(2), audit_id(3), audit_id(4)]);
    for stored in &history {
        let n = u32::from_str_radix(&stored.change.audit_id.to_string()[..8], 16).unwrap();
        assert_eq!(String::from_utf8(stored.raw_row.clone()).unwrap(), export.rows[&n]);
        assert_eq!(stored.raw_detail, None);
        assert_eq!(
            stored.source,
            ChangeSource::AuditBase { file: name.clone(), line: export.lines[&n] }
        );
        assert_eq!(stored.change.table, "account");
        assert_eq!(stored.change.user_name.as_deref(), Some("Alice Example"));
        assert_eq!(stored.change.object_name, None, "NULL is empty");
        assert_eq!(stored.change.calling_user_id, None);
    }
    let field = |index: usize, name: &str| history[index].change.field(name).unwrap().clone();
    // The create: values from the next rows that touch each column.
    assert_eq!((field(0, "name").old, field(0, "name").new), (None, text("Contoso")));
    assert_eq!(field(0, "telephone1").new, text("111"));
    assert_eq!(field(1, "name").new, text("Contoso~^Ltd"));
    assert_eq!(field(2, "telephone1").new, text("222"));
    assert_eq!(field(2, "industrycode").new, None, "nothing newer and no current value");
    // The newest row: new values from the current values.
    assert_eq!(field(3, "name").old, text("Contoso~^Ltd"));
    assert_eq!(field(3, "name").new, text("Contoso Group"));
    assert_eq!(field(3, "telephone1").new, text("333"));
    let owner = field(3, "ownerid");
    assert_eq!(owner.old.unwrap().lookup_table.as_deref(), Some("systemuser"));
    assert_eq!(owner.new.unwrap().value, json!(ALICE));
    assert_eq!(
        summary.new_values,
        dataverse::auditbase::Reconstruction { from_history: 5, from_current: 3, unknown: 4 }
    );

    // The contact: the unknown column is kept under its number, the missing value is empty.
    let contact = store.record_changes(Uuid::parse_str(CONTACT).unwrap(), None).await.unwrap();
    assert_eq!(contact.len(), 2);
    let ChangeDetail::Attributes { changes, .. } = &contact[0].change.detail else { panic!() };
    let names: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(names, ["donotemail", "column_99", "firstname"]);
    assert_eq!(changes[0].old.as_ref().unwrap().value, json!(true));
    assert_eq!(changes[0].new.as_ref().unwrap().value, json!(false));
    assert_eq!(changes[2].old, None);

    let mut quarantined = store.quarantined(10).await.unwrap();
    quarantined.sort_by_key(|q| q.source.clone());
    let sources: Vec<String> = quarantined.iter().map(|q| q.source.clone()).collect();
    let mut expected =
        vec![format!("{name}:{}", export.bad_id_line), format!("{name}:{}", export.broken_line)];
    expected.sort();
    assert_eq!(sources, expected);
    let broken =
        quarantined.iter().find(|q| q.source.ends_with(&format!(":{}", export.broken_line)));
    assert_eq!(broken.unwrap().raw, format!("{},2019-02-04 10:00:00,2", audit_id(9)).into_bytes());
    let bad = quarantined.iter().find(|q| q.source.ends_with(&format!(":{}", export.bad_id_line)));
    assert!(bad.unwrap().reason.contains("AuditId is not a GUID"), "{:?}", bad.unwrap().reason);

    // The same export again: nothing new.
    let again = import_auditbase(&store, &export.files, &AuditBaseImport::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 7));
    assert_eq!(store.change_summary().await.unwrap().changes, 6);
}

#[tokio::test]
async fn small_batches_and_no_current_values() {
    let mut export = export();
    export.files.current_values = None;
    let store = open_archive(export.dir.path());
    let options = AuditBaseImport { batch_size: 2, ..AuditBaseImport::default() };
    let summary = import_auditbase(&store, &export.files, &options, &NoProgress).await.unwrap();
    assert_eq!((summary.inserted, summary.quarantined), (6, 2));
    assert_eq!(summary.new_values.from_current, 0);
    let history = store.record_changes(Uuid::parse_str(ACCOUNT).unwrap(), None).await.unwrap();
    assert_eq!(
        history[3].change.field("name").unwrap().new,
        None,
        "unknown without current values"
    );
}

#[tokio::test]
async fn files_without_the_expected_columns_are_refused_with_what_to_do() {
    let export = export();
    let store = open_archive(export.dir.path());
    let wrong = export.dir.path().join("wrong.csv");
    std::fs::write(&wrong, "AuditId,CreatedOn\n").unwrap();
    let files = AuditBaseFiles { audit: wrong.clone(), ..export.files.clone() };
    let error = import_auditbase(&store, &files, &AuditBaseImport::default(), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("lacks Action, Operation, ObjectId"), "{error}");
    let files = AuditBaseFiles { metadata: wrong, ..export.files.clone() };
    let error = import_auditbase(&store, &files, &AuditBaseImport::default(), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("attribute metadata") && error.contains("ColumnNumber"), "{error}");
    assert_eq!(store.change_summary().await.unwrap().changes, 0);
    let _ = store.summary().await.unwrap();
}
