//! `files."<absolute path>"`: a plain file on the node, as given; or, for
//! `secret` and `template`, a template filled in on the node at activation.

use crate::config::{FileEntry, FileMerge};
use crate::names::AbsPath;
use crate::render::{store_safe, ApplyAction, Artifact, Placement};
use crate::secrets::{Fill, Form, Template, TemplatePiece};

/// The store name of the file at `path`: `file` + the path with `/` as `-`
/// (`/etc/motd` -> `file-etc-motd`).
pub fn store_name(path: &AbsPath) -> String {
    format!("file{}", store_safe(&path.as_str().replace('/', "-")))
}

/// The content of a file entry: the text, or a template and its fill.
pub fn content(f: &FileEntry) -> (Vec<u8>, Option<Fill>) {
    if let Some(r) = &f.secret {
        let mut t = Template::new();
        t.secret(&r.name, Form::Raw);
        let (bytes, fill) = t.finish();
        return (bytes, Some(fill));
    }
    if let Some(pieces) = &f.template {
        let mut t = Template::new();
        for p in pieces {
            match p {
                TemplatePiece::Text(s) => t.text(s),
                TemplatePiece::Secret(r) => t.secret(&r.name, Form::Text),
            };
        }
        let (bytes, fill) = t.finish();
        return (bytes, Some(fill));
    }
    (f.text.clone().unwrap_or_default().into_bytes(), None)
}

/// The artifact for `files."<path>"`.
pub fn artifact(path: &AbsPath, f: &FileEntry) -> Artifact {
    let (bytes, fill) = content(f);
    Artifact {
        placement: Placement::HostFile { path: path.clone() },
        name: store_name(path),
        bytes,
        fill,
        mode: f.mode.bits(),
        owner: f.owner.clone(),
        group: f.group.clone(),
        apply: f
            .merge
            .map(|FileMerge::SectionConfig| ApplyAction::MergeSections)
            .into_iter()
            .chain(
                f.on_change
                    .iter()
                    .map(|argv| ApplyAction::Command { argv: argv.clone() }),
            )
            .collect(),
    }
}
