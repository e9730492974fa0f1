//! Value types written as strings in config files and in the RustyMail resource:
//! request rates (`100/minute`), durations (`1h30m`) and byte sizes (`10Mi`).
//!
//! Each type parses with [`FromStr`], prints back in the same form with
//! [`fmt::Display`], and serializes as that string, so a config file that
//! the operator renders reads exactly like the resource the user wrote. Each
//! also deserializes from an unquoted whole number, as people write them in
//! YAML: a size in bytes (`10485760`) or a duration in seconds (`3600`).
//!
//! Depends on no other module of this crate.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Why a rate, duration or size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: expected {expected}")]
pub struct UnitError {
    value: String,
    kind: &'static str,
    expected: &'static str,
}

impl UnitError {
    fn new(value: &str, kind: &'static str, expected: &'static str) -> Self {
        Self {
            value: value.to_owned(),
            kind,
            expected,
        }
    }
}

/// Implements `Serialize`/`Deserialize` through `Display`/`FromStr`.
macro_rules! string_serde {
    ($ty:ty, $what:literal) => {
        string_serde!($ty, $what, |v: u64| v.to_string());
    };
    ($ty:ty, $what:literal, $from_integer:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visit;
                impl de::Visitor<'_> for Visit {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        self.visit_str(&($from_integer)(v))
                    }
                }
                d.deserialize_any(Visit)
            }
        }
    };
}

/// The window a [`Rate`] counts requests over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// One second.
    Second,
    /// Sixty seconds.
    Minute,
    /// Sixty minutes.
    Hour,
    /// Twenty-four hours.
    Day,
}

impl Period {
    /// Every period, in the order of their length.
    pub const ALL: [Period; 4] = [Period::Second, Period::Minute, Period::Hour, Period::Day];

    /// The name used in rate strings (`second`, `minute`, `hour`, `day`).
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }

    /// The length of the period.
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
        })
    }
}

/// A request budget such as `100/minute`: at most `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// How many requests the period allows; never zero.
    pub requests: u32,
    /// The window the requests are counted over.
    pub period: Period,
}

impl Rate {
    /// The regular expression every valid rate matches (used in the CRD schema).
    pub const PATTERN: &'static str = "^[1-9][0-9]{0,8}/(second|minute|hour|day)$";

    /// Creates a rate of `requests` per `period`.
    pub const fn new(requests: u32, period: Period) -> Self {
        Self { requests, period }
    }
}

impl FromStr for Rate {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            UnitError::new(
                s,
                "rate",
                "<count>/<second|minute|hour|day>, e.g. 100/minute",
            )
        };
        let (count, period) = s.split_once('/').ok_or_else(err)?;
        if count.is_empty() || count.len() > 9 || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let requests: u32 = count.parse().map_err(|_| err())?;
        let period = Period::ALL
            .into_iter()
            .find(|p| p.as_str() == period)
            .ok_or_else(err)?;
        if requests == 0 {
            return Err(err());
        }
        Ok(Self { requests, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.period.as_str())
    }
}

string_serde!(Rate, "a rate such as 100/minute");

