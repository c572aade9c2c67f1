//! `files."<absolute path>"`: plain files on the node (`core/files.rhai`).

use serde::Deserialize;

use crate::names::FileMode;
use crate::secrets::{SecretRef, TemplatePiece};

/// One file, keyed in `HostConfig::files` by its absolute path. Exactly one
/// of `text`, `secret` and `template` is set (checked by `validate`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// `text`: the whole content.
    #[serde(default)]
    pub text: Option<String>,
    /// `secret`: a secret whose value is the whole content.
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// `template`: text and secret references, joined at activation.
    #[serde(default)]
    pub template: Option<Vec<TemplatePiece>>,
    /// `mode`: octal string (default "0644").
    #[serde(default = "default_mode")]
    pub mode: FileMode,
    /// `owner`: user name (default "root").
    #[serde(default = "root")]
    pub owner: String,
    /// `group`: group name (default "root").
    #[serde(default = "root")]
    pub group: String,
    /// `on_change`: argument vector run on the node after the file changed.
    #[serde(default)]
    pub on_change: Option<Vec<String>>,
}

fn default_mode() -> FileMode {
    FileMode::from_octal_const(0o644)
}
fn root() -> String {
    "root".to_owned()
}
