//! What an HTTPS client sees of the hardened HTTP stack: security headers,
//! JSON errors, request limits, deadlines, the connection cap, and the admin
//! and redirect listeners.

mod support;

use std::time::Duration;

use axum::{Router, body::Bytes, routing::post};
use http_body_util::Full;
use hyper::Request;
use rustymail_dataplane::config::units::{ByteSize, HumanDuration};
use support::{Http1, PATIENCE, TestServer, get};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn post_body(path: &str, content_type: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "localhost")
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// Routes that read a body, and that panic, for the limits below.
fn test_routes() -> Router {
    support::api_routes()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/panic", post(explode))
}

async fn explode() -> &'static str {
    panic!("handler bug")
}

#[tokio::test]
async fn every_https_response_carries_the_security_headers() {
    let server = TestServer::start(|_| {}).await;
    let mut conn = server.h1().await;
    for path in ["/api/v1/status", "/no/such/path"] {
        let reply = conn.send(get(path)).await.expect("reply");
        let h = &reply.headers;
        assert_eq!(
            h["strict-transport-security"],
            "max-age=63072000; includeSubDomains; preload"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h.get("server").is_none(), "no server banner");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let server = TestServer::start(|_| {}).await;
    let mut conn = server.h1().await;
    let reply = conn.send(get("/api/v1/nothing-here")).await.expect("reply");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "not_found");
    let reply = conn
        .send(post_body(
            "/api/v1/status",
            "application/json",
            b"{}".to_vec(),
        ))
        .await
        .expect("reply");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.json()["error"]["code"], "method_not_allowed");
    assert!(
        reply.headers["allow"]
            .to_str()
            .expect("ascii")
            .contains("GET")
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let server = TestServer::start_with(test_routes(), |c| {
        c.limits.max_body_size = ByteSize::kib(1);
    })
    .await;
    let mut conn = server.h1().await;
    let reply = conn
        .send(post_body("/echo", "application/json", vec![b'x'; 2048]))
        .await
        .expect("reply");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"]["code"], "payload_too_large");
    let mut conn = server.h1().await;
    let reply = conn
        .send(post_body("/echo", "application/json", vec![b'x'; 512]))
        .await
        .expect("reply");
    assert_eq!((reply.status.as_u16(), reply.body.len()), (200, 512));
    server.stop().await;
}

