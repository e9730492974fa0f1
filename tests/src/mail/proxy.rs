//! A TCP proxy in front of the test Dovecot's plain port that cuts a
//! connection the moment the client sends a chosen command: the fault of a
//! network or server dying between two steps of an operation.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::Result;

/// A running proxy; stops when dropped.
pub struct CuttingProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut_on: Arc<Mutex<Option<Vec<u8>>>>,
    cuts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// Proxies to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut_on: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let cuts = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let cut_on = Arc::clone(&cut_on);
            let cuts = Arc::clone(&cuts);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let cut_on = Arc::clone(&cut_on);
                    let cuts = Arc::clone(&cuts);
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(upstream).await {
                            relay(client, server, cut_on, cuts).await;
                        }
                    });
                }
            }
        });
        Ok(Self {
            addr,
            cut_on,
            cuts,
            task,
        })
    }

    /// From now on, cuts any connection whose client sends `needle` (before
    /// forwarding it), once.
    pub fn cut_when_client_sends(&self, needle: &str) {
        *self.cut_on.lock().unwrap_or_else(|p| p.into_inner()) = Some(needle.as_bytes().to_vec());
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    cut_on: Arc<Mutex<Option<Vec<u8>>>>,
    cuts: Arc<AtomicUsize>,
) {
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = cr.read(&mut up) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                let hit = {
                    let mut needle = cut_on.lock().unwrap_or_else(|p| p.into_inner());
                    let found = needle
                        .as_ref()
                        .is_some_and(|w| up[..n].windows(w.len()).any(|x| x == w.as_slice()));
                    if found {
                        *needle = None;
                    }
                    found
                };
                if hit {
                    cuts.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if sw.write_all(&up[..n]).await.is_err() { return; }
            }
            n = sr.read(&mut down) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                if cw.write_all(&down[..n]).await.is_err() { return; }
            }
        }
    }
}
