//! `proxmox-backup-manager acl list|update` and `acl.cfg` (pbs-config's
//! `AclTree`; src/api2/access/acl.rs).

use std::collections::{BTreeMap, BTreeSet};

use super::cli::{b, s, Fmt, Params, DIGEST, OUTPUT_FORMAT};
use super::files::{self, Root};
use super::json::Json;
use super::table::{self, col, num, print_json};
use super::{Cmd, Ctx};

pub const ACL_CFG: &str = "/etc/proxmox-backup/acl.cfg";
pub const ACL_LCK: &str = "/etc/proxmox-backup/.acl.lck";

/// The `Role` enum of pbs-api-types.
pub const ROLES: &[&str] = &[
    "Admin",
    "Audit",
    "NoAccess",
    "DatastoreAdmin",
    "DatastoreReader",
    "DatastoreBackup",
    "DatastorePowerUser",
    "DatastoreAudit",
    "RemoteAudit",
    "RemoteAdmin",
    "RemoteSyncOperator",
    "RemoteSyncPushOperator",
    "RemoteDatastorePowerUser",
    "RemoteDatastoreAdmin",
    "TapeAudit",
    "TapeAdmin",
    "TapeOperator",
    "TapeReader",
];

const NO_ACCESS: &str = "NoAccess";

pub(super) const CMDS: &[Cmd] = &[
    Cmd {
        name: "list",
        args: &[],
        params: &[OUTPUT_FORMAT],
        run: list,
    },
    Cmd {
        name: "update",
        args: &["path", "role"],
        params: &[
            s("path", Fmt::AclPath, 1, 128),
            s("role", Fmt::Enum(ROLES), 0, usize::MAX),
            b("propagate", Some(true)),
            s("auth-id", Fmt::AuthId, 3, 64),
            s("group", Fmt::UserName, 3, 64),
            b("delete", None),
            DIGEST,
        ],
        run: update,
    },
];

type Roles = BTreeMap<String, bool>;

#[derive(Clone, Debug, Default)]
struct Node {
    users: BTreeMap<String, Roles>,
    groups: BTreeMap<String, Roles>,
    children: BTreeMap<String, Node>,
}

