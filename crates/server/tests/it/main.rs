//! Integration tests of the server: each test starts the real router on 127.0.0.1:0 over its
//! own SQLite archive in a temporary folder, filled with the emulator's realistic records, and
//! talks HTTP to it (the browser tests through a real headless Chromium).

// Helpers outside `#[test]` functions panic on purpose too: a failed step fails the test.
#![allow(clippy::unwrap_used)]

mod access_log;
mod api;
mod auth;
mod browser;
mod changes;
mod exports;
mod ops;
mod pages;
mod roles;
mod support;
mod webdriver;
