//! Certificate rotation under load, written to disk exactly as kubelet
//! writes a Secret volume, while clients keep sending requests over kept-alive
//! and new connections.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use support::{Http1, Http2, TestServer, get, served_leaf};
use tokio::{net::TcpStream, task::JoinSet};

const ROTATIONS: usize = 8;

/// Requests that succeeded and failed.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ok: u64,
    failed: u64,
}

async fn keep_alive_h1(server: Arc<TestServer>, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let mut conn = server.h1().await;
    while !stop.load(Ordering::Relaxed) {
        match conn.send(get("/api/v1/status")).await {
            Ok(r) if r.status == 200 => tally.ok += 1,
            _ => tally.failed += 1,
        }
    }
    tally
}

async fn keep_alive_h2(server: Arc<TestServer>, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let mut conn = Http2::over(server.connect(&[b"h2"]).await).await;
    while !stop.load(Ordering::Relaxed) {
        match conn.send(get("/api/v1/status")).await {
            Ok(r) if r.status == 200 => tally.ok += 1,
            _ => tally.failed += 1,
        }
    }
    tally
}

async fn new_connections(server: Arc<TestServer>, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let connector = server.client(rustls::ALL_VERSIONS, &[b"http/1.1"]);
    while !stop.load(Ordering::Relaxed) {
        let attempt = async {
            let tcp = TcpStream::connect(server.api).await.ok()?;
            let tls = connector.connect(support::server_name(), tcp).await.ok()?;
            Http1::over(tls)
                .await
                .send(get("/api/v1/status"))
                .await
                .ok()
        };
        match attempt.await {
            Some(r) if r.status == 200 => tally.ok += 1,
            _ => tally.failed += 1,
        }
    }
    tally
}

/// Waits until new connections get `expected`; returns how long that took.
async fn until_served(server: &TestServer, expected: &[u8]) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        // A new client config each time: no resumed session hides the certificate.
        let connector = server.client(rustls::ALL_VERSIONS, &[b"http/1.1"]);
        if served_leaf(&connector, server.api).await == expected {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the rotated certificate was not served within 3 s");
}

async fn reload_failures(server: &TestServer) -> u64 {
    server
        .metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("rustymail_tls_certificate_reload_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_fails_no_request_and_keeps_kept_alive_connections() {
    let server = Arc::new(TestServer::start(|_| {}).await);
    let mut pinned = server.h1().await;
    assert_eq!(
        pinned
            .send(get("/api/v1/status"))
            .await
            .expect("reply")
            .status,
        200
    );

    let stop = Arc::new(AtomicBool::new(false));
    let mut load = JoinSet::new();
    load.spawn(keep_alive_h1(Arc::clone(&server), Arc::clone(&stop)));
    load.spawn(keep_alive_h2(Arc::clone(&server), Arc::clone(&stop)));
    load.spawn(new_connections(Arc::clone(&server), Arc::clone(&stop)));
    load.spawn(new_connections(Arc::clone(&server), Arc::clone(&stop)));

    let mut last = Vec::new();
    for _ in 0..ROTATIONS {
        last = server.certs.rotate();
        let took = until_served(&server, &last).await;
        assert!(
            took < Duration::from_secs(1),
            "new certificate served after {took:?}"
        );
    }

    // A mismatched pair, then a truncated one: rejected, the last good one still served.
    let failures_before = reload_failures(&server).await;
    let (cert, _) = server.certs.issue();
    let (_, other_key) = server.certs.issue();
    server.certs.publish(&cert, &other_key);
    let (cert, key) = server.certs.issue();
    let mut waited = 0;
    while reload_failures(&server).await == failures_before {
        assert!(waited < 300, "the corrupt pair was never noticed");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.certs.publish(&cert[..cert.len() / 2], &key);
    while reload_failures(&server).await < failures_before + 2 {
        assert!(waited < 600, "the truncated pair was never noticed");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connector = server.client(rustls::ALL_VERSIONS, &[b"http/1.1"]);
    assert_eq!(
        served_leaf(&connector, server.api).await,
        last,
        "old certificate still served"
    );

    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    while let Some(tally) = load.join_next().await {
        let tally = tally.expect("load task");
        total.ok += tally.ok;
        total.failed += tally.failed;
    }
    assert_eq!(total.failed, 0, "{total:?}");
    assert!(total.ok > 100, "load ran: {total:?}");
    let reply = pinned
        .send(get("/api/v1/status"))
        .await
        .expect("pinned connection answers");
    assert_eq!(reply.status, 200);
    // And a fixed pair is picked up again.
    let good = server.certs.rotate();
    assert!(until_served(&server, &good).await < Duration::from_secs(1));

    let server = Arc::into_inner(server).expect("load tasks done");
    server.stop().await;
}

#[tokio::test]
async fn periodic_check_picks_up_changes_the_watcher_missed() {
    // A certificate directory replaced wholesale (a new mount) is not watched
    // any more; the periodic re-check still finds the new files.
    let server = TestServer::start(|c| {
        c.tls.reload_interval =
            rustymail_dataplane::config::units::HumanDuration(Duration::from_millis(200));
    })
    .await;
    let dir = server.certs.path().to_owned();
    let moved = dir.with_extension("old");
    std::fs::rename(&dir, &moved).expect("move the mount away");
    std::fs::create_dir(&dir).expect("new mount");
    let (cert, key) = server.certs.issue();
    std::fs::write(dir.join("tls.crt"), &cert).expect("write");
    std::fs::write(dir.join("tls.key"), &key).expect("write");
    let expected = support::leaf_der(&cert);
    until_served(&server, &expected).await;
    std::fs::remove_dir_all(&dir).expect("cleanup");
    std::fs::rename(&moved, &dir).expect("restore for TempDir cleanup");
    server.stop().await;
}
