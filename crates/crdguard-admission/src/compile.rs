//! Compiling one CEL expression, once per policy (not once per CRD), and running it.
//!
//! Where the `cel` crate differs from the Kubernetes API server, compiling makes it stricter,
//! never laxer, so that a difference turns into "unknown" rather than a wrong verdict:
//! - Field selection on something that is not a map (`oldObject.metadata` on a CREATE, where
//!   `oldObject` is null) yields `false` in the `cel` crate; the API server reports an error. Every
//!   `a.b.c` and `has(a.b.c)` is rewritten into a call of the strict path functions of
//!   `cel_env`, which also avoids the crate's deep copy of every intermediate map (`object.spec`
//!   holds the whole schema of a CRD, and `object.spec.group` would copy it).
//! - Constructs the crate cannot evaluate (message literals, two-variable comprehensions), would
//!   panic on, or misparses (`!!x` read as `!x`) are refused; evaluation runs under
//!   `catch_unwind` anyway.
//! - Input that could exhaust the stack (very long or very deeply nested expressions) is refused.
//!
//! Compiling also records what the expression refers to: which `variables` it needs (they are
//! computed lazily), and which fields of `object`/`oldObject` it reads (see `shape`).

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use kube_cel::cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue};
use kube_cel::cel::common::types::CelString;
use kube_cel::cel::parser::Parser;
use kube_cel::cel::{Context, ExecutionError, Value};

use crate::cel_env::{HAS_FN, SELECT_FN};

/// Longer expressions are refused (Kubernetes' own policies are a few hundred bytes).
pub(crate) const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Bracket nesting allowed in the source: the generated parser recurses per level.
pub(crate) const MAX_NESTING: usize = 32;
/// Depth of the parsed expression tree: the interpreter recurses per level, on whatever thread
/// the planner runs us (rayon workers have 2 MiB stacks).
pub(crate) const MAX_AST_DEPTH: usize = 96;

/// Variables Kubernetes offers that cannot be evaluated offline.
const OFFLINE_UNSUPPORTED: [(&str, &str); 1] = [(
    "authorizer",
    "uses the authorizer library, which needs a live API server",
)];

#[derive(Debug)]
pub(crate) struct CompiledExpr {
    pub(crate) source: String,
    program: Result<IdedExpr, String>,
    pub(crate) references: References,
}

/// What an expression refers to, found while compiling.
#[derive(Debug, Default, Clone)]
pub(crate) struct References {
    /// Names used as `variables.<name>`.
    pub(crate) variables: BTreeSet<String>,
    /// `variables` used some other way (`variables['x']`, passed whole): all are needed.
    pub(crate) all_variables: bool,
    /// Top-level identifiers (`object`, `params`, ...), comprehension variables included.
    pub(crate) identifiers: BTreeSet<String>,
    /// Identifiers used other than as the start of a field selection or in a null check
    /// (`object == oldObject`, `size(object)`): their whole value is needed.
    pub(crate) bare: BTreeSet<String>,
    /// Field selections from identifiers (`object.spec.group`, `has(object.metadata.labels)`).
    pub(crate) paths: Vec<FieldPath>,
}

/// `root.f1.f2...fn`; for a `has()`, only whether the last field is present matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    pub(crate) root: String,
    pub(crate) fields: Vec<String>,
    pub(crate) presence_only: bool,
}

impl CompiledExpr {
    pub(crate) fn compile(source: &str) -> CompiledExpr {
        let mut references = References::default();
        let program = check_source(source)
            .and_then(|()| {
                // The generated parser recurses once per operator of a chain (`1 + 1 + ...`),
                // and so would dropping the tree it builds: both happen on a thread with a stack
                // large enough for any source under `MAX_SOURCE_BYTES`, and only a tree within
                // `MAX_AST_DEPTH` comes back.
                on_large_stack(|| parse(source).and_then(|e| rewrite(e, 0, &mut references)))
            })
            .and_then(|expr| {
                match OFFLINE_UNSUPPORTED
                    .iter()
                    .find(|(name, _)| references.identifiers.contains(*name))
                {
                    Some((_, why)) => Err((*why).to_string()),
                    None => Ok(expr),
                }
            });
        CompiledExpr {
            source: source.to_string(),
            program,
            references,
        }
    }

