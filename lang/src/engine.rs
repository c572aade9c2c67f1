//! The sandboxed Rhai engine: packages, limits, deadline and the functions
//! modules use (`option`, `types::*`, `force`, `default`, `when`, `before`,
//! `after`, `secret`).

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Module, NativeCallContext, Position, Token};

use crate::options::parse_tree;
use crate::types::{OptionDecl, OptionType};
use crate::value::{is_secret_name, to_json, Prio, RawSite, SecretRef, Wrap, Wrapped};

/// Resource limits of one evaluation. Every limit is set explicitly so that
/// debug and release builds behave the same.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Operations per script run (a module body or one config function call,
    /// imports included).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Expression nesting at top level and inside functions.
    pub max_expr_depth: (usize, usize),
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Elements in one array (nested arrays count).
    pub max_array_size: usize,
    /// Entries in one map (nested maps count).
    pub max_map_size: usize,
    /// `import` statements executed in one run.
    pub max_imports: usize,
    /// Variables alive at once.
    pub max_variables: usize,
    /// Functions defined in one script.
    pub max_functions: usize,
    /// Modules one host may pull in through `imports`.
    pub max_modules: usize,
    /// Wall-clock budget for one host, in milliseconds.
    pub deadline_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 3_000_000,
            max_call_levels: 48,
            max_expr_depth: (64, 48),
            max_string_size: 1 << 20,
            max_array_size: 50_000,
            max_map_size: 50_000,
            max_imports: 256,
            max_variables: 2_000,
            max_functions: 1_000,
            max_modules: 512,
            deadline_ms: 500,
        }
    }
}

