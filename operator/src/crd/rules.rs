//! CEL rules shared by several fields of the spec, built from the data
//! plane's own parsers' grammar so the API server and the data plane agree.

use kube::core::{Message, Rule};
use rustymail_config::{
    tls::SUPPORTED_CIPHER_SUITES,
    units::{ByteSize, HumanDuration, Rate},
};

/// A string field that must match `pattern`, with a message naming the form.
fn matches(pattern: &str, message: &str) -> Rule {
    Rule::new(format!("self.matches('{pattern}')")).message(Message::Message(message.to_owned()))
}

/// `100/minute`-style rates.
pub fn rate() -> Rule {
    matches(
        Rate::PATTERN,
        "must be a rate such as 100/minute (<count>/<second|minute|hour|day>)",
    )
}

/// Go-style durations such as `1h30m`, or a whole number of seconds
/// (written as a number or a string of digits).
pub fn duration() -> Rule {
    Rule::new(format!(
        "string(self).matches('^[0-9]+$|{}')",
        HumanDuration::PATTERN
    ))
    .message("must be a duration such as 90s, 30m or 2160h, or a number of seconds")
}

/// CEL for the duration in `self.<field>`, a bare number being seconds:
/// what [`duration`] admits, as a CEL duration for comparisons.
pub fn as_duration(field: &str) -> String {
    let text = format!("string(self.{field})");
    format!("duration({text}.matches('^[0-9]+$') ? {text} + 's' : {text})")
}

/// Kubernetes-quantity-style sizes such as `10Mi`, or a whole number of
/// bytes (written as a number or a string of digits).
pub fn size() -> Rule {
    Rule::new(format!("string(self).matches('{}')", ByteSize::PATTERN))
        .message("must be a size such as 10Mi or 8Ki, or a number of bytes")
}

/// Each element of a list of CIDRs is a CIDR.
pub fn cidrs() -> Rule {
    Rule::new("self.all(c, isCIDR(c))")
        .message("every entry must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32")
}

/// Every cipher suite named is one the data plane supports.
pub fn cipher_suites() -> Rule {
    let names: Vec<String> = SUPPORTED_CIPHER_SUITES
        .iter()
        .map(|s| format!("'{}'", s.name))
        .collect();
    Rule::new(format!("self.all(c, c in [{}])", names.join(", "))).message(Message::Message(
        format!(
            "unsupported cipher suite; supported (IANA names): {}",
            SUPPORTED_CIPHER_SUITES
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Names in a list are unique.
pub fn unique_names() -> Rule {
    Rule::new("self.all(a, self.exists_one(b, b.name == a.name))").message("names must be unique")
}

/// A DNS label: what Kubernetes accepts as part of an object name.
pub fn dns_label() -> Rule {
    matches(
        "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        "must be a DNS label: lowercase letters, digits and '-', at most 63 characters",
    )
}

/// The RustyMail's own name: a DNS-1035 label, since it names the Service
/// (and every child is named after it). Kubernetes itself only asks a
/// custom resource's name to be a DNS subdomain.
pub fn instance_name() -> Rule {
    Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$')").message(
        "metadata.name must be a DNS-1035 label: at most 63 lowercase letters, digits and '-', \
         starting with a letter and ending with a letter or digit (it names the Service)",
    )
}

/// A key of a Secret's `data`.
pub fn secret_key() -> Rule {
    matches(
        "^[-._a-zA-Z0-9]+$",
        "must be a Secret key: letters, digits, '-', '_' and '.'",
    )
}

/// Pod labels never override the operator's own labels.
pub fn user_pod_labels() -> Rule {
    Rule::new("self.all(k, !k.startsWith('rustymail.io/') && !k.startsWith('app.kubernetes.io/'))")
        .message("labels under rustymail.io/ and app.kubernetes.io/ are reserved for the operator")
}

/// The keys of a label or annotation map: an optional DNS-subdomain prefix
/// and `/`, then a name of at most 63 letters, digits, '-', '_' and '.'.
pub fn qualified_keys(what: &str) -> Rule {
    Rule::new(
        "self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",
    )
    .message(Message::Message(format!(
        "every {what} key must be a name of at most 63 letters, digits, '-', '_' and '.', \
         starting and ending with a letter or digit, optionally after a DNS prefix and '/'"
    )))
}

/// The values of a label map: at most 63 letters, digits, '-', '_' and '.',
/// starting and ending with a letter or digit, or empty.
pub fn label_values() -> Rule {
    Rule::new("self.all(k, self[k].matches('^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'))")
        .message(
            "every label value must be at most 63 letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit",
        )
}

/// A DNS subdomain: what Kubernetes accepts as an object or host name.
pub fn dns_subdomain() -> Rule {
    matches(
        "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        "must be a DNS name: lowercase letters, digits, '-' and '.'",
    )
}
