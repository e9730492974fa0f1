//! Fields people write as unquoted YAML numbers as often as strings: sizes
//! (`maxBodySize: 10485760`), durations (`expiry: 3600`) and the TLS version
//! (`minVersion: 1.3`). Each has a schema the API server accepts both forms
//! under, and a deserializer that turns a number into the string form the
//! rest of the operator reads; the data plane's config is then rendered from
//! that string in its canonical form (`10Mi`, `1h`, `"1.3"`).

use std::fmt;

use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserializer, de};

/// Schema of a field written as a string or a whole number: the API server
/// stores either as written (`x-kubernetes-int-or-string`). Never null (kube
/// would make an optional int-or-string field nullable): a null is
/// replaced by the field's default.
pub fn int_or_string_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true,
        "nullable": false,
        "maxLength": 32,
    })
}

/// Schema of `tls.minVersion`: `"1.2"` or `"1.3"`, quoted or not. A
/// structural schema has no type for "string or number" but the untyped
/// `x-kubernetes-preserve-unknown-fields`, which an `enum` then narrows.
pub fn tls_version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
        "enum": ["1.2", "1.3", 1.2, 1.3],
    })
}

/// What a visitor turns a whole number or a float into, or refuses.
struct Lenient {
    expecting: &'static str,
    integer: fn(u64) -> String,
    float: fn(f64) -> Option<String>,
}

impl de::Visitor<'_> for Lenient {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok((self.integer)(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        u64::try_from(v)
            .map(self.integer)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        (self.float)(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
}

/// A size: a string such as `10Mi`, or a whole number of bytes.
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(Lenient {
        expecting: "a size such as 10Mi, or a number of bytes",
        integer: |n| n.to_string(),
        float: |_| None,
    })
}

/// A duration: a string such as `1h30m`, or a whole number of seconds
/// (also quoted, as in the guide's `JWT_EXPIRY=3600`), read as `<n>s`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = d.deserialize_any(Lenient {
        expecting: "a duration such as 1h30m, or a number of seconds",
        integer: |n| n.to_string(),
        float: |_| None,
    })?;
    Ok(
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            format!("{text}s")
        } else {
            text
        },
    )
}

/// A TLS version: `"1.2"`, `"1.3"`, or the same unquoted.
pub fn tls_version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(Lenient {
        expecting: "\"1.2\" or \"1.3\"",
        integer: |n| n.to_string(),
        float: |v| {
            [(1.2, "1.2"), (1.3, "1.3")]
                .into_iter()
                .find(|(f, _)| *f == v)
                .map(|(_, s)| s.to_owned())
        },
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Fields {
        #[serde(deserialize_with = "super::size")]
        size: String,
        #[serde(deserialize_with = "super::duration")]
        duration: String,
        #[serde(deserialize_with = "super::tls_version")]
        version: String,
    }

    fn read(value: serde_json::Value) -> Result<(String, String, String), String> {
        serde_json::from_value::<Fields>(value)
            .map(|f| (f.size, f.duration, f.version))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_read_as_the_strings_they_stand_for() {
        assert_eq!(
            read(json!({"size": 10_485_760, "duration": 3600, "version": 1.3})),
            Ok(("10485760".into(), "3600s".into(), "1.3".into()))
        );
        assert_eq!(
            read(json!({"size": "10Mi", "duration": "3600", "version": "1.2"})),
            Ok(("10Mi".into(), "3600s".into(), "1.2".into()))
        );
        assert_eq!(
            read(json!({"size": "8Ki", "duration": "1h", "version": 1.2})),
            Ok(("8Ki".into(), "1h".into(), "1.2".into()))
        );
    }

    #[test]
    fn negative_and_fractional_numbers_are_refused() {
        for bad in [
            json!({"size": -1, "duration": "1h", "version": "1.2"}),
            json!({"size": 1.5, "duration": "1h", "version": "1.2"}),
            json!({"size": 1, "duration": 1.5, "version": "1.2"}),
            json!({"size": 1, "duration": "1h", "version": 1.1}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad} should be refused");
        }
    }
}
