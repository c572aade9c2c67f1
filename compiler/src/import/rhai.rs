//! Rhai values as the lab writes them: maps `#{ key: value }` inline when
//! they are short, one entry a line otherwise, trailing commas, strings
//! escaped so that any text survives.

/// A Rhai value of a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V {
    /// `"text"`.
    Str(String),
    /// `42`.
    Int(i64),
    /// `true`.
    Bool(bool),
    /// `()`: null.
    Unit,
    /// `[a, b]`.
    List(Vec<V>),
    /// `#{ k: v }`, in this order.
    Map(Vec<(String, V)>),
    /// `force(v)`: overrides the other modules' definitions.
    Force(Box<V>),
}

impl V {
    /// A string.
    pub fn s(text: impl Into<String>) -> V {
        V::Str(text.into())
    }
    /// `force(self)`.
    pub fn force(self) -> V {
        V::Force(Box::new(self))
    }
}

/// Widest line written inline (with its indentation).
const WIDTH: usize = 96;

/// A Rhai string literal for `text`: `\`, `"` and control characters
/// escaped; everything else (UTF-8 included) as it is.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A map key: bare when it is an identifier, else a string.
pub fn key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    // Rhai keywords cannot be bare keys.
    let keyword = matches!(
        k,
        "shared"
            | "fn"
            | "let"
            | "const"
            | "if"
            | "else"
            | "for"
            | "in"
            | "while"
            | "loop"
            | "do"
            | "until"
            | "break"
            | "continue"
            | "return"
            | "throw"
            | "try"
            | "catch"
            | "import"
            | "export"
            | "as"
            | "private"
            | "global"
            | "true"
            | "false"
            | "switch"
            | "this"
            | "is_shared"
            | "default"
            | "static"
            | "public"
            | "protected"
            | "new"
            | "use"
            | "with"
            | "module"
            | "package"
            | "super"
            | "thread"
            | "spawn"
            | "go"
            | "sync"
            | "async"
            | "await"
            | "yield"
            | "var"
            | "print"
            | "debug"
            | "eval"
            | "Fn"
            | "call"
            | "curry"
            | "type_of"
            | "is_def_var"
            | "is_def_fn"
            | "match"
    );
    if ident && !keyword {
        k.to_owned()
    } else {
        string(k)
    }
}

fn inline(v: &V) -> String {
    match v {
        V::Str(s) => string(s),
        V::Int(n) => n.to_string(),
        V::Bool(b) => b.to_string(),
        V::Unit => "()".to_owned(),
        V::List(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        V::Map(entries) if entries.is_empty() => "#{}".to_owned(),
        V::Map(entries) => format!(
            "#{{ {} }}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", key(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        V::Force(v) => format!("force({})", inline(v)),
    }
}

/// Writes `v` as the value of an entry starting at column `indent` after
/// `lead` characters (the key), wrapping what does not fit.
pub fn write(v: &V, indent: usize, lead: usize, out: &mut String) {
    let flat = inline(v);
    if indent + lead + flat.len() < WIDTH || !v.wraps() {
        out.push_str(&flat);
        return;
    }
    let pad = " ".repeat(indent + 2);
    match v {
        V::List(items) => {
            out.push_str("[\n");
            for item in items {
                out.push_str(&pad);
                write(item, indent + 2, 0, out);
                out.push_str(",\n");
            }
        }
        V::Map(entries) => {
            out.push_str("#{\n");
            for (k, item) in entries {
                let k = key(k);
                out.push_str(&format!("{pad}{k}: "));
                write(item, indent + 2, k.len() + 2, out);
                out.push_str(",\n");
            }
        }
        V::Force(inner) => {
            out.push_str("force(");
            write(inner, indent, lead + 6, out);
            out.push(')');
            return;
        }
        _ => {}
    }
    out.push_str(&" ".repeat(indent));
    out.push(if matches!(v, V::List(_)) { ']' } else { '}' });
}

impl V {
    fn wraps(&self) -> bool {
        match self {
            V::List(items) => !items.is_empty(),
            V::Map(entries) => !entries.is_empty(),
            V::Force(v) => v.wraps(),
            _ => false,
        }
    }
}
