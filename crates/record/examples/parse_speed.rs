//! Rough ingest-path speed of the `record` crate: splits content blobs of realistic Dynamics 365
//! records and parses, normalizes and classifies every record, then prints records per second.
//!
//! Run with `cargo run --release -p record --example parse_speed [records]`. Besides wall time it
//! reports the thread's CPU time (Linux `/proc/thread-self/stat`, 10 ms resolution), which stays
//! meaningful when other processes share the cores.

use std::hint::black_box;
use std::time::Instant;

/// Records per blob, about what the Management Activity API puts in one content blob.
const BLOB_SIZE: usize = 1_000;

fn main() {
    let total: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(200_000);
    let blobs: Vec<Vec<u8>> = (0..total.div_ceil(BLOB_SIZE))
        .map(|blob| make_blob(blob * BLOB_SIZE, BLOB_SIZE.min(total - blob * BLOB_SIZE)))
        .collect();
    let bytes: usize = blobs.iter().map(Vec::len).sum();

    for round in 0..5 {
        let cpu_started = thread_cpu_seconds();
        let started = Instant::now();
        let mut parsed = 0usize;
        let mut categories = 0usize;
        for blob in &blobs {
            for raw in record::parse_blob(blob).expect("generated blobs are valid") {
                let record = raw.parse().expect("generated records are valid");
                categories += record.report_categories().len();
                black_box(record.access_kind());
                black_box(&record);
                parsed += 1;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = match (cpu_started, thread_cpu_seconds()) {
            (Some(start), Some(end)) if end > start => {
                format!(
                    ", CPU {:.3} s: {:.0} records/CPU-s",
                    end - start,
                    parsed as f64 / (end - start)
                )
            }
            _ => String::new(),
        };
        println!(
            "round {round}: {parsed} records ({:.1} MB, {:.0} bytes/record) in {seconds:.3} s: \
             {:.0} records/s, {:.1} MB/s{cpu} ({categories} category hits)",
            bytes as f64 / 1e6,
            bytes as f64 / parsed as f64,
            parsed as f64 / seconds,
            bytes as f64 / 1e6 / seconds,
        );
    }
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat` (Linux only;
/// assumes the usual 100 clock ticks per second).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// A blob of `count` records numbered from `first`, mixing the shapes real tenants produce.
fn make_blob(first: usize, count: usize) -> Vec<u8> {
    let mut blob = b"[".to_vec();
    for n in first..first + count {
        if n > first {
            blob.push(b',');
        }
        blob.extend_from_slice(make_record(n).as_bytes());
    }
    blob.push(b']');
    blob
}

fn guid(seed: usize, salt: u32) -> String {
    let mixed = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(salt);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        mixed as u32,
        (mixed >> 32) as u16,
        (mixed >> 48) as u16 & 0xfff,
        salt & 0xfff,
        mixed & 0xffff_ffff_ffff
    )
}

fn make_record(n: usize) -> String {
    let (message, entity) = match n % 10 {
        0..=3 => ("Retrieve", "contact"),
        4..=6 => ("RetrieveMultiple", "account"),
        7 => ("Update", "opportunity"),
        8 => ("Create", "new_project"),
        _ => ("ExportToExcel", "lead"),
    };
    let results: Vec<String> = match message {
        "RetrieveMultiple" | "ExportToExcel" => (0..25).map(|i| guid(n, i)).collect(),
        "Retrieve" => vec![guid(n, 99)],
        _ => Vec::new(),
    };
    let fields = if message == "Update" || message == "Create" {
        r#"[{"Name":"name","Value":"Fabrikam"},{"Name":"estimatedvalue","Value":125000.5},{"Name":"telephone1","Value":"*"}]"#
    } else {
        "[]"
    };
    let client_ip = match n % 3 {
        0 => format!("52.163.{}.{}:{}", n % 250, n % 199, 40_000 + n % 20_000),
        1 => format!("2001:db8::{:x}", n % 65_535),
        _ => format!("203.0.113.{}", n % 250),
    };
    format!(
        r#"{{"CreationTime":"2026-06-01T{:02}:{:02}:{:02}","Id":"{}","Operation":"CrmDefaultActivity","OrganizationId":"41463f53-8812-40f4-890f-865bf6e35190","RecordType":21,"ResultStatus":"Success","UserKey":"10037FFE9151{:04}","UserType":0,"Version":1,"Workload":"CRM","ClientIP":"{client_ip}","ObjectId":"https://contoso.crm4.dynamics.com/main.aspx?etn={entity}&pagetype=entityrecord&id={}","UserId":"user{}@contoso.com","CrmOrganizationUniqueName":"org1a2b3c4d","Fields":{fields},"InstanceUrl":"https://contoso.crm4.dynamics.com/","ItemType":"{entity}","ItemUrl":"https://contoso.crm4.dynamics.com/main.aspx?etn={entity}&pagetype=entityrecord&id={}","UserAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36","CorrelationId":"{}","EntityId":"{}","EntityName":"{entity}","Message":"{message}","Query":"<filter type=\"and\"><condition attribute=\"statecode\" operator=\"eq\" value=\"0\" /></filter>","QueryResults":"{}","PrimaryFieldValue":"Fabrikam {n}","ServiceContextId":"00000000-0000-0000-0000-000000000000","ServiceContextIdType":"","ServiceName":"CrmCore","SystemUserId":"{}","UserUpn":"user{}@contoso.com"}}"#,
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60,
        guid(n, 1),
        n % 10_000,
        guid(n, 2),
        n % 500,
        guid(n, 2),
        guid(n, 3),
        guid(n, 2),
        results.join(", "),
        guid(n % 500, 4),
        n % 500,
    )
}
