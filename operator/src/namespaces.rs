//! Which namespaces the operator watches: all of them, or a list given by
//! `--namespaces a,b` or the `WATCH_NAMESPACES` environment variable.
//!
//! Depends on no other module of this crate.

use std::{collections::BTreeSet, fmt};

use clap::Args;

/// Command-line arguments choosing the watched namespaces; flatten into the
/// `run` command with `#[command(flatten)]`.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceArgs {
    /// Namespaces to watch, comma-separated. Default: all namespaces (empty,
    /// or `*`). Restricting the list lets the operator run with Roles instead
    /// of ClusterRoles.
    #[arg(
        long = "namespaces",
        env = "WATCH_NAMESPACES",
        value_delimiter = ',',
        value_name = "NS[,NS…]"
    )]
    pub namespaces: Vec<String>,
}

impl NamespaceArgs {
    /// Validates the arguments into a [`NamespaceScope`].
    pub fn scope(&self) -> Result<NamespaceScope, NamespaceError> {
        NamespaceScope::parse(self.namespaces.iter().map(String::as_str))
    }
}

/// The namespaces the operator watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceScope {
    /// Every namespace of the cluster.
    All,
    /// Only these namespaces (never empty).
    Only(BTreeSet<String>),
}

impl NamespaceScope {
    /// Parses namespace names; blank entries are ignored (so `""` and `"a,"`
    /// work), and no names or a lone `*` mean all namespaces.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, NamespaceError> {
        let mut set = BTreeSet::new();
        let mut wildcard = false;
        for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                wildcard = true;
            } else {
                validate(name)?;
                set.insert(name.to_owned());
            }
        }
        match (wildcard, set.is_empty()) {
            (true, false) => Err(NamespaceError::WildcardWithNames),
            (_, true) => Ok(Self::All),
            (false, false) => Ok(Self::Only(set)),
        }
    }

    /// Whether objects in `namespace` are watched.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(namespace),
        }
    }

    /// The listed namespaces, or `None` for all namespaces.
    pub fn namespaces(&self) -> Option<&BTreeSet<String>> {
        match self {
            Self::All => None,
            Self::Only(set) => Some(set),
        }
    }
}

impl fmt::Display for NamespaceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all namespaces"),
            Self::Only(set) => {
                let names: Vec<&str> = set.iter().map(String::as_str).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// A namespace list that cannot be watched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceError {
    /// A name is not a DNS-1123 label, so no namespace can have it.
    #[error(
        "invalid namespace {name:?} in --namespaces/WATCH_NAMESPACES: a namespace is 1 to 63 \
         lowercase letters, digits or '-', starting and ending with a letter or digit"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// `*` was given together with names.
    #[error("--namespaces/WATCH_NAMESPACES mixes '*' with namespace names: give one or the other")]
    WildcardWithNames,
}

/// Checks that `name` is a DNS-1123 label, as Kubernetes requires of namespaces.
fn validate(name: &str) -> Result<(), NamespaceError> {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = (1..=63).contains(&bytes.len())
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum);
    if ok {
        Ok(())
    } else {
        Err(NamespaceError::InvalidName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        namespaces: NamespaceArgs,
    }

    fn only(names: &[&str]) -> NamespaceScope {
        NamespaceScope::Only(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn no_names_watch_all_namespaces() {
        assert_eq!(NamespaceScope::parse([]), Ok(NamespaceScope::All));
        assert_eq!(NamespaceScope::parse([""]), Ok(NamespaceScope::All));
        assert_eq!(NamespaceScope::parse(["*"]), Ok(NamespaceScope::All));
    }

    #[test]
    fn a_list_is_trimmed_deduplicated_and_blank_entries_ignored() {
        let scope = NamespaceScope::parse(["team-b", " team-a ", "", "team-b"]);
        assert_eq!(scope, Ok(only(&["team-a", "team-b"])));
    }

    #[test]
    fn invalid_names_are_rejected_with_the_name() {
        for bad in ["Team", "-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            let err = NamespaceScope::parse([bad]);
            assert_eq!(
                err,
                Err(NamespaceError::InvalidName {
                    name: bad.to_owned()
                }),
                "{bad}"
            );
        }
        assert!(NamespaceScope::parse([&"x".repeat(63) as &str]).is_ok());
    }

    #[test]
    fn wildcard_with_names_is_ambiguous() {
        assert_eq!(
            NamespaceScope::parse(["*", "a"]),
            Err(NamespaceError::WildcardWithNames)
        );
    }

    #[test]
    fn contains_follows_the_scope() {
        assert!(NamespaceScope::All.contains("anything"));
        let scope = only(&["a"]);
        assert!(scope.contains("a"));
        assert!(!scope.contains("b"));
        assert_eq!(scope.namespaces().map(BTreeSet::len), Some(1));
        assert_eq!(NamespaceScope::All.namespaces(), None);
    }

    #[test]
    fn display_names_the_scope_for_logs() {
        assert_eq!(NamespaceScope::All.to_string(), "all namespaces");
        assert_eq!(only(&["b", "a"]).to_string(), "a,b");
    }

    #[test]
    fn the_flag_takes_a_comma_separated_list() -> Result<(), Box<dyn std::error::Error>> {
        let cli = Cli::try_parse_from(["op", "--namespaces", "a,b", "--namespaces", "c"])?;
        assert_eq!(cli.namespaces.scope()?, only(&["a", "b", "c"]));
        Ok(())
    }

    #[test]
    fn without_the_flag_or_variable_all_namespaces_are_watched()
    -> Result<(), Box<dyn std::error::Error>> {
        // WATCH_NAMESPACES is never set in the test environment; setting it
        // here would race with other tests (std::env::set_var is unsafe).
        if std::env::var_os("WATCH_NAMESPACES").is_none() {
            let cli = Cli::try_parse_from(["op"])?;
            assert_eq!(cli.namespaces.scope()?, NamespaceScope::All);
        }
        Ok(())
    }
}
