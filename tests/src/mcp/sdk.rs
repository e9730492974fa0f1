//! The official MCP SDKs as clients: the Python SDK (`mcp` from PyPI) in a
//! virtualenv of its own, and the TypeScript SDK (`@modelcontextprotocol/sdk`
//! from npm) in an npm prefix of its own, both under `~/.cache/rustymail`
//! (`$RUSTYMAIL_CACHE`), installed there on first use (`scripts/setup`
//! installs them too, in the same folders).
//! Each runs a [`Plan`] through `tests/mcp/client.py` or
//! `tests/mcp/client.mjs` and prints one JSON document the tests read.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::{Value, json};

use super::super::mail::Result;
use crate::workspace;

/// The Python SDK's version; its virtualenv is `venvs/mcp-<version>`.
pub const PYTHON_SDK: &str = "2.3.0";
/// The TypeScript SDK's version; its npm prefix is `node/mcp-sdk-<version>`.
pub const TYPESCRIPT_SDK: &str = "1.32.2";

/// Which client runs a plan, and how it negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    /// The Python SDK in its default `auto` mode: `server/discover` and the
    /// stateless 2026-07-28 revision.
    Python,
    /// The Python SDK in `legacy` mode: the `initialize` handshake, 2025-11-25.
    PythonLegacy,
    /// The TypeScript SDK, which offers 2025-11-25 in `initialize`.
    TypeScript,
    /// The TypeScript SDK with its `initialize` offer replaced by this revision.
    TypeScriptOffering(&'static str),
}

/// One request of a plan.
#[derive(Debug, Clone)]
pub struct Step(Value);

impl Step {
    /// `tools/list`.
    pub fn list_tools() -> Self {
        Self(json!({"op": "list_tools"}))
    }

    /// `resources/list`.
    pub fn list_resources() -> Self {
        Self(json!({"op": "list_resources"}))
    }

    /// `resources/read` of `uri`.
    pub fn read_resource(uri: &str) -> Self {
        Self(json!({"op": "read_resource", "uri": uri}))
    }

    /// `tools/call` of `name` with `arguments`.
    pub fn call(name: &str, arguments: Value) -> Self {
        Self(json!({"op": "call", "name": name, "arguments": arguments}))
    }
}

/// What a client is to do: where to connect, with which headers, and the
/// requests to send, one after another.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The MCP endpoint, `https://…/mcp`.
    pub url: String,
    /// The CA the server's certificate chains to (PEM file).
    pub ca_file: PathBuf,
    /// Headers on every request, e.g. `X-API-Key`.
    pub headers: Vec<(String, String)>,
    /// Open a new connection for every request (no keep-alive), so that a
    /// TCP balancer spreads one client's requests over its backends.
    /// Python SDK only.
    pub fresh_connections: bool,
    /// The requests.
    pub steps: Vec<Step>,
}

/// What a client printed: the negotiated revision and one result per step.
#[derive(Debug, Clone)]
pub struct Outcome(pub Value);

impl Outcome {
    /// The protocol revision the client ended up speaking.
    pub fn protocol_version(&self) -> Option<&str> {
        self.0["protocol_version"].as_str()
    }

    /// Why the client could not connect, if it could not.
    pub fn connect_error(&self) -> Option<String> {
        let e = &self.0["connect_error"];
        (!e.is_null()).then(|| e.to_string())
    }

    /// The result of step `i`: `Ok(result)` or `Err(the client's error)`.
    pub fn step(&self, i: usize) -> std::result::Result<&Value, String> {
        let r = &self.0["results"][i];
        match (&r["ok"], &r["error"]) {
            (ok, Value::Null) if !ok.is_null() => Ok(ok),
            (_, e) if !e.is_null() => Err(e.to_string()),
            _ => Err(format!("no result for step {i} in {}", self.0)),
        }
    }

    /// Every step's result, in order.
    pub fn results(&self) -> Vec<std::result::Result<&Value, String>> {
        let n = self.0["results"].as_array().map_or(0, Vec::len);
        (0..n).map(|i| self.step(i)).collect()
    }
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let out = command.output()?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// The marker `scripts/setup` leaves in a finished install.
const INSTALLED: &str = ".installed";

/// Installs into a fresh folder beside `dir` and renames it into place, so
/// that concurrent test processes never see a half-installed SDK; a folder
/// without the [`INSTALLED`] marker is installed again.
fn install_once(dir: &Path, install: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if dir.join(INSTALLED).exists() {
        return Ok(());
    }
    let parent = dir.parent().ok_or("an SDK folder has a parent")?;
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)?;
    install(staging.path())?;
    std::fs::write(staging.path().join(INSTALLED), "")?;
    let staged = staging.keep();
    if dir.exists() && !dir.join(INSTALLED).exists() {
        std::fs::remove_dir_all(dir)?;
    }
    if std::fs::rename(&staged, dir).is_err() {
        // Another process finished first; keep its copy.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok(())
}

/// The Python SDK's virtualenv, installed on first use.
pub fn python_sdk() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = workspace::cache().join(format!("venvs/mcp-{PYTHON_SDK}"));
        install_once(&dir, |staging| {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(staging),
                "python3 -m venv",
            )?;
            run(
                Command::new(staging.join("bin/pip")).args([
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    &format!("mcp=={PYTHON_SDK}"),
                ]),
                "pip install mcp",
            )
        })
        .map_err(|e| e.to_string())?;
        Ok(dir)
    })
    .clone()
    .map_err(Into::into)
}

/// The TypeScript SDK's npm prefix, installed on first use.
pub fn typescript_sdk() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = workspace::cache().join(format!("node/mcp-sdk-{TYPESCRIPT_SDK}"));
        install_once(&dir, |staging| {
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--prefix"])
                    .arg(staging)
                    .arg(format!("@modelcontextprotocol/sdk@{TYPESCRIPT_SDK}")),
                "npm install @modelcontextprotocol/sdk",
            )
        })
        .map_err(|e| e.to_string())?;
        Ok(dir)
    })
    .clone()
    .map_err(Into::into)
}

/// Runs `plan` with `sdk` and returns what it printed.
pub async fn run_plan(sdk: Sdk, plan: &Plan) -> Result<Outcome> {
    let script_dir = workspace::root().join("tests/mcp");
    let mut document = json!({
        "url": plan.url,
        "ca": plan.ca_file,
        "headers": plan.headers.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<String, Value>>(),
        "fresh_connections": plan.fresh_connections,
        "steps": plan.steps.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
    });
    let mut command = match sdk {
        Sdk::Python | Sdk::PythonLegacy => {
            document["mode"] = json!(if sdk == Sdk::Python { "auto" } else { "legacy" });
            let mut c = tokio::process::Command::new(python_sdk()?.join("bin/python"));
            c.arg(script_dir.join("client.py"));
            c
        }
        Sdk::TypeScript | Sdk::TypeScriptOffering(_) => {
            if let Sdk::TypeScriptOffering(version) = sdk {
                document["protocolVersion"] = json!(version);
            }
            let mut c = tokio::process::Command::new("node");
            c.arg(script_dir.join("client.mjs"))
                .env("MCP_SDK_DIR", typescript_sdk()?)
                .env("NODE_EXTRA_CA_CERTS", &plan.ca_file);
            c
        }
    };
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(&document)?)?;
    let out = command.arg(file.path()).kill_on_drop(true).output().await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(line).map_err(|e| {
        format!(
            "{sdk:?} printed no JSON ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(Outcome(value))
}
