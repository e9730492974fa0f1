//! Recipient allowlists (`send.allowedRecipients`): which addresses a
//! message may go to. Pure.

use std::collections::HashSet;

/// The recipients a message may go to: exact addresses and whole domains,
/// compared without regard to case. An empty list allows every recipient.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    addresses: HashSet<String>,
    domains: HashSet<String>,
}

impl Allowlist {
    /// The list of `entries`: an entry with `@` is an address, one without
    /// a domain (as the config validation checked).
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Self {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.contains('@') {
                list.addresses.insert(entry);
            } else {
                list.domains.insert(entry);
            }
        }
        list
    }

    /// Whether `address` (a bare `local@domain`) may receive mail.
    pub fn allows(&self, address: &str) -> bool {
        if self.addresses.is_empty() && self.domains.is_empty() {
            return true;
        }
        let address = address.trim().to_ascii_lowercase();
        if self.addresses.contains(&address) {
            return true;
        }
        address
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.domains.contains(domain))
    }

    /// The addresses of `recipients` the list does not allow, in order.
    pub fn refused<'a>(&self, recipients: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        recipients
            .into_iter()
            .filter(|r| !self.allows(r))
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_allows_everyone() {
        assert!(Allowlist::new([]).allows("anyone@anywhere.example"));
    }

    #[test]
    fn addresses_match_exactly_and_domains_match_their_addresses_only() {
        let list = Allowlist::new(["example.org", "Boss@Example.NET"]);
        assert!(list.allows("alice@example.org"));
        assert!(list.allows("ALICE@EXAMPLE.ORG"));
        assert!(list.allows("boss@example.net"));
        assert!(!list.allows("intern@example.net"), "only the address");
        assert!(!list.allows("alice@mail.example.org"), "not subdomains");
        assert!(!list.allows("alice@example.org.evil.test"), "not suffixes");
        assert!(!list.allows("example.org"), "not a bare domain");
        assert_eq!(
            list.refused([
                "a@example.org",
                "x@evil.test",
                "boss@example.net",
                "y@evil.test"
            ]),
            ["x@evil.test", "y@evil.test"]
        );
    }
}
