//! The Gateway API releases of the corpus (v0.5.0 … v1.6.1), diffed release to release and
//! channel to channel, with the known facts of their history pinned.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use crdguard_schema::Severity::{Error, Info, Warning};
use crdguard_schema::{Check, Finding, SetDiff, diff_sets};
use serde_json::{Value, json};

const CHANNELS: [&str; 2] = ["standard", "experimental"];

fn releases_dir() -> PathBuf {
    corpus().join("gateway-api")
}

/// Release tags `vX.Y.Z` in semver order (the `monthly-*` builds are skipped).
fn releases() -> Vec<String> {
    let mut tags: Vec<(u64, u64, u64, String)> = std::fs::read_dir(releases_dir())
        .expect("corpus gateway-api directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let mut parts = name.strip_prefix('v')?.split('.');
            let version = (
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
            );
            Some((version.0, version.1, version.2, name))
        })
        .collect();
    tags.sort();
    tags.into_iter().map(|t| t.3).collect()
}

fn load(tag: &str, channel: &str) -> Vec<Value> {
    load_crds(
        &releases_dir()
            .join(tag)
            .join(format!("{channel}-install.yaml")),
    )
}

fn by_name(crds: &[Value]) -> BTreeMap<String, &Value> {
    crds.iter()
        .map(|c| {
            (
                c["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c,
            )
        })
        .collect()
}

fn crd_findings<'a>(diff: &'a SetDiff, kind_plural: &str) -> &'a [Finding] {
    let name = format!("{kind_plural}.gateway.networking.k8s.io");
    diff.items
        .iter()
        .find(|i| i.crd == name)
        .map(|i| i.findings.as_slice())
        .unwrap_or_else(|| panic!("{name} not in diff"))
}

fn worst(diff: &SetDiff) -> String {
    diff.findings()
        .filter(|(_, f)| f.severity != Info)
        .map(|(crd, f)| {
            format!(
                "  {crd} {} {} {} {}: {}\n",
                f.severity, f.check, f.version, f.path, f.message
            )
        })
        .collect()
}

/// A copy of the CRD whose status says these versions hold objects.
fn with_stored(crd: &Value, stored: &[&str]) -> Value {
    let mut crd = crd.clone();
    crd["status"] = json!({ "storedVersions": stored });
    crd
}

#[test]
fn every_consecutive_release_pair_diffs_cleanly() {
    let tags = releases();
    assert!(tags.len() >= 21, "expected 21 releases, found {tags:?}");
    assert_eq!(tags.first().map(String::as_str), Some("v0.5.0"));
    assert_eq!(tags.last().map(String::as_str), Some("v1.6.1"));
    for pair in tags.windows(2) {
        for channel in CHANNELS {
            let (old, new) = (load(&pair[0], channel), load(&pair[1], channel));
            assert!(!old.is_empty() && !new.is_empty());
            let diff = diff_sets(&old, &new);
            for (crd, f) in diff.findings() {
                assert!(f.path.starts_with('.'), "{crd}: {f:?}");
                assert!(!f.message.is_empty(), "{crd}: {f:?}");
            }
            // Deterministic: the same inputs give the same output.
            assert_eq!(diff, diff_sets(&old, &new));
            println!(
                "{} -> {} {channel}: {} errors, {} warnings, {} infos",
                pair[0], pair[1], diff.summary.error, diff.summary.warning, diff.summary.info
            );
        }
    }
}

#[test]
fn annotation_only_releases_have_no_errors_or_warnings() {
    for (old, new) in [("v1.2.0", "v1.2.1"), ("v1.6.0", "v1.6.1")] {
        for channel in CHANNELS {
            let diff = diff_sets(&load(old, channel), &load(new, channel));
            assert_eq!(
                (diff.summary.error, diff.summary.warning),
                (0, 0),
                "{old} -> {new} {channel}:\n{}",
                worst(&diff)
            );
        }
    }
}

#[test]
fn v1_2_0_drops_v1alpha2_of_grpcroute_and_referencegrant() {
    for old_tag in ["v1.1.0", "v1.1.1"] {
        // Experimental serves v1alpha2 until v1.2.0: clients of it break.
        let old = load(old_tag, "experimental");
        let new = load("v1.2.0", "experimental");
        let diff = diff_sets(&old, &new);
        for kind in ["grpcroutes", "referencegrants"] {
            let f = crd_findings(&diff, kind);
            let found = expect(f, Check::ServedVersionRemoved, Warning, ".");
            assert_eq!(found.version, "v1alpha2");
            absent(f, Check::StoredVersionRemoved);
        }

        // A cluster that still stores objects as v1alpha2 cannot take the new CRDs.
        for channel in CHANNELS {
            let old = load(old_tag, channel);
            let new = load("v1.2.0", channel);
            let new_by_name = by_name(&new);
            for (name, crd) in by_name(&old) {
                let kind = name.split('.').next().unwrap_or_default();
                let storage = match kind {
                    "grpcroutes" => "v1",
                    "referencegrants" => "v1beta1",
                    _ => continue,
                };
                let installed = with_stored(crd, &["v1alpha2", storage]);
                let f = crdguard_schema::diff_crds(&installed, new_by_name[&name]);
                let found = expect(&f, Check::StoredVersionRemoved, Error, ".");
                assert_eq!(found.version, "v1alpha2", "{old_tag} {channel} {name}");
                assert!(
                    f.iter()
                        .all(|x| !(x.check == Check::ServedVersionRemoved
                            && x.version == "v1alpha2")),
                    "reported twice:\n{}",
                    render(&f)
                );
            }
        }
    }
}

