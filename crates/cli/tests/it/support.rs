//! Running the binary and making realistic input files from the emulator's generator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, TimeZone, Utc};

pub(crate) struct Workspace {
    pub(crate) dir: tempfile::TempDir,
}

impl Workspace {
    pub(crate) fn new() -> Workspace {
        Workspace { dir: tempfile::tempdir().unwrap() }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn archive_url(&self) -> String {
        format!("sqlite://{}", self.path("archive.db").display())
    }

    /// Runs `d365audit ARGS` against this workspace's archive.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_d365audit"))
            .args(args)
            .env("D365AUDIT_ARCHIVE", self.archive_url())
            .env_remove("D365AUDIT_LOG")
            .output()
            .unwrap()
    }

    /// Like [`Workspace::run`], and asserts the exit status.
    pub(crate) fn run_ok(&self, args: &[&str], status: i32) -> String {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(status),
            "d365audit {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

/// A Tuesday morning, when people work.
pub(crate) fn tuesday(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 2, hour, 0, 0).unwrap()
}

/// Generated records (one JSON object each) for `hours` hours from 08:00 on a Tuesday.
pub(crate) fn generated_records(hours: u32) -> Vec<String> {
    let world = emulator::activity::TenantWorld::new(
        7,
        uuid::Uuid::parse_str("41463f53-8812-40f4-890f-865bf6e35190").unwrap(),
        "contoso.onmicrosoft.com",
        &emulator::activity::ActivityProfile::default(),
    );
    world.records("Audit.General", tuesday(8), tuesday(8 + hours))
}

/// Writes records as a JSON array (the content blob layout).
pub(crate) fn write_array(path: &Path, records: &[String]) {
    std::fs::write(path, format!("[{}]", records.join(","))).unwrap();
}

/// Writes records as JSON lines.
pub(crate) fn write_lines(path: &Path, records: &[String]) {
    let mut text = records.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}
