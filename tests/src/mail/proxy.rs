//! A TCP proxy in front of the test Dovecot's plain port that cuts a
//! connection the moment the client sends a chosen command (the fault of a
//! network or server dying between two steps of an operation), or stalls it
//! there (a server that never answers).

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

/// What the proxy does to a connection whose client sends the chosen bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Close it.
    Cut,
    /// Keep it open, forwarding nothing more either way.
    Stall,
}

type Trigger = Arc<Mutex<Option<(Vec<u8>, Fault)>>>;

/// A running proxy; stops when dropped.
pub struct CuttingProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut_on: Trigger,
    cuts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// Proxies to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut_on: Trigger = Arc::default();
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
        self.arm(needle, Fault::Cut);
    }

    /// From now on, stalls any connection whose client sends `needle`
    /// (without forwarding it), once: the command is never answered.
    pub fn stall_when_client_sends(&self, needle: &str) {
        self.arm(needle, Fault::Stall);
    }

    fn arm(&self, needle: &str, fault: Fault) {
        *self.cut_on.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((needle.as_bytes().to_vec(), fault));
    }

    /// Connections cut or stalled so far.
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
    cut_on: Trigger,
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
                    let mut trigger = cut_on.lock().unwrap_or_else(|p| p.into_inner());
                    let found = trigger.as_ref().and_then(|(w, fault)| {
                        up[..n].windows(w.len()).any(|x| x == w.as_slice()).then_some(*fault)
                    });
                    if found.is_some() {
                        *trigger = None;
                    }
                    found
                };
                match hit {
                    Some(Fault::Cut) => {
                        cuts.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Some(Fault::Stall) => {
                        cuts.fetch_add(1, Ordering::SeqCst);
                        // Swallow what the client sends until it gives up.
                        while matches!(cr.read(&mut up).await, Ok(n) if n > 0) {}
                        return;
                    }
                    None => {}
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
