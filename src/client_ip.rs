//! The client's IP address, for per-IP limits.
//!
//! It is the socket's peer address. `X-Forwarded-For` is believed only when that peer
//! is one of our own proxies (`ROOMGATE_TRUSTED_PROXIES`); otherwise anyone could pick
//! a fresh address per request and walk past every limit.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Our proxies, as CIDRs.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `ROOMGATE_TRUSTED_PROXIES`: CIDRs or single addresses, comma or space separated.
    /// Every bad entry is named, so one fix is enough.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for entry in raw
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            {
                Ok(net) => nets.push(net),
                Err(_) => bad.push(entry),
            }
        }
        // A letter no address has: most likely a host name.
        let named = bad.iter().any(|e| {
            e.chars()
                .any(|c| c.is_alphabetic() && !c.is_ascii_hexdigit())
        });
        let hint = if named {
            " (host names are not looked up)"
        } else {
            ""
        };
        let quoted: Vec<String> = bad.iter().map(|e| format!("{e:?}")).collect();
        match quoted.as_slice() {
            [] => Ok(Self(nets)),
            [one] => Err(format!(
                "ROOMGATE_TRUSTED_PROXIES: {one} is not an IP address or CIDR{hint}"
            )),
            many => Err(format!(
                "ROOMGATE_TRUSTED_PROXIES: {} are not IP addresses or CIDRs{hint}",
                many.join(", ")
            )),
        }
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Whether `peer` is one of our proxies, whose forwarding headers are believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.contains(&canonical(peer))
    }

    /// The client address for a connection from `peer` carrying `forwarded_for`.
    /// Walks `X-Forwarded-For` from the right (the entry our nearest proxy added)
    /// past our own proxies; the first address that isn't one is the client.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(&peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_for.unwrap_or("").rsplit(',') {
            match parse_hop(hop.trim()) {
                Some(ip) => {
                    client = canonical(ip);
                    if !self.contains(&client) {
                        break;
                    }
                }
                // A malformed entry: stop at the last address we could trust.
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or (as some proxies write it, Azure's
/// among them) an address with the client's port, `1.2.3.4:5678` or
/// `[2001:db8::1]:443`. Read as the proxy itself, every client would share one limit.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()
}

/// `::ffff:1.2.3.4` is 1.2.3.4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let ip = match req.app_data::<web::Data<TrustedProxies>>() {
            Some(proxies) if proxies.trusts(peer) => {
                // Every `X-Forwarded-For` line, in order, as one list: a proxy that adds
                // a line of its own (HAProxy's `option forwardfor`) rather than appending
                // to the client's puts the address it saw last, where the walk from the
                // right starts. A line that isn't text stops the walk where it stands.
                let lines: Vec<&str> = req
                    .headers()
                    .get_all("x-forwarded-for")
                    .map(|v| v.to_str().unwrap_or("?"))
                    .collect();
                proxies.client_ip(peer, Some(&lines.join(",")))
            }
            _ => canonical(peer),
        };
        ready(Ok(ClientIp(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("203.0.113.9"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_for_is_used_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), Some("198.51.100.7")),
            ip("198.51.100.7")
        );
        // A client can prepend anything; only the right-most untrusted hop counts.
        assert_eq!(
            proxies.client_ip(ip("10.1.1.1"), Some("6.6.6.6, 198.51.100.7, 10.2.2.2")),
            ip("198.51.100.7")
        );
        // No header: the proxy itself is all we know.
        assert_eq!(proxies.client_ip(ip("10.1.1.1"), None), ip("10.1.1.1"));
        assert_eq!(
            proxies.client_ip(ip("10.1.1.1"), Some("garbage")),
            ip("10.1.1.1")
        );
    }

    /// Some proxies write the client's port too; it is the same client.
    #[test]
    fn forwarded_entries_with_a_port_are_the_address() {
        let proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        for (entry, client) in [
            ("198.51.100.11:5000", "198.51.100.11"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[::ffff:192.0.2.1]:80", "192.0.2.1"),
        ] {
            assert_eq!(
                proxies.client_ip(ip("127.0.0.1"), Some(entry)),
                ip(client),
                "{entry}"
            );
        }
        // A proxy of ours with a port is passed over like one without.
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), Some("198.51.100.7, 127.0.0.1:9000")),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("::ffff:192.0.2.1"), None),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn bad_entries_are_reported() {
        let err = TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(
            err.ends_with(
                "\"proxy.local\" is not an IP address or CIDR (host names are not looked up)"
            ),
            "{err}"
        );
        let err = TrustedProxies::parse("10.0.0.0/33").unwrap_err();
        assert!(
            err.ends_with("\"10.0.0.0/33\" is not an IP address or CIDR"),
            "{err}"
        );
        let err = TrustedProxies::parse("proxy.local 10.0.0.0/8,10.0.0.0/33, 10.1").unwrap_err();
        assert!(
            err.contains(
                "\"proxy.local\", \"10.0.0.0/33\", \"10.1\" are not IP addresses or CIDRs"
            ),
            "{err}"
        );
    }
}
