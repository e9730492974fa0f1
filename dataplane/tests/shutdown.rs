//! Graceful shutdown: readiness turns false; for `limits.shutdownDelay` the
//! listeners still accept and serve (endpoints take a moment to drop the
//! pod); then they stop accepting and in-flight requests finish within the
//! grace period.

mod support;

use std::{
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use axum::routing::get as route_get;
use rustymail_dataplane::config::units::HumanDuration;
use support::{CertDir, Http1, PATIENCE, TestServer, get, imap::HeldImap, request};
use tokio::{net::TcpStream, sync::mpsc};

async fn readyz(admin: SocketAddr) -> u16 {
    let tcp = TcpStream::connect(admin).await.expect("connect");
    Http1::over(tcp)
        .await
        .send(get("/readyz"))
        .await
        .expect("reply")
        .status
        .as_u16()
}

/// Routes with `/slow`, which reports on `started` and answers after `delay`.
fn slow_routes(started: mpsc::Sender<()>, delay: Duration) -> axum::Router {
    support::api_routes().route(
        "/slow",
        route_get(move || {
            let started = started.clone();
            async move {
                let _ = started.send(()).await;
                tokio::time::sleep(delay).await;
                "done"
            }
        }),
    )
}

#[tokio::test]
async fn in_flight_requests_finish_while_new_connections_are_refused() {
    let (tx, mut started) = mpsc::channel(1);
    let server = TestServer::start_with(slow_routes(tx, Duration::from_millis(700)), |_| {}).await;
    let mut idle = server.h1().await;
    assert_eq!(
        idle.send(get("/api/v1/status"))
            .await
            .expect("reply")
            .status,
        200
    );
    let mut busy = server.h1().await;
    let in_flight = tokio::spawn(async move { busy.send(get("/slow")).await });
    started.recv().await.expect("request reached the handler");

    server.shutdown.trigger();
    // The server reacts on its own threads: readiness turns false promptly,
    // while the slow request is still in flight.
    let mut unready = false;
    for _ in 0..100 {
        if readyz(server.admin).await == 503 {
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(unready, "not ready while draining");
    assert!(
        !in_flight.is_finished(),
        "readiness fell before the drain ended"
    );
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(server.api).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "the API listener stops accepting");

    let reply = in_flight
        .await
        .expect("task")
        .expect("in-flight request answered");
    assert_eq!(
        (reply.status.as_u16(), &reply.body[..]),
        (200, &b"done"[..])
    );
    assert!(
        idle.send(get("/api/v1/status")).await.is_err(),
        "idle connection closed"
    );
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("server stops")
        .expect("task");
}

#[tokio::test]
async fn requests_outliving_the_grace_period_are_cut() {
    let (tx, mut started) = mpsc::channel(1);
    let server = TestServer::start_with(slow_routes(tx, Duration::from_secs(3600)), |c| {
        c.limits.shutdown_grace_period = HumanDuration(Duration::from_millis(200));
    })
    .await;
    let mut busy = server.h1().await;
    let in_flight = tokio::spawn(async move { busy.send(get("/slow")).await });
    started.recv().await.expect("request reached the handler");
    server.shutdown.trigger();
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("server stops")
        .expect("task");
    assert!(
        in_flight.await.expect("task").is_err(),
        "the hung request is cut"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[tokio::test]
async fn sigterm_stops_the_binary_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (api, admin) = (free_port(), free_port());
    let config = support::write_file(
        dir.path(),
        "config.yaml",
        &format!(
            "listen: {{api: '127.0.0.1:{api}', admin: '127.0.0.1:{admin}'}}\n\
             accounts:\n  - name: demo\n    imap: {{host: imap.invalid}}\n    \
             usernameFile: /dev/null\n    passwordFile: /dev/null\n"
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustymail-dataplane"))
        .args(["serve", "--self-signed", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let admin_addr: SocketAddr = ([127, 0, 0, 1], admin).into();
    let mut up = false;
    for _ in 0..200 {
        if let Ok(tcp) = TcpStream::connect(admin_addr).await
            && let Ok(r) = Http1::over(tcp).await.send(get("/readyz")).await
        {
            // Serving, and not ready only because its IMAP server cannot be reached.
            up = r.json()["accounts"]["demo"] == "unreachable";
            if up {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "the data plane came up and checked its account");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut exited = None;
    for _ in 0..400 {
        if let Some(s) = child.try_wait().expect("wait") {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let Some(exit) = exited else {
        let _ = child.kill();
        panic!("the data plane did not stop on SIGTERM");
    };
    let output = child.wait_with_output().expect("output");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(exit.success(), "exit {exit:?}\n{logs}");
    assert!(logs.contains("\"message\":\"stopped\""), "{logs}");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every log line is JSON");
    }
}

/// Waits up to `PATIENCE` for `child` to exit.
async fn exit_of(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    panic!("the data plane did not stop");
}

/// An HTTP/1.1 connection over TLS to `api`, trusting `certs`' CA.
async fn h1_to(api: SocketAddr, certs: &CertDir) -> std::io::Result<Http1> {
    let tcp = TcpStream::connect(api).await?;
    let tls = support::client_for(&certs.ca_pem(), rustls::ALL_VERSIONS, &[b"http/1.1"])
        .connect(support::server_name(), tcp)
        .await?;
    Ok(Http1::over(tls).await)
}

#[tokio::test]
async fn after_sigterm_the_pod_stays_unready_but_serving_for_the_shutdown_delay_then_drains() {
    const DELAY: Duration = Duration::from_secs(3);
    let mut imap = HeldImap::start().await;
    let certs = CertDir::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = support::write_file(dir.path(), "api-keys", "ops:k-0123456789abcdef\n");
    let username = support::write_file(dir.path(), "username", "demo");
    let password = support::write_file(dir.path(), "password", "secret");
    let (api, admin) = (free_port(), free_port());
    let config = support::write_file(
        dir.path(),
        "config.yaml",
        &format!(
            "listen: {{api: '127.0.0.1:{api}', admin: '127.0.0.1:{admin}'}}\n\
             tls: {{certDir: '{certs}'}}\n\
             auth: {{apiKeys: {{file: '{keys}'}}}}\n\
             limits: {{shutdownDelay: {delay}s, shutdownGracePeriod: 20s}}\n\
             accounts:\n  - name: demo\n    imap: {{host: 127.0.0.1, port: {port}, security: none}}\n    \
             usernameFile: '{username}'\n    passwordFile: '{password}'\n",
            certs = certs.path().display(),
            keys = keys.display(),
            delay = DELAY.as_secs(),
            port = imap.addr.port(),
            username = username.display(),
            password = password.display(),
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustymail-dataplane"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let (api, admin): (SocketAddr, SocketAddr) =
        (([127, 0, 0, 1], api).into(), ([127, 0, 0, 1], admin).into());
    let mut ready = false;
    for _ in 0..400 {
        if let Ok(tcp) = TcpStream::connect(admin).await
            && let Ok(r) = Http1::over(tcp).await.send(get("/readyz")).await
            && r.status == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !ready {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!(
            "the data plane never became ready:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let key = [("x-api-key", "k-0123456789abcdef")];

    // A request in flight when the signal comes: its LIST is held.
    let mut busy = h1_to(api, &certs).await.expect("connect");
    let in_flight = tokio::spawn(async move {
        busy.send(request("GET", "/api/v1/folders?account=demo", &key, ""))
            .await
    });
    tokio::time::timeout(PATIENCE, imap.lists.recv())
        .await
        .expect("the request reached the IMAP server")
        .expect("LIST");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let signalled = Instant::now();

    let mut unready = false;
    for _ in 0..200 {
        if readyz(admin).await == 503 {
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(unready, "/readyz turns 503 on SIGTERM");

    // Endpoints still point at the pod: a new connection and request are served.
    let mut late = h1_to(api, &certs)
        .await
        .expect("a new connection during the shutdown delay is accepted");
    let reply = late
        .send(request("GET", "/api/v1/status", &key, ""))
        .await
        .expect("a request on it is answered");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "responses during the delay send kept-alive clients to another pod"
    );
    assert!(
        late.send(request("GET", "/api/v1/status", &key, ""))
            .await
            .is_err(),
        "the server closed that connection after its response"
    );
    assert!(
        signalled.elapsed() < DELAY,
        "the checks took longer than the delay ({:?}); they prove nothing",
        signalled.elapsed()
    );
    assert_eq!(readyz(admin).await, 503, "still unready while serving");
    assert!(
        !in_flight.is_finished(),
        "the held request is still in flight"
    );

    // After the delay the listener stops accepting: the drain has begun.
    let mut refused = None;
    while signalled.elapsed() < DELAY + PATIENCE {
        if TcpStream::connect(api).await.is_err() {
            refused = Some(signalled.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("the API listener stops accepting after the delay");
    assert!(
        refused >= DELAY,
        "accepting stopped after {refused:?}, before the delay"
    );

    // The request in flight all along completes, then the process exits 0.
    imap.release_lists();
    let reply = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .expect("in-flight request answered")
        .expect("task")
        .expect("in-flight request completed");
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.json()["folders"][0]["name"],
        "INBOX",
        "{:?}",
        reply.body
    );
    let exit = exit_of(&mut child).await;
    let output = child.wait_with_output().expect("output");
    assert!(
        exit.success(),
        "exit {exit:?}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