    /// Why the expression cannot be evaluated, if it cannot.
    #[cfg(test)]
    pub(crate) fn compile_error(&self) -> Option<&str> {
        self.program.as_ref().err().map(String::as_str)
    }

    /// Evaluates the expression in `ctx`. Errors, unsupported constructs and panics inside the
    /// interpreter all come back as `Err` with a message.
    pub(crate) fn evaluate(&self, ctx: &Context<'_>) -> Result<Value, String> {
        let expr = self.program.as_ref().map_err(Clone::clone)?;
        match catch_unwind(AssertUnwindSafe(|| Value::resolve(expr, ctx))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(describe_error(&err)),
            Err(panic) => Err(format!(
                "the CEL interpreter failed on this expression ({})",
                panic_message(panic.as_ref())
            )),
        }
    }
}

/// Cheap checks before the parser sees the text: size, bracket nesting, and what the parser of
/// the `cel` crate gets wrong.
fn check_source(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "the expression is {} bytes, more than crdguard evaluates ({MAX_SOURCE_BYTES})",
            source.len()
        ));
    }
    if source.trim().is_empty() {
        return Err("the expression is empty".to_string());
    }
    // Brackets inside string literals count too: harmless, real expressions stay far below.
    let mut depth = 0usize;
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "the expression nests brackets deeper than crdguard evaluates \
                         ({MAX_NESTING})"
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some(op) = doubled_unary_operator(source) {
        // cel 0.13 parses `!!x` as `!x` and `--x` as `-x` (fixed in cel 0.15).
        return Err(format!(
            "the expression repeats the unary operator '{op}' ({op}{op}x), which the CEL \
             library crdguard uses misreads"
        ));
    }
    Ok(())
}

/// The first unary `!` or `-` directly applied to another of the same (`!!x`, `- -x`),
/// outside string literals. `!(!x)` and `a - -1` are fine: the parser handles one unary
/// operator per operand correctly.
fn doubled_unary_operator(source: &str) -> Option<char> {
    let chars: Vec<char> = source.chars().collect();
    // The previous significant token: `None` at the start, `Some((c, unary))` otherwise.
    let mut previous: Option<(char, bool)> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            i = skip_string(&chars, i);
            previous = Some(('\'', false));
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars[i + 1..].iter().find(|c| !c.is_whitespace()).copied();
        let unary = match c {
            '!' => next != Some('='),
            '-' => match previous {
                None => true,
                Some((p, _)) => "([{,?:!-+*/%<>=&|".contains(p),
            },
            _ => false,
        };
        if unary && previous == Some((c, true)) {
            return Some(c);
        }
        previous = Some((c, unary));
        i += 1;
    }
    None
}

/// The index after the string literal starting at `start` (`'...'`, `"..."`, triple-quoted,
/// raw when prefixed with `r`).
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let raw = start > 0 && matches!(chars[start - 1], 'r' | 'R');
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    while i < chars.len() {
        if chars[i] == '\\' && !raw {
            i += 2;
            continue;
        }
        if chars[i] == quote {
            if !triple {
                return i + 1;
            }
            if chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                return i + 3;
            }
        }
        i += 1;
    }
    chars.len()
}

/// Stack for parsing: measured at under 2 KiB per nesting level, 64 KiB of source needs far
/// less than this; the memory is only reserved, not touched.
const PARSER_STACK_BYTES: usize = 512 * 1024 * 1024;

