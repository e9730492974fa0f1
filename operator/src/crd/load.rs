//! Reading a RustyMail from YAML as the API server would admit it: schema,
//! then CEL rules, then the typed spec. Used by `render` and by tests.

use kube::{CustomResourceExt, core::cel::Validator};
use serde_json::Value;

use super::{RustyMail, structural};

/// Why a document is not an admissible RustyMail.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not YAML.
    #[error("not valid YAML: {0}")]
    Syntax(String),
    /// Not a RustyMail at all.
    #[error(
        "expected apiVersion rustymail.io/v1alpha1 and kind RustyMail, found {api_version} {kind}"
    )]
    WrongKind {
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// Breaks the schema or a CEL rule; one line a problem, each naming its field.
    #[error("invalid RustyMail:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// The CRD's `openAPIV3Schema` as JSON.
pub fn schema() -> Value {
    let crd = RustyMail::crd();
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null)
}

/// Validates a parsed document against the CRD: schema, then CEL rules.
pub fn validate(value: &Value) -> Result<(), LoadError> {
    let schema = schema();
    let mut errors = Vec::new();
    if let Some(object) = value.as_object() {
        for (key, child) in object {
            match key.as_str() {
                "apiVersion" | "kind" | "metadata" | "status" => {}
                "spec" => {
                    structural::check(child, &schema["properties"]["spec"], "spec", &mut errors)
                }
                other => errors.push(format!("{other}: unknown field")),
            }
        }
        if !object.contains_key("spec") {
            errors.push("spec: required field is missing".to_owned());
        }
    }
    if errors.is_empty()
        && let Err(cel) = Validator::new().validate(&schema, value, None)
    {
        errors.extend(cel.into_vec().into_iter().map(|e| e.to_string()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LoadError::Invalid(errors))
    }
}

/// Parses and validates one RustyMail document; a missing namespace becomes `default_namespace`.
pub fn from_yaml(text: &str, default_namespace: &str) -> Result<RustyMail, LoadError> {
    let value: Value =
        serde_saphyr::from_str(text).map_err(|e| LoadError::Syntax(e.to_string()))?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if field("apiVersion") != "rustymail.io/v1alpha1" || field("kind") != "RustyMail" {
        return Err(LoadError::WrongKind {
            api_version: field("apiVersion"),
            kind: field("kind"),
        });
    }
    validate(&value)?;
    let mut rm: RustyMail = serde_path_to_error::deserialize(value)
        .map_err(|e| LoadError::Invalid(vec![format!("{}: {}", e.path(), e.inner())]))?;
    if rm.metadata.namespace.is_none() {
        rm.metadata.namespace = Some(default_namespace.to_owned());
    }
    Ok(rm)
}
