//! Integration tests of the dataverse crate.