fn on_large_stack<T: Send>(work: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("crdguard-cel-parser".to_string())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, work)
            .map_err(|e| format!("could not start the CEL parser: {e}"))?;
        handle
            .join()
            .map_err(|panic| format!("the CEL parser failed ({})", panic_message(panic.as_ref())))?
    })
}

fn parse(source: &str) -> Result<IdedExpr, String> {
    let parsed = catch_unwind(|| {
        Parser::new()
            // Kubernetes enables optional types (`a.?b`, `m[?k]`, `.orValue()`).
            .enable_optional_syntax(true)
            .parse(source)
    });
    match parsed {
        Ok(Ok(expr)) => Ok(expr),
        // Not through `Display`: it pads a caret to the error column, which can be negative.
        Ok(Err(errors)) => Err(format!(
            "syntax error: {}",
            errors
                .errors
                .iter()
                .map(|e| format!("{} (line {}, column {})", e.msg, e.pos.0, e.pos.1))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Err(panic) => Err(format!(
            "the CEL parser failed on this expression ({})",
            panic_message(panic.as_ref())
        )),
    }
}

/// Rewrites field selections into strict path calls, refuses what the interpreter cannot do,
/// and records references. Recursion is bounded by [`MAX_AST_DEPTH`].
fn rewrite(expr: IdedExpr, depth: usize, refs: &mut References) -> Result<IdedExpr, String> {
    if depth > MAX_AST_DEPTH {
        return Err(format!(
            "the expression is nested deeper than crdguard evaluates ({MAX_AST_DEPTH} levels)"
        ));
    }
    let next = depth + 1;
    let id = expr.id;
    let rewritten = match expr.expr {
        Expr::Select(select) => {
            let test = select.test;
            // Collect the whole chain `base.f1.f2...fn` (only the outermost can be a `has`).
            let mut fields = vec![select.field];
            let mut base = *select.operand;
            while let Expr::Select(inner) = base.expr {
                if inner.test {
                    return Err("has() cannot be selected from".to_string());
                }
                fields.push(inner.field);
                base = *inner.operand;
            }
            fields.reverse();
            // Each field is a level for the path functions and for `Shape`.
            if depth + fields.len() > MAX_AST_DEPTH {
                return Err(format!(
                    "the expression selects fields deeper than crdguard evaluates \
                     ({MAX_AST_DEPTH} levels)"
                ));
            }
            if let Expr::Ident(name) = &base.expr {
                if name == "variables" {
                    refs.variables.insert(fields[0].clone());
                }
                refs.identifiers.insert(name.clone());
                refs.paths.push(FieldPath {
                    root: name.clone(),
                    fields: fields.clone(),
                    presence_only: test,
                });
            }
            let base = match base.expr {
                // Recorded above; an identifier needs no rewriting.
                Expr::Ident(_) => base,
                _ => rewrite(base, next, refs)?,
            };
            let mut args = Vec::with_capacity(fields.len() + 1);
            args.push(base);
            args.extend(fields.into_iter().map(|f| IdedExpr {
                id,
                expr: Expr::Literal(LiteralValue::String(CelString::from(f.as_str()))),
            }));
            Expr::Call(CallExpr {
                func_name: if test { HAS_FN } else { SELECT_FN }.to_string(),
                target: None,
                args,
            })
        }
        Expr::Ident(name) => {
            if name == "variables" {
                refs.all_variables = true;
            }
            refs.identifiers.insert(name.clone());
            refs.bare.insert(name.clone());
            Expr::Ident(name)
        }
        // `x == null` and `x != null` only need to know whether `x` is null.
        Expr::Call(call) if is_null_check(&call) => {
            for arg in &call.args {
                if let Expr::Ident(name) = &arg.expr {
                    refs.identifiers.insert(name.clone());
                }
            }
            Expr::Call(call)
        }
        Expr::Call(call) => Expr::Call(CallExpr {
            func_name: call.func_name,
            target: match call.target {
                Some(target) => Some(Box::new(rewrite(*target, next, refs)?)),
                None => None,
            },
            args: call
                .args
                .into_iter()
                .map(|a| rewrite(a, next, refs))
                .collect::<Result<_, _>>()?,
        }),
        Expr::List(mut list) => {
            list.elements = list
                .elements
                .into_iter()
                .map(|e| rewrite(e, next, refs))
                .collect::<Result<_, _>>()?;
            Expr::List(list)
        }
        Expr::Map(mut map) => {
            let mut entries = Vec::with_capacity(map.entries.len());
            for mut entry in map.entries {
                match entry.expr {
                    EntryExpr::MapEntry(mut e) => {
                        e.key = rewrite(e.key, next, refs)?;
                        e.value = rewrite(e.value, next, refs)?;
                        entry.expr = EntryExpr::MapEntry(e);
                        entries.push(entry);
                    }
                    // The interpreter panics on these.
                    EntryExpr::StructField(_) => {
                        return Err("message literals are not supported".to_string());
                    }
                }
            }
            map.entries = entries;
            Expr::Map(map)
        }
        Expr::Comprehension(mut comp) => {
            if comp.iter_var2.is_some() {
                // The interpreter would silently ignore the second variable.
                return Err("two-variable comprehensions are not supported".to_string());
            }
            comp.iter_range = rewrite(comp.iter_range, next, refs)?;
            comp.accu_init = rewrite(comp.accu_init, next, refs)?;
            comp.loop_cond = rewrite(comp.loop_cond, next, refs)?;
            comp.loop_step = rewrite(comp.loop_step, next, refs)?;
            comp.result = rewrite(comp.result, next, refs)?;
            Expr::Comprehension(comp)
        }
        Expr::Literal(lit) => Expr::Literal(lit),
        // The interpreter panics on these (`todo!`, `panic!`).
        Expr::Struct(s) => {
            return Err(format!(
                "message literals ({} {{...}}) are not supported",
                s.type_name
            ));
        }
        Expr::Unspecified => return Err("the expression is incomplete".to_string()),
    };
    Ok(IdedExpr {
        id,
        expr: rewritten,
    })
}

fn is_null_check(call: &CallExpr) -> bool {
    let is_ident = |e: &IdedExpr| matches!(e.expr, Expr::Ident(_));
    let is_null = |e: &IdedExpr| matches!(e.expr, Expr::Literal(LiteralValue::Null));
    matches!(call.func_name.as_str(), "_==_" | "_!=_")
        && call.target.is_none()
        && match call.args.as_slice() {
            [a, b] => (is_ident(a) && is_null(b)) || (is_null(a) && is_ident(b)),
            _ => false,
        }
}

/// Error text in the words of the API server where they differ from the crate's.
fn describe_error(err: &ExecutionError) -> String {
    match err {
        ExecutionError::UndeclaredReference(name) => {
            format!("undeclared reference to '{name}' (a function or variable crdguard lacks)")
        }
        ExecutionError::FunctionError { function, message }
            if function == "select" || function == "has" =>
        {
            message.clone()
        }
        other => other.to_string(),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cel_env::CelEnv;
    use crate::values::to_cel;
    use serde_json::json;

    /// Compiles and evaluates `source` with `object` bound (and `oldObject` null), as the
    /// evaluator does for a CREATE; shared by the CEL environment's tests.
    pub(crate) fn eval(source: &str, object: serde_json::Value) -> Result<Value, String> {
        let env = CelEnv::new();
        let mut ctx = env.scope();
        ctx.add_variable_from_value("object", to_cel(&object).unwrap());
        ctx.add_variable_from_value("oldObject", Value::Null);
        CompiledExpr::compile(source).evaluate(&ctx)
    }

    #[test]
    fn refuses_what_would_crash_or_mislead() {
        for bad in [
            "Foo{a: 1}",
            "authorizer.group('').resource('x').check('get').allowed()",
            &"(".repeat(10_000),
            &format!("{}1{}", "[".repeat(40), "]".repeat(40)),
            &vec!["1"; 30_000].join("+"),
            &"!".repeat(MAX_SOURCE_BYTES - 1),
            &"-".repeat(MAX_SOURCE_BYTES - 1),
            &format!("a{}", ".b".repeat(MAX_SOURCE_BYTES / 2 - 1)),
            &vec!["true"; 10_000].join(" || "),
            "",
            "object.",
            &"x".repeat(MAX_SOURCE_BYTES + 1),
        ] {
            let compiled = CompiledExpr::compile(bad);
            let env = CelEnv::new();
            let ctx = env.scope();
            let result = compiled.evaluate(&ctx);
            assert!(result.is_err(), "{:.40}: {result:?}", bad);
        }
    }

    #[test]
    fn the_deepest_accepted_expression_runs_on_a_small_stack() {
        // Rayon workers (where the planner calls us) have 2 MiB stacks.
        // `+` chains are left-deep: one tree level per term.
        let terms = MAX_AST_DEPTH - 3;
        let source = format!(
            "{} == '{}'",
            vec!["object.a.b"; terms].join(" + "),
            "y".repeat(terms)
        );
        let compiled = CompiledExpr::compile(&source);
        assert_eq!(compiled.compile_error(), None);
        let result = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let env = CelEnv::new();
                let mut ctx = env.scope();
                ctx.add_variable_from_value("object", to_cel(&json!({"a": {"b": "y"}})).unwrap());
                compiled.evaluate(&ctx)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(result, Ok(Value::Bool(true)));
        let too_deep = vec!["1"; MAX_AST_DEPTH + 2].join(" + ");
        assert!(CompiledExpr::compile(&too_deep).compile_error().is_some());
    }

    #[test]
    fn repairs_what_the_cel_crate_gets_wrong() {
        let obj = json!({"name": "é-x"});
        for (expr, want) in [
            ("size('é') == 1", true),
            ("'héllo'.size() == 5", true),
            ("size(object.name) == 3", true),
            ("size([1, 2]) == 2 && size({'a': 1}) == 1", true),
            ("!(!true)", true),
            ("true != !false", false),
            ("1 - -1 == 2", true),
            ("-(-1) == 1", true),
            ("'!!' == '!' + '!'", true),
            ("r'\\' + '--' != ''", true),
        ] {
            assert_eq!(eval(expr, obj.clone()), Ok(Value::Bool(want)), "{expr}");
        }
        for doubled in ["!!true", "! !true", "--1 == 1", "1 + - -1 == 2", "x || !!y"] {
            let compiled = CompiledExpr::compile(doubled);
            assert!(compiled.compile_error().is_some(), "{doubled}");
        }
    }

    #[test]
    fn records_variable_references() {
        let c = CompiledExpr::compile("variables.a + variables.b.c > 0 && object.x");
        assert_eq!(
            c.references.variables.iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!c.references.all_variables);
        assert!(
            CompiledExpr::compile("variables['a']")
                .references
                .all_variables
        );
    }

    #[test]
    fn records_paths_and_whole_uses_of_objects() {
        let c = CompiledExpr::compile(
            "oldObject == null || has(object.metadata.labels) && object.spec.group == 'g'",
        );
        let paths: Vec<_> = c
            .references
            .paths
            .iter()
            .map(|p| (p.root.as_str(), p.fields.join("."), p.presence_only))
            .collect();
        assert_eq!(
            paths,
            [
                ("object", "metadata.labels".to_string(), true),
                ("object", "spec.group".to_string(), false)
            ]
        );
        assert!(c.references.bare.is_empty());
        assert!(c.references.identifiers.contains("oldObject"));
        let whole = CompiledExpr::compile("object == oldObject");
        assert_eq!(whole.references.bare.len(), 2);
    }
}
