//! Whether a child already is as the operator wants it.
//!
//! The API server adds defaults and bookkeeping to every object, so the
//! observed object is compared as a superset of the desired one: every field
//! the operator sets must have the value it sets. A field someone else
//! changed is a difference (and gets reverted); a field someone else added is
//! not. Applying only on a difference keeps a settled cluster free of writes.

use serde_json::Value;

/// True when every field of `desired` has the same value in `observed`.
pub fn satisfied_by(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d.iter().all(|(k, v)| match o.get(k) {
            Some(ov) => satisfied_by(v, ov),
            None => is_empty(v),
        }),
        (Value::Array(d), Value::Array(o)) => {
            d.len() == o.len() && d.iter().zip(o).all(|(d, o)| satisfied_by(d, o))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (Value::Number(d), Value::Number(o)) => d.as_f64() == o.as_f64(),
        (d, o) => d == o,
    }
}

/// Values the API server drops when they are empty.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_defaults_and_foreign_additions_are_not_differences() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let observed = json!({
            "metadata": {"resourceVersion": "7", "annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600,
                     "template": {"spec": {"containers": [{"name": "a", "image": "x", "terminationMessagePath": "/dev/termination-log"}]}}},
            "status": {"replicas": 2}
        });
        assert!(satisfied_by(&desired, &observed));
    }

    #[test]
    fn a_changed_field_an_extra_list_item_or_a_missing_field_is_a_difference() {
        let desired =
            json!({"spec": {"replicas": 2, "ports": [{"port": 1}], "selector": {"a": "b"}}});
        assert!(!satisfied_by(
            &desired,
            &json!({"spec": {"replicas": 3, "ports": [{"port": 1}], "selector": {"a": "b"}}})
        ));
        assert!(!satisfied_by(
            &desired,
            &json!({"spec": {"replicas": 2, "ports": [{"port": 1}, {"port": 2}], "selector": {"a": "b"}}})
        ));
        assert!(!satisfied_by(
            &desired,
            &json!({"spec": {"replicas": 2, "ports": [{"port": 1}]}})
        ));
    }

    #[test]
    fn empty_values_the_server_drops_are_satisfied() {
        assert!(satisfied_by(
            &json!({"a": {}, "b": [], "c": null}),
            &json!({})
        ));
        assert!(satisfied_by(&json!({"n": 1}), &json!({"n": 1.0})));
    }
}
