//! Gathering option declarations from modules into one tree.

use std::sync::Arc;

use crate::types::{describe_value, OptionDecl, OptionNode, OptionTree};

/// Parses a map of option declarations (nested maps are namespaces).
pub(crate) fn parse_tree(map: &rhai::Map) -> Result<OptionTree, String> {
    let mut tree = OptionTree::default();
    for (k, v) in map {
        let node = if let Some(decl) = v.clone().try_cast::<Arc<OptionDecl>>() {
            OptionNode::Leaf(decl)
        } else if let Some(inner) = v.read_lock::<rhai::Map>() {
            OptionNode::Ns(parse_tree(&inner).map_err(|m| format!("{k}.{m}"))?)
        } else {
            return Err(format!(
                "{k}: expected option(...) or a map of options, got {}",
                describe_value(v)
            ));
        };
        tree.nodes.insert(k.to_string(), node);
    }
    Ok(tree)
}

/// A second declaration of an option already declared.
#[derive(Debug)]
pub(crate) struct Duplicate {
    /// Dotted path.
    pub path: String,
    /// The first declaration (None when the clash is with a namespace).
    pub first: Option<Arc<OptionDecl>>,
    /// The second declaration (None when the clash is with a namespace).
    pub second: Option<Arc<OptionDecl>>,
}

/// Adds `from` into `into`; every option declared twice is reported.
pub(crate) fn add_tree(
    into: &mut OptionTree,
    from: OptionTree,
    prefix: &str,
    dups: &mut Vec<Duplicate>,
) {
    for (k, node) in from.nodes {
        let path = crate::merge::join(prefix, &k);
        match (into.nodes.get_mut(&k), node) {
            (None, node) => {
                into.nodes.insert(k, node);
            }
            (Some(OptionNode::Ns(a)), OptionNode::Ns(b)) => add_tree(a, b, &path, dups),
            (Some(OptionNode::Leaf(a)), OptionNode::Leaf(b)) => dups.push(Duplicate {
                path,
                first: Some(a.clone()),
                second: Some(b),
            }),
            (Some(OptionNode::Leaf(a)), OptionNode::Ns(_)) => dups.push(Duplicate {
                path,
                first: Some(a.clone()),
                second: None,
            }),
            (Some(OptionNode::Ns(_)), OptionNode::Leaf(b)) => dups.push(Duplicate {
                path,
                first: None,
                second: Some(b),
            }),
        }
    }
}
