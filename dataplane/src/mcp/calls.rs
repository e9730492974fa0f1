//! What each tool does: its arguments parsed into its operation's input
//! type, the operation run through the mail service (scope, budget, input
//! checks, IMAP), and the answer as JSON (the REST API's types), shaped
//! for an agent's context where MCP says so.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    draft,
    error::ToolError,
    shape,
    tools::{Draft, GetAttachmentContent, GetMessageWindow, Name, NoArguments},
};
use crate::{
    mail::model::FlagAction,
    service::{
        AppendMessage, Call, CreateFolder, DeleteFolder, DeleteMessage, Expunge, GetFolder,
        GetMessage, ListAttachments, ListFolders, ListMessages, MailService, MessageRef,
        MoveMessage, RenameFolder, SearchMessages, SendMessage, SetFlags,
    },
};

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

/// Runs tool `name` with `arguments` for `call`.
pub async fn call(
    service: &MailService,
    call: &Call,
    name: Name,
    arguments: Value,
) -> Result<Value, ToolError> {
    match name {
        Name::ListAccounts => {
            let NoArguments {} = parse(arguments)?;
            Ok(json!({"accounts": service.account_names()}))
        }
        Name::ListFolders => to_json(&service.call(call, parse::<ListFolders>(arguments)?).await?),
        Name::GetFolder => to_json(&service.call(call, parse::<GetFolder>(arguments)?).await?),
        Name::ListMessages => to_json(
            &service
                .call(call, parse::<ListMessages>(arguments)?)
                .await?,
        ),
        Name::SearchMessages => to_json(
            &service
                .call(call, parse::<SearchMessages>(arguments)?)
                .await?,
        ),
        Name::GetMessage => {
            let a: GetMessageWindow = parse(arguments)?;
            let max = a.max_body_chars.unwrap_or(shape::DEFAULT_BODY_CHARS);
            if !(1..=shape::MAX_BODY_CHARS).contains(&max) {
                return Err(ToolError::bad(format!(
                    "argument `maxBodyChars`: {max} is not between 1 and {}",
                    shape::MAX_BODY_CHARS
                )));
            }
            let offset = a.body_offset.unwrap_or(0);
            let mut value = to_json(&service.call(call, GetMessage(a.message)).await?)?;
            for part in ["text", "html"] {
                if let Some(body) = value.get(part).and_then(Value::as_str) {
                    value[part] = to_json(&shape::window(body, offset, max))?;
                }
            }
            Ok(value)
        }
        Name::ListAttachments => to_json(
            &service
                .call(call, parse::<ListAttachments>(arguments)?)
                .await?,
        ),
        Name::GetAttachment => {
            let a: GetAttachmentContent = parse(arguments)?;
            let cap = a.max_bytes.unwrap_or(shape::DEFAULT_ATTACHMENT_BYTES);
            if !(1..=shape::MAX_ATTACHMENT_BYTES).contains(&cap) {
                return Err(ToolError::bad(format!(
                    "argument `maxBytes`: {cap} is not between 1 and {}",
                    shape::MAX_ATTACHMENT_BYTES
                )));
            }
            let data = service.call(call, a.attachment).await?;
            let mut value = to_json(&data.info)?;
            if a.include_content {
                let content = shape::content(&data.content, cap).map_err(|message| ToolError {
                    code: "too_large",
                    message,
                })?;
                value["content"] = to_json(&content)?;
            }
            Ok(value)
        }
        Name::SetFlags => to_json(&service.call(call, parse::<SetFlags>(arguments)?).await?),
        Name::MoveMessage => to_json(&service.call(call, parse::<MoveMessage>(arguments)?).await?),
        Name::DeleteMessage => {
            let op: DeleteMessage = parse(arguments)?;
            let MessageRef { name, uid, .. } = op.0.clone();
            service.call(call, op).await?;
            Ok(json!({"deleted": {"name": name, "uid": uid}}))
        }
        Name::Expunge => to_json(&service.call(call, parse::<Expunge>(arguments)?).await?),
        Name::CreateFolder => to_json(
            &service
                .call(call, parse::<CreateFolder>(arguments)?)
                .await?,
        ),
        Name::RenameFolder => to_json(
            &service
                .call(call, parse::<RenameFolder>(arguments)?)
                .await?,
        ),
        Name::DeleteFolder => {
            let op: DeleteFolder = parse(arguments)?;
            let name = op.name.clone();
            service.call(call, op).await?;
            Ok(json!({"deleted": name}))
        }
        Name::AppendDraft => {
            let d: Draft = parse(arguments)?;
            let folder = d.name.clone().unwrap_or_else(|| "Drafts".to_owned());
            let message = draft::compose(&d)?;
            let append = AppendMessage {
                account: d.account.clone(),
                name: folder.clone(),
                message,
            };
            let placed = service.call(call, append).await?;
            if let Some(uid) = placed.uid {
                let flag = SetFlags {
                    account: d.account,
                    name: folder,
                    uid,
                    action: FlagAction::Add,
                    flags: vec!["\\Draft".to_owned()],
                };
                service.call(call, flag).await?;
            }
            to_json(&placed)
        }
        Name::SendMessage => to_json(
            &service
                .send(call, parse::<SendMessage>(arguments)?, None)
                .await?
                .sent,
        ),
    }
}
