//! One account: its pool, its cache and the operations the API offers; and
//! [`Accounts`], every configured account by name.

use std::{collections::HashMap, sync::Arc, time::Duration};

use super::{
    ImapError, Result,
    cache::Cache,
    connect::Target,
    credentials::Credentials,
    listing::{self, Page},
    ops::{Commands, NewUid},
    pool::Pool,
    query::Criteria,
    utf7,
};
use crate::{
    config,
    mail::{
        mime,
        model::{Attachment, Folder, Message, MessageSummary},
    },
    metrics::Metrics,
};

/// Gives an async block's `?` its error type.
fn typed<T, F: std::future::Future<Output = Result<T>>>(f: F) -> F {
    f
}

/// Runs `$body` with `$cmd` (the account's [`Commands`]) and `$c` (a pooled
/// [`Connection`]) within the command timeout. A connection that failed is
/// closed; a read that failed on a reused connection is tried once more on
/// a fresh one.
macro_rules! on_connection {
    ($account:ident, $retry:expr, |$cmd:ident, $c:ident| $body:block) => {{
        let $cmd = $account.commands();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut lease = match $account.pool.get().await {
                Ok(lease) => lease,
                Err(e) => break Err($account.count(e)),
            };
            let reused = lease.reused;
            let $c = lease.connection();
            let result = match tokio::time::timeout(
                $account.command_timeout,
                typed(async { $body }),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err(ImapError::Timeout {
                    account: $account.name.clone(),
                    what: "the request's IMAP commands",
                }),
            };
            // Unsolicited answers (EXISTS, FETCH of other clients' changes)
            // are not needed: every operation asks for the state it uses.
            while $c.session.unsolicited_responses.try_recv().is_ok() {}
            match result {
                Err(e) if e.breaks_connection() => {
                    lease.discard();
                    let again = $retry == Retry::Read
                        && reused
                        && attempt == 1
                        && matches!(e, ImapError::Unreachable { .. });
                    if !again {
                        break Err($account.count(e));
                    }
                }
                Err(e) => break Err($account.count(e)),
                Ok(value) => break Ok(value),
            }
        }
    }};
}

/// One IMAP account.
pub struct Account {
    name: String,
    pool: Pool,
    cache: Cache,
    metrics: Metrics,
    command_timeout: Duration,
}

/// Whether an operation may be run again on a fresh connection after its
/// connection failed: reads may, changes may not (they might have happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Read,
    Change,
}

impl Account {
    /// The account `config` describes; fails when its CA file is unusable.
    pub fn new(config: &config::Account, metrics: &Metrics) -> std::result::Result<Self, String> {
        let target = Target::new(&config.name, &config.imap)
            .map_err(|e| format!("account {:?}: {e}", config.name))?;
        let pool = Pool::new(
            target,
            Credentials::new(config),
            config.imap.max_connections,
            config.imap.idle_timeout.0,
            metrics.imap_connections(&config.name),
        );
        Ok(Self {
            name: config.name.clone(),
            pool,
            cache: Cache::default(),
            metrics: metrics.clone(),
            command_timeout: config.imap.command_timeout.0,
        })
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn commands(&self) -> Commands<'_> {
        Commands {
            account: &self.name,
            metrics: &self.metrics,
        }
    }

    fn count(&self, e: ImapError) -> ImapError {
        self.metrics.count_imap_error(e.kind());
        e
    }

    /// Whether the server can be reached and logged in to.
    pub async fn check(&self) -> Result<()> {
        on_connection!(self, Retry::Read, |cmd, c| { cmd.noop(c).await })
    }

    /// Closes connections unused for longer than the idle timeout.
    pub async fn close_idle(&self) {
        self.pool.close_idle().await;
    }

    /// Every folder.
    pub async fn folders(&self) -> Result<Vec<Folder>> {
        on_connection!(self, Retry::Read, |cmd, c| { cmd.folders(c).await })
    }

    /// Creates `name`.
    pub async fn create_folder(&self, name: &str) -> Result<()> {
        let wire = utf7::encode(name);
        on_connection!(self, Retry::Change, |cmd, c| {
            if cmd.status(c, &wire).await.is_ok() {
                return Err(ImapError::Refused {
                    command: "CREATE",
                    message: format!("folder {name:?} exists already"),
                });
            }
            cmd.create(c, &wire).await
        })
    }

