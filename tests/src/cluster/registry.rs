//! The kinds the double serves: built-in ones from a table, custom ones from
//! the CustomResourceDefinitions stored in it.

use std::sync::Arc;

use serde_json::Value;

use super::builtin;
use super::status::Cause;

/// How an object name of a kind is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (namespaces).
    Label,
    /// DNS-1035 label (services).
    Label1035,
    /// Any path segment name (RBAC kinds).
    PathSegment,
}

/// Turns a built-in object into its typed form and back: unknown fields are
/// dropped (and reported), wrong types are rejected.
pub type Roundtrip = fn(&Value) -> Result<Value, String>;

/// A resource stored as another version's form (events.k8s.io/v1 Events are
/// core/v1 Events): the shared storage key and the two conversions.
#[derive(Clone, Copy, Debug)]
pub struct Conversion {
    /// The storage key of the resource whose objects are shared.
    pub storage_key: &'static str,
    /// From this resource's form to the stored form.
    pub to_storage: fn(&Value) -> Value,
    /// From the stored form to this resource's form.
    pub from_storage: fn(&Value) -> Value,
}

/// A printer column of `kubectl get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// Column type (`string`, `integer`, `date`, ...).
    pub type_: String,
    /// Simple JSONPath of the cell, e.g. `.status.replicas`.
    pub json_path: String,
}

/// One resource of one group version.
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// API group, empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Singular resource name, e.g. `deployment`.
    pub singular: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists (status is then ignored on the main resource).
    pub status_subresource: bool,
    /// Whether the server keeps `metadata.generation` for this kind.
    pub generation: bool,
    /// Whether a PUT without resourceVersion is allowed.
    pub unconditional_update: bool,
    /// Name validation.
    pub name_rule: NameRule,
    /// Typed roundtrip of a built-in kind.
    pub roundtrip: Option<Roundtrip>,
    /// The `openAPIV3Schema` of a custom resource version.
    pub schema: Option<Arc<Value>>,
    /// Extra columns for `kubectl get`.
    pub printer_columns: Vec<PrinterColumn>,
    /// The CRD's storage version (custom resources only).
    pub storage_version: Option<String>,
    /// Shared storage with another resource, if any.
    pub conversion: Option<Conversion>,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key under which objects of every version of this resource are stored.
    pub fn storage_key(&self) -> String {
        match &self.conversion {
            Some(c) => c.storage_key.to_string(),
            None => format!("{}/{}", self.group, self.plural),
        }
    }

    /// An object of this resource in its stored form.
    pub fn to_storage(&self, obj: Value) -> Value {
        match &self.conversion {
            Some(c) => (c.to_storage)(&obj),
            None => obj,
        }
    }

    /// Whether this is a CRD-backed resource.
    pub fn is_custom(&self) -> bool {
        self.schema.is_some() || self.storage_version.is_some()
    }
}

/// All served resources.
#[derive(Clone, Debug)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
}

impl Registry {
    /// The built-in kinds only.
    pub fn builtin() -> Self {
        Self {
            types: builtin::types().into_iter().map(Arc::new).collect(),
        }
    }

    /// The resource for a URL's group, version and plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The resource for an object's `apiVersion` and `kind`.
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.kind == kind && t.api_version() == api_version)
            .cloned()
    }

    /// Every served resource, in registration order.
    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// Groups with their versions, in registration order (core group first).
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Serves the resources a CRD defines, replacing what it defined before.
    pub fn register_crd(&mut self, crd: &Value) -> Result<(), Vec<Cause>> {
        let types = crd_types(crd)?;
        let (group, plural) = (types[0].group.clone(), types[0].plural.clone());
        self.unregister(&group, &plural);
        self.types.extend(types.into_iter().map(Arc::new));
        Ok(())
    }

    /// Stops serving a custom resource.
    pub fn unregister(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| !(t.is_custom() && t.group == group && t.plural == plural));
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates a CRD and returns the resource types of its served versions.
pub fn crd_types(crd: &Value) -> Result<Vec<ResourceType>, Vec<Cause>> {
    let spec = &crd["spec"];
    let group = str_at(spec, &["group"]);
    let plural = str_at(spec, &["names", "plural"]);
    let kind = str_at(spec, &["names", "kind"]);
    let name = str_at(crd, &["metadata", "name"]);
    let mut causes = Vec::new();
    if group.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.group",
            "Required value",
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    if name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match str_at(spec, &["scope"]) {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            causes.push(Cause::new(
                "FieldValueNotSupported",
                "spec.scope",
                format!(
                    "Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
                ),
            ));
            true
        }
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
    if storage.len() != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    let storage_version = storage
        .first()
        .map(|v| str_at(v, &["name"]).to_string())
        .unwrap_or_default();
    let singular = match str_at(spec, &["names", "singular"]) {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    Ok(versions
        .iter()
        .filter(|v| v["served"] == true)
        .map(|v| ResourceType {
            group: group.to_string(),
            version: str_at(v, &["name"]).to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            kind: kind.to_string(),
            namespaced,
            short_names: strings(&spec["names"]["shortNames"]),
            categories: strings(&spec["names"]["categories"]),
            status_subresource: v["subresources"]["status"].is_object(),
            generation: true,
            unconditional_update: false,
            name_rule: NameRule::Subdomain,
            roundtrip: None,
            schema: Some(Arc::new(v["schema"]["openAPIV3Schema"].clone())),
            printer_columns: v["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: str_at(c, &["name"]).to_string(),
                            type_: str_at(c, &["type"]).to_string(),
                            json_path: str_at(c, &["jsonPath"]).to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            storage_version: Some(storage_version.clone()),
            conversion: None,
        })
        .collect())
}
