//! Compatibility *between* the served versions of one CRD (crdify's "served" validator).
//!
//! Without a conversion webhook (strategy `None`) the API server serves one stored object under
//! every version by rewriting `apiVersion` only. If a newer served version is stricter than an
//! older one, objects written through the older version fail their next update through the
//! newer one. Every pair of served versions (older → newer, Kubernetes version order) is
//! compared with the same walk as an upgrade; its errors become `served-versions-incompatible`
//! warnings.
//!
//! Only incompatibilities the desired CRD *introduces* are reported: those the installed CRD
//! already had (same pair, check and path) are not news for an upgrade.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;

use crate::check::Check;
use crate::crd::{self, Version};
use crate::finding::{Finding, Severity};
use crate::walk::Walker;

/// An incompatibility between two served versions of one CRD.
struct Incompatibility {
    older: String,
    newer: String,
    inner: Finding,
}

impl Incompatibility {
    fn key(&self) -> (&str, &str, Check, &str) {
        (&self.older, &self.newer, self.inner.check, &self.inner.path)
    }
}

pub(crate) fn check(installed: &Value, desired: &Value, out: &mut Vec<Finding>) {
    let introduced = incompatibilities(desired);
    if introduced.is_empty() {
        return;
    }
    let before = incompatibilities(installed);
    let known: HashSet<_> = before.iter().map(Incompatibility::key).collect();
    for found in &introduced {
        if known.contains(&found.key()) {
            continue;
        }
        out.push(Finding::new(
            Severity::Warning,
            Check::ServedVersionsIncompatible,
            found.newer.as_str(),
            found.inner.path.as_str(),
            format!(
                "served versions {older} and {newer} share stored objects without conversion, but {newer} is stricter ({check}: {message})",
                older = found.older,
                newer = found.newer,
                check = found.inner.check,
                message = found.inner.message,
            ),
        ));
    }
}

fn incompatibilities(crd: &Value) -> Vec<Incompatibility> {
    if crd::conversion_strategy(crd) != "None" {
        return Vec::new();
    }
    let mut served: Vec<Version<'_>> = crd::versions(crd)
        .into_iter()
        .filter(|v| v.served)
        .collect();
    if served.len() < 2 {
        return Vec::new();
    }
    served.sort_by(|a, b| compare_versions(a.name, b.name));
    let empty = Value::Object(serde_json::Map::new());
    let mut found = Vec::new();
    for (i, older) in served.iter().enumerate() {
        for newer in &served[i + 1..] {
            let (a, b) = (
                older.schema().unwrap_or(&empty),
                newer.schema().unwrap_or(&empty),
            );
            if a == b {
                continue;
            }
            let mut walker = Walker::new(newer.name);
            walker.compare(a, b);
            found.extend(
                walker
                    .finish()
                    .into_iter()
                    // Warnings too: a CEL rule only the newer version has still refuses
                    // objects written through it (crdify parity, docs/crdify-parity.md).
                    .filter(|f| f.severity != Severity::Info)
                    .map(|inner| Incompatibility {
                        older: older.name.to_string(),
                        newer: newer.name.to_string(),
                        inner,
                    }),
            );
        }
    }
    found
}

/// Kubernetes version priority, ascending: `v1alpha1 < v1alpha2 < v1beta1 < v1 < v2alpha1 …`;
/// names that do not look like Kubernetes versions sort first, alphabetically.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// `(major, stability, minor)` with stability alpha = 0, beta = 1, GA = 2.
fn parse(name: &str) -> Option<(u64, u8, u64)> {
    let rest = name.strip_prefix('v')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let major: u64 = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    if rest.is_empty() {
        return Some((major, 2, 0));
    }
    let (stability, minor) = if let Some(m) = rest.strip_prefix("alpha") {
        (0, m)
    } else if let Some(m) = rest.strip_prefix("beta") {
        (1, m)
    } else {
        return None;
    };
    Some((major, stability, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_version_order() {
        let mut names = vec![
            "v1",
            "v2alpha1",
            "v1beta1",
            "v1alpha2",
            "foo",
            "v1alpha10",
            "v1beta2",
        ];
        names.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            names,
            [
                "foo",
                "v1alpha2",
                "v1alpha10",
                "v1beta1",
                "v1beta2",
                "v1",
                "v2alpha1"
            ]
        );
    }
}
