//! The five content types of the Management Activity API, spelled exactly as the service does.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Management Activity API content type (`contentType` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentType {
    AuditAzureActiveDirectory,
    AuditExchange,
    AuditSharePoint,
    /// Every other workload, including Dynamics 365 / Dataverse (`RecordType` 21).
    AuditGeneral,
    DlpAll,
}

impl ContentType {
    /// All content types, in the order `subscriptions/list` reports them.
    pub const ALL: [ContentType; 5] = [
        ContentType::AuditAzureActiveDirectory,
        ContentType::AuditExchange,
        ContentType::AuditSharePoint,
        ContentType::AuditGeneral,
        ContentType::DlpAll,
    ];

    /// The exact spelling used on the wire, e.g. `Audit.General`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::AuditAzureActiveDirectory => "Audit.AzureActiveDirectory",
            ContentType::AuditExchange => "Audit.Exchange",
            ContentType::AuditSharePoint => "Audit.SharePoint",
            ContentType::AuditGeneral => "Audit.General",
            ContentType::DlpAll => "DLP.All",
        }
    }

    /// Parses the exact spelling (the service is case-sensitive here; anything else is
    /// `AF20020`).
    pub fn parse(text: &str) -> Option<ContentType> {
        ContentType::ALL.into_iter().find(|ct| ct.as_str() == text)
    }

    /// `Audit_General`: the form inside content IDs.
    pub(crate) fn id_form(self) -> &'static str {
        match self {
            ContentType::AuditAzureActiveDirectory => "Audit_AzureActiveDirectory",
            ContentType::AuditExchange => "Audit_Exchange",
            ContentType::AuditSharePoint => "Audit_SharePoint",
            ContentType::AuditGeneral => "Audit_General",
            ContentType::DlpAll => "DLP_All",
        }
    }

    /// Parses the `Audit_General` form.
    pub(crate) fn from_id_form(text: &str) -> Option<ContentType> {
        ContentType::ALL.into_iter().find(|ct| ct.id_form() == text)
    }

    /// A small stable number for hashing.
    pub(crate) fn index(self) -> u64 {
        match self {
            ContentType::AuditAzureActiveDirectory => 1,
            ContentType::AuditExchange => 2,
            ContentType::AuditSharePoint => 3,
            ContentType::AuditGeneral => 4,
            ContentType::DlpAll => 5,
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ContentType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ContentType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ContentType::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown content type '{text}': use one of Audit.AzureActiveDirectory, \
                 Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for ct in ContentType::ALL {
            assert_eq!(ContentType::parse(ct.as_str()), Some(ct));
            assert_eq!(ContentType::from_id_form(ct.id_form()), Some(ct));
        }
        assert_eq!(ContentType::parse("audit.general"), None);
        assert_eq!(ContentType::parse("Audit.Dynamics"), None);
    }
}
