//! Where the Microsoft services live: the sign-in (Entra ID) and Management Activity API base
//! URLs per cloud, or explicit URLs (how tests point at the emulator), and the rule that plain
//! `http` is only acceptable on loopback.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::{Host, Url};

use crate::error::ConfigError;

/// A Microsoft 365 cloud, by the name an administrator knows it under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// Worldwide (enterprise) Microsoft 365.
    Commercial,
    /// Government Community Cloud: commercial Entra ID, separate API host.
    Gcc,
    /// GCC High (US sovereign cloud).
    GccHigh,
    /// US Department of Defense.
    Dod,
    /// Microsoft 365 operated by 21Vianet (China).
    China,
}

impl Cloud {
    /// Every cloud, in the order of the table in the documentation.
    pub const ALL: [Cloud; 5] =
        [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod, Cloud::China];

    /// The name used in configuration files (`commercial`, `gcc`, `gcchigh`, `dod`, `china`).
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Commercial => "commercial",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcchigh",
            Cloud::Dod => "dod",
            Cloud::China => "china",
        }
    }

    /// The Entra ID authority (sign-in) base URL.
    pub fn login_base(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
            // Gap: Microsoft's Management Activity API documentation never names a 21Vianet
            // host. The authority is the documented national-cloud one; the API host below is
            // the one third-party tooling uses. Both can be overridden with explicit URLs.
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// The Management Activity API base URL (also the OAuth resource).
    pub fn api_base(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://manage.office.com",
            Cloud::Gcc => "https://manage-gcc.office.com",
            Cloud::GccHigh => "https://manage.office365.us",
            Cloud::Dod => "https://manage.protection.apps.mil",
            // Gap (see `login_base`): `manage.office.cn` is not in Microsoft's documentation.
            Cloud::China => "https://manage.office.cn",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cloud {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized: String =
            s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect::<String>().to_lowercase();
        match normalized.as_str() {
            "commercial" | "enterprise" | "public" | "worldwide" => Ok(Cloud::Commercial),
            "gcc" => Ok(Cloud::Gcc),
            "gcchigh" => Ok(Cloud::GccHigh),
            "dod" => Ok(Cloud::Dod),
            "china" | "21vianet" => Ok(Cloud::China),
            _ => Err(ConfigError::UnknownCloud { name: s.to_owned() }),
        }
    }
}

/// The three things a client needs to know about a cloud: where to get tokens, where the API
/// is, and which resource the tokens are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Entra ID base, e.g. `https://login.microsoftonline.com`.
    pub login_base: Url,
    /// Management Activity API base, e.g. `https://manage.office.com`. The bearer token is only
    /// ever sent to this origin.
    pub api_base: Url,
    /// The OAuth resource (v1) / scope base (v2), e.g. `https://manage.office.com`.
    pub resource: String,
}

impl Endpoints {
    /// The documented endpoints of a cloud.
    pub fn cloud(cloud: Cloud) -> Endpoints {
        // The table above only holds valid absolute https URLs; a failure here is a typo in this
        // file, which the `every_cloud_has_valid_https_endpoints` test catches.
        let parse = |s: &str| Url::parse(s).expect("the built-in cloud table holds valid URLs");
        Endpoints {
            login_base: parse(cloud.login_base()),
            api_base: parse(cloud.api_base()),
            resource: cloud.api_base().to_owned(),
        }
    }

    /// Explicit base URLs (the emulator, a proxy, a cloud not in the table). The resource is the
    /// API origin; change it with [`Endpoints::with_resource`].
    pub fn custom(login_base: Url, api_base: Url) -> Result<Endpoints, ConfigError> {
        require_safe_base("login base", &login_base)?;
        require_safe_base("API base", &api_base)?;
        let resource = api_base.origin().ascii_serialization();
        Ok(Endpoints { login_base, api_base, resource })
    }

    /// The same endpoints with another OAuth resource.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Endpoints {
        self.resource = resource.into();
        self
    }
}

