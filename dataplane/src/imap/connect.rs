//! Opening a logged-in IMAP connection: TCP, then implicit TLS or STARTTLS
//! (or, only when the account says `security: none`, nothing), then LOGIN.
//! Every step has a deadline; async-imap has none of its own.

use std::{
    collections::HashSet,
    io,
    path::Path,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

use super::{ImapError, Result};
use crate::config::{Imap, ImapSecurity};

/// The byte stream under an IMAP session.
#[derive(Debug)]
pub enum Stream {
    /// TLS, implicit or after STARTTLS.
    Tls(Box<TlsStream<TcpStream>>),
    /// Plain TCP: before STARTTLS, or `security: none`.
    Plain(TcpStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<Stream>;

/// What the server can do, as far as the data plane cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `MOVE` (RFC 6851).
    pub moves: bool,
    /// `CONDSTORE` (RFC 7162): HIGHESTMODSEQ in STATUS and SELECT.
    pub condstore: bool,
    /// `QRESYNC` (RFC 7162): SELECT and EXAMINE report what changed since
    /// a known HIGHESTMODSEQ; EXPUNGE answers become VANISHED.
    pub qresync: bool,
    /// `UIDPLUS` (RFC 4315): `UID EXPUNGE`.
    pub uidplus: bool,
    /// `LITERAL+` (RFC 7888): literals without a round trip.
    pub literal_plus: bool,
    /// `LITERAL-` (RFC 7888): the same, up to 4096 bytes.
    pub literal_minus: bool,
    /// `UNSELECT` (RFC 3691): leave a mailbox without expunging.
    pub unselect: bool,
}

impl Capabilities {
    /// The capabilities named in `names` (upper case).
    pub fn from_names(names: &HashSet<String>) -> Self {
        let has = |n: &str| names.contains(n);
        Self {
            moves: has("MOVE"),
            condstore: has("CONDSTORE") || has("QRESYNC"),
            qresync: has("QRESYNC"),
            uidplus: has("UIDPLUS"),
            literal_plus: has("LITERAL+"),
            literal_minus: has("LITERAL-"),
            unselect: has("UNSELECT"),
        }
    }

    /// How non-ASCII text may be sent.
    pub fn literals(&self) -> super::query::Literals {
        use super::query::Literals;
        if self.literal_plus {
            Literals::NonSynchronizing { max: usize::MAX }
        } else if self.literal_minus {
            Literals::NonSynchronizing { max: 4096 }
        } else {
            Literals::None
        }
    }
}

/// A logged-in connection and what its server can do.
#[derive(Debug)]
pub struct Connection {
    /// The session.
    pub session: Session,
    /// The server's capabilities after login.
    pub capabilities: Capabilities,
    /// Whether a mailbox is selected (or examined) on this connection.
    pub selected: bool,
}

/// Where and how to connect for one account, prepared once.
#[derive(Clone)]
pub struct Target {
    /// The account's name, for errors.
    pub account: String,
    host: String,
    port: u16,
    security: ImapSecurity,
    tls: TlsConnector,
    /// Time to connect, handshake and log in.
    pub connect_timeout: Duration,
    /// Time for the commands of one API request, and for a NOOP check.
    pub command_timeout: Duration,
}

/// The TLS client configuration: `ca_file` if given, else the system roots.
pub fn client_config(ca_file: Option<&Path>) -> std::result::Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("CA file {} holds no certificate", path.display()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| e.to_string())
}

/// Whether a handshake error is rustls refusing the peer, as opposed to
/// the transport failing under it.
fn is_tls_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

impl Target {
    /// The target of `account` with `imap` settings; fails when the CA file
    /// cannot be read.
    pub fn new(account: &str, imap: &Imap) -> std::result::Result<Self, String> {
        let config = client_config(imap.ca_file.as_deref())?;
        Ok(Self {
            account: account.to_owned(),
            host: imap.host.clone(),
            port: imap.port,
            security: imap.security,
            tls: TlsConnector::from(Arc::new(config)),
            connect_timeout: imap.connect_timeout.0,
            command_timeout: imap.command_timeout.0,
        })
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> ImapError {
        ImapError::Unreachable {
            account: self.account.clone(),
            reason: reason.to_string(),
        }
    }

    fn tls_error(&self, reason: impl std::fmt::Display) -> ImapError {
        ImapError::Tls {
            account: self.account.clone(),
            reason: reason.to_string(),
        }
    }

    /// Connects and logs in as `username` with `password`, within the
    /// connect timeout.
    pub async fn connect(&self, username: &str, password: &str) -> Result<Connection> {
        match tokio::time::timeout(self.connect_timeout, self.connect_now(username, password)).await
        {
            Ok(result) => result,
            Err(_) => Err(ImapError::Timeout {
                account: self.account.clone(),
                what: "connect and login",
            }),
        }
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<Stream> {
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| self.tls_error(format!("{:?} is not a server name: {e}", self.host)))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| self.handshake_error(e))?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// A failed handshake as the client should meet it: TLS refused (a
    /// certificate that does not verify, no common version) is the
    /// server's misconfiguration, `Tls`; the connection reset or closed
    /// mid-handshake (a server shutting down) is `Unreachable`, retryable.
    fn handshake_error(&self, e: std::io::Error) -> ImapError {
        if is_tls_refusal(&e) {
            self.tls_error(e)
        } else {
            self.unreachable(format!("{}:{}: TLS handshake: {e}", self.host, self.port))
        }
    }

    async fn connect_now(&self, username: &str, password: &str) -> Result<Connection> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.unreachable(format!("{}:{}: {e}", self.host, self.port)))?;
        let _ = tcp.set_nodelay(true);
        let client = match self.security {
            ImapSecurity::Tls => {
                let mut client = async_imap::Client::new(self.handshake(tcp).await?);
                self.greeting(&mut client).await?;
                client
            }
            ImapSecurity::Starttls => {
                let mut plain = async_imap::Client::new(Stream::Plain(tcp));
                self.greeting(&mut plain).await?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| self.tls_error(format!("STARTTLS refused: {e}")))?;
                let Stream::Plain(tcp) = plain.into_inner() else {
                    return Err(self.tls_error("STARTTLS on a TLS stream"));
                };
                async_imap::Client::new(self.handshake(tcp).await?)
            }
            ImapSecurity::None => {
                let mut client = async_imap::Client::new(Stream::Plain(tcp));
                self.greeting(&mut client).await?;
                client
            }
        };
        let mut session = client
            .login(username, password)
            .await
            .map_err(|(e, _)| match e {
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                    ImapError::Auth {
                        account: self.account.clone(),
                    }
                }
                other => self.unreachable(format!("login: {other}")),
            })?;
        let names: HashSet<String> = session
            .capabilities()
            .await
            .map_err(|e| self.unreachable(format!("CAPABILITY: {e}")))?
            .iter()
            .filter_map(|c| match c {
                async_imap::types::Capability::Atom(a) => Some(a.to_ascii_uppercase()),
                _ => None,
            })
            .collect();
        let capabilities = Capabilities::from_names(&names);
        // SELECT and EXAMINE then report HIGHESTMODSEQ; with QRESYNC
        // (which implies CONDSTORE) they take a known state too.
        let enable = if capabilities.qresync {
            Some("ENABLE QRESYNC")
        } else if capabilities.condstore {
            Some("ENABLE CONDSTORE")
        } else {
            None
        };
        if let Some(enable) = enable {
            session
                .run_command_and_check_ok(enable)
                .await
                .map_err(|e| self.unreachable(format!("{enable}: {e}")))?;
        }
        Ok(Connection {
            session,
            capabilities,
            selected: false,
        })
    }

    async fn greeting(&self, client: &mut async_imap::Client<Stream>) -> Result<()> {
        match client.read_response().await {
            Ok(Some(response)) => match response.parsed() {
                imap_proto::Response::Data {
                    status: imap_proto::Status::Ok,
                    ..
                } => Ok(()),
                other => Err(self.unreachable(format!("the server greeted with {other:?}"))),
            },
            Ok(None) => Err(self.unreachable("the server closed the connection before greeting")),
            Err(e) => Err(self.unreachable(format!("greeting: {e}"))),
        }
    }
}
