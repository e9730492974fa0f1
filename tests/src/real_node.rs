//! Probes for the tests on the real node (`RUSTYMAIL_CLUSTER_NODE=real
//! scripts/cluster up`, images from `scripts/build-images`): client pods
//! that run curl and nslookup, commands in a pod's network namespace, the
//! certificate a pod serves, and the state of pods as the kubelet reports it.
//!
//! ```text
//!  test ─ kubectl exec ─> client pod (busybox, curl) ─ ClusterIP, DNS ─> data plane pods
//!       ─ nsenter -n ───> a data plane pod's network namespace (egress probes)
//!       ─ openssl ──────> a pod's IP through cni0 (the served certificate)
//! ```

pub mod lease;
pub mod load;

use std::{process::Stdio, time::Duration};

use serde_json::Value;

use crate::{
    control_plane::{ControlPlane, TestNamespace, kubectl_admin},
    mail::dovecot::certificate_for,
    poll::eventually,
};

/// The test client image `scripts/build-images` imports into the node.
pub const CLIENT_IMAGE: &str = "localhost/rustymail-test-client:test";

/// The test Dovecot image `scripts/build-images` imports into the node.
pub const DOVECOT_IMAGE: &str = "localhost/rustymail-test-dovecot:test";

/// How long a test waits for pods to start on the real node.
pub const POD_WAIT: Duration = Duration::from_secs(120);

/// curl's exit codes for a connection that could not be made: refused (7)
/// or timed out (28), as a NetworkPolicy's drop or reject shows.
pub const CURL_NO_CONNECTION: [i32; 2] = [7, 28];

/// Panics unless the control plane runs a real node.
pub fn require() -> &'static ControlPlane {
    let plane = ControlPlane::get();
    let mode = std::fs::read_to_string(plane.dir.join("node")).unwrap_or_default();
    assert_eq!(
        mode.trim(),
        "real",
        "these tests need the real node: RUSTYMAIL_CLUSTER_NODE=real scripts/cluster up, then \
         scripts/build-images (scripts/test does both)"
    );
    plane
}

/// The output of a command that may fail.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `program args…`, never panicking on a non-zero exit.
pub async fn run(program: &str, args: &[&str]) -> Outcome {
    let plane = ControlPlane::get();
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("KUBECONFIG", &plane.kubeconfig)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Labels `namespace` to enforce the restricted Pod Security Standard.
pub async fn enforce_restricted(namespace: &str) {
    kubectl_admin(
        &[
            "label",
            "namespace",
            namespace,
            "pod-security.kubernetes.io/enforce=restricted",
            "--overwrite",
        ],
        None,
    )
    .await;
}

/// A client pod (busybox and curl, restricted security context) in a
/// namespace, Running.
#[derive(Clone, Debug)]
pub struct ClientPod {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ClientPod {
    /// Starts pod `name` in `namespace` with `labels` (`key: value` pairs)
    /// and waits until it runs.
    pub async fn start(namespace: &str, name: &str, labels: &[(&str, &str)]) -> Self {
        Self::start_pod(namespace, name, labels, None).await
    }

    async fn start_pod(
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        ca_config_map: Option<&str>,
    ) -> Self {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let (mounts, volumes) = match ca_config_map {
            Some(cm) => (
                "    volumeMounts: [{name: ca, mountPath: /etc/ca, readOnly: true}]\n".to_owned(),
                format!("  volumes: [{{name: ca, configMap: {{name: {cm}}}}}]\n"),
            ),
            None => (String::new(), String::new()),
        };
        let pod = format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{{labels}}}}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: {{runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {{type: RuntimeDefault}}}}
  containers:
  - name: client
    image: {CLIENT_IMAGE}
    imagePullPolicy: Never
    securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
    resources: {{requests: {{cpu: 10m, memory: 16Mi}}, limits: {{memory: 64Mi}}}}
{mounts}{volumes}",
            labels = labels.join(", ")
        );
        kubectl_admin(&["apply", "-f", "-"], Some(&pod)).await;
        let client = Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        wait_ready(namespace, &format!("pod/{name}")).await;
        client
    }

    /// As [`ClientPod::start`], with `ca_pem` mounted at `/etc/ca/ca.crt`
    /// (ConfigMap `NAME-ca`).
    pub async fn start_with_ca(namespace: &str, name: &str, ca_pem: &str) -> Self {
        let config_map = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-ca, namespace: {namespace}}}\ndata: {{ca.crt: {}}}\n",
            serde_json::to_string(ca_pem).unwrap_or_default()
        );
        kubectl_admin(&["apply", "-f", "-"], Some(&config_map)).await;
        Self::start_pod(namespace, name, &[], Some(&format!("{name}-ca"))).await
    }

    /// Runs `command` in the pod (`kubectl exec`).
    pub async fn exec(&self, command: &[&str]) -> Outcome {
        let plane = ControlPlane::get();
        let kubectl = plane.tool("kubectl");
        let mut args = vec!["-n", &self.namespace, "exec", &self.name, "--"];
        args.extend_from_slice(command);
        run(&kubectl.to_string_lossy(), &args).await
    }

    /// `curl` of `url` from the pod (certificate not verified, 4 s to
    /// connect): the HTTP status, or curl's exit code when there was none.
    pub async fn http_status(&self, url: &str) -> Result<u16, i32> {
        let out = self
            .exec(&[
                "curl",
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--connect-timeout",
                "4",
                "-m",
                "8",
                url,
            ])
            .await;
        match out.code {
            0 => out.stdout.trim().parse().map_err(|_| -1),
            code => Err(code),
        }
    }

    /// Whether `name` resolves through the cluster DNS from the pod.
    pub async fn resolves(&self, name: &str) -> bool {
        self.exec(&["nslookup", name]).await.code == 0
    }
}