/// Refuses base URLs that would put a bearer token or a secret on the wire in clear text, or
/// that are not plain bases (credentials, query or fragment).
pub fn require_safe_base(what: &str, url: &Url) -> Result<(), ConfigError> {
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ConfigError::InvalidUrl {
            what: what.to_owned(),
            url: url.to_string(),
            reason: "it must be an absolute http(s) URL with a host".to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::InvalidUrl {
            what: what.to_owned(),
            url: "(not shown: it contains credentials)".to_owned(),
            reason: "it must not contain a user name or password".to_owned(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::InvalidUrl {
            what: what.to_owned(),
            url: url.to_string(),
            reason: "it must not have a query or fragment".to_owned(),
        });
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ConfigError::InvalidUrl {
            what: what.to_owned(),
            url: url.to_string(),
            reason: "plain http is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost); \
                     use https"
                .to_owned(),
        }),
        other => Err(ConfigError::InvalidUrl {
            what: what.to_owned(),
            url: url.to_string(),
            reason: format!("scheme {other} is not supported; use https"),
        }),
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_has_valid_https_endpoints() {
        for cloud in Cloud::ALL {
            let endpoints = Endpoints::cloud(cloud);
            assert_eq!(endpoints.login_base.scheme(), "https", "{cloud}");
            assert_eq!(endpoints.api_base.scheme(), "https", "{cloud}");
            assert_eq!(endpoints.resource, cloud.api_base());
            assert_eq!(cloud.name().parse::<Cloud>().unwrap(), cloud);
        }
    }

    #[test]
    fn cloud_table_matches_the_documentation() {
        let table: Vec<(Cloud, &str, &str)> =
            Cloud::ALL.iter().map(|c| (*c, c.login_base(), c.api_base())).collect();
        assert_eq!(
            table,
            vec![
                (
                    Cloud::Commercial,
                    "https://login.microsoftonline.com",
                    "https://manage.office.com"
                ),
                (Cloud::Gcc, "https://login.microsoftonline.com", "https://manage-gcc.office.com"),
                (Cloud::GccHigh, "https://login.microsoftonline.us", "https://manage.office365.us"),
                (
                    Cloud::Dod,
                    "https://login.microsoftonline.us",
                    "https://manage.protection.apps.mil"
                ),
                (
                    Cloud::China,
                    "https://login.partner.microsoftonline.cn",
                    "https://manage.office.cn"
                ),
            ]
        );
    }

    #[test]
    fn cloud_names_are_forgiving() {
        assert_eq!("GCC-High".parse::<Cloud>().unwrap(), Cloud::GccHigh);
        assert_eq!("gcc_high".parse::<Cloud>().unwrap(), Cloud::GccHigh);
        assert_eq!("21Vianet".parse::<Cloud>().unwrap(), Cloud::China);
        assert_eq!("Commercial".parse::<Cloud>().unwrap(), Cloud::Commercial);
        let err = "mars".parse::<Cloud>().unwrap_err().to_string();
        assert!(err.contains("mars") && err.contains("gcchigh"), "{err}");
    }

    #[test]
    fn custom_endpoints_use_the_api_origin_as_resource() {
        let e = Endpoints::custom(
            Url::parse("http://127.0.0.1:4000").unwrap(),
            Url::parse("http://127.0.0.1:4001/").unwrap(),
        )
        .unwrap();
        assert_eq!(e.resource, "http://127.0.0.1:4001");
        let e = e.with_resource("https://manage.office.com");
        assert_eq!(e.resource, "https://manage.office.com");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:1",
            "http://127.8.9.10",
            "http://[::1]:8080",
            "http://localhost:3000",
            "http://LOCALHOST",
            "https://manage.example.net",
        ] {
            require_safe_base("x", &Url::parse(ok).unwrap())
                .unwrap_or_else(|e| panic!("{ok} refused: {e}"));
        }
        for bad in [
            "http://manage.office.com",
            "http://10.0.0.1",
            "http://[::2]",
            "http://localhost.evil.com",
            "ftp://127.0.0.1",
            "https://user:pw@manage.office.com",
            "https://manage.office.com/?a=b",
        ] {
            let err = require_safe_base("API base", &Url::parse(bad).unwrap()).unwrap_err();
            assert!(err.to_string().contains("API base"), "{bad}: {err}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        assert!(
            Endpoints::custom(
                Url::parse("http://login.example.com").unwrap(),
                Url::parse("http://127.0.0.1:1").unwrap()
            )
            .is_err()
        );
    }
}
