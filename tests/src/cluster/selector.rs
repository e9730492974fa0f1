//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`exists) and
//! field selectors (`metadata.name`, `metadata.namespace`, and the few
//! kind-specific fields the real server supports).

use serde_json::Value;

use super::status::{ApiError, ApiResult};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<(String, Op)>);

fn split_top(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn values(set: &str) -> ApiResult<Vec<String>> {
    let inner = set
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{set}', expected: '('"
            ))
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

fn bad(req: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: invalid label selector: \"{req}\""
    ))
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for req in split_top(s) {
            let parsed = if let Some(key) = req.strip_prefix('!') {
                (key.trim().to_string(), Op::NotExists)
            } else if let Some((k, v)) = req.split_once("!=") {
                (k.trim().to_string(), Op::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once("==") {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once('=') {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once(" notin ") {
                (k.trim().to_string(), Op::NotIn(values(v)?))
            } else if let Some((k, v)) = req.split_once(" in ") {
                (k.trim().to_string(), Op::In(values(v)?))
            } else {
                (req.to_string(), Op::Exists)
            };
            if parsed.0.is_empty() || parsed.0.contains(char::is_whitespace) {
                return Err(bad(req));
            }
            reqs.push(parsed);
        }
        Ok(Self(reqs))
    }

    /// Whether an object's labels match.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.0.iter().all(|(key, op)| {
            let value = labels.get(key).and_then(Value::as_str);
            match op {
                Op::Eq(v) => value == Some(v.as_str()),
                Op::NotEq(v) => value != Some(v.as_str()),
                Op::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                Op::NotIn(vs) => value.is_none_or(|x| vs.iter().all(|v| v != x)),
                Op::Exists => value.is_some(),
                Op::NotExists => value.is_none(),
            }
        })
    }
}

/// A parsed field selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

fn supported(kind: &str, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace")
        || (kind == "Secret" && field == "type")
        || (kind == "Event"
            && (field.starts_with("involvedObject.")
                || field.starts_with("regarding.")
                || matches!(field, "reason" | "type" | "source" | "reportingController")))
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter for a kind.
    pub fn parse(s: &str, kind: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for req in split_top(s) {
            let (field, negate, value) = if let Some((k, v)) = req.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = req.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = req.split_once('=') {
                (k, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{req}'"
                )));
            };
            let field = field.trim();
            if !supported(kind, field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((field.to_string(), negate, value.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    /// Whether an object matches.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, negate, value)| {
            let mut cur = obj;
            for part in field.split('.') {
                cur = &cur[part];
            }
            let actual = cur.as_str().unwrap_or_default();
            (actual == value) != *negate
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_based_and_equality_requirements_combine() {
        let obj = json!({"metadata": {"labels": {"app": "mail", "tier": "api"}}});
        let yes = [
            "app=mail",
            "app==mail,tier",
            "tier in (api, web),!missing",
            "app notin (x),app!=y",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&obj), "{s}");
        }
        for s in [
            "app=x",
            "missing",
            "!app",
            "tier notin (api)",
            "tier in (web)",
        ] {
            assert!(!LabelSelector::parse(s).unwrap().matches(&obj), "{s}");
        }
    }

    #[test]
    fn unsupported_field_labels_are_rejected() {
        assert!(FieldSelector::parse("spec.replicas=1", "Deployment").is_err());
        let sel = FieldSelector::parse("metadata.name=a", "Deployment").unwrap();
        assert!(sel.matches(&json!({"metadata": {"name": "a"}})));
    }
}
