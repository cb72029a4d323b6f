//! Recorded requirements (SPEC §12): each product that crdguard applies a shared bundle for
//! leaves what it needs of the bundle on the bundle's CRDs, in the annotation
//! `crdguard.dev/requirements` (a JSON list, one entry per product). Later plans, for any
//! product, must not break another product's entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Channel, Crd};
use crate::policy::{BundlePolicy, Policy};
use crate::version::BundleVersion;

/// The annotation holding the entries, on every CRD of the bundle.
pub const ANNOTATION: &str = "crdguard.dev/requirements";

/// The field manager of the annotation-only writes that record entries: not crdguard's own
/// manager, so its server-side applies of whole CRDs never own (or drop) the annotation.
pub const FIELD_MANAGER: &str = "crdguard-requirements";

/// One product's requirement on a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub product: String,
    /// The product's version, when its policy says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<BundleVersion>,
    /// A hard limit (the policy's `maximum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<BundleVersion>,
    /// Above it is allowed, with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tested_maximum: Option<BundleVersion>,
    /// The narrowest channel the product works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub kinds: Vec<String>,
    /// API versions the product reads, per kind, which must stay served.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub served_versions: BTreeMap<String, Vec<String>>,
}

impl Requirement {
    /// The entry `policy` records for `bundle`.
    pub fn of(policy: &Policy, bundle: &BundlePolicy) -> Requirement {
        Requirement {
            product: policy.metadata.name.clone(),
            version: policy.metadata.version.clone(),
            minimum: bundle.minimum.clone(),
            maximum: bundle.maximum.clone(),
            tested_maximum: bundle.tested_maximum.clone(),
            channel: bundle.channel,
            kinds: bundle.required_kinds.clone(),
            served_versions: bundle.served_versions.clone(),
        }
    }

    /// `istio 1.28.0` or `istio`.
    pub fn who(&self) -> String {
        match &self.version {
            Some(version) => format!("{} {version}", self.product),
            None => self.product.clone(),
        }
    }

    /// Why a write of the bundle at `version`/`channel`, with `served` the versions the
    /// written CRD of `kind` serves (and `served_before` those it served), breaks this entry;
    /// `None` when it does not.
    pub fn broken_by(
        &self,
        version: Option<&BundleVersion>,
        channel: Option<Channel>,
        kind: &str,
        served: &[&str],
        served_before: &[&str],
    ) -> Option<String> {
        let who = self.who();
        if let (Some(version), Some(minimum)) = (version, &self.minimum)
            && version < minimum
        {
            return Some(format!(
                "{who} needs at least {minimum}; this would write {version}"
            ));
        }
        if let (Some(version), Some(maximum)) = (version, &self.maximum)
            && version > maximum
        {
            return Some(format!(
                "{who} runs on at most {maximum} (a hard maximum); this would write {version}"
            ));
        }
        if let (Some(channel), Some(needed)) = (channel, self.channel)
            && channel < needed
        {
            return Some(format!(
                "{who} needs the {needed} channel; this would write {channel}"
            ));
        }
        let dropped: Vec<&str> = self
            .served_versions
            .get(kind)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|v| served_before.contains(v) && !served.contains(v))
            .collect();
        if !dropped.is_empty() {
            return Some(format!(
                "{who} reads {kind} {}, which this would stop serving",
                dropped.join(", ")
            ));
        }
        None
    }

    /// A warning when `version` is above this entry's tested maximum.
    pub fn untested(&self, version: &BundleVersion) -> Option<String> {
        let tested = self.tested_maximum.as_ref()?;
        (version > tested).then(|| {
            format!(
                "{version} is above {}'s tested maximum {tested}",
                self.who()
            )
        })
    }
}

/// The entries recorded on `crd`; an annotation that is not such a list is an error message
/// (the caller warns and treats the CRD as having none).
pub fn recorded(crd: &Crd) -> Result<Vec<Requirement>, String> {
    match crd.annotations.get(ANNOTATION) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            format!(
                "{name}: annotation {ANNOTATION} is not a list of requirements ({e}); repair \
                 it, or remove it (`kubectl annotate crd {name} {ANNOTATION}-`) and apply each \
                 product again to record its requirement",
                name = crd.name
            )
        }),
    }
}

/// The entries recorded on the CRDs of one bundle, one per product: CRDs created later may
/// lack older entries, so the union is what the bundle owes. Where two CRDs hold different
/// entries for one product, the one with the highest minimum wins (the stricter).
pub fn of_bundle<'a>(crds: impl IntoIterator<Item = &'a Crd>) -> (Vec<Requirement>, Vec<String>) {
    let mut by_product: BTreeMap<String, Requirement> = BTreeMap::new();
    let mut warnings = Vec::new();
    for crd in crds {
        match recorded(crd) {
            Ok(entries) => {
                for entry in entries {
                    match by_product.get(&entry.product) {
                        Some(kept) if kept.minimum >= entry.minimum => {}
                        _ => {
                            by_product.insert(entry.product.clone(), entry);
                        }
                    }
                }
            }
            Err(message) => warnings.push(message),
        }
    }
    (by_product.into_values().collect(), warnings)
}

