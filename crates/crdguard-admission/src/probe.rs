//! What an admission policy lets through (SPEC §9 v2, `status`): the writes that would take a
//! bundle backwards, tried against one policy and its bindings with the same evaluator that
//! predicts `admission-denied`. Upstream's safe-upgrades policy of Gateway API v1.6, for one,
//! stops releases before v1.5 and experimental over standard, but lets a step down within
//! v1.5+, experimental → standard, deletes, and the `gateway.networking.x-k8s.io` group through.
//!
//! The probes start from a CRD of the bundle as installed and change only its markers (version,
//! channel), its group or the operation, so that what a policy reads of the schema is real.

use serde::Serialize;
use serde_json::Value;

use crdguard_core::admission::AdmissionPrediction;
use crdguard_core::registry::{KnownBundle, MarkerKey};
use crdguard_core::{BundleVersion, Crd};

use crate::{AdmissionRequest, PolicyEvaluator};

/// One write tried against a policy, and what the policy does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The write, in words: `lowering v1.6.1 → v1.6.0`, `deleting a CRD`, ...
    pub write: String,
    pub verdict: ProbeVerdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeVerdict {
    Stopped,
    LetThrough,
    /// The policy could not be evaluated for it (an unsupported expression, parameters).
    Unknown,
}

/// The probes of `bundle` against `objects` (one policy and its bindings; a policy without a
/// binding stops nothing), starting from `sample`, an installed CRD of the bundle.
pub fn probe_policy(objects: &[Value], bundle: &KnownBundle, sample: &Crd) -> Vec<Probe> {
    let evaluator = PolicyEvaluator::from_objects(objects);
    // Updates of the installed CRD: (what, the object written).
    let mut writes: Vec<(String, Value)> = Vec::new();
    let installed = sample.object.clone();
    let version = bundle
        .version
        .as_ref()
        .and_then(|marker| Some((marker, marker.read(sample)?.parse::<BundleVersion>().ok()?)));
    if let Some((marker, version)) = &version {
        for lower in lower_versions(version) {
            let written = with_marker(&installed, marker, &lower.to_string());
            writes.push((format!("lowering {version} → {lower}"), written));
        }
    }
    if let Some(marker) = &bundle.channel
        && let Some(channel) = marker.read(sample)
    {
        let other = if channel == "experimental" {
            "standard"
        } else {
            "experimental"
        };
        let written = with_marker(&installed, marker, other);
        writes.push((format!("{channel} → {other}"), written));
    }
    let mut probes: Vec<Probe> = writes
        .into_iter()
        .map(|(write, written)| Probe {
            write,
            verdict: verdict(&evaluator, &AdmissionRequest::update(&installed, &written)),
        })
        .collect();
    probes.push(Probe {
        write: format!("deleting a {} CRD", sample.group),
        verdict: verdict(&evaluator, &AdmissionRequest::delete(&installed)),
    });
    // The bundle's other groups: the same CRD moved there (a policy that names one group only
    // leaves the others unguarded).
    for group in bundle.groups.iter().filter(|g| **g != sample.group) {
        let moved = in_group(&installed, &sample.plural, group);
        probes.push(Probe {
            write: format!("deleting a {group} CRD"),
            verdict: verdict(&evaluator, &AdmissionRequest::delete(&moved)),
        });
        if let Some((marker, version)) = &version
            && let Some(lower) = lower_versions(version).first()
        {
            let written = with_marker(&moved, marker, &lower.to_string());
            probes.push(Probe {
                write: format!("lowering a {group} CRD {version} → {lower}"),
                verdict: verdict(&evaluator, &AdmissionRequest::update(&moved, &written)),
            });
        }
    }
    probes
}

fn verdict(evaluator: &PolicyEvaluator, request: &AdmissionRequest<'_>) -> ProbeVerdict {
    match evaluator.evaluate(request) {
        AdmissionPrediction::Allowed => ProbeVerdict::LetThrough,
        AdmissionPrediction::Denied { .. } => ProbeVerdict::Stopped,
        AdmissionPrediction::Unknown { .. } => ProbeVerdict::Unknown,
    }
}

/// One step down (the previous patch, else the previous minor's .0) and, when different, the
/// first release of the major: a near and a far downgrade.
fn lower_versions(version: &BundleVersion) -> Vec<BundleVersion> {
    let v = &version.0;
    let near = if v.patch > 0 {
        Some(semver::Version::new(v.major, v.minor, v.patch - 1))
    } else if v.minor > 0 {
        Some(semver::Version::new(v.major, v.minor - 1, 0))
    } else {
        None
    };
    let far = (v.minor > 1).then(|| semver::Version::new(v.major, 0, 0));
    near.into_iter().chain(far).map(BundleVersion).collect()
}

fn with_marker(object: &Value, marker: &MarkerKey, value: &str) -> Value {
    let mut object = object.clone();
    let field = if marker.is_label() {
        "labels"
    } else {
        "annotations"
    };
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let map = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(map) = map.as_object_mut() {
            map.insert(marker.key().to_string(), Value::String(value.to_string()));
        }
    }
    object
}

fn in_group(object: &Value, plural: &str, group: &str) -> Value {
    let mut object = object.clone();
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("group".into(), Value::String(group.to_string()));
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("name".into(), Value::String(format!("{plural}.{group}")));
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(version: &str) -> Vec<String> {
        lower_versions(&version.parse().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_near_and_a_far_step_down() {
        assert_eq!(lower("v1.6.1"), ["v1.6.0", "v1.0.0"]);
        assert_eq!(lower("v1.6.0"), ["v1.5.0", "v1.0.0"]);
        assert_eq!(lower("v1.1.0"), ["v1.0.0"]);
        assert_eq!(lower("0.93.0"), ["v0.92.0", "v0.0.0"]);
        assert!(lower("v1.0.0").is_empty());
    }
}