/// A duration written as Go and Kubernetes write them: `90s`, `30m`, `1h30m`, `2160h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The regular expression every valid duration matches (used in the CRD schema).
    pub const PATTERN: &'static str = "^([0-9]+(ms|s|m|h))+$";

    /// A duration of whole hours.
    pub const fn hours(h: u64) -> Self {
        Self(Duration::from_secs(h * 3600))
    }

    /// A duration of whole seconds.
    pub const fn seconds(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
}

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            UnitError::new(
                s,
                "duration",
                "a number and unit (ms, s, m, h), e.g. 90s or 1h30m",
            )
        };
        if s.is_empty() {
            return Err(err());
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            let value: u64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let (unit, len) = if rest.starts_with("ms") {
                (Duration::from_millis(1), 2)
            } else if rest.starts_with('s') {
                (Duration::from_secs(1), 1)
            } else if rest.starts_with('m') {
                (Duration::from_secs(60), 1)
            } else if rest.starts_with('h') {
                (Duration::from_secs(3600), 1)
            } else {
                return Err(err());
            };
            rest = &rest[len..];
            let part = u32::try_from(value)
                .ok()
                .and_then(|v| unit.checked_mul(v))
                .ok_or_else(err)?;
            total = total.checked_add(part).ok_or_else(err)?;
        }
        Ok(Self(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0s");
        }
        let (h, m, s, ms) = (
            millis / 3_600_000,
            millis / 60_000 % 60,
            millis / 1000 % 60,
            millis % 1000,
        );
        for (value, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

// A bare number is seconds, as in the guide's `JWT_EXPIRY=3600`.
string_serde!(
    HumanDuration,
    "a duration such as 1h30m or a number of seconds",
    |v: u64| format!("{v}s")
);

/// A size in bytes, written as Kubernetes quantities are: `1048576`, `8Ki`, `10Mi`, `1G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Suffixes a [`ByteSize`] accepts, with their multipliers, binary first.
const SIZE_SUFFIXES: [(&str, u64); 6] = [
    ("Gi", 1 << 30),
    ("Mi", 1 << 20),
    ("Ki", 1 << 10),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

impl ByteSize {
    /// The regular expression every valid size matches (used in the CRD schema).
    pub const PATTERN: &'static str = "^[0-9]+(Ki|Mi|Gi|k|M|G)?$";

    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        Self(n << 10)
    }

    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Self(n << 20)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            UnitError::new(
                s,
                "size",
                "a number of bytes with an optional suffix Ki, Mi, Gi, k, M or G, e.g. 10Mi",
            )
        };
        let (digits, multiplier) = SIZE_SUFFIXES
            .iter()
            .find_map(|(suffix, m)| s.strip_suffix(suffix).map(|d| (d, *m)))
            .unwrap_or((s, 1));
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: u64 = digits.parse().map_err(|_| err())?;
        n.checked_mul(multiplier).map(Self).ok_or_else(err)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (suffix, multiplier) in &SIZE_SUFFIXES[..3] {
            if self.0 != 0 && self.0.is_multiple_of(*multiplier) {
                return write!(f, "{}{suffix}", self.0 / multiplier);
            }
        }
        write!(f, "{}", self.0)
    }
}

string_serde!(ByteSize, "a size such as 10Mi");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rates_parse_and_reject_what_they_should() {
        assert_eq!("100/minute".parse(), Ok(Rate::new(100, Period::Minute)));
        assert_eq!("1/day".parse(), Ok(Rate::new(1, Period::Day)));
        for bad in [
            "0/minute",
            "100",
            "100/min",
            "/minute",
            "-1/hour",
            "1.5/hour",
            "100/ minute",
            "9999999999/hour",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!("1h".parse(), Ok(HumanDuration::hours(1)));
        assert_eq!("1h30m".parse(), Ok(HumanDuration::seconds(5400)));
        assert_eq!(
            "250ms".parse(),
            Ok(HumanDuration(Duration::from_millis(250)))
        );
        for bad in ["", "1", "h", "1d", "1.5h", "1h 30m", "-1h"] {
            assert!(
                bad.parse::<HumanDuration>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn sizes_accept_kubernetes_suffixes() {
        assert_eq!("10Mi".parse(), Ok(ByteSize::mib(10)));
        assert_eq!("8Ki".parse(), Ok(ByteSize::kib(8)));
        assert_eq!("1G".parse(), Ok(ByteSize(1_000_000_000)));
        assert_eq!("512".parse(), Ok(ByteSize(512)));
        for bad in [
            "",
            "Mi",
            "10MB",
            "10 Mi",
            "-1",
            "1.5Mi",
            "99999999999999999999Gi",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn rate_round_trips(requests in 1u32..999_999_999, p in 0usize..4) {
            let rate = Rate::new(requests, Period::ALL[p]);
            prop_assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
        }

        #[test]
        fn duration_round_trips(ms in 0u64..10_000_000_000) {
            let d = HumanDuration(Duration::from_millis(ms));
            prop_assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d));
        }

        #[test]
        fn size_round_trips(n in 0u64..1 << 40) {
            prop_assert_eq!(ByteSize(n).to_string().parse::<ByteSize>(), Ok(ByteSize(n)));
        }
    }
}
