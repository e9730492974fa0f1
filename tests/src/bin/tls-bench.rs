//! `tls-bench`: the data plane's TLS termination against nginx, on this machine.
//!
//! Both servers run on loopback with the same ECDSA P-256 certificate, the
//! same TLS policy (versions, suites and their order, X25519), the same body
//! and security headers, the same limits, and one worker per core each.
//! Every round starts both afresh, warms them up, and runs each load on both
//! in A-B-B-A order (half the duration a slice; which server is A alternates
//! between rounds):
//!
//! - keep-alive requests/s and latency (p50, p99) at 50 connections: `wrk -t2 -c50 --latency`;
//! - new connections with `Connection: close` (wrk, which resumes each slot's
//!   TLS session, so these are mostly resumed handshakes);
//! - new connections with full handshakes (a rustls client that never resumes);
//! - memory per idle TLS connection (RSS delta over 1000 idle connections);
//!
//! and, once, how fast the data plane serves a rotated certificate. Each
//! measurement also records the server's CPU time per request and the CPU
//! used by other processes meanwhile, and the report gives the load average,
//! every round, the medians and the data plane / nginx ratios of the medians
//! as one JSON object on standard output.
//!
//! `cargo run --release -p rustymail-tests --bin tls-bench [-- --duration 10 --rounds 3 --wait-quiet 600]`
//! (`--wait-quiet` waits up to that many seconds for a 1-minute load average
//! below 1.5 before starting). Needs `wrk` and `nginx` (Debian packages).

#[path = "../tls_bench/mod.rs"]
mod tls_bench;

use std::process::ExitCode;

/// The allocator of `rustymail-dataplane` (see its `main.rs`), so that the
/// data plane measured here is the one that ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some(rustymail_tests::bench::SERVE_ARG) {
        rustymail_tests::bench::serve_child(args.get(2).map(String::as_str))
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