/// `AclTreeNode::insert_user_role` / `insert_group_role`.
fn insert_role(map: &mut Roles, role: &str, propagate: bool) {
    if role == NO_ACCESS {
        map.clear();
    } else {
        map.remove(NO_ACCESS);
    }
    map.insert(role.to_owned(), propagate);
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

impl Node {
    fn get_or_insert(&mut self, path: &[&str]) -> &mut Node {
        let mut node = self;
        for c in path {
            node = node.children.entry((*c).to_owned()).or_default();
        }
        node
    }

    fn get_mut(&mut self, path: &[&str]) -> Option<&mut Node> {
        let mut node = self;
        for c in path {
            node = node.children.get_mut(*c)?;
        }
        Some(node)
    }

    /// `write_node_config`.
    fn write(&self, path: &str, out: &mut String) {
        let mut maps: [BTreeMap<&str, BTreeSet<String>>; 2] = Default::default();
        for (auth_id, roles) in &self.users {
            // root@pam is always Administrator: not saved.
            if auth_id == "root@pam" {
                continue;
            }
            for (role, propagate) in roles {
                maps[usize::from(*propagate)]
                    .entry(role)
                    .or_default()
                    .insert(auth_id.clone());
            }
        }
        for (group, roles) in &self.groups {
            for (role, propagate) in roles {
                maps[usize::from(*propagate)]
                    .entry(role)
                    .or_default()
                    .insert(format!("@{group}"));
            }
        }
        let shown = if path.is_empty() { "/" } else { path };
        for (flag, map) in maps.iter().enumerate() {
            let mut by_list: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
            for (role, ugids) in map {
                let list: Vec<&str> = ugids.iter().map(String::as_str).collect();
                by_list.entry(list.join(",")).or_default().insert(role);
            }
            for (uglist, roles) in by_list {
                let roles = if roles.contains(NO_ACCESS) {
                    NO_ACCESS.to_owned()
                } else {
                    roles.into_iter().collect::<Vec<_>>().join(",")
                };
                out.push_str(&format!("acl:{flag}:{shown}:{uglist}:{roles}\n"));
            }
        }
        for (name, child) in &self.children {
            child.write(&format!("{path}/{name}"), out);
        }
    }

    /// `extract_acl_node_data` (not exact, no filter).
    fn items(&self, path: &str, out: &mut Vec<Json>) {
        let shown = if path.is_empty() { "/" } else { path };
        let kinds = [("user", &self.users), ("group", &self.groups)];
        for (ty, map) in kinds {
            for (ugid, roles) in map {
                for (role, propagate) in roles {
                    let mut m = BTreeMap::new();
                    m.insert("path".to_owned(), Json::str(shown));
                    m.insert("propagate".to_owned(), Json::Bool(*propagate));
                    m.insert("roleid".to_owned(), Json::str(role));
                    m.insert("ugid".to_owned(), Json::str(ugid));
                    m.insert("ugid_type".to_owned(), Json::str(ty));
                    out.push(Json::Obj(m));
                }
            }
        }
        for (name, child) in &self.children {
            child.items(&format!("{path}/{name}"), out);
        }
    }
}

/// `Authid`'s parse errors.
fn check_auth_id(v: &str) -> Result<(), String> {
    let user = match v.rsplit_once('!') {
        Some((u, t)) if super::cli::is_user_id(u) => {
            if super::cli::check_str(Fmt::SafeId, 2, 64, t).is_err() {
                return Err("invalid token name in user id".to_owned());
            }
            u
        }
        _ => v,
    };
    let Some((name, realm)) = user.rsplit_once('@') else {
        return Err("not a valid user id".to_owned());
    };
    if !super::cli::is_user_name(name) {
        return Err("invalid user name in user id".to_owned());
    }
    super::cli::check_str(Fmt::SafeId, 2, 32, realm)
        .map_err(|_| "invalid realm in user id".to_owned())
}

fn parse_line(root: &mut Node, line: &str) -> Result<(), String> {
    let items: Vec<&str> = line.split(':').collect();
    if items.len() != 5 {
        return Err("wrong number of items.".to_owned());
    }
    if items[0] != "acl" {
        return Err("line does not start with 'acl'.".to_owned());
    }
    let propagate = match items[1] {
        "0" => false,
        "1" => true,
        _ => return Err("expected '0' or '1' for propagate flag.".to_owned()),
    };
    let node = root.get_or_insert(&split(items[2]));
    for ug in items[3].split(',').map(str::trim) {
        for role in items[4].split(',').map(str::trim) {
            if !ROLES.contains(&role) {
                return Err(format!("unknown role '{role}'"));
            }
            if let Some(group) = ug.strip_prefix('@') {
                insert_role(
                    node.groups.entry(group.to_owned()).or_default(),
                    role,
                    propagate,
                );
            } else {
                check_auth_id(ug)?;
                insert_role(
                    node.users.entry(ug.to_owned()).or_default(),
                    role,
                    propagate,
                );
            }
        }
    }
    Ok(())
}

/// `pbs_config::acl::config()`: the tree and the raw text.
fn load(root: &Root) -> Result<(Node, String), String> {
    let raw = files::read_optional(root, ACL_CFG)
        .map_err(|_| format!("unable to read acl config {ACL_CFG:?}"))?
        .unwrap_or_default();
    let mut tree = Node::default();
    for (n, line) in raw.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        parse_line(&mut tree, line).map_err(|e| {
            format!(
                "unable to parse acl config {ACL_CFG:?}, line {} - {e}",
                n + 1
            )
        })?;
    }
    Ok((tree, raw))
}

fn save(root: &Root, tree: &Node) -> Result<(), String> {
    let mut raw = String::new();
    tree.write("", &mut raw);
    files::replace_file(root, ACL_CFG, raw.as_bytes(), 0o640)
}

/// `AclTree::delete_node` and `save_config`, as `delete_datastore` does
/// (without taking the ACL lock).
pub fn delete_node(root: &Root, path: &str) -> Result<(), String> {
    let (mut tree, _) = load(root)?;
    let mut comps = split(path);
    let last = comps.pop();
    if let (Some(parent), Some(name)) = (tree.get_mut(&comps), last) {
        parent.children.remove(name);
    }
    save(root, &tree)
}

