//! `ClientIP` interpretation. The field is documented as an IPv4 or IPv6 address, but real records
//! carry `52.163.88.69:50749` (port), `[2001:db8::1]:443` (brackets and port), bare IPv6, zone
//! ids, IPv4-mapped IPv6, masked values (`131.107.XXX.XX`), empty strings and `null`. The original
//! text is always kept beside the parsed address.

use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;

/// The client address of a record: the text as sent plus what could be read from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientIp {
    /// The value as sent, trimmed; `None` when absent, `null` or empty.
    pub original: Option<String>,
    /// The address, when the text holds one (IPv4-mapped IPv6 becomes IPv4).
    pub addr: Option<IpAddr>,
    /// The port, when the text carries one (`a.b.c.d:port`, `[v6]:port`).
    pub port: Option<u16>,
}

impl ClientIp {
    /// Interprets a `ClientIP` text; never fails (an unreadable value keeps only `original`).
    pub fn parse(text: &str) -> Self {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Self::default();
        }
        let (addr, port) = match read_address(trimmed) {
            Some((addr, port)) => (Some(addr), port),
            None => (None, None),
        };
        Self { original: Some(trimmed.to_owned()), addr, port }
    }

    /// Whether a value was sent but no address could be read from it (masked or garbage).
    pub fn is_uninterpreted(&self) -> bool {
        self.original.is_some() && self.addr.is_none()
    }
}

/// Reads `addr`, `addr:port`, `[v6]`, `[v6]:port`, `v6%zone`, or the first entry of a
/// comma-separated list (a forwarded-for chain).
fn read_address(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some((first, _)) = text.split_once(',') {
        return read_address(first.trim());
    }
    if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        let addr = IpAddr::V6(without_zone(host).parse::<Ipv6Addr>().ok()?);
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse::<u16>().ok()?),
        };
        return Some((addr.to_canonical(), port));
    }
    if let Ok(addr) = without_zone(text).parse::<IpAddr>() {
        return Some((addr.to_canonical(), None));
    }
    // Exactly one colon: IPv4 with a port (IPv6 always has at least two colons).
    let (host, port) = text.split_once(':')?;
    if port.contains(':') {
        return None;
    }
    let addr = host.parse::<std::net::Ipv4Addr>().ok()?;
    Some((IpAddr::V4(addr), Some(port.parse::<u16>().ok()?)))
}

/// Drops an IPv6 zone id (`fe80::1%eth0`).
fn without_zone(text: &str) -> &str {
    text.split_once('%').map_or(text, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Option<String>, Option<String>, Option<u16>) {
        let ip = ClientIp::parse(text);
        (ip.original, ip.addr.map(|addr| addr.to_string()), ip.port)
    }

    #[test]
    fn forms_seen_in_the_wild() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            read("134.170.188.221"),
            (some("134.170.188.221"), some("134.170.188.221"), None)
        );
        assert_eq!(
            read("52.163.88.69:50749"),
            (some("52.163.88.69:50749"), some("52.163.88.69"), Some(50749))
        );
        assert_eq!(
            read("[2001:db8::1]:443"),
            (some("[2001:db8::1]:443"), some("2001:db8::1"), Some(443))
        );
        assert_eq!(read("[2001:db8::1]"), (some("[2001:db8::1]"), some("2001:db8::1"), None));
        assert_eq!(read("2001:db8::1"), (some("2001:db8::1"), some("2001:db8::1"), None));
        assert_eq!(read("fe80::1%eth0"), (some("fe80::1%eth0"), some("fe80::1"), None));
        assert_eq!(read("::ffff:10.1.2.3"), (some("::ffff:10.1.2.3"), some("10.1.2.3"), None));
        assert_eq!(read(" 10.0.0.1 "), (some("10.0.0.1"), some("10.0.0.1"), None));
        assert_eq!(
            read("10.0.0.1, 10.0.0.2"),
            (some("10.0.0.1, 10.0.0.2"), some("10.0.0.1"), None)
        );
    }

    #[test]
    fn empty_is_absent() {
        assert_eq!(ClientIp::parse(""), ClientIp::default());
        assert_eq!(ClientIp::parse("   "), ClientIp::default());
    }

    #[test]
    fn masked_or_garbage_keeps_only_the_text() {
        for text in ["131.107.XXX.XX", "sanitized", "1.2.3.4:99999", "[2001:db8::1", "1.2.3.4:5:6"]
        {
            let ip = ClientIp::parse(text);
            assert_eq!(ip.original.as_deref(), Some(text));
            assert_eq!(ip.addr, None, "{text}");
            assert!(ip.is_uninterpreted());
        }
    }
}
