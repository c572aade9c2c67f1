//! `stoa-lang`: the sandboxed Rhai front end of stoa and its Nix-like module
//! system.
//!
//! A host file and the library modules it imports each evaluate to a map
//! with `imports`, `options` and `config`. This crate evaluates them purely
//! (no clock, environment, network or file access from scripts; every
//! resource bounded), gathers option declarations, and merges definitions by
//! type and priority to a fixpoint, reporting problems as [`Diagnostic`]s
//! with stable codes and source spans.
//!
//! It deliberately knows nothing of stores, artifacts or SSH: it turns source
//! files into a JSON configuration, nothing else. Nor of secret values:
//! `secret("name")` is a reference, `{"$secret": "name"}` in the JSON
//! ([`secret_name`], [`secret_references`]).
//!
//! Read [`Evaluator`] first, then [`HostEval`]. The language itself is
//! documented in `docs/language.md` at the repository root.

#![deny(missing_docs)]

mod diag;
mod engine;
mod eval;
mod fixpoint;
mod keys;
mod loader;
mod merge;
mod options;
mod report;
mod rhai_error;
mod source;
mod suggest;
mod types;
mod value;

pub use diag::{Code, Diagnostic, Label, Report};
pub use engine::Limits;
pub use eval::{Evaluator, HostEval, Project};
pub use source::SourceFile;
pub use suggest::did_you_mean;
pub use types::{OptionDecl, OptionNode, OptionTree, OptionType};
pub use value::{is_secret_name, secret_name, secret_references, RawSite, SECRET_KEY};
