//! Integration tests of the emulator over real HTTP on 127.0.0.1:0.

// Test code: a failed unwrap is a failed test (helpers outside #[test] functions included).
#![allow(clippy::unwrap_used)]

mod api;
mod dataverse;
mod expiry;
mod faults;
mod paging;
mod perf;
mod receiver;
mod shapes;
mod support;
mod tokens;
mod webhooks;
mod windows;
