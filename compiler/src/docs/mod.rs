//! `stoa docs`: the lab's architecture page, generated from the evaluated
//! configuration so that it cannot drift from what stoa deploys.
//!
//! [`render`] takes every host's merged JSON configuration (as
//! `stoa_lang::Evaluator::eval_hosts` produces it) and returns the Markdown
//! page (`docs/architecture.md`: a Mermaid network diagram, the hosts, the
//! containers, the address plan, the services per container and the files
//! on the hosts) and a hand-laid-out SVG of the network
//! (`docs/architecture.svg`). Pure and deterministic: the same
//! configurations always give the same bytes, whatever the order of the
//! input.
//!
//! Only core options are read (`machine`, `networking`, `deployment`,
//! `proxmox`, `files`), so the page works for any stoa project.

mod markdown;
mod model;
mod svg;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use markdown::HEADER;
pub use model::{Container, Host, Lab, Project, Service};

/// Where the page goes, relative to the project root.
pub const MARKDOWN_PATH: &str = "docs/architecture.md";
/// Where the SVG goes, relative to the project root.
pub const SVG_PATH: &str = "docs/architecture.svg";
/// The SVG's file name as the page links it (beside the page).
pub const SVG_FILE: &str = "architecture.svg";

/// The generated documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docs {
    /// `docs/architecture.md`.
    pub markdown: String,
    /// `docs/architecture.svg`.
    pub svg: String,
}

/// Renders the architecture page and its diagram from `(host name, merged
/// configuration)` of every host.
pub fn render(hosts: &[(String, Value)]) -> Docs {
    let lab = Lab::from_json(hosts);
    Docs {
        markdown: markdown::page(&lab),
        svg: svg::render(&lab),
    }
}
