//! What a credential may do: the scopes the mail operations require.
//!
//! Every API key and every token carries [`Scopes::ALL`] today; the scope
//! check of [`crate::service`] runs on every operation all the same, so that
//! a credential carrying fewer scopes is refused by every interface alike.
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
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 4] = [
        Self::ReadMail,
        Self::ChangeMail,
        Self::Delete,
        Self::ManageFolders,
    ];

    /// The name in errors and audit lines, e.g. `read_mail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadMail => "read_mail",
            Self::ChangeMail => "change_mail",
            Self::Delete => "delete",
            Self::ManageFolders => "manage_folders",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::ReadMail => 1,
            Self::ChangeMail => 2,
            Self::Delete => 4,
            Self::ManageFolders => 8,
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
    /// Every scope: what every credential carries today.
    pub const ALL: Self = Self(0b1111);

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
        for scope in [Scope::ChangeMail, Scope::Delete, Scope::ManageFolders] {
            assert!(!read_only.allows(scope), "{scope}");
        }
    }
}
