//! CEL validation rules (`x-kubernetes-validations`).
//!
//! A rule added to or changed on a field that already existed may reject stored objects on
//! their next update, but rules cannot be compared for strength, so it is a warning (the spec's
//! "tightened on existing fields"). Removing a rule only loosens: info.
//!
//! Rules carry no identity, so old and new rules are paired in passes: identical entries,
//! then the same rule text (message, reason… changed), then the same message (rule text
//! changed), then whatever is left over in order when as many rules were removed as added.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::Severity;
use crate::json::{clip, same};
use crate::walk::Walker;

const KEY: &str = "x-kubernetes-validations";
/// Attributes that change what a rule accepts or how clients see a failure.
const SEMANTIC: [&str; 3] = ["reason", "fieldPath", "optionalOldSelf"];
/// Attributes that only change the failure message.
const COSMETIC: [&str; 2] = ["message", "messageExpression"];

pub(crate) fn check(w: &mut Walker<'_>, o: &Map<String, Value>, n: &Map<String, Value>) {
    let (was, now) = (entries(o), entries(n));
    let mut old_used = vec![false; was.len()];
    let mut new_used = vec![false; now.len()];
    let mut pairs: Vec<(usize, usize)> = Vec::new();

    pair(
        &was,
        &now,
        &mut old_used,
        &mut new_used,
        &mut Vec::new(),
        same,
    );
    pair(
        &was,
        &now,
        &mut old_used,
        &mut new_used,
        &mut pairs,
        |a, b| text(a, "rule").is_some() && text(a, "rule") == text(b, "rule"),
    );
    pair(
        &was,
        &now,
        &mut old_used,
        &mut new_used,
        &mut pairs,
        |a, b| {
            text(a, "message").is_some_and(|m| !m.is_empty())
                && text(a, "message") == text(b, "message")
        },
    );
    let left_old: Vec<usize> = (0..was.len()).filter(|i| !old_used[*i]).collect();
    let left_new: Vec<usize> = (0..now.len()).filter(|j| !new_used[*j]).collect();
    if left_old.len() == left_new.len() {
        pairs.extend(left_old.iter().copied().zip(left_new.iter().copied()));
    } else {
        for &i in &left_old {
            w.report(
                Severity::Info,
                Check::ValidationRuleRemoved,
                format!("CEL rule {} removed", describe(was[i])),
            );
        }
        for &j in &left_new {
            w.report(
                Severity::Warning,
                Check::ValidationRuleAdded,
                format!(
                    "CEL rule {} added to an existing field; stored objects that break it fail their next update",
                    describe(now[j])
                ),
            );
        }
    }
    pairs.sort_unstable();
    for (i, j) in pairs {
        changed(w, was[i], now[j]);
    }
}

/// Lists the rules of a node that is new (it, or a parent, did not exist before).
pub(crate) fn rules_of_new_field(w: &mut Walker<'_>, map: &Map<String, Value>) {
    for rule in entries(map) {
        w.report(
            Severity::Info,
            Check::ValidationRuleAdded,
            format!("CEL rule {} comes with a new field", describe(rule)),
        );
    }
}

fn entries(map: &Map<String, Value>) -> Vec<&Value> {
    match map.get(KEY) {
        Some(Value::Array(rules)) => rules.iter().collect(),
        _ => Vec::new(),
    }
}

fn pair(
    was: &[&Value],
    now: &[&Value],
    old_used: &mut [bool],
    new_used: &mut [bool],
    pairs: &mut Vec<(usize, usize)>,
    matches: impl Fn(&Value, &Value) -> bool,
) {
    for (j, b) in now.iter().enumerate() {
        if new_used[j] {
            continue;
        }
        if let Some(i) = (0..was.len()).find(|&i| !old_used[i] && matches(was[i], b)) {
            old_used[i] = true;
            new_used[j] = true;
            pairs.push((i, j));
        }
    }
}

fn changed(w: &mut Walker<'_>, was: &Value, now: &Value) {
    let check = Check::ValidationRuleChanged;
    let (old_rule, new_rule) = (text(was, "rule"), text(now, "rule"));
    if old_rule != new_rule {
        w.report(
            Severity::Warning,
            check,
            format!(
                "CEL rule changed from {} to {}; stored objects that break the new rule fail their next update",
                quoted(old_rule),
                quoted(new_rule)
            ),
        );
        return;
    }
    let differs = |key: &&str| !opt_same(was.get(*key), now.get(*key));
    let semantic: Vec<&str> = SEMANTIC.into_iter().filter(differs).collect();
    let cosmetic: Vec<&str> = COSMETIC.into_iter().filter(differs).collect();
    if !semantic.is_empty() {
        w.report(
            Severity::Warning,
            check,
            format!(
                "CEL rule {}: {} changed",
                quoted(new_rule),
                semantic.join(", ")
            ),
        );
    } else if !cosmetic.is_empty() {
        w.report(
            Severity::Info,
            check,
            format!(
                "CEL rule {}: {} changed",
                quoted(new_rule),
                cosmetic.join(", ")
            ),
        );
    } else if was != now {
        // Some other attribute (unknown to us) changed.
        w.report(
            Severity::Warning,
            check,
            format!("CEL rule {} changed", quoted(new_rule)),
        );
    }
}

fn text<'a>(rule: &'a Value, key: &str) -> Option<&'a str> {
    rule.get(key).and_then(Value::as_str)
}

fn opt_same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => same(x, y),
        (None, None) => true,
        _ => false,
    }
}

fn quoted(text: Option<&str>) -> String {
    text.map_or_else(|| "(no rule)".to_string(), |t| format!("{:?}", clip(t)))
}

fn describe(rule: &Value) -> String {
    match text(rule, "rule") {
        Some(r) => format!("{:?}", clip(r)),
        None => clip(&rule.to_string()),
    }
}
