//! The message operations: list, append, get, flags, delete, move, expunge,
//! attachments and search.

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    MailError, Operation, Spec,
    error::{check_name, check_uid, limit},
};
use crate::{
    auth::scope::Scope,
    imap::{Account, query::Criteria},
    mail::{
        mime::AttachmentData,
        model::{
            AttachmentList, Expunged, FlagAction, Flags, Message, MessageList, Placed, SearchResult,
        },
    },
};

/// A page of a folder, newest first.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMessages {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder.
    pub name: String,
    /// Page size, 1 to 100. Default 50.
    pub limit: Option<u32>,
    /// Messages to skip, newest first. Default 0.
    pub offset: Option<u32>,
}

impl Operation for ListMessages {
    type Output = MessageList;
    const SPEC: Spec = Spec::read("list_messages");

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)?;
        limit("limit", self.limit).map(drop)
    }

    async fn run(self, account: &Account) -> Result<MessageList, MailError> {
        let limit = limit("limit", self.limit)?;
        let offset = self.offset.unwrap_or(0);
        let page = account.list(&self.name, offset, limit).await?;
        Ok(MessageList {
            folder: self.name,
            total: page.total,
            offset,
            limit,
            messages: page.messages,
        })
    }
}

/// Appends a raw RFC 822 message to a folder.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendMessage {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder.
    pub name: String,
    /// The message, as RFC 822 bytes.
    pub message: Vec<u8>,
}

impl Operation for AppendMessage {
    type Output = Placed;
    const SPEC: Spec = Spec::data_access("append_message", Scope::ChangeMail);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)?;
        if self.message.is_empty() {
            return Err(MailError::BadRequest(
                "the body: an empty message".to_owned(),
            ));
        }
        Ok(())
    }

    async fn run(self, account: &Account) -> Result<Placed, MailError> {
        let uid = account.append(&self.name, &self.message).await?;
        Ok(Placed::new(self.name, uid.map(|n| (n.uid_validity, n.uid))))
    }
}

/// One message of a folder, by UID.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder.
    pub name: String,
    /// The message's UID.
    pub uid: u32,
}

/// One message: flags, parsed headers, text and HTML bodies, attachments.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(transparent)]
pub struct GetMessage(pub MessageRef);

impl Operation for GetMessage {
    type Output = Message;
    const SPEC: Spec = Spec::read("get_message");

    fn account(&self) -> Option<&str> {
        self.0.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.0.name)?;
        check_uid(self.0.uid)
    }

    async fn run(self, account: &Account) -> Result<Message, MailError> {
        Ok(account.message(&self.0.name, self.0.uid).await?)
    }
}

/// Sets, adds or removes flags of a message.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFlags {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder.
    pub name: String,
    /// The message's UID.
    pub uid: u32,
    /// `set` (default), `add` or `remove`.
    #[serde(default)]
    pub action: FlagAction,
    /// Flags such as `\Seen`, `\Flagged`, `$Label1`.
    pub flags: Vec<String>,
}

impl Operation for SetFlags {
    type Output = Flags;
    const SPEC: Spec = Spec::data_access("set_flags", Scope::ChangeMail);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)?;
        check_uid(self.uid)
    }

    async fn run(self, account: &Account) -> Result<Flags, MailError> {
        let item = match self.action {
            FlagAction::Set => "FLAGS",
            FlagAction::Add => "+FLAGS",
            FlagAction::Remove => "-FLAGS",
        };
        let flags = account
            .store(&self.name, self.uid, item, &self.flags)
            .await?;
        Ok(Flags {
            uid: self.uid,
            flags,
        })
    }
}

/// Deletes a message for good (\Deleted, then UID EXPUNGE of it alone).
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(transparent)]
pub struct DeleteMessage(pub MessageRef);

impl Operation for DeleteMessage {
    type Output = ();
    const SPEC: Spec = Spec::data_access("delete_message", Scope::Delete);

    fn account(&self) -> Option<&str> {
        self.0.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.0.name)?;
        check_uid(self.0.uid)
    }

    async fn run(self, account: &Account) -> Result<(), MailError> {
        Ok(account.delete_message(&self.0.name, self.0.uid).await?)
    }
}

