//! The CEL environment admission expressions run in: the `cel` crate that `kube-cel`
//! re-exports (so the two always agree on one `cel` version), the Kubernetes extension
//! libraries kube-cel registers (strings, lists, sets, regex, urls, ip/cidr, semver, quantity,
//! format, math, base64), and crdguard's own functions where the crate differs from the API
//! server:
//! - strict field selection (`@crdguard.select`, `@crdguard.has`: see `compile`): selecting a
//!   field of something that is not a map is an error, as on the server, not `false`;
//! - `size()` counting code points, not bytes;
//! - `lists.range()` bounded, so that no expression can make it allocate without limit;
//! - `dyn()`, a type-checker hint the crate lacks.

use kube_cel::KubeCelExt;
use kube_cel::cel::common::ast::{Expr, IdedExpr, LiteralValue};
use kube_cel::cel::common::types::CelString;
use kube_cel::cel::common::value::Val;
use kube_cel::cel::extractors::This;
use kube_cel::cel::{Context, ExecutionError, FunctionContext, ResolveResult, Value};

/// `a.b.c` → `@crdguard.select(a, 'b', 'c')`; names starting with `@` cannot be written in CEL.
pub(crate) const SELECT_FN: &str = "@crdguard.select";
/// `has(a.b.c)` → `@crdguard.has(a, 'b', 'c')`.
pub(crate) const HAS_FN: &str = "@crdguard.has";

/// Largest `lists.range(n)`: kube-cel allocates the list at once, and an absurd `n` would abort
/// the process (allocation failure cannot be caught). The API server's cost budget stops far
/// smaller ranges than this anyway.
pub(crate) const MAX_RANGE: i64 = 100_000;

/// The functions every expression can call; built once, shared by every evaluation.
pub(crate) struct CelEnv {
    base: Context<'static>,
}

impl CelEnv {
    pub(crate) fn new() -> Self {
        let mut base = Context::default();
        base.register_all();
        base.add_function(SELECT_FN, strict_select);
        base.add_function(HAS_FN, strict_has);
        base.add_function("lists.range", bounded_range);
        // The crate's `size` counts the bytes of a string; CEL counts code points.
        base.add_function("size", code_point_size);
        // `dyn(x)` only guides the type checker, which the `cel` crate does not have.
        base.add_function("dyn", |value: Value| -> ResolveResult { Ok(value) });
        CelEnv { base }
    }

    /// A scope for one request's variables, on top of the shared functions.
    pub(crate) fn scope(&self) -> Context<'_> {
        self.base.new_inner_scope()
    }
}

/// `@crdguard.select(base, 'f1', ..., 'fn')`: `base.f1...fn`, an error as soon as a step is
/// not a map or lacks the key, as in the API server. Intermediate maps are borrowed, not copied.
fn strict_select(ftx: &FunctionContext) -> ResolveResult {
    let (base, fields) = path_arguments(ftx)?;
    let base = Value::resolve_val(base, ftx.ptx)?;
    select_path(base.as_ref(), &fields)
}

/// `@crdguard.has(base, 'f1', ..., 'fn')`: `has(base.f1...fn)`: the steps up to `fn` must exist.
fn strict_has(ftx: &FunctionContext) -> ResolveResult {
    let (base, fields) = path_arguments(ftx)?;
    let Some((last, steps)) = fields.split_last() else {
        return Err(ExecutionError::function_error("has", "no field to test"));
    };
    let base = Value::resolve_val(base, ftx.ptx)?;
    has_path(base.as_ref(), steps, last)
}

fn code_point_size(This(value): This<Value>) -> ResolveResult {
    let size = match &value {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.map.len(),
        other => {
            return Err(ExecutionError::function_error(
                "size",
                format!("no size for a value of type {}", other.type_of()),
            ));
        }
    };
    Ok(Value::Int(i64::try_from(size).unwrap_or(i64::MAX)))
}

fn bounded_range(n: i64) -> ResolveResult {
    if !(0..=MAX_RANGE).contains(&n) {
        return Err(ExecutionError::function_error(
            "lists.range",
            format!("range {n} is outside 0..={MAX_RANGE} (beyond any cost budget)"),
        ));
    }
    Ok(Value::List(std::sync::Arc::new(
        (0..n).map(Value::Int).collect(),
    )))
}

