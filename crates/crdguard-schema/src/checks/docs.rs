//! Documentation-only keywords, and keywords the analysis does not know.

use serde_json::{Map, Value};

use crate::finding::Severity;
use crate::json::{clip, show};
use crate::keyword::{Keyword, KeywordSet};
use crate::walk::Walker;

pub(crate) fn check(
    w: &mut Walker<'_>,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    changed: KeywordSet,
) {
    if changed.contains(Keyword::Description) {
        let message = match (
            o.get("description").and_then(Value::as_str),
            n.get("description").and_then(Value::as_str),
        ) {
            (None, Some(now)) => format!("description added: {:?}", clip(now)),
            (Some(was), None) => format!("description removed (was {:?})", clip(was)),
            (Some(was), Some(now)) => format!(
                "description changed from {:?} to {:?}",
                clip(was),
                clip(now)
            ),
            (None, None) => "description changed".to_string(),
        };
        w.report(Severity::Info, "description-changed", message);
    }
    if changed.contains(Keyword::Documentation) {
        for key in ["title", "example", "externalDocs"] {
            if o.get(key) != n.get(key) {
                w.report(
                    Severity::Info,
                    "description-changed",
                    format!(
                        "{key} changed from {} to {}",
                        shown(o.get(key)),
                        shown(n.get(key))
                    ),
                );
            }
        }
    }
}

/// A keyword crdguard does not analyse changed (`$ref`, `dependencies`, vendor extensions…).
/// Reported as a warning rather than silently accepted, like crdify's "unhandled" check.
pub(crate) fn unknown_keyword(
    w: &mut Walker<'_>,
    key: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) {
    w.report(
        Severity::Warning,
        "unhandled-change",
        format!(
            "keyword {key:?} changed from {} to {}; crdguard does not analyse it",
            shown(old),
            shown(new)
        ),
    );
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "none".to_string(), show)
}
