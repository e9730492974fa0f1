//! The folder operations: list, create, get, rename, delete.

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{MailError, Operation, Spec, error::check_name};
use crate::{
    auth::scope::Scope,
    imap::Account,
    mail::model::{Folder, FolderList, FolderStatus},
};

/// Every folder of the account.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFolders {
    /// The account (default: the first configured).
    pub account: Option<String>,
}

impl Operation for ListFolders {
    type Output = FolderList;
    const SPEC: Spec = Spec::read("list_folders");

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        Ok(())
    }

    async fn run(self, account: &Account) -> Result<FolderList, MailError> {
        Ok(FolderList {
            folders: account.folders().await?,
        })
    }
}

/// Creates a folder; fails if it exists.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFolder {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The new folder's name, in UTF-8.
    pub name: String,
}

impl Operation for CreateFolder {
    type Output = Folder;
    const SPEC: Spec = Spec::data_access("create_folder", Scope::ManageFolders);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)
    }

    async fn run(self, account: &Account) -> Result<Folder, MailError> {
        account.create_folder(&self.name).await?;
        Ok(Folder {
            name: self.name,
            delimiter: None,
            attributes: Vec::new(),
        })
    }
}

/// A folder's message count and UID state.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetFolder {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder, in UTF-8.
    pub name: String,
}

impl Operation for GetFolder {
    type Output = FolderStatus;
    const SPEC: Spec = Spec::read("get_folder");

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)
    }

    async fn run(self, account: &Account) -> Result<FolderStatus, MailError> {
        let state = account.folder_state(&self.name).await?;
        Ok(FolderStatus {
            name: self.name,
            messages: state.messages,
            uid_validity: state.uid_validity,
            uid_next: state.uid_next,
        })
    }
}

/// Renames a folder.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameFolder {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder, in UTF-8.
    pub name: String,
    /// Its new name, in UTF-8 (in the REST API, the body's `name`).
    pub new_name: String,
}

impl Operation for RenameFolder {
    type Output = Folder;
    const SPEC: Spec = Spec::data_access("rename_folder", Scope::ManageFolders);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        // Both names are `name` in the REST API (path and body), which the
        // errors keep naming them by.
        check_name("name", &self.name)?;
        check_name("name", &self.new_name)
    }

    async fn run(self, account: &Account) -> Result<Folder, MailError> {
        account.rename_folder(&self.name, &self.new_name).await?;
        Ok(Folder {
            name: self.new_name,
            delimiter: None,
            attributes: Vec::new(),
        })
    }
}

/// Deletes a folder and the messages in it.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteFolder {
    /// The account (default: the first configured).
    pub account: Option<String>,
    /// The folder, in UTF-8.
    pub name: String,
}

impl Operation for DeleteFolder {
    type Output = ();
    const SPEC: Spec = Spec::data_access("delete_folder", Scope::ManageFolders);

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn check(&self) -> Result<(), MailError> {
        check_name("name", &self.name)
    }

    async fn run(self, account: &Account) -> Result<(), MailError> {
        Ok(account.delete_folder(&self.name).await?)
    }
}
