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
    /// `merge`: how the file is combined with what the node has.
    #[serde(default)]
    pub merge: Option<FileMerge>,
    /// `on_change`: argument vector run on the node after the file changed.
    #[serde(default)]
    pub on_change: Option<Vec<String>>,
}

/// `files.<path>.merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileMerge {
    /// A Proxmox section-config file: stoa owns its sections and their keys.
    SectionConfig,
}

fn default_mode() -> FileMode {
    FileMode::from_octal_const(0o644)
}
fn root() -> String {
    "root".to_owned()
}
