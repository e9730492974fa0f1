//! `ClusterDouble`: starts the server on loopback, writes kubeconfigs for
//! it, hands out kube clients, and lets tests inject faults, set RBAC rules,
//! read request counters and compact the watch history.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admission::FieldValidation;
use super::engine::{Engine, WriteOptions};
use super::faults::{FaultRule, Faults, WatchFaults};
use super::meta::meta_str;
use super::rbac::Policy;
use super::server::{self, Shared, locked};
use super::stats::Stats;
use super::status::ApiError;
use super::watch::WatchLimits;

/// Which user a kubeconfig or client authenticates as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    /// Unrestricted.
    Admin,
    /// Subject to the RBAC rules, when some are set.
    Restricted,
}

/// How the double starts.
#[derive(Clone, Debug)]
pub struct Options {
    /// Port on 127.0.0.1; 0 (default) picks a free one.
    pub port: u16,
    /// Where to write the admin kubeconfig; default: a temporary directory
    /// removed when the double is dropped.
    pub kubeconfig: Option<PathBuf>,
    /// Changes kept for watches before older versions get 410 Gone (default 10 000).
    pub history_limit: usize,
    /// Bookmark cadence for watches that allow them (default 5 s; a real server: about 1 min).
    pub bookmark_interval: Duration,
    /// The longest a watch runs (default 30 min, like the real minimum request timeout).
    pub max_watch_timeout: Duration,
    /// Seed of the fault generator (default 0).
    pub seed: u64,
    /// Faults in force from the start.
    pub faults: Vec<FaultRule>,
    /// Watch drops from the start.
    pub watch_faults: WatchFaults,
    /// RBAC rules for the restricted user; `None` (default) allows everything.
    pub rbac: Option<Policy>,
    /// User name of the restricted user in 403 messages
    /// (default `system:serviceaccount:rustymail-system:rustymail-operator`).
    pub restricted_user: String,
    /// How long the garbage collector waits to batch changes (default 20 ms).
    pub gc_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 0,
            kubeconfig: None,
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(5),
            max_watch_timeout: Duration::from_secs(1800),
            seed: 0,
            faults: Vec::new(),
            watch_faults: WatchFaults::default(),
            rbac: None,
            restricted_user: "system:serviceaccount:rustymail-system:rustymail-operator"
                .to_string(),
            gc_delay: Duration::from_millis(20),
        }
    }
}

const ADMIN_TOKEN: &str = "cluster-double-admin";
const RESTRICTED_TOKEN: &str = "cluster-double-restricted";

/// A running cluster double; stops when dropped.
#[derive(Debug)]
pub struct ClusterDouble {
    shared: Arc<Shared>,
    addr: SocketAddr,
    kubeconfig: PathBuf,
    stop: watch::Sender<bool>,
    _dir: Option<tempfile::TempDir>,
}