/// `check_acl_path`: the known ACL sub-trees and their depths.
fn check_acl_path(path: &str) -> Result<(), String> {
    let c = split(path);
    let n = c.len();
    let ok = match c.first().copied() {
        None => true,
        Some("access") => {
            n == 1
                || match c[1] {
                    "acl" | "users" | "domains" => n == 2,
                    "openid" => n <= 3,
                    _ => false,
                }
        }
        // /datastore/{store}/{namespace...} (MAX_NAMESPACE_DEPTH 7).
        Some("datastore") => n <= 2 + 7,
        Some("remote") => n <= 3,
        Some("system") => {
            n == 1
                || match c[1] {
                    "certificates" | "disks" | "log" | "notifications" | "status" | "tasks"
                    | "time" => n == 2,
                    "services" => n <= 3,
                    "network" => {
                        n == 2
                            || match c[2] {
                                "dns" => n == 3,
                                "interfaces" => n <= 4,
                                _ => false,
                            }
                    }
                    _ => false,
                }
        }
        Some("tape") => n == 1 || (matches!(c[1], "device" | "pool" | "job") && n <= 3),
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid acl path '{path}'."))
    }
}

fn list(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let (tree, _) = load(&ctx.root)?;
    let mut items = Vec::new();
    tree.items("", &mut items);
    if p.output_format() != "text" {
        print_json(&Json::Arr(items), p.output_format());
        return Ok(());
    }
    let rows = items
        .iter()
        .map(|item| {
            let get = |k: &str| match item {
                Json::Obj(m) => m.get(k),
                _ => None,
            };
            let ugid = table::text(get("ugid"));
            let ugid = if get("ugid_type") == Some(&Json::str("group")) {
                format!("@{ugid}")
            } else {
                ugid
            };
            vec![
                ugid,
                table::text(get("path")),
                table::text(get("propagate")),
                table::text(get("roleid")),
            ]
        })
        .collect();
    let cols = [col("ugid"), col("path"), num("propagate"), col("roleid")];
    print!("{}", table::table(&cols, rows));
    Ok(())
}

fn update(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let path = p.arg("path");
    let role = p.arg("role");
    let _lock = files::lock(&ctx.root, ACL_LCK)?;
    let (mut tree, raw) = load(&ctx.root)?;
    if let Some(d) = p.str("digest") {
        if d != crate::shacrypt::hex(&crate::shacrypt::sha256(raw.as_bytes())) {
            return Err(
                "detected modified configuration - file changed by other user? Try again."
                    .to_owned(),
            );
        }
    }
    let propagate = p.bool("propagate").unwrap_or(true);
    let delete = p.bool("delete").unwrap_or(false);
    let auth_id = if p.has("group") {
        return Err("parameter 'group' - groups are currently not supported.".to_owned());
    } else if let Some(auth_id) = p.str("auth-id") {
        if !delete {
            let (users, _) = super::user::load(&ctx.root)?;
            if users.get(auth_id).is_none() {
                let what = if auth_id.contains('!') && !super::cli::is_user_id(auth_id) {
                    "API token"
                } else {
                    "user"
                };
                return Err(format!("no such {what}."));
            }
        }
        auth_id
    } else {
        return Err("missing 'userid' or 'group' parameter.".to_owned());
    };
    if !delete {
        check_acl_path(path)?;
    }
    let comps = split(path);
    if delete {
        if let Some(node) = tree.get_mut(&comps) {
            if let Some(roles) = node.users.get_mut(auth_id) {
                roles.remove(role);
            }
        }
    } else {
        let node = tree.get_or_insert(&comps);
        insert_role(
            node.users.entry(auth_id.to_owned()).or_default(),
            role,
            propagate,
        );
    }
    save(&ctx.root, &tree)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn written_like_pbs() {
        let mut tree = Node::default();
        for line in [
            "acl:0:/store/store2:user1@pbs:Admin",
            "acl:0:/store/store2:user2@pbs:Admin",
            "acl:0:/store/store2:user1@pbs:DatastoreBackup",
            "acl:0:/store/store2:user2@pbs:DatastoreBackup",
            "acl:1:/:root@pam:Admin",
        ] {
            parse_line(&mut tree, line).unwrap();
        }
        let mut out = String::new();
        tree.write("", &mut out);
        assert_eq!(
            out,
            "acl:0:/store/store2:user1@pbs,user2@pbs:Admin,DatastoreBackup\n"
        );
        assert_eq!(
            parse_line(&mut tree, "acl:1:/:x@pbs:Boss").unwrap_err(),
            "unknown role 'Boss'"
        );
        assert!(check_acl_path("/datastore/backups").is_ok());
        assert!(check_acl_path("/storage").is_err());
    }
}