#[test]
fn v0_8_0_stops_serving_v1alpha2() {
    for channel in CHANNELS {
        let old = load("v0.7.1", channel);
        let new = load("v0.8.0", channel);
        let diff = diff_sets(&old, &new);
        for kind in ["gatewayclasses", "gateways", "httproutes"] {
            let f = crd_findings(&diff, kind);
            let found = expect(f, Check::ServedVersionRemoved, Warning, ".");
            assert_eq!(found.version, "v1alpha2", "{channel} {kind}");
        }
        // Objects still stored as v1alpha2: serving stops for stored data, an error.
        let new_by_name = by_name(&new);
        let old_by_name = by_name(&old);
        let name = "httproutes.gateway.networking.k8s.io";
        let installed = with_stored(old_by_name[name], &["v1alpha2", "v1beta1"]);
        let f = crdguard_schema::diff_crds(&installed, new_by_name[name]);
        let found = expect(&f, Check::ServedVersionRemoved, Error, ".");
        assert_eq!(found.version, "v1alpha2");
    }
}

#[test]
fn v1_0_0_removes_v1alpha2() {
    for old_tag in ["v0.8.0", "v0.8.1"] {
        for channel in CHANNELS {
            let old = load(old_tag, channel);
            let new = load("v1.0.0", channel);
            let diff = diff_sets(&old, &new);
            for kind in ["gatewayclasses", "gateways", "httproutes"] {
                let f = crd_findings(&diff, kind);
                // Unserved since v0.8 and not the storage version: information only…
                let found = expect(f, Check::VersionRemoved, Info, ".");
                assert_eq!(found.version, "v1alpha2");
                expect(f, Check::VersionAdded, Info, ".");
            }
            // …unless objects are still stored as v1alpha2.
            let new_by_name = by_name(&new);
            for (name, crd) in by_name(&old) {
                if !["gatewayclasses", "gateways", "httproutes"]
                    .iter()
                    .any(|k| name.starts_with(&format!("{k}.")))
                {
                    continue;
                }
                let installed = with_stored(crd, &["v1alpha2", "v1beta1"]);
                let f = crdguard_schema::diff_crds(&installed, new_by_name[&name]);
                let found = expect(&f, Check::StoredVersionRemoved, Error, ".");
                assert_eq!(found.version, "v1alpha2");
            }
        }
    }
}

#[test]
fn standard_to_experimental_of_one_release_adds_without_breaking() {
    let tags = releases();
    let v1_5 = tags
        .iter()
        .position(|t| t == "v1.5.0")
        .expect("v1.5.0 in corpus");
    for (index, tag) in tags.iter().enumerate() {
        let diff = diff_sets(&load(tag, "standard"), &load(tag, "experimental"));
        let errors: Vec<(&str, &Finding)> = diff
            .findings()
            .filter(|(_, f)| f.severity == Error)
            .collect();
        if index < v1_5 {
            assert!(errors.is_empty(), "{tag}:\n{}", worst(&diff));
        } else {
            // From v1.5.0 on, the experimental channel validates HTTP header values with a
            // pattern the standard channel does not have (an upstream difference, not ours).
            assert!(
                errors
                    .iter()
                    .all(|(_, f)| f.check == Check::PatternChanged && f.path.ends_with(".value")),
                "{tag}:\n{}",
                worst(&diff)
            );
        }
        // Experimental-only CRDs show up as added.
        assert!(
            diff.findings().any(|(_, f)| f.check == Check::CrdAdded),
            "{tag}"
        );
    }
}

#[test]
fn experimental_to_standard_of_one_release_removes_fields() {
    for tag in releases() {
        let diff = diff_sets(&load(&tag, "experimental"), &load(&tag, "standard"));
        let removed = diff
            .findings()
            .filter(|(_, f)| f.check == Check::FieldRemoved && f.severity == Error)
            .count();
        assert!(removed > 0, "{tag}: no field-removed errors");
        assert!(
            diff.findings().any(|(_, f)| f.check == Check::CrdRemoved),
            "{tag}"
        );
    }
}

#[test]
fn v1_2_0_supported_features_change_is_breaking() {
    // GatewayClass status.supportedFeatures went from a set of strings to a map-list of
    // objects in v1.2.0 (experimental): a textbook breaking change.
    let diff = diff_sets(
        &load("v1.1.1", "experimental"),
        &load("v1.2.0", "experimental"),
    );
    let f = crd_findings(&diff, "gatewayclasses");
    expect(
        f,
        Check::ListTypeChanged,
        Error,
        ".status.supportedFeatures",
    );
    expect(f, Check::TypeChanged, Error, ".status.supportedFeatures[*]");
    expect(
        f,
        Check::RequiredFieldAdded,
        Error,
        ".status.supportedFeatures[*].name",
    );
}
