//! Integration tests of the collector: the emulator over real HTTP on loopback, a real SQLite
//! archive in a temporary folder, and the truth computed by fetching every blob straight from
//! the emulator.
//!
//! The archive is SQLite. With `D365AUDIT_TEST_POSTGRES` set (a PostgreSQL server URL whose user
//! may create databases), the `postgres` tests also run two collectors on one PostgreSQL archive;
//! with `D365AUDIT_TEST_BACKEND=postgres` as well, the whole suite runs on PostgreSQL.

// Test helpers (outside #[test] functions) unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod collect;
mod faults;
mod intake;
mod listing;
mod postgres;
mod restart;
mod retries;
mod support;
