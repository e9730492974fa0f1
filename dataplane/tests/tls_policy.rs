//! The TLS policy as real clients see it: protocol versions, cipher suites,
//! ALPN, session resumption.

mod support;

use rustls::version::{TLS12, TLS13};
use rustymail_dataplane::config::tls::TlsVersion;
use support::{Http1, Http2, TestServer, get, s_client, server_name};
use tokio::net::TcpStream;

#[tokio::test]
async fn tls11_is_refused() {
    let server = TestServer::start(|_| {}).await;
    // Lower openssl's own floor so the refusal is the server's.
    let out = s_client(
        server.api,
        &[
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-servername",
            "localhost",
        ],
    )
    .await;
    // The server answers the TLS 1.1 hello with an alert: no certificate, no cipher.
    assert!(out.contains("no peer certificate available"), "{out}");
    assert!(out.contains("Cipher is (NONE)"), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn tls12_and_tls13_are_accepted() {
    let server = TestServer::start(|_| {}).await;
    for (version, name) in [(&TLS12, "TLSv1_2"), (&TLS13, "TLSv1_3")] {
        let tcp = TcpStream::connect(server.api).await.expect("connect");
        let tls = server
            .client(&[version], &[b"http/1.1"])
            .connect(server_name(), tcp)
            .await
            .expect("handshake");
        let negotiated = tls.get_ref().1.protocol_version().expect("version");
        assert_eq!(format!("{negotiated:?}"), name);
        let reply = Http1::over(tls)
            .await
            .send(get("/api/v1/status"))
            .await
            .expect("reply");
        assert_eq!(reply.status, 200);
    }
    for flag in ["-tls1_2", "-tls1_3"] {
        let out = s_client(server.api, &[flag, "-servername", "localhost"]).await;
        assert!(out.contains("New, TLSv1."), "{flag}: {out}");
    }
    server.stop().await;
}

#[tokio::test]
async fn tls13_minimum_refuses_tls12() {
    let server = TestServer::start(|c| c.tls.min_version = TlsVersion::Tls13).await;
    let out = s_client(server.api, &["-tls1_2", "-servername", "localhost"]).await;
    assert!(out.contains("alert protocol version"), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn only_forward_secret_aead_suites_are_negotiable() {
    let server = TestServer::start(|_| {}).await;
    for weak in [
        "AES128-SHA",
        "AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA256",
    ] {
        let out = s_client(
            server.api,
            &["-tls1_2", "-cipher", weak, "-servername", "localhost"],
        )
        .await;
        assert!(
            out.contains("Cipher is (NONE)") || out.contains("handshake failure"),
            "{weak}: {out}"
        );
    }
    let out = s_client(
        server.api,
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "-servername",
            "localhost",
        ],
    )
    .await;
    assert!(
        out.contains("Cipher is ECDHE-ECDSA-CHACHA20-POLY1305"),
        "{out}"
    );
    server.stop().await;
}

#[tokio::test]
async fn server_prefers_its_own_suite_order() {
    let server = TestServer::start(|c| {
        c.tls.cipher_suites = [
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ]
        .iter()
        .map(|n| n.parse().expect("suite"))
        .collect();
    })
    .await;
    // The client prefers AES; the server's first choice wins.
    let out = s_client(
        server.api,
        &[
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
            "-servername",
            "localhost",
        ],
    )
    .await;
    assert!(
        out.contains("Cipher is TLS_CHACHA20_POLY1305_SHA256"),
        "{out}"
    );
    // A suite left out of the list is refused.
    let out = s_client(
        server.api,
        &[
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_256_GCM_SHA384",
            "-servername",
            "localhost",
        ],
    )
    .await;
    assert!(
        out.contains("Cipher is (NONE)") || out.contains("handshake failure"),
        "{out}"
    );
    server.stop().await;
}

#[tokio::test]
async fn alpn_selects_http2_or_http11() {
    let server = TestServer::start(|_| {}).await;
    let tls = server.connect(&[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let reply = Http2::over(tls)
        .await
        .send(get("/api/v1/status"))
        .await
        .expect("h2 reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["service"], "rustymail");

    let tls = server.connect(&[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let reply = Http1::over(tls)
        .await
        .send(get("/api/v1/status"))
        .await
        .expect("h1 reply");
    assert_eq!(reply.status, 200);

    // A client that offers no ALPN gets HTTP/1.1.
    let tls = server.connect(&[]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let reply = Http1::over(tls)
        .await
        .send(get("/api/v1/status"))
        .await
        .expect("reply");
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn curl_speaks_http2_and_http11() {
    let server = TestServer::start(|_| {}).await;
    let ca = support::write_file(
        server.certs.path(),
        "ca-for-curl.pem",
        &server.certs.ca_pem(),
    );
    let url = format!("https://localhost:{}/api/v1/status", server.api.port());
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = tokio::process::Command::new("curl")
            .args(["-sS", flag, "--cacert"])
            .arg(&ca)
            .args([
                "--resolve",
                &format!("localhost:{}:127.0.0.1", server.api.port()),
            ])
            .args(["-w", "\n%{http_version} %{http_code}", &url])
            .kill_on_drop(true)
            .output()
            .await
            .expect("curl is installed");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            text.ends_with(&format!("{version} 200")),
            "{flag}: {text} {err}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn sessions_resume() {
    let server = TestServer::start(|_| {}).await;
    let connector = server.client(&[&TLS13], &[b"http/1.1"]);
    for _ in 0..2 {
        let tcp = TcpStream::connect(server.api).await.expect("connect");
        let tls = connector
            .connect(server_name(), tcp)
            .await
            .expect("handshake");
        // Read the response so the client receives its session tickets.
        Http1::over(tls)
            .await
            .send(get("/api/v1/status"))
            .await
            .expect("reply");
    }
    let tcp = TcpStream::connect(server.api).await.expect("connect");
    let tls = connector
        .connect(server_name(), tcp)
        .await
        .expect("handshake");
    assert_eq!(
        tls.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    server.stop().await;
}