impl ClusterDouble {
    /// Starts serving on 127.0.0.1 and writes the admin kubeconfig.
    pub async fn start(options: Options) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut faults = Faults::new(options.seed);
        options.faults.iter().cloned().for_each(|f| faults.add(f));
        faults.watch = options.watch_faults;
        let shared = Arc::new(Shared {
            engine: Arc::new(Engine::new(options.history_limit)),
            faults: Arc::new(Mutex::new(faults)),
            kill_watches: watch::channel(0).0,
            rbac: Mutex::new(options.rbac.clone()),
            stats: Mutex::new(Stats::default()),
            watch_limits: WatchLimits {
                bookmark_interval: options.bookmark_interval,
                max_timeout: options.max_watch_timeout,
            },
            restricted_token: RESTRICTED_TOKEN.to_string(),
            restricted_user: options.restricted_user.clone(),
        });
        let (dir, kubeconfig) = match &options.kubeconfig {
            Some(path) => (None, path.clone()),
            None => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("kubeconfig");
                (Some(dir), path)
            }
        };
        let (stop, stopped) = watch::channel(false);
        serve_on_own_runtime(listener, shared.clone(), options.gc_delay, stopped)?;
        let double = Self {
            shared,
            addr,
            kubeconfig,
            stop,
            _dir: dir,
        };
        double.write_kubeconfig(&double.kubeconfig, User::Admin)?;
        Ok(double)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin kubeconfig written at start.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubeconfig for a user (namespace `default`).
    pub fn kubeconfig_yaml(&self, user: User) -> String {
        let token = match user {
            User::Admin => ADMIN_TOKEN,
            User::Restricted => RESTRICTED_TOKEN,
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster-double\n  cluster:\n    server: {}\nusers:\n- name: cluster-double\n  user:\n    token: {token}\ncontexts:\n- name: cluster-double\n  context:\n    cluster: cluster-double\n    user: cluster-double\n    namespace: default\ncurrent-context: cluster-double\n",
            self.url()
        )
    }

    /// Writes a kubeconfig for a user to a file.
    pub fn write_kubeconfig(&self, path: &Path, user: User) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml(user))
    }

    /// A kube client for a user.
    pub async fn client_for(&self, user: User) -> Result<kube::Client, kube::Error> {
        let kc = Kubeconfig::from_yaml(&self.kubeconfig_yaml(user))
            .map_err(kube::Error::InferKubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(kube::Error::InferKubeconfig)?;
        kube::Client::try_from(config)
    }

    /// An unrestricted kube client.
    pub async fn client(&self) -> Result<kube::Client, kube::Error> {
        self.client_for(User::Admin).await
    }

    /// Adds a fault.
    pub fn add_fault(&self, rule: FaultRule) {
        locked(&self.shared.faults).add(rule);
    }

    /// Ends every running watch now (clients see the stream close).
    pub fn drop_watches(&self) {
        self.shared.kill_watches.send_modify(|n| *n += 1);
    }

    /// Drops every watch (running or new) after a time since it started or
    /// a number of events.
    pub fn set_watch_faults(&self, faults: WatchFaults) {
        locked(&self.shared.faults).watch = faults;
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        locked(&self.shared.faults).clear();
    }

    /// Sets (or, with `None`, lifts) the RBAC rules of the restricted user.
    pub fn set_rbac(&self, policy: Option<Policy>) {
        *locked(&self.shared.rbac) = policy;
    }

    /// A copy of the request counters and log.
    pub fn stats(&self) -> Stats {
        locked(&self.shared.stats).clone()
    }

    /// Resets the request counters and log.
    pub fn reset_stats(&self) {
        *locked(&self.shared.stats) = Stats::default();
    }

    /// Forgets the watch history: watches resuming from an older
    /// resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.shared.engine.lock().store.compact();
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.engine.lock().store.rv()
    }

    /// Creates the objects of a multi-document YAML stream as the admin
    /// (e.g. CRDs before a test), in order; stops at the first failure.
    pub fn create_from_yaml(&self, yaml: &str) -> Result<Vec<Value>, ApiError> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML: {e}")))?;
        let engine = &self.shared.engine;
        let mut out = Vec::new();
        for doc in docs.into_iter().filter(|d| d.is_object()) {
            let api_version = doc["apiVersion"].as_str().unwrap_or_default();
            let kind = doc["kind"].as_str().unwrap_or_default();
            let rt = engine
                .lock()
                .registry
                .find_kind(api_version, kind)
                .ok_or_else(|| ApiError::bad_request(format!("no kind {kind} in {api_version}")))?;
            let ns = if rt.namespaced {
                match meta_str(&doc, "namespace") {
                    "" => "default".to_string(),
                    ns => ns.to_string(),
                }
            } else {
                String::new()
            };
            let o = WriteOptions {
                manager: "cluster-double".to_string(),
                manager_given: true,
                dry_run: false,
                validation: FieldValidation::Strict,
                force: false,
            };
            out.push(engine.create(&rt, &ns, doc, &o)?.object);
        }
        Ok(out)
    }
}

impl Drop for ClusterDouble {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Serves on a runtime of its own, in its own thread, so that a test that
/// blocks its runtime (a current-thread `#[tokio::test]` running `kubectl`
/// synchronously) never stalls the server.
fn serve_on_own_runtime(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    gc_delay: Duration,
    stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cluster-double")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("cluster-double".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                tokio::spawn(gc_loop(shared.engine.clone(), gc_delay, stopped.clone()));
                accept_loop(listener, shared, stopped).await;
            });
            runtime.shutdown_background();
        })?;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = conn else {
            continue;
        };
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| server::handle(shared.clone(), req));
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

async fn gc_loop(engine: Arc<Engine>, delay: Duration, mut stopped: watch::Receiver<bool>) {
    let mut changes = engine.lock().store.subscribe();
    loop {
        tokio::select! {
            c = changes.changed() => {
                if c.is_err() {
                    return;
                }
            }
            _ = stopped.changed() => return,
        }
        tokio::time::sleep(delay).await;
        changes.borrow_and_update();
        for _ in 0..100 {
            if !engine.collect_garbage() {
                break;
            }
        }
        changes.borrow_and_update();
    }
}
