//! What a credential may do: the scopes the mail operations require.
//!
//! An API key without a `scopes=` marking carries [`Scopes::UNMARKED`]:
//! every scope but [`Scope::Send`], what such a key could do before sending
//! existed. Sending is new power, so it is granted only by naming it
//! (`scopes=read_mail,send`). The scope check of [`crate::service`] runs on
//! every operation, so a credential is refused by every interface alike.
//! Pure: depends on nothing else in the crate.

use std::fmt;

/// One kind of access to mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Listing folders, reading messages and attachments, searching.
    ReadMail,
    /// Appending messages, changing flags, moving messages.
    ChangeMail,
    /// Deleting messages and expunging folders.
    Delete,
    /// Creating, renaming and deleting folders.
    ManageFolders,
    /// Sending mail over SMTP (`POST /api/v1/send`): never carried by a
    /// key that does not name it.
    Send,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 5] = [
        Self::ReadMail,
        Self::ChangeMail,
        Self::Delete,
        Self::ManageFolders,
        Self::Send,
    ];

    /// The name in errors and audit lines, e.g. `read_mail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadMail => "read_mail",
            Self::ChangeMail => "change_mail",
            Self::Delete => "delete",
            Self::ManageFolders => "manage_folders",
            Self::Send => "send",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::ReadMail => 1,
            Self::ChangeMail => 2,
            Self::Delete => 4,
            Self::ManageFolders => 8,
            Self::Send => 16,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope, `send` included.
    pub const ALL: Self = Self(0b1_1111);

    /// What a key without a `scopes=` marking carries, and a caller that
    /// presents no credential where none is required: every scope but
    /// `send`.
    pub const UNMARKED: Self = Self(0b1111);

    /// No scope at all.
    pub const NONE: Self = Self(0);

    /// The set of `scopes`.
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Whether `scope` is in the set.
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_allows_every_scope_and_none_allows_none() {
        for scope in Scope::ALL {
            assert!(Scopes::ALL.allows(scope), "{scope}");
            assert!(!Scopes::NONE.allows(scope), "{scope}");
        }
        assert_eq!(Scopes::of(&Scope::ALL), Scopes::ALL);
    }

    #[test]
    fn a_set_allows_exactly_its_members() {
        let read_only = Scopes::of(&[Scope::ReadMail]);
        assert!(read_only.allows(Scope::ReadMail));
        for scope in [
            Scope::ChangeMail,
            Scope::Delete,
            Scope::ManageFolders,
            Scope::Send,
        ] {
            assert!(!read_only.allows(scope), "{scope}");
        }
    }
}

/// How a credential is marked with scopes: an API key file line ending in
/// ` scopes=read_mail` (names comma-separated), a token's `scope` claim
/// (space-separated, RFC 9068). A key without the marking carries
/// [`Scopes::UNMARKED`] (all but `send`); a token without the claim carries
/// its key's scopes, and a token never carries more than its key. Roles can
/// be built on these sets.
impl Scope {
    /// The scope named `name` (its [`Scope::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A scope name that is none of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (known: read_mail, change_mail, delete, manage_folders, send)")]
pub struct UnknownScope(pub String);

impl Scopes {
    /// Reading only: a key marked `scopes=read_mail`.
    pub const READ_ONLY: Self = Self(1);

    /// The scopes both sets carry.
    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The scopes named in `names`, separated by commas or spaces.
    pub fn parse(names: &str) -> Result<Self, UnknownScope> {
        let mut scopes = Vec::new();
        for name in names.split([',', ' ']).filter(|n| !n.is_empty()) {
            scopes.push(Scope::parse(name).ok_or_else(|| UnknownScope(name.to_owned()))?);
        }
        Ok(Self::of(&scopes))
    }

    /// The scopes of a token's `scope` claim: the names known here (a token
    /// may carry others too); no claim carries every scope.
    pub fn from_claim(claim: Option<&str>) -> Self {
        match claim {
            None => Self::ALL,
            Some(claim) => {
                let known: Vec<Scope> = claim.split(' ').filter_map(Scope::parse).collect();
                Self::of(&known)
            }
        }
    }

    /// The names, space-separated: a token's `scope` claim.
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
mod marking_tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        assert_eq!(Scopes::parse("read_mail"), Ok(Scopes::READ_ONLY));
        assert!(Scopes::READ_ONLY.allows(Scope::ReadMail));
        assert!(!Scopes::READ_ONLY.allows(Scope::ChangeMail));
        assert_eq!(
            Scopes::parse("read_mail,change_mail delete,manage_folders"),
            Ok(Scopes::UNMARKED)
        );
        assert_eq!(
            Scopes::parse("read_mail,change_mail delete,manage_folders,send"),
            Ok(Scopes::ALL)
        );
        assert!(!Scopes::UNMARKED.allows(Scope::Send));
        assert_eq!(
            Scopes::ALL.to_claim(),
            "read_mail change_mail delete manage_folders send"
        );
        assert_eq!(
            Scopes::parse("read_mail admin").unwrap_err().to_string(),
            "unknown scope \"admin\" (known: read_mail, change_mail, delete, manage_folders, send)"
        );
    }

    #[test]
    fn a_claim_carries_its_known_names_and_no_claim_carries_all() {
        assert_eq!(Scopes::from_claim(None), Scopes::ALL);
        assert_eq!(
            Scopes::from_claim(Some("openid read_mail")),
            Scopes::READ_ONLY
        );
        assert_eq!(Scopes::from_claim(Some("openid")), Scopes::NONE);
        assert_eq!(Scopes::ALL.intersect(Scopes::READ_ONLY), Scopes::READ_ONLY);
    }
}