thread_local! {
    static DEADLINE: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// The CPU time this thread has used. A host is evaluated on one thread,
/// so its deadline counts the work of its evaluation alone: a script bomb
/// is stopped after the same budget on an idle machine and on a loaded
/// one, and a host is not timed out because other work shares the cores.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Sets the deadline for evaluations on this thread: `budget` more of its
/// CPU time from now (`None`: no deadline).
pub(crate) fn set_deadline(budget: Option<Duration>) {
    DEADLINE.with(|d| d.set(budget.map(|b| thread_cpu() + b)));
}

/// The token `on_progress` returns when the deadline passes.
pub(crate) const DEADLINE_TOKEN: &str = "stoa: deadline";

/// Builds the sandboxed engine.
pub(crate) fn build(limits: &Limits) -> Engine {
    let mut e = Engine::new_raw();
    // Only pure packages: no time, no sleep, no printing, no debugging.
    e.register_global_module(ArithmeticPackage::new().as_shared_module());
    e.register_global_module(LogicPackage::new().as_shared_module());
    e.register_global_module(BasicStringPackage::new().as_shared_module());
    e.register_global_module(MoreStringPackage::new().as_shared_module());
    e.register_global_module(BasicIteratorPackage::new().as_shared_module());
    e.register_global_module(BasicFnPackage::new().as_shared_module());
    e.register_global_module(BasicMathPackage::new().as_shared_module());
    e.register_global_module(BitFieldPackage::new().as_shared_module());
    e.register_global_module(BasicArrayPackage::new().as_shared_module());
    e.register_global_module(BasicMapPackage::new().as_shared_module());

    e.disable_symbol("eval");
    e.set_strict_variables(true);
    e.set_fail_on_invalid_map_property(true);
    e.set_max_operations(limits.max_operations);
    e.set_max_call_levels(limits.max_call_levels);
    e.set_max_expr_depths(limits.max_expr_depth.0, limits.max_expr_depth.1);
    e.set_max_string_size(limits.max_string_size);
    e.set_max_array_size(limits.max_array_size);
    e.set_max_map_size(limits.max_map_size);
    e.set_max_modules(limits.max_imports);
    e.set_max_variables(limits.max_variables);
    e.set_max_functions(limits.max_functions);
    e.on_progress(|ops| {
        if ops % 512 != 0 {
            return None;
        }
        let late = DEADLINE.with(|d| d.get().is_some_and(|t| thread_cpu() >= t));
        late.then(|| Dynamic::from(DEADLINE_TOKEN))
    });
    // `default` is a reserved word in Rhai; scripts use it as a function name
    // and as a map key, so the tokenizer hands it through as an identifier.
    #[allow(deprecated)]
    e.on_parse_token(|tok, _pos, _state| match tok {
        Token::Reserved(s) if &*s == "default" => Token::Identifier(s),
        t => t,
    });

    e.register_type_with_name::<OptionType>("type");
    e.register_type_with_name::<Arc<OptionDecl>>("option");
    e.register_type_with_name::<Wrapped>("definition");
    e.register_type_with_name::<SecretRef>("secret");
    register_definition_fns(&mut e);
    register_secret_fns(&mut e);
    e.register_static_module("types", types_module().into());
    e
}

fn site(ctx: &NativeCallContext) -> RawSite {
    RawSite::new(ctx.call_source(), ctx.call_position())
}

fn wrap(ctx: &NativeCallContext, wrap: Wrap, value: Dynamic) -> Wrapped {
    Wrapped {
        wrap,
        value,
        site: site(ctx),
    }
}

fn register_definition_fns(e: &mut Engine) {
    e.register_fn("force", |ctx: NativeCallContext, v: Dynamic| {
        wrap(&ctx, Wrap::Prio(Prio::Force), v)
    });
    e.register_fn("default", |ctx: NativeCallContext, v: Dynamic| {
        wrap(&ctx, Wrap::Prio(Prio::Default), v)
    });
    e.register_fn("when", |ctx: NativeCallContext, c: bool, v: Dynamic| {
        wrap(&ctx, Wrap::When(c), v)
    });
    e.register_fn("before", |ctx: NativeCallContext, v: Dynamic| {
        wrap(&ctx, Wrap::Order(-1), v)
    });
    e.register_fn("after", |ctx: NativeCallContext, v: Dynamic| {
        wrap(&ctx, Wrap::Order(1), v)
    });
    e.register_fn("option", |ctx: NativeCallContext, ty: OptionType| {
        declare(&ctx, ty, rhai::Map::new())
    });
    e.register_fn(
        "option",
        |ctx: NativeCallContext, ty: OptionType, meta: rhai::Map| declare(&ctx, ty, meta),
    );
}

/// `secret(name)` makes a reference, never a value. A reference cannot turn
/// into a string (concatenation, interpolation, `to_string`): that would
/// put the name where the value belongs, silently.
fn register_secret_fns(e: &mut Engine) {
    e.register_fn("secret", |ctx: NativeCallContext, name: &str| {
        if !is_secret_name(name) {
            return Err(crate::loader::Fault::error(
                crate::diag::Code::SecretName,
                format!("`{name}` is not a valid secret name"),
                Some(
                    "secret names are lower-case letters, digits, `.`, `_`, `-` and `/` between segments, like \"netbox/db-password\""
                        .into(),
                ),
                ctx.call_position(),
            ));
        }
        crate::loader::record_secret(name, site(&ctx));
        Ok(SecretRef { name: name.into() })
    });
    e.register_fn("name", |r: &mut SecretRef| r.name.clone());
    let refuse = |ctx: NativeCallContext,
                  r: &mut SecretRef|
     -> Result<String, Box<EvalAltResult>> {
        Err(crate::loader::Fault::error(
            crate::diag::Code::Script,
            format!(
                "secret(\"{}\") is a reference, not a string: it cannot be joined with text",
                r.name
            ),
            Some(
                "use the reference itself where the value goes (an option of type secret, a compose environment value, files.<path>.secret), or a template: files.<path>.template = [\"text\", secret(\"name\"), \"text\"]"
                    .into(),
            ),
            ctx.call_position(),
        ))
    };
    // String interpolation calls `to_string` and swallows its errors: the
    // text is marked instead, and refused wherever a string is used.
    e.register_fn("to_string", |r: &mut SecretRef| secret_marker(&r.name));
    e.register_fn("to_debug", |r: &mut SecretRef| secret_marker(&r.name));
    e.register_fn(
        "+",
        move |ctx: NativeCallContext, _s: &str, r: SecretRef| {
            let mut r = r;
            refuse(ctx, &mut r)
        },
    );
    e.register_fn(
        "+",
        move |ctx: NativeCallContext, r: SecretRef, _s: &str| {
            let mut r = r;
            refuse(ctx, &mut r)
        },
    );
    e.register_fn("==", |a: SecretRef, b: SecretRef| a == b);
    e.register_fn("!=", |a: SecretRef, b: SecretRef| a != b);
}

/// The text a secret reference turns into where Rhai forces a string
/// (interpolation): marked with NULs so that [`crate::value::to_json`] and
/// the string types refuse it.
fn secret_marker(name: &str) -> String {
    format!("{}{name}\")\u{0}", crate::value::SECRET_MARKER)
}

/// A malformed declaration (`option(...)`, `types::...`): `bad-declaration`.
fn declaration_error(msg: String, pos: Position) -> Box<EvalAltResult> {
    crate::loader::Fault::error(crate::diag::Code::BadDeclaration, msg, None, pos)
}

fn declare(
    ctx: &NativeCallContext,
    ty: OptionType,
    meta: rhai::Map,
) -> Result<Arc<OptionDecl>, Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let mut decl = OptionDecl {
        ty,
        default: None,
        description: None,
        example: None,
        site: site(ctx),
        script_default: None,
    };
    for (k, v) in meta {
        match k.as_str() {
            "default" => {
                decl.script_default = Some(crate::types::ScriptValue(v.clone()));
                decl.default =
                    Some(to_json(&v).map_err(|m| {
                        declaration_error(format!("option(): the default is {m}"), pos)
                    })?)
            }
            "example" => {
                decl.example =
                    Some(to_json(&v).map_err(|m| {
                        declaration_error(format!("option(): the example is {m}"), pos)
                    })?)
            }
            "description" => {
                decl.description = Some(v.into_immutable_string().map(|s| s.to_string()).map_err(
                    |t| {
                        declaration_error(
                            format!("option(): description must be a string, got {t}"),
                            pos,
                        )
                    },
                )?)
            }
            other => {
                return Err(declaration_error(
                    format!(
                        "option(): unknown key `{other}` (expected default, description, example)"
                    ),
                    pos,
                ))
            }
        }
    }
    Ok(Arc::new(decl))
}

