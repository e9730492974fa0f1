//! The API's JSON types for mail, with their OpenAPI (utoipa) and JSON
//! Schema (schemars) schemas.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A folder (IMAP mailbox), named in UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct Folder {
    /// The full name, e.g. `Archive/2024` or `Entwürfe`.
    pub name: String,
    /// The hierarchy separator, e.g. `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// IMAP attributes such as `\HasChildren` or `\Sent`.
    pub attributes: Vec<String>,
}

/// A list of folders.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct FolderList {
    /// Every folder of the account.
    pub folders: Vec<Folder>,
}

/// `POST /folders` and `PUT /folders/{name}`: a folder's (new) name.
#[derive(Debug, Clone, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderName {
    /// The folder's name, in UTF-8.
    pub name: String,
}

/// A folder's message count and UID state.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderStatus {
    /// The folder.
    pub name: String,
    /// Messages in it.
    pub messages: u32,
    /// Its UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID its next message will get.
    pub uid_next: u32,
}

/// A mail address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct Address {
    /// The display name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The address, e.g. `alice@example.com`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The headers a listing shows, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The subject, RFC 2047 words decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Senders.
    pub from: Vec<Address>,
    /// Recipients.
    pub to: Vec<Address>,
    /// Copied recipients.
    pub cc: Vec<Address>,
    /// The Date header in RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The Message-ID, without angle brackets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// A message in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct MessageSummary {
    /// The message's UID in its folder.
    pub uid: u32,
    /// Flags such as `\Seen` and `\Flagged`.
    pub flags: Vec<String>,
    /// Size in bytes (RFC822.SIZE).
    pub size: u32,
    /// Subject, addresses, date.
    pub envelope: Envelope,
}

/// One page of a folder, newest first.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct MessageList {
    /// The folder listed.
    pub folder: String,
    /// Messages in the folder.
    pub total: u32,
    /// Messages skipped (newest first).
    pub offset: u32,
    /// The page size asked for.
    pub limit: u32,
    /// The page.
    pub messages: Vec<MessageSummary>,
}

/// A header as it appears in the message, unfolded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct Header {
    /// The field name.
    pub name: String,
    /// The field value, unfolded, encoded words left as they are.
    pub value: String,
}

/// An attachment of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Its index, for `GET …/attachments/{index}`.
    pub index: u32,
    /// A file name safe to save under: no directories, no control characters.
    pub filename: String,
    /// Its media type, e.g. `application/pdf`.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
}

/// A whole message, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct Message {
    /// The message's UID in its folder.
    pub uid: u32,
    /// Its flags.
    pub flags: Vec<String>,
    /// Size in bytes.
    pub size: u32,
    /// Subject, addresses, date.
    pub envelope: Envelope,
    /// Every header field, in order.
    pub headers: Vec<Header>,
    /// The plain-text body, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The HTML body, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The attachments.
    pub attachments: Vec<Attachment>,
}

/// The attachments of a message.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct AttachmentList {
    /// The attachments, by index.
    pub attachments: Vec<Attachment>,
}

/// How `PUT …/emails/{uid}` changes flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlagAction {
    /// Replace the flags with these.
    #[default]
    Set,
    /// Add these flags.
    Add,
    /// Remove these flags.
    Remove,
}

/// `PUT …/emails/{uid}`: a change of flags.
#[derive(Debug, Clone, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagUpdate {
    /// `set` (default), `add` or `remove`.
    #[serde(default)]
    pub action: FlagAction,
    /// Flags such as `\Seen`, `\Flagged`, `$Label1`.
    pub flags: Vec<String>,
}

/// `POST …/emails/{uid}/move`: where to.
#[derive(Debug, Clone, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The destination folder.
    pub destination: String,
}

/// The outcome of an append or a move: where the message is now.
///
/// `uid` and `uidValidity` come from the IMAP server's UIDPLUS extension
/// (APPENDUID, COPYUID); they are `null` when the server does not report
/// them, and the message is then found by listing the folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placed {
    /// The folder the message is now in.
    pub folder: String,
    /// The message's UID in that folder; `null` when the server does not
    /// report it (no UIDPLUS).
    pub uid: Option<u32>,
    /// The folder's UIDVALIDITY the UID belongs to; `null` with `uid`.
    pub uid_validity: Option<u32>,
}

impl Placed {
    /// The message is in `folder`, with `uid` under `uid_validity` where known.
    pub fn new(folder: String, uid: Option<(u32, u32)>) -> Self {
        Self {
            folder,
            uid: uid.map(|(_, u)| u),
            uid_validity: uid.map(|(v, _)| v),
        }
    }
}

/// A message's flags after a change.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct Flags {
    /// The message's UID.
    pub uid: u32,
    /// Its flags now.
    pub flags: Vec<String>,
}

/// The outcome of an expunge.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct Expunged {
    /// Messages removed for good.
    pub expunged: u32,
}

/// Query parameters choosing the account.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// The account (default: the first configured).
    pub account: Option<String>,
}

/// Query parameters of a listing.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// Page size, 1 to 100. Default 50.
    pub limit: Option<u32>,
    /// Messages to skip, newest first. Default 0.
    pub offset: Option<u32>,
}

/// Search results, newest first.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SearchResult {
    /// The folder searched.
    pub folder: String,
    /// Messages matching, in all.
    pub total: u32,
    /// The newest of them, up to `limit`.
    pub messages: Vec<MessageSummary>,
}
