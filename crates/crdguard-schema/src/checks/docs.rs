//! Documentation-only keywords, and keywords the analysis does not know.

use serde_json::{Map, Value};

use crate::check::Check;
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
            (Some(was), Some(now)) => {
                let (a, b) = around_difference(was, now);
                format!("description changed from {a:?} to {b:?}")
            }
            (None, None) => "description changed".to_string(),
        };
        w.report(Severity::Info, Check::DescriptionChanged, message);
    }
    if changed.contains(Keyword::Documentation) {
        for key in ["title", "example", "externalDocs"] {
            if o.get(key) != n.get(key) {
                w.report(
                    Severity::Info,
                    Check::DescriptionChanged,
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
        Check::UnhandledChange,
        format!(
            "keyword {key:?} changed from {} to {}; crdguard does not analyse it",
            shown(old),
            shown(new)
        ),
    );
}

/// Long descriptions often differ deep inside: show both from a little before the first
/// difference, so the message shows what changed rather than an identical prefix.
fn around_difference(was: &str, now: &str) -> (String, String) {
    const CONTEXT: usize = 20;
    let first_difference = was
        .char_indices()
        .zip(now.chars())
        .find(|((_, a), b)| a != b)
        .map_or(was.len().min(now.len()), |((i, _), _)| i);
    // Back up CONTEXT characters, staying on a char boundary of both strings (they share
    // the prefix, so a boundary in one is a boundary in the other).
    let start = was[..first_difference]
        .char_indices()
        .rev()
        .nth(CONTEXT)
        .map_or(0, |(i, _)| i);
    let show = |s: &str| {
        if start == 0 {
            clip(s)
        } else {
            format!("…{}", clip(&s[start..]))
        }
    };
    (show(was), show(now))
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "none".to_string(), show)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_shown_around_their_first_difference() {
        let prefix = "x".repeat(200);
        let (a, b) =
            around_difference(&format!("{prefix} old tail"), &format!("{prefix} new tail"));
        assert!(a.starts_with('…') && a.contains("old tail"), "{a}");
        assert!(b.contains("new tail"), "{b}");
        assert_eq!(
            around_difference("short", "shorter"),
            ("short".into(), "shorter".into())
        );
        let (a, _) = around_difference("é".repeat(50).as_str(), "é".repeat(51).as_str());
        assert!(a.starts_with('…'));
    }
}