/// Moves a message to another folder.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveMessage {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder the message is in.
    pub name: String,
    /// The message's UID.
    pub uid: u32,
    /// The destination folder.
    pub destination: String,
}

impl Operation for MoveMessage {
    type Output = Placed;
    const SPEC: Spec = Spec::data_access("move_message", Scope::ChangeMail);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)?;
        check_uid(self.uid)?;
        check_name("destination", &self.destination)
    }

    async fn run(self, account: &Account) -> Result<Placed, MailError> {
        let moved = account
            .move_message(&self.name, self.uid, &self.destination)
            .await?;
        Ok(Placed::new(
            self.destination,
            moved.map(|n| (n.uid_validity, n.uid)),
        ))
    }
}

/// Removes every message marked \Deleted from a folder.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Expunge {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder.
    pub name: String,
}

impl Operation for Expunge {
    type Output = Expunged;
    const SPEC: Spec = Spec::data_access("expunge", Scope::Delete);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)
    }

    async fn run(self, account: &Account) -> Result<Expunged, MailError> {
        Ok(Expunged {
            expunged: account.expunge(&self.name).await?,
        })
    }
}

/// The attachments of a message.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(transparent)]
pub struct ListAttachments(pub MessageRef);

impl Operation for ListAttachments {
    type Output = AttachmentList;
    const SPEC: Spec = Spec::read("list_attachments");

    fn account(&self) -> Option<&str> {
        self.0.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.0.name)?;
        check_uid(self.0.uid)
    }

    async fn run(self, account: &Account) -> Result<AttachmentList, MailError> {
        Ok(AttachmentList {
            attachments: account.attachments(&self.0.name, self.0.uid).await?,
        })
    }
}

/// One attachment of a message: its bytes, type and a safe file name.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetAttachment {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder.
    pub name: String,
    /// The message's UID.
    pub uid: u32,
    /// The attachment's index.
    pub index: u32,
}

impl Operation for GetAttachment {
    type Output = AttachmentData;
    const SPEC: Spec = Spec::read("get_attachment");

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)?;
        check_uid(self.uid)
    }

    async fn run(self, account: &Account) -> Result<AttachmentData, MailError> {
        Ok(account.attachment(&self.name, self.uid, self.index).await?)
    }
}

/// Searches a folder by sender, recipient, subject, text, date and flags;
/// every criterion given must match. Also the query parameters of
/// `GET /api/v1/emails/search`, which ignore unknown parameters.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchMessages {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder searched. Default `INBOX`.
    pub folder: Option<String>,
    /// Text in From.
    pub from: Option<String>,
    /// Text in To.
    pub to: Option<String>,
    /// Text in Subject.
    pub subject: Option<String>,
    /// Text anywhere in the message.
    pub text: Option<String>,
    /// Received on or after this date, `YYYY-MM-DD`.
    pub since: Option<String>,
    /// Received before this date, `YYYY-MM-DD`.
    pub before: Option<String>,
    /// Read or unread.
    pub seen: Option<bool>,
    /// Flagged or not.
    pub flagged: Option<bool>,
    /// Most results returned, newest first, 1 to 100. Default 50.
    pub limit: Option<u32>,
}

impl SearchMessages {
    fn folder(&self) -> &str {
        self.folder.as_deref().unwrap_or("INBOX")
    }
}

impl Operation for SearchMessages {
    type Output = SearchResult;
    const SPEC: Spec = Spec::read("search_messages");

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("folder", self.folder())?;
        limit("limit", self.limit).map(drop)
    }

    async fn run(self, account: &Account) -> Result<SearchResult, MailError> {
        let limit = limit("limit", self.limit)?;
        let folder = self.folder().to_owned();
        let criteria = Criteria {
            from: self.from,
            to: self.to,
            subject: self.subject,
            text: self.text,
            since: self.since,
            before: self.before,
            seen: self.seen,
            flagged: self.flagged,
        };
        let (total, messages) = account.search(&folder, &criteria, limit).await?;
        Ok(SearchResult {
            folder,
            total,
            messages,
        })
    }
}
