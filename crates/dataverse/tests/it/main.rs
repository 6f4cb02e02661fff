//! Integration tests of the dataverse crate: the Web API client and the sync against the
//! emulator's Dataverse environment over real HTTP on loopback, into real SQLite archives.
#![allow(clippy::unwrap_used)]

mod auditbase;
mod client;
mod faults;
mod support;
mod sync;
