//! Keyword checks: each family compares the keywords of one schema node whose values differ
//! and reports findings at the walker's current path. The walk decides *where*; the checks
//! decide *what it means* (severity, check name, message).
//!
//! Every check is a [`Check`](crate::Check), serialized as a stable kebab-case name that users
//! filter on; see the crate documentation for the full list with severities.

pub(crate) mod cel;
pub(crate) mod composition;
pub(crate) mod docs;
pub(crate) mod kubernetes;
pub(crate) mod limits;
pub(crate) mod required;
pub(crate) mod types;
pub(crate) mod values;

use serde_json::{Map, Value};

use crate::keyword::{Keyword, KeywordSet};
use crate::walk::Walker;

/// Runs the checks that concern at least one keyword in `changed`.
pub(crate) fn run(
    w: &mut Walker<'_>,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    changed: KeywordSet,
) {
    types::check(w, o, n, changed);
    if changed.any(&[Keyword::Enum, Keyword::Default]) {
        values::check(w, o, n, changed);
    }
    limits::check(w, o, n, changed);
    kubernetes::check(w, o, n, changed);
    if changed.contains(Keyword::Required) {
        required::check(w, o, n);
    }
    if changed.contains(Keyword::Validations) {
        cel::check(w, o, n);
    }
    if changed.any(&[Keyword::Description, Keyword::Documentation]) {
        docs::check(w, o, n, changed);
    }
}
