//! import-json, search, record and user timelines, export, verify, quarantine: a user's session.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Workspace, generated_records, write_array, write_lines};

/// What the generated records say, computed straight from their JSON: the truth the archive's
/// answers are checked against.
struct Truth {
    ids: BTreeSet<String>,
    /// Record GUID -> ids of events about it or listing it.
    touching: BTreeMap<String, BTreeSet<String>>,
    by_user: BTreeMap<String, usize>,
}

fn truth(records: &[String]) -> Truth {
    let mut t = Truth { ids: BTreeSet::new(), touching: BTreeMap::new(), by_user: BTreeMap::new() };
    for text in records {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let id = v["Id"].as_str().unwrap().to_lowercase();
        t.ids.insert(id.clone());
        let user = v["UserUpn"].as_str().or(v["UserId"].as_str()).unwrap_or("Unknown");
        *t.by_user.entry(user.to_lowercase()).or_default() += 1;
        let mut about = Vec::new();
        if let Some(entity) = v["EntityId"].as_str()
            && entity != "00000000-0000-0000-0000-000000000000"
        {
            about.push(entity.to_lowercase());
        }
        if let Some(listed) = v["QueryResults"].as_str() {
            about.extend(
                listed.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()),
            );
        }
        for record in about {
            t.touching.entry(record).or_default().insert(id.clone());
        }
    }
    t
}

fn ids_in_jsonl(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_user_imports_searches_exports_and_verifies() {
    let ws = Workspace::new();
    let records = generated_records(3);
    assert!(records.len() > 500, "the generator should give a busy morning");
    let expected = truth(&records);
    let third = records.len() / 3;
    let input = ws.path("input");
    std::fs::create_dir(&input).unwrap();
    write_array(&input.join("a.json"), &records[..third]);
    write_lines(&input.join("b.jsonl"), &records[third..2 * third]);
    // The last third twice: Microsoft duplicates records across blobs by design.
    write_array(&input.join("c.json"), &records[2 * third..]);
    write_array(&input.join("d.json"), &records[2 * third..]);
    std::fs::write(input.join("e.jsonl"), "{\"Id\":\"broken\"\nnot json at all\n").unwrap();

    let out = ws.run_ok(&["import-json", input.to_str().unwrap(), "--json"], 2);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let unique = expected.ids.len() as u64;
    let duplicates = (records.len() - 2 * third) as u64;
    assert_eq!(summary["files"], 5);
    assert_eq!(summary["inserted"], unique);
    assert_eq!(summary["duplicates"], duplicates);
    assert_eq!(summary["quarantined"], 2);

    // Importing again changes nothing.
    let out = ws.run_ok(&["import-json", input.join("a.json").to_str().unwrap(), "--json"], 0);
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["inserted"], 0);
    assert_eq!(again["duplicates"], third as u64);

    assert_eq!(ws.run_ok(&["search", "--count"], 0).trim(), unique.to_string());

    // The record timeline of the most-touched record: every event about it or listing it.
    let (record, touching) = expected.touching.iter().max_by_key(|(_, ids)| ids.len()).unwrap();
    assert!(touching.len() >= 3, "the generator makes some records popular");
    let out = ws.run_ok(&["record", record, "--format", "json"], 0);
    assert_eq!(&ids_in_jsonl(&out), touching);
    let times: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["time"].to_string())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "a timeline reads oldest first");

    // A user timeline counts what that user did.
    let (user, count) =
        expected.by_user.iter().filter(|(u, _)| u.contains('@')).max_by_key(|(_, c)| **c).unwrap();
    let out = ws.run_ok(&["user", user, "--format", "json"], 0);
    assert_eq!(out.lines().count(), *count);

    // Paging through search results visits every record exactly once.
    let mut seen = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["search", "--limit", "97", "--format", "json"];
        let token;
        if let Some(a) = &after {
            token = a.clone();
            args.extend(["--after", token.as_str()]);
        }
        let output = ws.run(&args);
        assert!(output.status.success());
        let page = ids_in_jsonl(&String::from_utf8(output.stdout).unwrap());
        assert!(page.is_disjoint(&seen), "a page repeated records");
        seen.extend(page);
        let stderr = String::from_utf8(output.stderr).unwrap();
        match stderr.lines().find_map(|l| l.strip_prefix("more: --after ")) {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, expected.ids);

    // Export reproduces the records exactly as they were received.
    let exported = ws.path("export.jsonl");
    ws.run_ok(&["export", "--format", "jsonl", "-o", exported.to_str().unwrap()], 0);
    let lines: BTreeSet<String> =
        std::fs::read_to_string(&exported).unwrap().lines().map(str::to_string).collect();
    let originals: BTreeSet<String> = records.iter().cloned().collect();
    assert_eq!(lines, originals);

    // The Purview CSV layout carries the exact record in AuditData.
    let user_filter = format!("user:{user}");
    let csv = ws.run_ok(&["export", "--format", "csv", &user_filter], 0);
    assert!(csv.starts_with("RecordId,CreationDate,RecordType,Operation,UserId,AuditData"));
    assert_eq!(csv.matches("\r\n").count(), count + 1);

    let out = ws.run_ok(&["quarantine"], 0);
    assert!(out.contains("e.jsonl:1"), "{out}");
    assert!(out.contains("e.jsonl:2"), "{out}");

    let out = ws.run_ok(&["verify"], 0);
    assert!(out.contains("intact"), "{out}");
    assert!(out.contains(&format!("checked {unique} records")), "{out}");
}

#[test]
fn verify_names_what_was_tampered_with() {
    let ws = Workspace::new();
    let records = generated_records(1);
    write_array(&ws.path("in.json"), &records);
    ws.run_ok(&["import-json", ws.path("in.json").to_str().unwrap()], 0);
    ws.run_ok(&["verify"], 0);

    // Someone with write access removes the last record to hide it.
    let db = rusqlite::Connection::open(ws.path("archive.db")).unwrap();
    db.execute_batch(
        "DELETE FROM raw WHERE seq = (SELECT max(seq) FROM activity);
         DELETE FROM activity WHERE seq = (SELECT max(seq) FROM activity);",
    )
    .unwrap();
    drop(db);
    let out = ws.run_ok(&["verify"], 3);
    assert!(out.contains("PROBLEM: batch 1 was sealed with"), "{out}");
}

#[test]
fn mistakes_get_errors_that_say_what_to_do() {
    let ws = Workspace::new();
    let output = ws.run(&["search"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("there is no archive at"), "{stderr}");

    let output = ws.run(&["--archive", "audit.db", "search"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("sqlite://"), "{stderr}");

    write_array(&ws.path("in.json"), &generated_records(1)[..10]);
    ws.run_ok(&["import-json", ws.path("in.json").to_str().unwrap()], 0);
    let output = ws.run(&["search", "record:123"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("not a GUID"), "{stderr}");
}
