//! The container images' Dockerfiles agree with what runs them: the binary
//! paths, ports, user and arguments with the chart's operator Deployment and
//! with the data plane pod spec the operator renders; the binaries they copy
//! are built by `scripts/release-binaries`, the command CI runs.

use rustymail_operator::preview::{Assume, preview};
use rustymail_tests::{
    chart::{self, find, objects},
    workspace,
};
use serde_json::Value;

/// The instructions of a Dockerfile's last stage (the image that ships),
/// and the whole file.
struct Dockerfile {
    text: String,
    final_stage: Vec<(String, String)>,
}

impl Dockerfile {
    fn read(image: &str) -> Self {
        let path = workspace::root().join(format!("images/{image}/Dockerfile"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut final_stage = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (instruction, rest) = line.split_once(' ').unwrap_or((line, ""));
            let instruction = instruction.to_ascii_uppercase();
            if instruction == "FROM" {
                final_stage.clear();
            }
            final_stage.push((instruction, rest.trim().to_owned()));
        }
        Self { text, final_stage }
    }

    fn all(&self, instruction: &str) -> Vec<&str> {
        self.final_stage
            .iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, rest)| rest.as_str())
            .collect()
    }

    fn one(&self, instruction: &str) -> &str {
        match self.all(instruction)[..] {
            [one] => one,
            ref other => panic!("the final stage has {} {instruction} lines", other.len()),
        }
    }

    /// An exec-form (JSON array) instruction such as ENTRYPOINT or CMD.
    fn exec(&self, instruction: &str) -> Vec<String> {
        serde_json::from_str(self.one(instruction))
            .unwrap_or_else(|e| panic!("{instruction} must be in exec form (a JSON array): {e}"))
    }

    fn ports(&self) -> Vec<i64> {
        self.all("EXPOSE")
            .iter()
            .flat_map(|l| l.split_whitespace())
            .map(|p| p.trim_end_matches("/tcp").parse().expect("a port number"))
            .collect()
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn container_ports(container: &Value) -> Vec<i64> {
    container["ports"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["containerPort"].as_i64())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks what both images share: distroless final stage without a shell,
/// user 1001:1001, the binary copied from the release build to the path the
/// entrypoint runs.
fn check_common(image: &Dockerfile, binary: &str) {
    let from = image.one("FROM");
    assert!(
        from.starts_with("gcr.io/distroless/") && !from.contains(":debug"),
        "the final stage is distroless without a shell: {from}"
    );
    assert!(
        image.all("RUN").is_empty(),
        "the final stage runs nothing (it has no shell)"
    );
    assert_eq!(image.one("USER"), "1001:1001");
    let path = format!("/usr/local/bin/{binary}");
    assert_eq!(image.exec("ENTRYPOINT"), std::slice::from_ref(&path));
    assert_eq!(
        image.one("COPY"),
        format!("--from=build /out/{binary} {path}")
    );
    assert!(
        image.text.contains(&format!(
            "RUN scripts/release-binaries --out /out {binary}\n"
        )),
        "the build stage runs scripts/release-binaries for {binary}"
    );
}

fn data_plane_pod() -> Value {
    let text =
        std::fs::read_to_string(workspace::root().join("examples/minimal.yaml")).expect("example");
    let assume = Assume {
        cert_manager: false,
        monitoring: false,
        acme_issuer: false,
    };
    let (yaml, _) = preview(&text, "default", assume).unwrap_or_else(|e| panic!("renders: {e}"));
    let objects = objects(&yaml);
    find(&objects, "Deployment", "mail")["spec"]["template"]["spec"].clone()
}

#[test]
fn the_data_plane_image_runs_what_the_operator_renders() {
    let image = Dockerfile::read("dataplane");
    check_common(&image, "rustymail-dataplane");
    let pod = data_plane_pod();
    let container = &pod["containers"][0];
    assert_eq!(
        image.exec("CMD"),
        strings(&container["args"]),
        "CMD is the rendered args"
    );
    assert_eq!(image.ports(), container_ports(container));
    let user = &container["securityContext"];
    assert_eq!(
        image.one("USER"),
        format!("{}:{}", user["runAsUser"], user["runAsGroup"])
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(
        container["command"].is_null(),
        "the pod keeps the image's entrypoint"
    );
    assert!(
        rustymail_operator::crd::DEFAULT_IMAGE
            .starts_with("ghcr.io/rustymail/rustymail-dataplane:"),
        "the CRD's default image is this Dockerfile's"
    );
    assert!(
        image
            .text
            .contains("-t ghcr.io/rustymail/rustymail-dataplane:v")
    );
}

#[test]
fn the_operator_image_runs_what_the_chart_deploys() {
    let image = Dockerfile::read("operator");
    check_common(&image, "rustymail-operator");
    let out = chart::template(&[], &[]);
    assert!(out.success, "{}", out.stderr);
    let objects = objects(&out.stdout);
    let deployment = find(&objects, "Deployment", "rustymail-rustymail-operator");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(
        image.exec("CMD"),
        args[..1],
        "the image's CMD is the chart's subcommand"
    );
    assert_eq!(image.ports(), container_ports(container));
    let user = &container["securityContext"];
    assert_eq!(
        image.one("USER"),
        format!("{}:{}", user["runAsUser"], user["runAsGroup"])
    );
    assert!(
        container["command"].is_null(),
        "the chart keeps the image's entrypoint"
    );
    let repository = container["image"]
        .as_str()
        .and_then(|i| i.split(':').next())
        .unwrap_or_default();
    assert!(
        image.text.contains(&format!("-t {repository}:v")),
        "{repository}"
    );
}

/// The names of the components a CycloneDX SBOM lists.
fn sbom_components(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sbom: Value = serde_json::from_str(&text).expect("the SBOM is JSON");
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    sbom["components"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ci_writes_an_sbom_of_each_binary_the_images_copy() {
    let ci = std::fs::read_to_string(workspace::root().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("scripts/release-binaries --sbom-only"),
        "CI writes the SBOMs"
    );
    let out = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new(workspace::root().join("scripts/release-binaries"))
        .args(["--sbom-only", "--out"])
        .arg(out.path())
        .status()
        .expect("scripts/release-binaries runs");
    assert!(status.success());
    let operator = sbom_components(&out.path().join("sbom/rustymail-operator.cdx.json"));
    let dataplane = sbom_components(&out.path().join("sbom/rustymail-dataplane.cdx.json"));
    assert!(
        operator.iter().any(|c| c == "kube-client"),
        "the operator's SBOM lists kube"
    );
    assert!(
        dataplane.iter().any(|c| c == "rustls"),
        "the data plane's SBOM lists rustls"
    );
    assert!(
        !dataplane.iter().any(|c| c == "kube-client"),
        "each SBOM describes its own binary: the data plane does not link kube"
    );
    let stray = std::process::Command::new("git")
        .args(["status", "--porcelain", "--", "*.cdx.json"])
        .current_dir(workspace::root())
        .output()
        .expect("git runs");
    assert!(
        stray.stdout.is_empty(),
        "SBOMs left in the tree: {}",
        String::from_utf8_lossy(&stray.stdout)
    );
}