/// The text of key `key` of Secret `secret` in `namespace`, decoded;
/// `None` when it is missing or not base64-encoded UTF-8.
pub async fn secret_text(namespace: &str, secret: &str, key: &str) -> Option<String> {
    let jsonpath = format!("jsonpath={{.data.{}}}", key.replace('.', "\\."));
    let data = kubectl_admin(
        &["-n", namespace, "get", "secret", secret, "-o", &jsonpath],
        None,
    )
    .await;
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data.trim())
        .ok()
        .and_then(|t| String::from_utf8(t).ok())
}

/// The first API key of RustyMail `mail`'s generated credentials Secret
/// (`mail-credentials`, key `api-keys`: `NAME:KEY` lines, each maybe
/// followed by ` key=value` options) in `namespace`.
pub async fn api_key(namespace: &str) -> String {
    let keys = secret_text(namespace, "mail-credentials", "api-keys")
        .await
        .unwrap_or_else(|| panic!("api-keys of mail-credentials is not base64 text"));
    keys.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|token| token.rsplit(':').next().unwrap_or(token).to_owned())
        .next()
        .unwrap_or_else(|| panic!("no API key in mail-credentials"))
}

/// Waits until `object` (`pod/NAME`) in `namespace` is Ready, failing with
/// `kubectl describe` and the kubelet's log tail.
pub async fn wait_ready(namespace: &str, object: &str) {
    let ready = eventually(POD_WAIT, || async {
        let plane = ControlPlane::get();
        let kubectl = plane.tool("kubectl");
        run(
            &kubectl.to_string_lossy(),
            &[
                "-n",
                namespace,
                "wait",
                "--for=condition=Ready",
                object,
                "--timeout=2s",
            ],
        )
        .await
        .code
            == 0
    })
    .await;
    if !ready {
        panic!(
            "{object} in {namespace} is not Ready:\n{}",
            diagnose(namespace).await
        );
    }
}