fn path_arguments<'a>(
    ftx: &'a FunctionContext,
) -> Result<(&'a IdedExpr, Vec<&'a str>), ExecutionError> {
    let Some((base, rest)) = ftx.args.split_first() else {
        return Err(ExecutionError::function_error(ftx.name, "missing operand"));
    };
    let fields = rest
        .iter()
        .map(|arg| match &arg.expr {
            Expr::Literal(LiteralValue::String(s)) => Ok(s.inner()),
            _ => Err(ExecutionError::function_error(ftx.name, "bad field")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((base, fields))
}

fn select_path(current: &dyn Val, fields: &[&str]) -> ResolveResult {
    match fields.split_first() {
        None => Value::try_from(current),
        Some((field, rest)) => {
            let next = select_field(current, field)?;
            select_path(next.as_ref(), rest)
        }
    }
}

fn has_path(current: &dyn Val, steps: &[&str], last: &str) -> ResolveResult {
    match steps.split_first() {
        None => match current.as_container() {
            Some(container) if is_map(current) => {
                Ok(Value::Bool(container.contains(&CelString::from(last))?))
            }
            _ => Err(ExecutionError::function_error(
                "has",
                format!("cannot test field '{last}' on {}", type_name(current)),
            )),
        },
        Some((field, rest)) => {
            let next = select_field(current, field)?;
            has_path(next.as_ref(), rest, last)
        }
    }
}

fn select_field<'a>(
    current: &'a dyn Val,
    field: &str,
) -> Result<std::borrow::Cow<'a, dyn Val>, ExecutionError> {
    match current.as_indexer() {
        Some(indexer) if is_map(current) => indexer.get(&CelString::from(field)),
        _ => Err(ExecutionError::function_error(
            "select",
            format!("no such key: {field} (on {})", type_name(current)),
        )),
    }
}

fn is_map(value: &dyn Val) -> bool {
    value.get_type() == kube_cel::cel::common::types::MAP_TYPE
}

fn type_name(value: &dyn Val) -> String {
    match Value::try_from(value) {
        Ok(Value::Null) => "null".to_string(),
        Ok(v) => v.type_of().to_string(),
        Err(_) => "a value".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::tests::eval;
    use serde_json::json;

    #[test]
    fn selects_fields_strictly() {
        let obj = json!({"spec": {"group": "g", "n": 3}});
        assert_eq!(eval("object.spec.group", obj.clone()), Ok(Value::from("g")));
        assert_eq!(
            eval("object.spec.n > 2", obj.clone()),
            Ok(Value::Bool(true))
        );
        assert!(eval("object.spec.missing", obj.clone()).is_err());
        // The `cel` crate would say `false` here; the API server reports an error.
        assert!(eval("oldObject.metadata == 'x'", obj.clone()).is_err());
        assert!(eval("object.spec.group.x", obj).is_err());
    }

    #[test]
    fn has_tests_the_last_field_only() {
        let obj = json!({"metadata": {"annotations": {"a": "b"}}});
        assert_eq!(
            eval("has(object.metadata.annotations)", obj.clone()),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval("has(object.metadata.labels)", obj.clone()),
            Ok(Value::Bool(false))
        );
        assert!(eval("has(object.spec.group)", obj.clone()).is_err());
        assert!(eval("has(oldObject.metadata)", obj).is_err());
    }

    #[test]
    fn kubernetes_functions_are_there() {
        let obj = json!({});
        for (expr, want) in [
            ("semver('1.2.3').isLessThan(semver('1.10.0'))", true),
            ("'a.b.c'.split('.').size() == 3", true),
            ("matches('v1.5.1', 'v1.[0-5].\\\\d+')", true),
            ("'v1.6.1'.startsWith('v1.')", true),
            ("{'a': 1}.exists(k, k == 'a')", true),
            ("[1, 2].all(x, x > 0)", true),
            ("quantity('1Gi').isGreaterThan(quantity('1Mi'))", true),
            ("{'a': 'b'}[?'a'].orValue('z') == 'b'", true),
        ] {
            assert_eq!(eval(expr, obj.clone()), Ok(Value::Bool(want)), "{expr}");
        }
    }

    #[test]
    fn unknown_functions_are_errors() {
        let err = eval("object.foo().bar()", json!({})).unwrap_err();
        assert!(err.contains("undeclared reference"), "{err}");
    }
}
