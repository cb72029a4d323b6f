//! Which values are allowed or filled in: `enum` and `default`.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::Severity;
use crate::json::{same, show, show_list};
use crate::keyword::{Keyword, KeywordSet};
use crate::walk::Walker;

pub(crate) fn check(
    w: &mut Walker<'_>,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    changed: KeywordSet,
) {
    if changed.contains(Keyword::Enum) {
        enums(w, o.get("enum"), n.get("enum"));
    }
    if changed.contains(Keyword::Default) {
        default(w, o.get("default"), n.get("default"));
    }
}

fn enums(w: &mut Walker<'_>, old: Option<&Value>, new: Option<&Value>) {
    match (old.and_then(Value::as_array), new.and_then(Value::as_array)) {
        (None, None) => {}
        (None, Some(now)) => w.report(
            Severity::Error,
            Check::EnumAdded,
            format!("enum {} added where any value was accepted", show_list(now)),
        ),
        (Some(was), None) => w.report(
            Severity::Info,
            Check::EnumRemoved,
            format!("enum {} removed: any value is accepted now", show_list(was)),
        ),
        (Some(was), Some(now)) => {
            // Set semantics: reordering an enum changes nothing. Enums are short, so the
            // quadratic membership test is cheaper than hashing `Value`s.
            for value in was.iter().filter(|v| !now.iter().any(|x| same(v, x))) {
                w.report(
                    Severity::Error,
                    Check::EnumValueRemoved,
                    format!(
                        "enum value {} removed (was {}, now {})",
                        show(value),
                        show_list(was),
                        show_list(now)
                    ),
                );
            }
            for value in now.iter().filter(|v| !was.iter().any(|x| same(v, x))) {
                w.report(
                    Severity::Info,
                    Check::EnumValueAdded,
                    format!(
                        "enum value {} added (was {}, now {})",
                        show(value),
                        show_list(was),
                        show_list(now)
                    ),
                );
            }
        }
    }
}

/// Any default change is an error: the API server applies defaults when it reads objects from
/// etcd, so stored objects silently change meaning.
fn default(w: &mut Walker<'_>, old: Option<&Value>, new: Option<&Value>) {
    match (old, new) {
        (None, Some(now)) => w.report(
            Severity::Error,
            Check::DefaultAdded,
            format!(
                "default {} added; objects without the field read it from now on",
                show(now)
            ),
        ),
        (Some(was), None) => w.report(
            Severity::Error,
            Check::DefaultRemoved,
            format!("default {} removed", show(was)),
        ),
        (Some(was), Some(now)) if !same(was, now) => w.report(
            Severity::Error,
            Check::DefaultChanged,
            format!("default changed from {} to {}", show(was), show(now)),
        ),
        _ => {}
    }
}
