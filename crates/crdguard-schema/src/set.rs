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
    let old = by_name(old);
    let new = by_name(new);

    let mut pairs: Vec<(&str, Option<&Value>, Option<&Value>)> = old
        .iter()
        .map(|(name, crd)| (*name, Some(*crd), new.get(name).copied()))
        .collect();
    pairs.extend(
        new.iter()
            .filter(|(name, _)| !old.contains_key(*name))
            .map(|(name, crd)| (*name, None, Some(*crd))),
    );

    let mut items: Vec<CrdDiff> = pairs
        .into_par_iter()
        .map(|(name, before, after)| CrdDiff {
            crd: name.to_string(),
            findings: match (before, after) {
                (Some(a), Some(b)) => diff_crds(a, b),
                (Some(_), None) => vec![Finding::new(
                    Severity::Error,
                    Check::CrdRemoved,
                    "",
                    ".",
                    format!("CRD {name} is in the old set but not in the new one; its objects would be lost if it were deleted"),
                )],
                _ => vec![Finding::new(
                    Severity::Info,
                    Check::CrdAdded,
                    "",
                    ".",
                    format!("CRD {name} is new"),
                )],
            },
        })
        .collect();
    items.sort_by(|a, b| a.crd.cmp(&b.crd));
    let summary = Summary::of(items.iter().flat_map(|item| &item.findings));
    SetDiff { items, summary }
}

fn by_name<'a>(crds: impl IntoIterator<Item = &'a Value>) -> HashMap<&'a str, &'a Value> {
    crds.into_iter()
        .filter(|crd| {
            crd.get("kind")
                .and_then(Value::as_str)
                .is_none_or(|kind| kind == "CustomResourceDefinition")
        })
        .filter_map(|crd| Some((crd.pointer("/metadata/name")?.as_str()?, crd)))
        .collect()
}
