//! `tls-bench`: the data plane's TLS termination against nginx, on this machine.
//!
//! One run starts both servers on loopback with the same ECDSA P-256
//! certificate, the same response body and headers and the same TLS policy,
//! drives each with `wrk`, and prints one JSON object: keep-alive requests/s
//! and p99 latency at 50 connections, new-connection handshakes/s
//! (`Connection: close`), memory per idle TLS connection (RSS delta over idle
//! connections), the data plane's certificate-rotation pickup time, and the
//! data plane / nginx ratio of each.
//!
//! `cargo run --release -p rustymail-tests --bin tls-bench [-- --duration 10]`
//! Needs `wrk` and `nginx` (Debian packages).

#[path = "../tls_bench/mod.rs"]
mod tls_bench;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some(tls_bench::dataplane::SERVE_ARG) {
        tls_bench::dataplane::serve_child(args.get(2).map(String::as_str))
    } else {
        tls_bench::run(&args[1..])
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
