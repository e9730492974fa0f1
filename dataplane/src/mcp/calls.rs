//! What each tool does: its arguments checked as the REST API checks them,
//! then the IMAP operation, and the answer as JSON (the REST API's types).

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    shape,
    tools::{AttachmentChoice, BodyRange, Draft, InAccount, InFolder, InMessage, Name, Nothing},
};
use crate::{
    imap::{Accounts, ImapError, query::Criteria},
    mail::model::{
        AccountQuery, FlagAction, FlagUpdate, FolderName, ListQuery, MoveRequest, Placed,
        SearchQuery,
    },
    server::api::{
        errors::{MailError, classify},
        folders::check_name,
        messages::limit,
    },
};

/// Why a tool call failed: the REST API's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// A stable code, as in REST's `{"error": {"code"}}`.
    pub code: &'static str,
    /// What went wrong, naming the argument at fault.
    pub message: String,
}

impl ToolError {
    /// A bad argument.
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            code: "bad_parameter",
            message: message.into(),
        }
    }

    /// The structured content of the error result.
    pub fn to_json(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl From<MailError> for ToolError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::BadRequest(message) => Self::bad(message),
            MailError::Imap(e) => e.into(),
        }
    }
}

impl From<ImapError> for ToolError {
    fn from(e: ImapError) -> Self {
        let (_, code) = classify(&e);
        let message = match &e {
            ImapError::UnknownAccount(name) => {
                format!("argument `account`: no account named {name:?}")
            }
            other => other.to_string(),
        };
        Self { code, message }
    }
}

/// `arguments` as `T`, or the argument at fault.
fn parse<T: DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(arguments).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            ToolError::bad(format!("arguments: {}", e.inner()))
        } else {
            ToolError::bad(format!("argument `{path}`: {}", e.inner()))
        }
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError {
        code: "internal_error",
        message: format!("the answer could not be written: {e}"),
    })
}

/// The account a call names (by its `account` argument), for the audit line.
pub fn account_of(accounts: &Accounts, arguments: &Value) -> String {
    let named = arguments.get("account").and_then(Value::as_str);
    match accounts.get(named) {
        Ok(a) => a.name().to_owned(),
        Err(_) => named.unwrap_or("-").to_owned(),
    }
}

