//! An index of the map-literal keys of a file, used to place definitions
//! that carry no position of their own (plain values in `config`).

use rhai::ASTNode;
use rhai::{Expr, Position, AST};

/// Every key of every map literal in the AST, with the chain of keys of the
/// map literals around it, in source order.
pub(crate) fn index(ast: &AST) -> Vec<(Vec<String>, Position)> {
    let mut out = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        let Some(ASTNode::Expr(Expr::Map(map, _))) = nodes.last() else {
            return true;
        };
        let mut chain = Vec::new();
        for w in nodes.windows(2) {
            if let (ASTNode::Expr(Expr::Map(outer, _)), ASTNode::Expr(child)) = (&w[0], &w[1]) {
                if let Some((ident, _)) = outer.0.iter().find(|(_, e)| std::ptr::eq(e, *child)) {
                    chain.push(ident.name.to_string());
                }
            }
        }
        for (ident, _) in map.0.iter() {
            let mut c = chain.clone();
            c.push(ident.name.to_string());
            out.push((c, ident.pos));
        }
        true
    });
    out.sort_by_key(|(_, p)| (p.line(), p.position()));
    out
}

/// The best position for a definition at `path` (keys inside `config`):
/// the key whose chain ends with the longest suffix of `path`.
pub(crate) fn locate(index: &[(Vec<String>, Position)], path: &[String]) -> Option<Position> {
    if path.is_empty() {
        return index
            .iter()
            .find(|(c, _)| c.last().is_some_and(|k| k == "config"))
            .map(|(_, p)| *p);
    }
    let mut best: Option<(usize, bool, Position)> = None;
    for (chain, pos) in index {
        let n = chain
            .iter()
            .rev()
            .zip(path.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        if n == 0 {
            continue;
        }
        let under_config = chain.len() > n && chain[chain.len() - n - 1] == "config";
        let better = match best {
            None => true,
            Some((bn, bc, _)) => n > bn || (n == bn && under_config && !bc),
        };
        if better {
            best = Some((n, under_config, *pos));
        }
    }
    best.map(|(_, _, p)| p)
}