    /// Renames `from` to `to`.
    pub async fn rename_folder(&self, from: &str, to: &str) -> Result<()> {
        let (from_wire, to_wire) = (utf7::encode(from), utf7::encode(to));
        self.cache.forget(&from_wire);
        self.cache.forget(&to_wire);
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.rename(c, &from_wire, &to_wire).await
        })
    }

    /// Deletes `name`.
    pub async fn delete_folder(&self, name: &str) -> Result<()> {
        let wire = utf7::encode(name);
        self.cache.forget(&wire);
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.delete_folder(c, &wire).await
        })
    }

    /// The state of `name` (it exists).
    pub async fn folder_state(&self, name: &str) -> Result<super::cache::FolderState> {
        let wire = utf7::encode(name);
        on_connection!(self, Retry::Read, |cmd, c| { cmd.status(c, &wire).await })
    }

    /// `limit` messages of `folder` after skipping `offset`, newest first,
    /// from the cache where it is provably current.
    pub async fn list(&self, folder: &str, offset: u32, limit: u32) -> Result<Page> {
        let wire = utf7::encode(folder);
        let cache = &self.cache;
        on_connection!(self, Retry::Read, |cmd, c| {
            listing::list(&cmd, c, cache, &wire, offset, limit).await
        })
    }

    /// The raw message and its flags and size.
    async fn raw(&self, folder: &str, uid: u32) -> Result<(Vec<String>, u32, Vec<u8>)> {
        let wire = utf7::encode(folder);
        on_connection!(self, Retry::Read, |cmd, c| {
            cmd.examine(c, &wire).await?;
            cmd.message(c, &wire, uid).await
        })
    }

    /// The message `uid` of `folder`, parsed.
    pub async fn message(&self, folder: &str, uid: u32) -> Result<Message> {
        let (flags, size, raw) = self.raw(folder, uid).await?;
        let parsed = mime::parse(&raw);
        Ok(Message {
            uid,
            flags,
            size,
            envelope: parsed.envelope,
            headers: parsed.headers,
            text: parsed.text,
            html: parsed.html,
            attachments: parsed.attachments,
        })
    }

    /// The attachments of message `uid`.
    pub async fn attachments(&self, folder: &str, uid: u32) -> Result<Vec<Attachment>> {
        let (_, _, raw) = self.raw(folder, uid).await?;
        Ok(mime::parse(&raw).attachments)
    }

    /// Attachment `index` of message `uid`.
    pub async fn attachment(
        &self,
        folder: &str,
        uid: u32,
        index: u32,
    ) -> Result<mime::AttachmentData> {
        let (_, _, raw) = self.raw(folder, uid).await?;
        mime::attachment(&raw, index).ok_or(ImapError::NoAttachment { uid, index })
    }

    /// Appends a raw message to `folder`; its UID there when the server
    /// reports it (UIDPLUS).
    pub async fn append(&self, folder: &str, raw: &[u8]) -> Result<Option<NewUid>> {
        let wire = utf7::encode(folder);
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.status(c, &wire).await?;
            cmd.append(c, &wire, raw).await
        })
    }

    /// Changes the flags of message `uid` (`FLAGS`, `+FLAGS` or `-FLAGS`).
    pub async fn store(
        &self,
        folder: &str,
        uid: u32,
        item: &str,
        flags: &[String],
    ) -> Result<Vec<String>> {
        let wire = utf7::encode(folder);
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.select(c, &wire).await?;
            cmd.store(c, &wire, uid, item, flags).await
        })
    }

    /// Moves message `uid` from `folder` to `dest`; its UID there when the
    /// server reports it (UIDPLUS).
    pub async fn move_message(&self, folder: &str, uid: u32, dest: &str) -> Result<Option<NewUid>> {
        let (wire, dest_wire) = (utf7::encode(folder), utf7::encode(dest));
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.status(c, &dest_wire).await?;
            cmd.select(c, &wire).await?;
            cmd.move_message(c, &wire, uid, &dest_wire).await
        })
    }

    /// Deletes message `uid` for good.
    pub async fn delete_message(&self, folder: &str, uid: u32) -> Result<()> {
        let wire = utf7::encode(folder);
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.select(c, &wire).await?;
            cmd.require_uid(c, &wire, uid).await?;
            cmd.expunge_uid(c, uid).await
        })
    }

    /// Expunges the \Deleted messages of `folder`.
    pub async fn expunge(&self, folder: &str) -> Result<u32> {
        let wire = utf7::encode(folder);
        on_connection!(self, Retry::Change, |cmd, c| {
            cmd.select(c, &wire).await?;
            cmd.expunge(c).await
        })
    }

    /// Messages of `folder` matching `criteria`: how many, and the newest `limit`.
    pub async fn search(
        &self,
        folder: &str,
        criteria: &Criteria,
        limit: u32,
    ) -> Result<(u32, Vec<MessageSummary>)> {
        let wire = utf7::encode(folder);
        on_connection!(self, Retry::Read, |cmd, c| {
            cmd.examine(c, &wire).await?;
            let uids = cmd.search(c, criteria).await?;
            let total = u32::try_from(uids.len()).unwrap_or(u32::MAX);
            let newest: Vec<u32> = uids.into_iter().take(limit as usize).collect();
            Ok((total, cmd.summaries_by_uid(c, &newest).await?))
        })
    }
}

/// Every configured account, by name; the first is the default.
#[derive(Clone)]
pub struct Accounts {
    by_name: Arc<HashMap<String, Arc<Account>>>,
    order: Arc<Vec<Arc<Account>>>,
}

impl Accounts {
    /// The accounts of `config`; fails naming an account whose CA file is unusable.
    pub fn new(config: &[config::Account], metrics: &Metrics) -> std::result::Result<Self, String> {
        let mut order = Vec::with_capacity(config.len());
        for account in config {
            order.push(Arc::new(Account::new(account, metrics)?));
        }
        let by_name = order
            .iter()
            .map(|a| (a.name.clone(), Arc::clone(a)))
            .collect();
        Ok(Self {
            by_name: Arc::new(by_name),
            order: Arc::new(order),
        })
    }

    /// The account named `name`, or the first when `None`.
    pub fn get(&self, name: Option<&str>) -> Result<&Arc<Account>> {
        match name {
            Some(name) => self
                .by_name
                .get(name)
                .ok_or_else(|| ImapError::UnknownAccount(name.to_owned())),
            None => self
                .order
                .first()
                .ok_or_else(|| ImapError::UnknownAccount(String::new())),
        }
    }

    /// Every account, in config order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.order.iter()
    }
}