/// Runs tool `name` with `arguments` over `accounts`.
pub async fn call(accounts: &Accounts, name: Name, arguments: Value) -> Result<Value, ToolError> {
    match name {
        Name::ListAccounts => {
            let _: Nothing = parse(arguments)?;
            let names: Vec<&str> = accounts.all().map(|a| a.name()).collect();
            Ok(json!({"accounts": names}))
        }
        Name::ListFolders => {
            let q: AccountQuery = parse(arguments)?;
            let account = accounts.get(q.account.as_deref())?;
            Ok(json!({"folders": account.folders().await?}))
        }
        Name::ListMessages => {
            let a: InFolder<ListQuery> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let limit = limit("limit", a.query.limit)?;
            let offset = a.query.offset.unwrap_or(0);
            let account = accounts.get(a.query.account.as_deref())?;
            let page = account.list(&a.folder, offset, limit).await?;
            to_json(&crate::mail::model::MessageList {
                folder: a.folder,
                total: page.total,
                offset,
                limit,
                messages: page.messages,
            })
        }
        Name::SearchMessages => {
            let q: SearchQuery = parse(arguments)?;
            let folder = q.folder.clone().unwrap_or_else(|| "INBOX".to_owned());
            check_name("folder", &folder)?;
            let limit = limit("limit", q.limit)?;
            let criteria = Criteria {
                from: q.from,
                to: q.to,
                subject: q.subject,
                text: q.text,
                since: q.since,
                before: q.before,
                seen: q.seen,
                flagged: q.flagged,
            };
            let account = accounts.get(q.account.as_deref())?;
            let (total, messages) = account.search(&folder, &criteria, limit).await?;
            to_json(&crate::mail::model::SearchResult {
                folder,
                total,
                messages,
            })
        }
        Name::GetMessage => {
            let a: InMessage<BodyRange> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let max = a.body.max_body_chars.unwrap_or(shape::DEFAULT_BODY_CHARS);
            if !(1..=shape::MAX_BODY_CHARS).contains(&max) {
                return Err(ToolError::bad(format!(
                    "argument `maxBodyChars`: {max} is not between 1 and {}",
                    shape::MAX_BODY_CHARS
                )));
            }
            let offset = a.body.body_offset.unwrap_or(0);
            let account = accounts.get(a.account.account.as_deref())?;
            let message = account.message(&a.folder, a.uid).await?;
            let mut value = to_json(&message)?;
            for part in ["text", "html"] {
                if let Some(body) = value.get(part).and_then(Value::as_str) {
                    let window = to_json(&shape::window(body, offset, max))?;
                    value[part] = window;
                }
            }
            Ok(value)
        }
        Name::ListAttachments => {
            let a: InMessage<Nothing> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let account = accounts.get(a.account.account.as_deref())?;
            Ok(json!({"attachments": account.attachments(&a.folder, a.uid).await?}))
        }
        Name::GetAttachment => {
            let a: InMessage<AttachmentChoice> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let cap = a.body.max_bytes.unwrap_or(shape::DEFAULT_ATTACHMENT_BYTES);
            if !(1..=shape::MAX_ATTACHMENT_BYTES).contains(&cap) {
                return Err(ToolError::bad(format!(
                    "argument `maxBytes`: {cap} is not between 1 and {}",
                    shape::MAX_ATTACHMENT_BYTES
                )));
            }
            let account = accounts.get(a.account.account.as_deref())?;
            let data = account.attachment(&a.folder, a.uid, a.body.index).await?;
            let mut value = to_json(&data.info)?;
            if a.body.include_content {
                let content = shape::content(&data.content, cap).map_err(|message| ToolError {
                    code: "too_large",
                    message,
                })?;
                value["content"] = to_json(&content)?;
            }
            Ok(value)
        }
        Name::SetFlags => {
            let a: InMessage<FlagUpdate> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let item = match a.body.action {
                FlagAction::Set => "FLAGS",
                FlagAction::Add => "+FLAGS",
                FlagAction::Remove => "-FLAGS",
            };
            let account = accounts.get(a.account.account.as_deref())?;
            let flags = account.store(&a.folder, a.uid, item, &a.body.flags).await?;
            Ok(json!({"uid": a.uid, "flags": flags}))
        }
        Name::MoveMessage => {
            let a: InMessage<MoveRequest> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            check_name("destination", &a.body.destination)?;
            let account = accounts.get(a.account.account.as_deref())?;
            let moved = account
                .move_message(&a.folder, a.uid, &a.body.destination)
                .await?;
            to_json(&Placed::new(
                a.body.destination,
                moved.map(|n| (n.uid_validity, n.uid)),
            ))
        }
        Name::DeleteMessage => {
            let a: InMessage<Nothing> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let account = accounts.get(a.account.account.as_deref())?;
            account.delete_message(&a.folder, a.uid).await?;
            Ok(json!({"deleted": {"folder": a.folder, "uid": a.uid}}))
        }
        Name::ExpungeFolder => {
            let a: InFolder<AccountQuery> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let account = accounts.get(a.query.account.as_deref())?;
            Ok(json!({"expunged": account.expunge(&a.folder).await?}))
        }
        Name::CreateFolder => {
            let a: InAccount<FolderName> = parse(arguments)?;
            check_name("name", &a.body.name)?;
            let account = accounts.get(a.account.account.as_deref())?;
            account.create_folder(&a.body.name).await?;
            Ok(json!({"created": a.body.name}))
        }
        Name::RenameFolder => {
            let a: InFolder<InAccount<FolderName>> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            check_name("name", &a.query.body.name)?;
            let account = accounts.get(a.query.account.account.as_deref())?;
            account.rename_folder(&a.folder, &a.query.body.name).await?;
            Ok(json!({"renamed": {"from": a.folder, "to": a.query.body.name}}))
        }
        Name::DeleteFolder => {
            let a: InFolder<AccountQuery> = parse(arguments)?;
            check_name("folder", &a.folder)?;
            let account = accounts.get(a.query.account.as_deref())?;
            account.delete_folder(&a.folder).await?;
            Ok(json!({"deleted": a.folder}))
        }
        Name::AppendDraft => {
            let a: InAccount<Draft> = parse(arguments)?;
            let folder = a.body.folder.clone().unwrap_or_else(|| "Drafts".to_owned());
            check_name("folder", &folder)?;
            let raw = super::draft::compose(&a.body)?;
            let account = accounts.get(a.account.account.as_deref())?;
            let placed = account.append(&folder, &raw).await?;
            if let Some(n) = placed {
                account
                    .store(&folder, n.uid, "+FLAGS", &["\\Draft".to_owned()])
                    .await?;
            }
            to_json(&Placed::new(
                folder,
                placed.map(|n| (n.uid_validity, n.uid)),
            ))
        }
    }
}
