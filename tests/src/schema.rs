//! Strict validation of rendered objects against the Kubernetes schemas
//! with `kubernetes-validate` (installed by `scripts/setup`). It knows the
//! built-in kinds only, not CRD-backed ones.
//!
//! May depend on, in this crate: `workspace`.

use std::{path::PathBuf, process::Command};

use crate::workspace;

/// The Kubernetes version whose schemas the objects are checked against.
const KUBERNETES_VERSION: &str = "1.33.0";

/// What `kubernetes-validate --strict` said of some files.
#[derive(Debug)]
pub struct Validation {
    /// Whether it exited with success.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Validation {
    /// Its standard output, then its standard error.
    pub fn report(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `kubernetes-validate --strict` on the YAML files `files`.
pub fn validate(files: &[PathBuf]) -> Validation {
    let output = Command::new(workspace::python_tool("kubernetes-validate"))
        .args([
            "--strict",
            "--quiet",
            "--kubernetes-version",
            KUBERNETES_VERSION,
        ])
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("kubernetes-validate must be installed (scripts/setup installs it): {e}")
        });
    Validation {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Asserts that `kubernetes-validate --strict` accepts every file of
/// `files` without an error, failing with its report otherwise.
pub fn assert_valid(files: &[PathBuf]) {
    let validation = validate(files);
    let report = validation.report();
    assert!(
        validation.success && !report.contains("ERROR"),
        "kubernetes-validate rejected rendered objects:\n{report}"
    );
}
