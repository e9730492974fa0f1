//! The client address of a request: the socket's peer, or, when the peer
//! is a trusted proxy, the rightmost address in `X-Forwarded-For` that is
//! not itself a trusted proxy. Entries left of that one were written by the
//! client or proxies nobody vouches for, and are never believed.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client address of a request from `peer` with `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if proxies.is_empty() || !trusted(peer, proxies) {
        return peer;
    }
    // Several X-Forwarded-For fields form one list, in order.
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            // What a trusted proxy appended cannot be read: stop at the
            // last address a trusted proxy vouched for.
            None => break,
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return ip,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let h = headers(&["1.1.1.1, 10.0.0.5"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
    }

    #[test]
    fn through_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let peer = ip("10.0.0.1");
        // The client claims to be 1.1.1.1; the ingress appended its real address.
        let h = headers(&["1.1.1.1, 198.51.100.7, 10.0.0.5"]);
        assert_eq!(client_ip(peer, &h, &proxies), ip("198.51.100.7"));
        let h = headers(&["1.1.1.1", "198.51.100.7:5000"]);
        assert_eq!(client_ip(peer, &h, &proxies), ip("198.51.100.7"));
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(client_ip(peer, &h, &proxies), ip("2001:db8::7"));
        // Only proxies, or nothing readable: the last trusted hop.
        assert_eq!(
            client_ip(peer, &headers(&["10.0.0.5"]), &proxies),
            ip("10.0.0.5")
        );
        assert_eq!(client_ip(peer, &headers(&["garbage"]), &proxies), peer);
        assert_eq!(client_ip(peer, &headers(&[]), &proxies), peer);
    }
}
