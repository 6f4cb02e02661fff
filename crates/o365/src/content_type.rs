//! The five Management Activity API content types, spelled exactly as the API wants them.

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;

/// A Management Activity API content type. Dynamics 365 activity is in [`ContentType::General`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentType {
    /// `Audit.AzureActiveDirectory`
    AzureActiveDirectory,
    /// `Audit.Exchange`
    Exchange,
    /// `Audit.SharePoint`
    SharePoint,
    /// `Audit.General`: every other workload, including Dynamics 365 / Dataverse (CRM), Power
    /// Apps, Power Automate, Power BI, Teams.
    General,
    /// `DLP.All`
    DlpAll,
}

impl ContentType {
    /// All content types.
    pub const ALL: [ContentType; 5] = [
        ContentType::AzureActiveDirectory,
        ContentType::Exchange,
        ContentType::SharePoint,
        ContentType::General,
        ContentType::DlpAll,
    ];

    /// The exact wire spelling, e.g. `Audit.General`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::AzureActiveDirectory => "Audit.AzureActiveDirectory",
            ContentType::Exchange => "Audit.Exchange",
            ContentType::SharePoint => "Audit.SharePoint",
            ContentType::General => "Audit.General",
            ContentType::DlpAll => "DLP.All",
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentType {
    type Err = ConfigError;

    /// Case-insensitive; the result always has the exact wire spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        ContentType::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            ConfigError::InvalidSetting {
                name: "content type",
                reason: format!(
                    "{s:?} is not one of Audit.AzureActiveDirectory, Audit.Exchange, \
                     Audit.SharePoint, Audit.General, DLP.All"
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_prints_the_wire_spelling() {
        for ct in ContentType::ALL {
            assert_eq!(ct.as_str().to_uppercase().parse::<ContentType>().unwrap(), ct);
        }
        assert_eq!("audit.general".parse::<ContentType>().unwrap().to_string(), "Audit.General");
        assert_eq!("dlp.all".parse::<ContentType>().unwrap().as_str(), "DLP.All");
        assert!("Audit.Crm".parse::<ContentType>().is_err());
    }
}
