//! `allOf` / `anyOf` / `oneOf` / `not` whose entries were added or removed.
//!
//! Lists of the same length are compared entry by entry by the walk; here the lists differ in
//! length, so entries are matched by value. What a change means depends on the keyword:
//! an `allOf` entry added is one more constraint (error), an `anyOf` entry added is one more
//! alternative (info), and a `oneOf` change either way can make a value match zero or two
//! entries (error).

use serde_json::Value;

use crate::check::Check;
use crate::finding::Severity;
use crate::json::{same, show};
use crate::walk::Walker;

pub(crate) fn membership(w: &mut Walker<'_>, keyword: &str, was: &[Value], now: &[Value]) {
    let check = match keyword {
        "allOf" => Check::AllOfChanged,
        "anyOf" => Check::AnyOfChanged,
        _ => Check::OneOfChanged,
    };
    if was.is_empty() {
        w.report(
            Severity::Error,
            check,
            format!(
                "{keyword} with {} entries added where there was none",
                now.len()
            ),
        );
        return;
    }
    if now.is_empty() {
        w.report(
            Severity::Info,
            check,
            format!("{keyword} with {} entries removed", was.len()),
        );
        return;
    }
    let removed: Vec<&Value> = was
        .iter()
        .filter(|x| !now.iter().any(|y| same(x, y)))
        .collect();
    let added: Vec<&Value> = now
        .iter()
        .filter(|y| !was.iter().any(|x| same(x, y)))
        .collect();
    let (removed_severity, added_severity) = match keyword {
        "allOf" => (Severity::Info, Severity::Error),
        "anyOf" => (Severity::Error, Severity::Info),
        _ => (Severity::Error, Severity::Error),
    };
    for entry in removed {
        w.report(
            removed_severity,
            check,
            format!("{keyword} entry removed: {}", show(entry)),
        );
    }
    for entry in added {
        w.report(
            added_severity,
            check,
            format!("{keyword} entry added: {}", show(entry)),
        );
    }
}

/// A change inside `not` inverts the meaning of every nested change, so any change to it is
/// treated as tightening; only its removal is known to loosen.
pub(crate) fn not(w: &mut Walker<'_>, was: Option<&Value>, now: Option<&Value>) {
    let check = Check::NotChanged;
    match (was, now) {
        (None, Some(now)) => w.report(
            Severity::Error,
            check,
            format!("not {} added where there was none", show(now)),
        ),
        (Some(was), None) => {
            w.report(Severity::Info, check, format!("not {} removed", show(was)));
        }
        (Some(was), Some(now)) if !same(was, now) => w.report(
            Severity::Error,
            check,
            format!("not changed from {} to {}", show(was), show(now)),
        ),
        _ => {}
    }
}
