//! `files."<absolute path>"`: plain files on the node (`core/files.rhai`).

use serde::Deserialize;

use crate::names::FileMode;

/// One file, keyed in `HostConfig::files` by its absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// `text`: the whole content.
    pub text: String,
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