/// `entries` with `own` in place of its product's entry, sorted by product: others' entries
/// are never dropped.
pub fn merged(entries: &[Requirement], own: &Requirement) -> Vec<Requirement> {
    let mut out: Vec<Requirement> = entries
        .iter()
        .filter(|e| e.product != own.product)
        .cloned()
        .collect();
    out.push(own.clone());
    out.sort_by(|a, b| a.product.cmp(&b.product));
    out
}

/// `entries` without `product`'s (`crdguard requirements remove`).
pub fn without(entries: &[Requirement], product: &str) -> Vec<Requirement> {
    entries
        .iter()
        .filter(|e| e.product != product)
        .cloned()
        .collect()
}

/// The annotation's new value: `change` applied to the entries `current` holds (none when
/// absent). `None` when `current` is not a list of requirements: an annotation crdguard cannot
/// read is left for a person to repair, never overwritten (plans block on it).
pub fn rewritten(
    current: Option<&str>,
    change: impl FnOnce(&[Requirement]) -> Vec<Requirement>,
) -> Option<String> {
    let entries: Vec<Requirement> = match current {
        None => Vec::new(),
        Some(text) => serde_json::from_str(text).ok()?,
    };
    Some(annotation_value(&change(&entries)))
}

/// The annotation's value: compact JSON, stable for equal entries.
pub fn annotation_value(entries: &[Requirement]) -> String {
    serde_json::to_string(entries).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> BundleVersion {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn entry(product: &str, minimum: &str) -> Requirement {
        Requirement {
            product: product.into(),
            version: Some("1.0.0".into()),
            minimum: Some(v(minimum)),
            maximum: Some(v("v1.5.1")),
            tested_maximum: Some(v("v1.5.0")),
            channel: Some(Channel::Experimental),
            kinds: vec!["HTTPRoute".into()],
            served_versions: BTreeMap::from([("HTTPRoute".into(), vec!["v1beta1".into()])]),
        }
    }

    #[test]
    fn each_requirement_is_checked() {
        let istio = entry("istio", "v1.4.0");
        let ok = istio.broken_by(
            Some(&v("v1.5.0")),
            Some(Channel::Experimental),
            "HTTPRoute",
            &["v1", "v1beta1"],
            &["v1", "v1beta1"],
        );
        assert_eq!(ok, None);
        let low = istio.broken_by(Some(&v("v1.3.0")), None, "HTTPRoute", &[], &[]);
        assert!(low.is_some_and(|m| m.contains("at least v1.4.0")));
        let high = istio.broken_by(Some(&v("v1.6.0")), None, "HTTPRoute", &[], &[]);
        assert!(high.is_some_and(|m| m.contains("at most v1.5.1")));
        let narrow = istio.broken_by(None, Some(Channel::Standard), "HTTPRoute", &[], &[]);
        assert!(narrow.is_some_and(|m| m.contains("experimental channel")));
        let unserved = istio.broken_by(None, None, "HTTPRoute", &["v1"], &["v1", "v1beta1"]);
        assert!(unserved.is_some_and(|m| m.contains("reads HTTPRoute v1beta1")));
        // Versions are per kind: Gateway v1beta1 going away is not what Istio reads.
        let other_kind = istio.broken_by(None, None, "Gateway", &["v1"], &["v1", "v1beta1"]);
        assert_eq!(other_kind, None);
        // A version that was not served before is not taken away by this write.
        let never = istio.broken_by(None, None, "HTTPRoute", &["v1"], &["v1"]);
        assert_eq!(never, None);
        assert!(istio.untested(&v("v1.5.1")).is_some());
        assert!(istio.untested(&v("v1.5.0")).is_none());
    }

    #[test]
    fn merging_replaces_own_entry_and_keeps_others() {
        let entries = vec![entry("istio", "v1.4.0"), entry("envoy-gateway", "v1.5.0")];
        let own = entry("envoy-gateway", "v1.6.0");
        let out = merged(&entries, &own);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].product, "envoy-gateway");
        assert_eq!(out[0].minimum, Some(v("v1.6.0")));
        assert_eq!(out[1].product, "istio");
        assert_eq!(without(&out, "istio").len(), 1);
    }

    #[test]
    fn an_unreadable_annotation_is_never_rewritten() {
        let own = entry("istio", "v1.4.0");
        assert_eq!(rewritten(Some("not json"), |e| merged(e, &own)), None);
        let fresh = rewritten(None, |e| merged(e, &own)).unwrap_or_default();
        assert!(fresh.contains("\"istio\""), "{fresh}");
    }

    #[test]
    fn the_annotation_round_trips_and_a_bad_one_is_named() {
        let entries = vec![entry("istio", "v1.4.0")];
        let text = annotation_value(&entries);
        let parsed: Vec<Requirement> = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(parsed, entries);
        assert!(text.contains("\"minimum\":\"v1.4.0\""), "{text}");
    }
}
