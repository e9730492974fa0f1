//! The TLS policy the data plane accepts: protocol versions and cipher suites,
//! named as the IANA registry names them.
//!
//! Depends on no other module of this crate.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The lowest TLS protocol version the API listener accepts.
/// Written `"1.2"` or `"1.3"`; the unquoted YAML numbers `1.2` and `1.3`
/// mean the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the default: every current client).
    #[default]
    Tls12,
    /// TLS 1.3 only: refuses older clients, removes every TLS 1.2 suite.
    Tls13,
}

impl Serialize for TlsVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = TlsVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"1.2\" or \"1.3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TlsVersion, E> {
                match v {
                    "1.2" => Ok(TlsVersion::Tls12),
                    "1.3" => Ok(TlsVersion::Tls13),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<TlsVersion, E> {
                match v {
                    1.2 => Ok(TlsVersion::Tls12),
                    1.3 => Ok(TlsVersion::Tls13),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Float(v), &self)),
                }
            }
        }
        d.deserialize_any(Visit)
    }
}

impl TlsVersion {
    /// Parses the guide's `TLS_MIN_VERSION` spelling (`TLS1.2`, `TLS1.3`) or the
    /// config spelling (`1.2`, `1.3`).
    pub fn parse_env(value: &str) -> Option<Self> {
        match value
            .trim()
            .trim_start_matches("TLS")
            .trim_start_matches('v')
        {
            "1.2" => Some(Self::Tls12),
            "1.3" => Some(Self::Tls13),
            _ => None,
        }
    }

    /// The config spelling, `1.2` or `1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls12 => "1.2",
            Self::Tls13 => "1.3",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cipher suite the data plane can offer: forward-secret AEAD suites only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// The IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub name: &'static str,
    /// The protocol version the suite belongs to.
    pub version: TlsVersion,
}

/// Every suite the data plane supports, strongest first within each version.
/// An empty `tls.cipherSuites` means all of them.
pub const SUPPORTED_CIPHER_SUITES: &[CipherSuite] = &[
    CipherSuite {
        name: "TLS_AES_256_GCM_SHA384",
        version: TlsVersion::Tls13,
    },
    CipherSuite {
        name: "TLS_AES_128_GCM_SHA256",
        version: TlsVersion::Tls13,
    },
    CipherSuite {
        name: "TLS_CHACHA20_POLY1305_SHA256",
        version: TlsVersion::Tls13,
    },
    CipherSuite {
        name: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        version: TlsVersion::Tls12,
    },
    CipherSuite {
        name: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        version: TlsVersion::Tls12,
    },
    CipherSuite {
        name: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        version: TlsVersion::Tls12,
    },
    CipherSuite {
        name: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        version: TlsVersion::Tls12,
    },
    CipherSuite {
        name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        version: TlsVersion::Tls12,
    },
    CipherSuite {
        name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        version: TlsVersion::Tls12,
    },
];

impl FromStr for CipherSuite {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        SUPPORTED_CIPHER_SUITES
            .iter()
            .find(|s| s.name == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<_> = SUPPORTED_CIPHER_SUITES.iter().map(|s| s.name).collect();
                format!(
                    "unknown or unsupported cipher suite {name:?}; supported: {}",
                    names.join(", ")
                )
            })
    }
}

impl Serialize for CipherSuite {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

impl<'de> Deserialize<'de> for CipherSuite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_spellings_of_versions_are_understood() {
        assert_eq!(TlsVersion::parse_env("TLS1.2"), Some(TlsVersion::Tls12));
        assert_eq!(TlsVersion::parse_env("TLS1.3"), Some(TlsVersion::Tls13));
        assert_eq!(TlsVersion::parse_env("1.3"), Some(TlsVersion::Tls13));
        assert_eq!(TlsVersion::parse_env("TLS1.1"), None);
    }

    #[test]
    fn only_listed_cipher_suites_are_accepted() {
        assert!("TLS_AES_128_GCM_SHA256".parse::<CipherSuite>().is_ok());
        let err = "TLS_RSA_WITH_AES_128_CBC_SHA"
            .parse::<CipherSuite>()
            .unwrap_err();
        assert!(err.contains("TLS_RSA_WITH_AES_128_CBC_SHA") && err.contains("supported:"));
    }
}