fn types_module() -> Module {
    let mut m = Module::new();
    m.set_var("bool", OptionType::Bool);
    m.set_var(
        "int",
        OptionType::Int {
            min: None,
            max: None,
        },
    );
    m.set_var("str", OptionType::Str);
    m.set_var("port", OptionType::Port);
    m.set_var("ipv4", OptionType::Ipv4);
    m.set_var("cidr", OptionType::Cidr);
    m.set_var("mac", OptionType::Mac);
    m.set_var("path", OptionType::Path);
    m.set_var("anything", OptionType::Anything);
    m.set_var("secret", OptionType::Secret);
    m.set_native_fn("int", |ctx: NativeCallContext, min: i64, max: i64| {
        if min > max {
            return Err(declaration_error(
                format!("types::int({min}, {max}): the minimum is above the maximum"),
                ctx.call_position(),
            ));
        }
        Ok(OptionType::Int {
            min: Some(min),
            max: Some(max),
        })
    });
    m.set_native_fn("enum_of", |ctx: NativeCallContext, choices: rhai::Array| {
        let mut out = Vec::new();
        for c in choices {
            let s = c.into_immutable_string().map_err(|t| {
                declaration_error(
                    format!("types::enum_of: choices must be strings, got {t}"),
                    ctx.call_position(),
                )
            })?;
            out.push(s.to_string());
        }
        if out.is_empty() {
            return Err(declaration_error(
                "types::enum_of: needs at least one choice".into(),
                ctx.call_position(),
            ));
        }
        Ok(OptionType::Enum(out))
    });
    m.set_native_fn("list_of", |t: OptionType| {
        Ok(OptionType::ListOf(Box::new(t)))
    });
    m.set_native_fn("attrs_of", |t: OptionType| {
        Ok(OptionType::AttrsOf(Box::new(t)))
    });
    m.set_native_fn("nullable", |t: OptionType| {
        Ok(OptionType::Nullable(Box::new(t)))
    });
    m.set_native_fn(
        "either",
        |ctx: NativeCallContext, a: OptionType, b: OptionType| {
            if !a.is_scalar() || !b.is_scalar() {
                return Err(declaration_error(
                    format!("types::either({a}, {b}): both types must be scalars (not lists, maps, submodules, nullable or anything)"),
                    ctx.call_position(),
                ));
            }
            Ok(OptionType::Either(Box::new(a), Box::new(b)))
        },
    );
    m.set_native_fn("submodule", |ctx: NativeCallContext, opts: rhai::Map| {
        let tree = parse_tree(&opts).map_err(|msg| {
            declaration_error(format!("types::submodule: {msg}"), ctx.call_position())
        })?;
        Ok(OptionType::Submodule(Arc::new(tree)))
    });
    m.build_index();
    m
}
