//! What a caller may do with mail: the scopes a key or token grants, and the
//! one each mail operation needs.
//!
//! | scope        | grants                                                      |
//! |--------------|-------------------------------------------------------------|
//! | `mail:read`  | listing, reading and searching folders, messages, attachments |
//! | `mail:write` | everything that changes a mailbox: flags, move, delete, expunge, append, folders |
//!
//! A key file line without scopes grants both, as keys always have; a line
//! ending in ` scopes=mail:read` grants reading only (see
//! [`crate::auth::keys`]). A token carries its key's scopes in its `scope`
//! claim (space-separated, RFC 9068); a token can only narrow what its key
//! grants. Roles (named sets of scopes) can be built on [`Scopes`].

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read mail: `mail:read`.
    Read,
    /// Change mail: `mail:write`.
    Write,
}

impl Scope {
    /// Every scope, in the order documents list them.
    pub const ALL: [Scope; 2] = [Scope::Read, Scope::Write];

    /// Its name in key files, tokens and the OAuth metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "mail:read",
            Scope::Write => "mail:write",
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
        }
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Default for Scopes {
    /// Everything: what a key without scopes grants.
    fn default() -> Self {
        Self::ALL
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (known: mail:read, mail:write)")]
pub struct UnknownScope(pub String);

impl Scopes {
    /// Every scope.
    pub const ALL: Scopes = Scopes(3);
    /// Reading only.
    pub const READ_ONLY: Scopes = Scopes(1);

    /// Whether `scope` is granted.
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes both grant.
    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    /// Parses names separated by spaces or commas.
    pub fn parse(names: &str) -> Result<Self, UnknownScope> {
        let mut bits = 0;
        for name in names.split([' ', ',']).filter(|n| !n.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| UnknownScope(name.to_owned()))?;
            bits |= scope.bit();
        }
        Ok(Self(bits))
    }

    /// The scopes of a token's `scope` claim: the known names in it (a token
    /// from another issuer may carry others); no claim grants every scope.
    pub fn from_claim(claim: Option<&str>) -> Self {
        let Some(claim) = claim else {
            return Self::ALL;
        };
        Self(
            claim
                .split(' ')
                .filter_map(Scope::parse)
                .fold(0, |bits, s| bits | s.bit()),
        )
    }

    /// The names, space-separated (the `scope` claim's form).
    pub fn to_claim(self) -> String {
        Scope::ALL
            .into_iter()
            .filter(|s| self.allows(*s))
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        let read = Scopes::parse("mail:read").expect("parses");
        assert_eq!(read, Scopes::READ_ONLY);
        assert!(read.allows(Scope::Read) && !read.allows(Scope::Write));
        assert_eq!(Scopes::parse("mail:write, mail:read"), Ok(Scopes::ALL));
        assert_eq!(Scopes::ALL.to_claim(), "mail:read mail:write");
        assert_eq!(
            Scopes::parse("mail:read admin").unwrap_err().to_string(),
            "unknown scope \"admin\" (known: mail:read, mail:write)"
        );
    }

    #[test]
    fn a_claim_grants_its_known_names_and_no_claim_grants_all() {
        assert_eq!(Scopes::from_claim(None), Scopes::ALL);
        assert_eq!(
            Scopes::from_claim(Some("openid mail:read")),
            Scopes::READ_ONLY
        );
        assert!(!Scopes::from_claim(Some("openid")).allows(Scope::Read));
    }

    #[test]
    fn a_token_only_narrows_its_key() {
        assert_eq!(Scopes::ALL.intersect(Scopes::READ_ONLY), Scopes::READ_ONLY);
        assert!(
            !Scopes::READ_ONLY
                .intersect(Scopes::ALL)
                .allows(Scope::Write)
        );
    }
}
