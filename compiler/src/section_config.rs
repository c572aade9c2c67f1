//! Proxmox's section-config format (`PVE::SectionConfig`: `storage.cfg`,
//! `jobs.cfg`, `user.cfg`, …): sections of a header line `<type>: <id>` and
//! indented `<key> [<value>]` lines, separated by blank lines. stoa owns the
//! sections it declares in such a file; the node merges them into what it
//! has (`activate`'s `merge_sections`).

/// One section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section type (`dir`, `zfspool`, `vzdump`, …).
    pub kind: String,
    /// Its id, unique in the file.
    pub id: String,
    /// `(key, value)` in order; a flag has an empty value.
    pub keys: Vec<(String, String)>,
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Parses a section-config text; the error names the first bad line (1-based)
/// and says why.
pub fn parse(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut out: Vec<Section> = Vec::new();
    let mut open = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if !open {
                return Err((n, "an indented key line outside a section".to_owned()));
            }
            let body = line.trim();
            let (k, v) = body.split_once([' ', '\t']).unwrap_or((body, ""));
            if !is_word(k) {
                return Err((n, format!("`{k}` is not a key")));
            }
            if let Some(s) = out.last_mut() {
                if s.keys.iter().any(|(key, _)| key == k) {
                    return Err((n, format!("`{k}` appears twice in section {}", s.id)));
                }
                s.keys.push((k.to_owned(), v.trim().to_owned()));
            }
            continue;
        }
        let Some((kind, id)) = line.split_once(": ") else {
            return Err((n, "a section starts with `<type>: <id>`".to_owned()));
        };
        let id = id.trim();
        if !is_word(kind) || !is_word(id) {
            return Err((n, "a section starts with `<type>: <id>`".to_owned()));
        }
        if out.iter().any(|s| s.id == id) {
            return Err((n, format!("section id `{id}` appears twice")));
        }
        out.push(Section {
            kind: kind.to_owned(),
            id: id.to_owned(),
            keys: Vec::new(),
        });
        open = true;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_their_errors() {
        let s = parse("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl\n\tdisable\n\nzfspool: local-zfs\n\tpool rpool/data\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].keys[2], ("disable".to_owned(), String::new()));
        assert_eq!(s[1].id, "local-zfs");
        assert_eq!(parse("\tpath /x\n").unwrap_err().0, 1);
        assert_eq!(parse("dir: a\n\tpath /x\n\ndir: a\n").unwrap_err().0, 4);
        assert_eq!(parse("dir a\n").unwrap_err().0, 1);
        assert_eq!(parse("dir: a\n\tpath /x\n\tpath /y\n").unwrap_err().0, 3);
    }
}
