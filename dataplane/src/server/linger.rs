//! Lingering close, as nginx's `lingering_close`: a connection the server
//! ends while the client is still sending (a request head or body refused
//! before it was read) is not closed outright. Closing a socket with unread
//! data makes the kernel answer with a reset, and a reset can destroy the
//! refusal (`413`, `431`) before the client has read it, or fail the upload
//! it is still writing. Instead, when the server closes a connection the
//! client has not closed, it half-closes and reads on, discarding, until the
//! client closes too (at once, for a client that reads the end of the
//! response), for at most [`LINGER_TIME`] and [`LINGER_BYTES`].

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

/// The longest a closed connection is read from.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// The most bytes read from a closed connection.
pub const LINGER_BYTES: usize = 256 * 1024;

/// A TCP connection that lingers when dropped with unread data.
#[derive(Debug)]
pub struct Linger {
    /// Always `Some` until dropped.
    tcp: Option<TcpStream>,
}

impl Linger {
    /// Wraps `tcp`.
    pub fn new(tcp: TcpStream) -> Self {
        Self { tcp: Some(tcp) }
    }

    /// Runs `op` on the connection, which is there until the drop.
    fn with_tcp<T>(
        self: Pin<&mut Self>,
        op: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.get_mut().tcp.as_mut() {
            Some(tcp) => op(Pin::new(tcp)),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncRead for Linger {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with_tcp(|tcp| tcp.poll_read(cx, buf))
    }
}

impl AsyncWrite for Linger {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with_tcp(|tcp| tcp.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.with_tcp(|tcp| tcp.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with_tcp(|tcp| tcp.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with_tcp(|tcp| tcp.poll_shutdown(cx))
    }
}

impl Drop for Linger {
    fn drop(&mut self) {
        let Some(tcp) = self.tcp.take() else { return };
        // One non-blocking read tells whether the client has gone already;
        // if it has (or the connection is broken), it is closed at once.
        let mut probe = [0; 1];
        match tcp.try_read(&mut probe) {
            Ok(0) => return,
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
            _ => {}
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(tcp));
        }
    }
}

/// Half-closes `tcp`, so the client sees the end of the response, then reads
/// and discards what it still sends until it closes too, within the linger
/// bounds.
async fn drain(mut tcp: TcpStream) {
    // The write side may be shut already, after a clean end of the response.
    let _ = tcp.shutdown().await;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        let mut buf = [0; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}
