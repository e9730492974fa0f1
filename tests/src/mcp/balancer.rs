//! A TCP round-robin balancer on loopback, as a Kubernetes Service spreads
//! connections over a Deployment's pods: each new connection goes to the
//! next backend, and the bytes are relayed untouched (TLS end to end).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};

use super::super::mail::Result;

/// A running balancer; stops when dropped.
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    chosen: Arc<Mutex<Vec<usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Balances over `backends`, in turn.
    pub async fn start(backends: Vec<SocketAddr>) -> Result<Self> {
        if backends.is_empty() {
            return Err("a balancer needs a backend".into());
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chosen = Arc::new(Mutex::new(Vec::new()));
        let next = AtomicUsize::new(0);
        let task = tokio::spawn({
            let chosen = Arc::clone(&chosen);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let i = next.fetch_add(1, Ordering::Relaxed) % backends.len();
                    if let Ok(mut list) = chosen.lock() {
                        list.push(i);
                    }
                    let backend = backends[i];
                    tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(backend).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Ok(Self { addr, chosen, task })
    }

    /// The backend index each connection so far went to, in order.
    pub fn chosen(&self) -> Vec<usize> {
        self.chosen.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
