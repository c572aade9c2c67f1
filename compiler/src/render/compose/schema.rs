//! Validation against the Compose Specification JSON schema, shipped in
//! `compiler/schema/compose-spec.json` (Apache-2.0, see the LICENSE and
//! NOTICE beside it): compose-go v2.9.1 as embedded in Docker Compose
//! v2.40.3, the validator the tests run.

use std::sync::OnceLock;

use serde_json::Value;

use super::ComposeProblem;
use crate::error::Problem;

/// The schema text.
pub const COMPOSE_SPEC_JSON: &str = include_str!("../../../schema/compose-spec.json");

/// The Docker Compose release whose schema is shipped.
pub const COMPOSE_VERSION: &str = "2.40.3";

fn validator() -> &'static Result<jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(COMPOSE_SPEC_JSON).map_err(|e| e.to_string())?;
        jsonschema::validator_for(&schema).map_err(|e| e.to_string())
    })
}

/// Every schema violation of `doc`, as (JSON pointer, problem), sorted.
pub fn validate(doc: &Value) -> Vec<ComposeProblem> {
    match validator() {
        Ok(v) => {
            let mut out: Vec<ComposeProblem> = v
                .iter_errors(doc)
                .map(|e| {
                    (
                        e.instance_path().to_string(),
                        Problem::ComposeSchema {
                            message: e.to_string(),
                        },
                    )
                })
                .collect();
            out.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| a.1.to_string().cmp(&b.1.to_string()))
            });
            out.dedup();
            out
        }
        Err(message) => vec![(
            String::new(),
            Problem::ComposeSchema {
                message: format!("the shipped schema does not load: {message}"),
            },
        )],
    }
}
