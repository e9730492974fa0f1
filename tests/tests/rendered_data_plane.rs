//! A data plane process run from exactly what the operator renders for an
//! example RustyMail (its ConfigMap's `config.yaml` and its generated
//! credentials), driven as a client would: what the data plane supports on
//! its own must still work on an operator-managed pod.

use std::net::SocketAddr;

use rand::{SeedableRng, rngs::StdRng};
use rustymail_operator::{
    crd::load,
    render::{self, Child, Credentials, CredentialsInput, Observed, TlsMaterial},
};
use rustymail_tests::{rendered::RenderedDataPlane, workspace};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The children the operator renders for `examples/minimal.yaml`, with
/// generated credentials and a self-signed certificate.
fn rendered_minimal() -> Vec<Child> {
    let path = workspace::examples()
        .into_iter()
        .find(|p| p.ends_with("minimal.yaml"))
        .expect("examples/minimal.yaml");
    let text = std::fs::read_to_string(&path).expect("example readable");
    let rm = load::from_yaml(&text, "default").expect("example loads");
    let observed = Observed {
        cert_manager: true,
        monitoring: false,
        acme_issuer: false,
        credentials: CredentialsInput::Generated(Credentials::generate(
            &mut StdRng::seed_from_u64(7),
            None,
        )),
        // Placeholders: the test serves plain HTTP.
        self_signed: Some(TlsMaterial {
            chain_pem: "(leaf)".into(),
            key_pem: "(key)".into(),
            ca_pem: "(ca)".into(),
        }),
    };
    render::render(&rm, &observed).expect("renders")
}

/// The string value of `key` in the `data` or `stringData` of the child
/// of `kind` whose name ends in `suffix`.
fn child_text(children: &[Child], kind: &str, suffix: &str, key: &str) -> String {
    children
        .iter()
        .map(Child::to_value)
        .filter(|v| v["kind"] == kind)
        .filter(|v| {
            v["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(suffix))
        })
        .find_map(|v| {
            let data = &v["data"][key];
            let string_data = &v["stringData"][key];
            string_data.as_str().map(str::to_owned).or_else(|| {
                data.as_str().map(|b64| {
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap_or_else(|_| b64.as_bytes().to_vec());
                    String::from_utf8_lossy(&bytes).into_owned()
                })
            })
        })
        .unwrap_or_else(|| panic!("no {kind} *{suffix} with {key}"))
}

/// `POST path` with `headers` and `body` over plain HTTP/1.1: the status
/// and the body as JSON (`Null` when it is not JSON).
async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    tcp.write_all(request.as_bytes()).await.expect("sends");
    let mut reply = String::new();
    let _ = tcp.read_to_string(&mut reply).await;
    let status = rustymail_tests::admin::status(&reply);
    let json = reply
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_encoded_token_refresh_works_on_an_operator_rendered_config() {
    let children = rendered_minimal();
    let yaml = child_text(&children, "ConfigMap", "-config", "config.yaml");
    let api_key = child_text(&children, "Secret", "-credentials", "api-keys");
    let jwt_secret = child_text(&children, "Secret", "-credentials", "jwt-secret");

    let plane = RenderedDataPlane::start(&yaml, &api_key, &jwt_secret).await;
    let addr = plane.addr();

    let (status, pair) = post(addr, "/api/v1/auth/token", &[("x-api-key", &api_key)], "").await;
    assert_eq!(status, 200, "tokens for the generated key: {pair}");
    let refresh = pair["refresh_token"].as_str().expect("a refresh token");
    let form = format!("grant_type=refresh_token&refresh_token={refresh}");
    let (status, again) = post(
        addr,
        "/api/v1/auth/refresh",
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(
        status, 200,
        "the form-encoded refresh on an operator-managed pod: {again}"
    );
    assert!(again["access_token"].is_string(), "{again}");

    plane.stop().await;
}