#[tokio::test]
async fn bodies_are_read_up_to_the_configured_size_whatever_their_framing() {
    let server = TestServer::start_with(test_routes(), |c| {
        c.limits.max_body_size = ByteSize::mib(3);
    })
    .await;
    // Above the 2 MiB that axum's extractors allow by default: the
    // configured limit is the one that counts.
    let mut conn = server.h1().await;
    let big = vec![b'x'; 5 << 19];
    let reply = conn
        .send(post_body("/echo", "application/json", big.clone()))
        .await
        .expect("reply");
    assert_eq!((reply.status.as_u16(), reply.body.len()), (200, big.len()));
    // A chunked body declares no length: it is refused once it passes the
    // limit while being read.
    let mut tls = server.connect(&[b"http/1.1"]).await;
    let head = "POST /echo HTTP/1.1\r\nhost: localhost\r\n\
                content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    tls.write_all(head.as_bytes()).await.expect("head sent");
    let chunk = vec![b'x'; 1 << 20];
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    // Past the limit the server answers and closes without reading the
    // rest, so the end of the body may meet a closed connection (a broken
    // pipe, as a real client would see): the refusal is read all the same.
    let sent = async {
        tls.write_all(&body).await?;
        tls.flush().await
    }
    .await;
    if let Err(e) = sent {
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "sending the body: {e}"
        );
    }
    let reply = read_until_closed(&mut tls).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("\"payload_too_large\""), "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_upload_can_finish_sending_and_read_the_refusal() {
    // A client uploading a body sends it all before it reads the answer,
    // as most do. The server refuses by the declared length without reading
    // the body. Had it closed outright, the client's next write would meet
    // a reset, and the client would see a broken pipe instead of a 413.
    let server = TestServer::start_with(test_routes(), |c| {
        c.limits.max_body_size = ByteSize::kib(1);
    })
    .await;
    let mut tls = server.connect(&[b"http/1.1"]).await;
    let head = "POST /echo HTTP/1.1\r\nhost: localhost\r\n\
                content-type: application/json\r\ncontent-length: 65536\r\n\r\n";
    tls.write_all(head.as_bytes()).await.expect("head sent");
    tls.flush().await.expect("head sent");
    // By now the server has answered; the upload goes on regardless.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for chunk in 0..4 {
        tls.write_all(&[b'x'; 16 * 1024])
            .await
            .and(tls.flush().await)
            .unwrap_or_else(|e| panic!("body chunk {chunk} not sent: {e}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = read_until_closed(&mut tls).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "the client read {reply:?} instead of a 413"
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused_with_431() {
    let server = TestServer::start(|_| {}).await;
    let mut conn = server.h1().await;
    let req = Request::get("/api/v1/status")
        .header("host", "localhost")
        .header("x-padding", "p".repeat(9 * 1024))
        .body(Full::default())
        .expect("request");
    let reply = conn.send(req).await.expect("reply");
    assert_eq!(reply.status, 431);
    assert_eq!(
        reply.json()["error"]["code"],
        "request_header_fields_too_large"
    );
    // Far larger heads are refused by the HTTP parser itself, still with 431.
    let mut conn = server.h1().await;
    let req = Request::get("/api/v1/status")
        .header("host", "localhost")
        .header("x-padding", "p".repeat(64 * 1024))
        .body(Full::default())
        .expect("request");
    assert_eq!(conn.send(req).await.expect("reply").status, 431);
    server.stop().await;
}

#[tokio::test]
async fn bodies_of_other_media_types_are_refused_with_415() {
    let server = TestServer::start_with(test_routes(), |_| {}).await;
    let mut conn = server.h1().await;
    let reply = conn
        .send(post_body("/echo", "text/html", b"<p>".to_vec()))
        .await
        .expect("reply");
    assert_eq!(reply.status, 415);
    assert_eq!(reply.json()["error"]["code"], "unsupported_media_type");
    let reply = conn
        .send(post_body(
            "/echo",
            "application/json; charset=utf-8",
            b"{}".to_vec(),
        ))
        .await
        .expect("reply");
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_gets_a_json_500_and_the_server_lives_on() {
    let server = TestServer::start_with(test_routes(), |_| {}).await;
    let mut conn = server.h1().await;
    let reply = conn
        .send(post_body("/panic", "application/json", b"{}".to_vec()))
        .await
        .expect("reply");
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["code"], "internal_error");
    assert_eq!(server.get("/api/v1/status").await.status, 200);
    server.stop().await;
}

/// Reads until the server closes the connection; panics if it does not
/// within [`PATIENCE`]. Returns what was read.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Err(_) => panic!("server kept a slow client's connection open"),
            Ok(Ok(0) | Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_request_heads_and_silent_handshakes_are_cut_off() {
    let server = TestServer::start(|c| {
        c.limits.header_read_timeout = HumanDuration(Duration::from_millis(300));
    })
    .await;
    let mut tls = server.connect(&[b"http/1.1"]).await;
    tls.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let seen = read_until_closed(&mut tls).await;
    assert!(!String::from_utf8_lossy(&seen).contains("200 OK"));
    // A client that opens TCP and never starts TLS is dropped too.
    let mut tcp = TcpStream::connect(server.api).await.expect("connect");
    assert!(read_until_closed(&mut tcp).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn slow_request_bodies_are_cut_off() {
    let server = TestServer::start_with(test_routes(), |c| {
        c.limits.body_read_timeout = HumanDuration(Duration::from_millis(300));
    })
    .await;
    let mut tls = server.connect(&[b"http/1.1"]).await;
    tls.write_all(
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .await
    .expect("write");
    let seen = String::from_utf8_lossy(&read_until_closed(&mut tls).await).into_owned();
    assert!(seen.starts_with("HTTP/1.1 4"), "{seen}");
    assert!(seen.contains("{\"error\":"), "{seen}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_an_error_and_the_server_lives_on() {
    let server = TestServer::start(|_| {}).await;
    let mut tls = server.connect(&[b"http/1.1"]).await;
    tls.write_all(b"NOT HTTP AT ALL\r\n\r\n")
        .await
        .expect("write");
    let seen = String::from_utf8_lossy(&read_until_closed(&mut tls).await).into_owned();
    assert!(seen.starts_with("HTTP/1.1 400"), "{seen}");
    // A bad percent-encoding in a path is a JSON 404, not a crash.
    assert_eq!(server.get("/api/v1/%ZZ").await.status, 404);
    assert_eq!(server.get("/api/v1/status").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let server = TestServer::start(|c| c.limits.max_connections = 2).await;
    let first = server.h1().await;
    let _second = server.h1().await;
    let tcp = TcpStream::connect(server.api).await.expect("connect");
    let third = server
        .client(rustls::ALL_VERSIONS, &[b"http/1.1"])
        .connect(support::server_name(), tcp)
        .await;
    assert!(third.is_err(), "a third connection must not be served");
    drop(first);
    // The server notices the close asynchronously: retry a bounded number of times.
    let mut served = false;
    for _ in 0..50 {
        let tcp = TcpStream::connect(server.api).await.expect("connect");
        let connector = server.client(rustls::ALL_VERSIONS, &[b"http/1.1"]);
        if let Ok(tls) = connector.connect(support::server_name(), tcp).await {
            let reply = Http1::over(tls).await.send(get("/api/v1/status")).await;
            if reply.is_ok_and(|r| r.status == 200) {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a freed slot is served again");
    server.stop().await;
}

#[tokio::test]
async fn redirect_listener_answers_301_to_https() {
    let server = TestServer::start(|_| {}).await;
    let redirect = server.redirect.expect("redirect listener");
    let tcp = TcpStream::connect(redirect).await.expect("connect");
    let req = Request::get("/api/v1/folders?account=a")
        .header("host", format!("mail.example.com:{}", redirect.port()))
        .body(Full::default())
        .expect("request");
    let reply = Http1::over(tcp).await.send(req).await.expect("reply");
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.headers["location"],
        format!(
            "https://mail.example.com:{}/api/v1/folders?account=a",
            server.api.port()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_listener_serves_health_readiness_and_metrics() {
    let server = TestServer::start(|_| {}).await;
    assert_eq!(server.get("/api/v1/status").await.status, 200);
    let tcp = TcpStream::connect(server.admin).await.expect("connect");
    let mut admin = Http1::over(tcp).await;
    assert_eq!(
        admin.send(get("/healthz")).await.expect("reply").status,
        200
    );
    assert_eq!(admin.send(get("/readyz")).await.expect("reply").status, 200);
    let metrics = admin.send(get("/metrics")).await.expect("reply");
    let text = String::from_utf8_lossy(&metrics.body);
    for expected in [
        "rustymail_http_requests_total{route=\"/api/v1/status\",method=\"GET\",status=\"200\"} 1",
        "rustymail_http_request_duration_seconds_bucket",
        "rustymail_tls_handshakes_total{version=\"TLSv1.3\",alpn=\"http/1.1\",kind=\"full\"}",
        "rustymail_tls_certificate_not_after_seconds ",
        "rustymail_tls_certificate_reloads_total 0",
        "rustymail_open_connections ",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn without_required_https_and_certificate_the_api_is_plain_http() {
    let server = TestServer::start(|c| {
        c.tls.require_https = false;
        c.tls.cert_dir = None;
    })
    .await;
    let tcp = TcpStream::connect(server.api).await.expect("connect");
    let reply = Http1::over(tcp)
        .await
        .send(get("/api/v1/status"))
        .await
        .expect("reply");
    assert_eq!(reply.status, 200);
    server.stop().await;
}

/// `curl --http2` posting `size` bytes to `path` with `headers`; returns the
/// status curl read, or its failure.
async fn curl_h2_upload(
    server: &TestServer,
    path: &str,
    size: usize,
    headers: &[&str],
) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = support::write_file(dir.path(), "ca.pem", &server.certs.ca_pem());
    let body = support::write_file(dir.path(), "body.json", &"x".repeat(size));
    let url = format!("https://localhost:{}{path}", server.api.port());
    let resolve = format!("localhost:{}:127.0.0.1", server.api.port());
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "--http2", "--max-time", "20", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{http_version}", "--cacert"])
        .arg(&ca)
        .args([
            "--resolve",
            &resolve,
            "-H",
            "content-type: application/json",
        ]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(&url)
        .kill_on_drop(true)
        .output()
        .await
        .expect("curl is installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout} {}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[tokio::test]
async fn a_refused_http2_upload_reaches_curl_as_its_status() {
    // A stream whose body the server stops reading is reset, and curl then
    // reports a failed transfer (exit 92) instead of the answer; nginx's
    // 413 arrives intact. The refused body is read and discarded instead.
    let server = TestServer::start_with(test_routes(), |c| {
        c.limits.max_body_size = ByteSize::mib(1);
    })
    .await;
    for (path, size, expected) in [
        ("/echo", 3 << 20, "413 2"),
        ("/api/v1/status", 3 << 20, "413 2"),
        ("/echo", 1000, "200 2"),
    ] {
        let got = curl_h2_upload(&server, path, size, &[]).await;
        assert_eq!(
            got.as_deref(),
            Ok(expected),
            "POST {path} with {size} bytes"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unauthenticated_http2_upload_reaches_curl_as_401() {
    let server = TestServer::start_with(test_routes(), |c| {
        c.auth.api_keys.required = true;
    })
    .await;
    let got = curl_h2_upload(&server, "/echo", 2 << 20, &[]).await;
    assert_eq!(got.as_deref(), Ok("401 2"));
    server.stop().await;
}
