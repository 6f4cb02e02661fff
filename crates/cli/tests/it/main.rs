//! End-to-end tests of the `d365audit` binary: real files, a real SQLite archive, the real
//! process, as a user runs it.

#![allow(clippy::unwrap_used)]

mod archive_commands;
mod collect_commands;
mod dataverse_commands;
mod demo_command;
mod import_commands;
mod serve_commands;
mod support;
