//! Integration tests of the `record` crate, one binary: the real records Microsoft and others
//! published, every field oddity seen in the wild, malformed input, the classification tables
//! against the documented examples, split-record grouping, and property tests that nothing
//! panics.

mod changes;
mod classification;
mod malformed;
mod oddities;
mod properties;
mod published_records;
mod split_records;
mod support;
