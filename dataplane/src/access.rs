//! Client addresses refused outright (`access.blockedCidrs`): the lever an
//! operator pulls against an address seen attacking, checked before the
//! credentials and the budgets so a blocked client costs neither.
//!
//! May depend on, in this crate: `config`.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::Access;

/// The blocked address ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklist(Box<[IpNet]>);

impl Blocklist {
    /// The ranges `access` blocks.
    pub fn from_config(access: &Access) -> Self {
        Self(access.blocked_cidrs.clone().into_boxed_slice())
    }

    /// The range that blocks `ip`, if one does. An IPv4 client seen as an
    /// IPv4-mapped IPv6 address (a dual-stack listener) is matched as IPv4.
    pub fn blocking(&self, ip: IpAddr) -> Option<&IpNet> {
        let canonical = ip.to_canonical();
        self.0
            .iter()
            .find(|net| net.contains(&ip) || net.contains(&canonical))
    }

    /// How many ranges are blocked.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no range is blocked.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(cidrs: &[&str]) -> Blocklist {
        Blocklist::from_config(&Access {
            blocked_cidrs: cidrs.iter().map(|c| c.parse().expect("cidr")).collect(),
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn addresses_inside_a_blocked_range_are_blocked_and_others_are_not() {
        let blocked = list(&["203.0.113.0/24", "2001:db8:bad::/48"]);
        assert_eq!(
            blocked
                .blocking(ip("203.0.113.77"))
                .map(ToString::to_string),
            Some("203.0.113.0/24".to_owned())
        );
        assert!(blocked.blocking(ip("203.0.114.1")).is_none());
        assert!(blocked.blocking(ip("2001:db8:bad:1::5")).is_some());
        assert!(blocked.blocking(ip("2001:db8:beef::5")).is_none());
    }

    #[test]
    fn an_ipv4_client_on_a_dual_stack_listener_is_still_blocked() {
        let blocked = list(&["198.51.100.7/32"]);
        assert!(blocked.blocking(ip("::ffff:198.51.100.7")).is_some());
        assert!(blocked.blocking(ip("::ffff:198.51.100.8")).is_none());
    }

    #[test]
    fn an_empty_list_blocks_nobody() {
        assert!(list(&[]).blocking(ip("0.0.0.0")).is_none());
        assert!(list(&[]).is_empty());
    }
}
