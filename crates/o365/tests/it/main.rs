//! Integration tests of the o365 client against the emulator over real HTTP on loopback.

mod content;
mod faults;
mod subscriptions;
mod support;
mod tokens;
