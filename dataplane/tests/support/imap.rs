//! A scripted IMAP server on loopback, in plain text, for tests of a real
//! data plane process: it greets, accepts any login, answers NOOP and
//! CAPABILITY, and holds every LIST until the test releases it, so a
//! request to `/api/v1/folders` stays in flight as long as a test needs.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    task::JoinHandle,
};

/// The running server; stops when dropped.
pub struct HeldImap {
    /// Where the data plane connects.
    pub addr: SocketAddr,
    /// Receives one message for every LIST that arrives.
    pub lists: mpsc::UnboundedReceiver<()>,
    release: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HeldImap {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (lists_tx, lists) = mpsc::unbounded_channel();
        let (release, released) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(session(tcp, lists_tx.clone(), released.clone()));
            }
        });
        Self {
            addr,
            lists,
            release,
            task,
        }
    }

    /// Lets every held LIST, and every later one, answer.
    pub fn release_lists(&self) {
        self.release.send_replace(true);
    }
}

impl Drop for HeldImap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(
    tcp: TcpStream,
    lists: mpsc::UnboundedSender<()>,
    mut released: watch::Receiver<bool>,
) {
    let (read, mut write) = tcp.into_split();
    let mut lines = BufReader::new(read).lines();
    if write
        .write_all(b"* OK [CAPABILITY IMAP4rev1] held IMAP ready\r\n")
        .await
        .is_err()
    {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        let (Some(tag), Some(command)) = (words.next(), words.next()) else {
            continue;
        };
        let reply = match command.to_ascii_uppercase().as_str() {
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n"),
            "LIST" => {
                let _ = lists.send(());
                let _ = released.wait_for(|r| *r).await;
                format!("* LIST (\\HasNoChildren) \"/\" INBOX\r\n{tag} OK done\r\n")
            }
            "LOGOUT" => format!("* BYE\r\n{tag} OK done\r\n"),
            _ => format!("{tag} OK done\r\n"),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