/// `kubectl describe pods` of `namespace` and the tail of the kubelet's
/// and containerd's logs, for a failure message.
pub async fn diagnose(namespace: &str) -> String {
    let plane = ControlPlane::get();
    let kubectl = plane.tool("kubectl");
    let describe = run(
        &kubectl.to_string_lossy(),
        &["-n", namespace, "describe", "pods"],
    )
    .await;
    let tail = |name: &str| {
        let log =
            std::fs::read_to_string(plane.dir.join(format!("logs/{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(20).collect();
        let mut lines: Vec<&str> = lines.into_iter().rev().collect();
        lines.insert(0, name);
        lines.join("\n")
    };
    format!(
        "{}{}\n--- {}\n--- {}",
        describe.stdout,
        describe.stderr,
        tail("kubelet"),
        tail("containerd")
    )
}

/// The pods of `namespace` matching `selector`, as JSON.
pub async fn pods(namespace: &str, selector: &str) -> Vec<Value> {
    let out = kubectl_admin(
        &["-n", namespace, "get", "pods", "-l", selector, "-o", "json"],
        None,
    )
    .await;
    let list: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("pod list: {e}"));
    list["items"].as_array().cloned().unwrap_or_default()
}

/// A pod's UID, IP, restart count of its first container and the host PID
/// of that container's process.
#[derive(Clone, Debug, PartialEq)]
pub struct PodFacts {
    /// metadata.name
    pub name: String,
    /// metadata.uid
    pub uid: String,
    /// status.podIP
    pub ip: String,
    /// status.containerStatuses[0].restartCount
    pub restarts: i64,
    /// status.containerStatuses[0].ready
    pub ready: bool,
    /// status.containerStatuses[0].containerID, without `containerd://`.
    pub container_id: String,
}

impl PodFacts {
    /// The facts of a pod object.
    pub fn of(pod: &Value) -> Self {
        let status = &pod["status"]["containerStatuses"][0];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Self {
            name: text(&pod["metadata"]["name"]),
            uid: text(&pod["metadata"]["uid"]),
            ip: text(&pod["status"]["podIP"]),
            restarts: status["restartCount"].as_i64().unwrap_or(-1),
            ready: status["ready"].as_bool().unwrap_or(false),
            container_id: text(&status["containerID"])
                .trim_start_matches("containerd://")
                .to_owned(),
        }
    }

    /// The host PID of the pod's first container (crictl inspect).
    pub async fn pid(&self) -> u32 {
        let plane = ControlPlane::get();
        let crictl = plane.tool("crictl");
        let endpoint = format!(
            "unix://{}",
            plane.dir.join("containerd/containerd.sock").display()
        );
        let out = run(
            &crictl.to_string_lossy(),
            &[
                "--runtime-endpoint",
                &endpoint,
                "inspect",
                &self.container_id,
            ],
        )
        .await;
        let info: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!("crictl inspect {}: {e}: {}", self.container_id, out.stderr)
        });
        info["info"]["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_else(|| panic!("no pid in crictl inspect of {}", self.name))
    }

    /// Runs `command` (a host binary) in the pod's network namespace.
    pub async fn in_netns(&self, command: &[&str]) -> Outcome {
        let pid = self.pid().await.to_string();
        let mut args = vec!["-t", &pid, "-n", "--"];
        args.extend_from_slice(command);
        run("nsenter", &args).await
    }

    /// Whether a TCP connection from the pod's network namespace to `addr`
    /// (`IP:PORT`) opens within 4 s.
    pub async fn connects(&self, addr: &str) -> bool {
        let pid = self.pid().await.to_string();
        let mut args = vec!["-t", pid.as_str(), "-n", "--"];
        let probe = tcp_probe(addr);
        args.extend(probe.iter().map(String::as_str));
        run("nsenter", &args).await.code == 0
    }

    /// Kills the pod's first container with SIGKILL, from the host: no
    /// SIGTERM, no shutdown delay, no drain.
    pub async fn kill(&self) {
        let pid = self.pid().await.to_string();
        let out = run("kill", &["-KILL", &pid]).await;
        assert_eq!(
            out.code, 0,
            "kill -KILL {pid} ({}): {}",
            self.name, out.stderr
        );
    }

    /// The SHA-256 fingerprint of the certificate the pod serves on `port`,
    /// read by openssl from the host through the pod's IP.
    pub async fn served_fingerprint(&self, port: u16) -> Option<String> {
        served_fingerprint(&format!("{}:{port}", self.ip)).await
    }
}

/// The command that opens a TCP connection to `addr` (`IP:PORT`) within 4 s
/// and exits 0 when it did.
fn tcp_probe(addr: &str) -> Vec<String> {
    let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
    [
        "timeout",
        "4",
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{ip}/{port}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Whether a TCP connection from the host to `addr` (`IP:PORT`) opens
/// within 4 s: what shows a port refused from a pod is open.
pub async fn host_connects(addr: &str) -> bool {
    let probe = tcp_probe(addr);
    let args: Vec<&str> = probe[1..].iter().map(String::as_str).collect();
    run(&probe[0], &args).await.code == 0
}

/// Tags image `source` as `target` in the node's containerd (`ctr images
/// tag`): a second tag of the same image, as a registry would serve it.
pub async fn tag_image(source: &str, target: &str) {
    let plane = require();
    let ctr = plane.tool("ctr");
    let socket = plane.dir.join("containerd/containerd.sock");
    let out = run(
        &ctr.to_string_lossy(),
        &[
            "--address",
            &socket.to_string_lossy(),
            "--namespace",
            "k8s.io",
            "images",
            "tag",
            "--force",
            source,
            target,
        ],
    )
    .await;
    assert_eq!(
        out.code, 0,
        "ctr images tag {source} {target}: {}",
        out.stderr
    );
}

/// `KIND/NAME=RESOURCE_VERSION` of each of `objects` (`kind/name`) in
/// `namespace`, one a line: any write to one of them changes its line.
pub async fn resource_versions(namespace: &str, objects: &[&str]) -> String {
    let mut args = vec!["-n", namespace, "get"];
    args.extend_from_slice(objects);
    args.extend_from_slice(&[
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{\"\\n\"}{end}",
    ]);
    kubectl_admin(&args, None).await
}

/// The SHA-256 fingerprint of the certificate served at `addr` (openssl).
pub async fn served_fingerprint(addr: &str) -> Option<String> {
    let script = format!(
        "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
    );
    let out = run("sh", &["-c", &script]).await;
    (out.code == 0)
        .then(|| fingerprint_in(&out.stdout))
        .filter(|f| !f.is_empty())
}

/// The fingerprint in `openssl x509 -fingerprint`'s output line
/// (`sha256 Fingerprint=AB:CD:…`).
fn fingerprint_in(stdout: &str) -> String {
    stdout
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The SHA-256 fingerprint of a PEM certificate.
pub async fn fingerprint_of(pem: &str) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let path = path.to_string_lossy().into_owned();
    let out = run(
        "openssl",
        &["x509", "-in", &path, "-noout", "-fingerprint", "-sha256"],
    )
    .await;
    fingerprint_in(&out.stdout)
}

/// Dovecot as a pod (image `localhost/rustymail-test-dovecot:test`, accounts
/// alice and bob, password `secret`) behind Service `dovecot`, in a
/// namespace of its own enforcing the restricted Pod Security Standard, its
/// certificate issued by a test CA.
pub struct InClusterDovecot {
    /// Its namespace (deleted when dropped).
    pub namespace: TestNamespace,
    /// The test CA's certificate, PEM.
    pub ca_pem: String,
}

impl InClusterDovecot {
    /// Deploys it and waits until its pod is Ready (IMAPS answers).
    pub async fn deploy() -> Self {
        let namespace = TestNamespace::create("dovecot").await;
        let ns = namespace.name.clone();
        enforce_restricted(&ns).await;
        let (ca_pem, cert, key) = certificate_for(vec![
            format!("dovecot.{ns}.svc"),
            format!("dovecot.{ns}.svc.cluster.local"),
        ])
        .unwrap_or_else(|e| panic!("Dovecot's certificate: {e}"));
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let manifest = format!(
            "apiVersion: v1
kind: Secret
metadata: {{name: dovecot-tls, namespace: {ns}}}
type: kubernetes.io/tls
stringData: {{tls.crt: {cert}, tls.key: {key}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: dovecot, namespace: {ns}, labels: {{app: dovecot}}}}
spec:
  automountServiceAccountToken: false
  securityContext: {{runAsNonRoot: true, runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001, seccompProfile: {{type: RuntimeDefault}}}}
  containers:
  - name: dovecot
    image: {DOVECOT_IMAGE}
    imagePullPolicy: Never
    ports: [{{containerPort: 143, name: imap}}, {{containerPort: 993, name: imaps}}]
    readinessProbe: {{tcpSocket: {{port: 993}}, periodSeconds: 1}}
    securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
    volumeMounts:
    - {{name: tls, mountPath: /etc/dovecot/tls, readOnly: true}}
    - {{name: tmp, mountPath: /tmp}}
    - {{name: mail, mountPath: /srv/mail}}
  volumes:
  - {{name: tls, secret: {{secretName: dovecot-tls, defaultMode: 0440}}}}
  - {{name: tmp, emptyDir: {{}}}}
  - {{name: mail, emptyDir: {{}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: dovecot, namespace: {ns}}}
spec:
  selector: {{app: dovecot}}
  ports: [{{name: imap, port: 143, targetPort: 143}}, {{name: imaps, port: 993, targetPort: 993}}]
",
            cert = quote(&cert),
            key = quote(&key),
        );
        kubectl_admin(&["apply", "-f", "-"], Some(&manifest)).await;
        wait_ready(&ns, "pod/dovecot").await;
        Self { namespace, ca_pem }
    }

    /// Appends the RFC 822 `message` to `user`'s INBOX (password `secret`),
    /// from the host through the pod's address (IMAP, curl's APPEND).
    pub async fn append(&self, user: &str, message: &str) {
        let pod = PodFacts::of(&pods(&self.namespace.name, "app=dovecot").await[0]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("message.eml");
        std::fs::write(&path, message).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let out = run(
            "curl",
            &[
                "-sS",
                "--user",
                &format!("{user}:secret"),
                "-T",
                &path.to_string_lossy(),
                &format!("imap://{}/INBOX", pod.ip),
            ],
        )
        .await;
        assert_eq!(
            out.code, 0,
            "IMAP APPEND to the Dovecot pod: {}",
            out.stderr
        );
    }

    /// The IMAP host name, through the Service.
    pub fn host(&self) -> String {
        format!("dovecot.{}.svc.cluster.local", self.namespace.name)
    }

    /// A RustyMail `mail` in `namespace` whose account `support` (Secret
    /// `support-imap`) is on this Dovecot, trusting its CA (Secret
    /// `dovecot-ca`, which this applies first) and allowed to reach it, with
    /// `spec_lines` added: YAML lines indented under `spec:` (two spaces),
    /// or under its `networkPolicy:` (four spaces), the last key before them.
    pub async fn rustymail(&self, namespace: &str, spec_lines: &str) -> String {
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: dovecot-ca, namespace: {namespace}}}\nstringData: {{ca.crt: {}}}\n",
            serde_json::to_string(&self.ca_pem).unwrap_or_default()
        );
        kubectl_admin(&["apply", "-f", "-"], Some(&secret)).await;
        format!(
            "apiVersion: rustymail.io/v1alpha1
kind: RustyMail
metadata: {{name: mail, namespace: {namespace}}}
spec:
  accounts:
    - name: support
      imap: {{host: {host}, caSecretRef: {{name: dovecot-ca}}}}
      credentialsSecretRef: {{name: support-imap}}
  networkPolicy:
    extraEgress:
      - to: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {dovecot_ns}}}}}}}]
        ports: [{{port: 993, protocol: TCP}}]
{spec_lines}",
            host = self.host(),
            dovecot_ns = self.namespace.name,
        )
    }
}
