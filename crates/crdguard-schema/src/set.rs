//! `crdguard diff OLD NEW`: two sets of CRDs matched by `metadata.name`.
//!
//! CRDs are matched through a hash map (no quadratic search) and diffed in parallel: each pair
//! is independent, and the upjet-aws upgrade has 2,000+ of them. Inputs are borrowed, never
//! cloned.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::check::Check;
use crate::diff_crds;
use crate::finding::{Finding, Severity, Summary};

/// The findings of one CRD of a set diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrdDiff {
    /// `metadata.name` of the CRD.
    pub crd: String,
    pub findings: Vec<Finding>,
}

/// The result of [`diff_sets`]: one item per CRD name found in either set, sorted by name,
/// and the counts of all findings by severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetDiff {
    pub items: Vec<CrdDiff>,
    pub summary: Summary,
}

impl SetDiff {
    /// Every finding with the name of its CRD, in item order.
    pub fn findings(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.items
            .iter()
            .flat_map(|item| item.findings.iter().map(move |f| (item.crd.as_str(), f)))
    }

    /// Applies the server's validation ratcheting to every finding and recounts.
    pub fn ratchet(&mut self, ratcheting: crate::Ratcheting) {
        for item in &mut self.items {
            crate::ratchet::apply(&mut item.findings, ratcheting);
        }
        self.summary = Summary::of(self.items.iter().flat_map(|i| &i.findings));
    }

    /// How many findings each (check, severity) has, most frequent first (ties by name).
    pub fn counts_by_check(&self) -> Vec<(Check, Severity, usize)> {
        let mut counts: BTreeMap<(Check, Severity), usize> = BTreeMap::new();
        for (_, finding) in self.findings() {
            *counts.entry((finding.check, finding.severity)).or_default() += 1;
        }
        let mut out: Vec<_> = counts.into_iter().map(|((c, s), n)| (c, s, n)).collect();
        out.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)).then(a.0.cmp(&b.0)));
        out
    }
}

/// Diffs two sets of CRD objects, matched by `metadata.name`.
///
/// Only in `old`: error `crd-removed`. Only in `new`: info `crd-added`. In both: [`diff_crds`].
/// Documents whose `kind` is not `CustomResourceDefinition`, and objects without a
/// `metadata.name`, are ignored: sorting inputs out is the loader's job. When a name occurs
/// twice in one set, the last occurrence wins (as it would when applied in order).
pub fn diff_sets<'a>(
    old: impl IntoIterator<Item = &'a Value>,
    new: impl IntoIterator<Item = &'a Value>,
) -> SetDiff {
    let old = OldSet::new(old);
    let new: Vec<&Value> = by_name(new).into_values().collect();
    let items = new
        .into_par_iter()
        .filter_map(|crd| old.diff_one(crd))
        .collect();
    old.finish(items)
}

/// The old side of a set diff, indexed by name, for diffing the new side one CRD at a time
/// (so a caller can read, diff and drop the new CRDs one after another; see [`diff_sets`] for
/// what is found).
pub struct OldSet<'a> {
    by_name: HashMap<&'a str, &'a Value>,
}

impl<'a> OldSet<'a> {
    pub fn new(old: impl IntoIterator<Item = &'a Value>) -> OldSet<'a> {
        OldSet {
            by_name: by_name(old),
        }
    }

    /// The findings of one CRD of the new set against its namesake in the old one (`crd-added`
    /// when there is none); `None` for an object that is not a CRD or has no name.
    pub fn diff_one(&self, new: &Value) -> Option<CrdDiff> {
        let name = crd_name(new)?;
        let findings = match self.by_name.get(name) {
            Some(before) => diff_crds(before, new),
            None => vec![Finding::new(
                Severity::Info,
                Check::CrdAdded,
                "",
                ".",
                format!("CRD {name} is new"),
            )],
        };
        Some(CrdDiff {
            crd: name.to_string(),
            findings,
        })
    }

    /// The set diff from the diffs of the new set's CRDs (one per name): adds `crd-removed`
    /// for every old CRD none of them names, sorts by name and counts.
    pub fn finish(&self, mut items: Vec<CrdDiff>) -> SetDiff {
        let seen: std::collections::HashSet<&str> = items.iter().map(|i| i.crd.as_str()).collect();
        let mut removed: Vec<CrdDiff> = self
            .by_name
            .keys()
            .filter(|name| !seen.contains(*name))
            .map(|name| CrdDiff {
                crd: name.to_string(),
                findings: vec![Finding::new(
                    Severity::Error,
                    Check::CrdRemoved,
                    "",
                    ".",
                    format!("CRD {name} is in the old set but not in the new one; its objects would be lost if it were deleted"),
                )],
            })
            .collect();
        items.append(&mut removed);
        items.sort_by(|a, b| a.crd.cmp(&b.crd));
        let summary = Summary::of(items.iter().flat_map(|item| &item.findings));
        SetDiff { items, summary }
    }
}

/// `metadata.name` of a CRD object; `None` for another kind or no name.
fn crd_name(crd: &Value) -> Option<&str> {
    let is_crd = crd
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(|kind| kind == "CustomResourceDefinition");
    if !is_crd {
        return None;
    }
    crd.pointer("/metadata/name")?.as_str()
}

fn by_name<'a>(crds: impl IntoIterator<Item = &'a Value>) -> HashMap<&'a str, &'a Value> {
    crds.into_iter()
        .filter_map(|crd| Some((crd_name(crd)?, crd)))
        .collect()
}
