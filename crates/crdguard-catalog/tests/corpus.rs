//! The catalog against the real corpus in `../shared/corpus/` (read in place, never copied):
//! the committed data is what the generator makes of it, and every release is recognised by
//! content, in every form a copy takes.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use crdguard_catalog::{AnnotationCheck, Catalog, Release, ReleaseKind, digest};
/// Upstream's markers, spelled here as the release files spell them.
const GATEWAY_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";
const GATEWAY_CHANNEL_ANNOTATION: &str = "gateway.networking.k8s.io/channel";
use crdguard_core::load::load_text;
use crdguard_core::yaml::Limits;
use crdguard_core::{BundleVersion, Channel};
use serde_json::{Map, Value};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn catalog() -> &'static Catalog {
    Catalog::builtin().unwrap()
}

fn read(relative: &str) -> String {
    let path = corpus().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CRD objects of a file, in file order.
fn crds_of_text(source: &str, text: &str) -> Vec<Value> {
    load_text(source, text, Limits::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .crds
        .into_iter()
        .map(|c| c.object)
        .collect()
}

fn release_path(release: &Release) -> String {
    let dir = match release.kind {
        ReleaseKind::Release => format!("gateway-api/{}", release.tag),
        ReleaseKind::Monthly => format!("gateway-api/monthly/{}", release.tag),
    };
    format!("{dir}/{}-install.yaml", release.channel)
}

/// Every catalog release with the CRDs of its corpus file, parsed once per test binary.
fn corpus_releases() -> &'static Vec<(&'static Release, Vec<Value>)> {
    static LOADED: OnceLock<Vec<(&'static Release, Vec<Value>)>> = OnceLock::new();
    LOADED.get_or_init(|| {
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .releases()
            .iter()
            .map(|r| {
                let path = release_path(r);
                (r, crds_of_text(&path, &read(&path)))
            })
            .collect()
    })
}

fn strip_markers(crd: &Value) -> Value {
    let mut crd = crd.clone();
    if let Some(Value::Object(annotations)) = crd.pointer_mut("/metadata/annotations") {
        annotations.remove(GATEWAY_VERSION_ANNOTATION);
        annotations.remove(GATEWAY_CHANNEL_ANNOTATION);
    }
    crd
}

/// Whether `found` is `expected` or a release with the same content in the same channel.
fn same_or_identical(found: &Release, expected: &Release) -> bool {
    found.channel == expected.channel && found.same_content(expected)
}

#[test]
fn committed_data_is_what_the_generator_writes() {
    for upstream in &crdguard_catalog::generate::UPSTREAMS {
        let path = format!(
            "{}/data/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            upstream.bundle
        );
        let committed = std::fs::read_to_string(&path).unwrap();
        let generated =
            crdguard_catalog::generate::generate_from_corpus(&corpus(), upstream).unwrap();
        assert_same_text(&path, &generated, &committed);
    }
}

fn assert_same_text(path: &str, generated: &str, committed: &str) {
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or(
                generated.lines().count().min(committed.lines().count()),
                |i| i,
            );
        panic!(
            "{path} is stale (first difference at line {}); regenerate it with \
             `cargo run -p crdguard-catalog --example generate-catalog`",
            line + 1
        );
    }
}

#[test]
fn catalog_covers_every_release_of_the_corpus() {
    let releases = catalog().bundle("gateway-api").unwrap().releases();
    let tags: BTreeSet<&str> = releases.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags.len(), 21 + 5, "{tags:?}");
    assert_eq!(releases.len(), 21 * 2 + 5);
    assert!(
        releases
            .iter()
            .filter(|r| r.is_monthly())
            .all(|r| r.channel == Channel::Experimental)
    );
    let first = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v0.5.0", Channel::Standard)
        .unwrap();
    assert_eq!(first.crds.len(), 3);
    assert_eq!(
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .release("v1.6.1", Channel::Standard)
            .unwrap()
            .crds
            .len(),
        10
    );
    assert_eq!(
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .release("v0.5.0", Channel::Experimental)
            .unwrap()
            .crds
            .len(),
        8
    );
    assert_eq!(
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .release("v1.6.1", Channel::Experimental)
            .unwrap()
            .crds
            .len(),
        13
    );
}

#[test]
fn every_release_is_identified_by_digest_alone() {
    for (release, crds) in corpus_releases() {
        let stripped: Vec<Value> = crds.iter().map(strip_markers).collect();
        for crd in &stripped {
            let found = catalog()
                .bundle("gateway-api")
                .unwrap()
                .identify(crd)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: {} not identified",
                        release.label(),
                        crd["metadata"]["name"]
                    )
                });
            assert!(
                found.matches.iter().any(|m| std::ptr::eq(*m, *release)),
                "{}: {} matched {:?}",
                release.label(),
                found.crd,
                found.matches.iter().map(|m| m.label()).collect::<Vec<_>>()
            );
            assert!(
                matches!(found.annotation_check(), AnnotationCheck::Missing { ref missing, .. } if missing.len() == 2)
            );
            assert_eq!(
                found.annotation_check().reason_code(),
                Some("identified-by-digest")
            );
        }
        let bundle = catalog()
            .bundle("gateway-api")
            .unwrap()
            .identify_bundle(&stripped);
        let best = bundle.best.unwrap();
        assert!(bundle.complete, "{}", release.label());
        assert!(bundle.unidentified.is_empty());
        assert!(
            same_or_identical(best, release),
            "{} identified as {}",
            release.label(),
            best.label()
        );
        // Without annotations the lowest equal release wins, and releases beat monthly builds.
        let expected_best = catalog()
            .bundle("gateway-api")
            .unwrap()
            .releases()
            .iter()
            .filter(|r| same_or_identical(r, release))
            .min_by_key(|r| (r.kind, r.version.clone()))
            .unwrap();
        assert!(
            std::ptr::eq(best, expected_best),
            "{}: {}",
            release.label(),
            best.label()
        );
    }
}

#[test]
fn annotated_copies_are_identified_as_exactly_their_release() {
    for (release, crds) in corpus_releases() {
        let bundle = catalog()
            .bundle("gateway-api")
            .unwrap()
            .identify_bundle(crds);
        assert!(
            std::ptr::eq(bundle.best.unwrap(), *release),
            "{} identified as {}",
            release.label(),
            bundle.best.unwrap().label()
        );
        for crd in crds {
            let found = catalog()
                .bundle("gateway-api")
                .unwrap()
                .identify(crd)
                .unwrap();
            assert_eq!(
                found.best.channel,
                release.channel,
                "{}: {}",
                release.label(),
                found.crd
            );
            let check = found.annotation_check();
            match check {
                AnnotationCheck::Agrees => {
                    assert_eq!(found.best.version, release.bundle_version_annotation)
                }
                AnnotationCheck::UpstreamLabel { ref identified, .. } => {
                    // Only v0.8.1 and monthly builds carry a label that is not their release.
                    assert!(
                        release.is_monthly() || release.tag == "v0.8.1",
                        "{}",
                        release.label()
                    );
                    assert_eq!(identified.tag, found.best.tag);
                }
                other => panic!("{}: {}: {other:?}", release.label(), found.crd),
            }
        }
    }
}

#[test]
fn annotation_only_patch_releases_have_equal_content() {
    let groups: Vec<(Channel, Vec<&str>)> = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identical_releases()
        .iter()
        .map(|g| (g.channel, g.tags.iter().map(String::as_str).collect()))
        .collect();
    for channel in [Channel::Standard, Channel::Experimental] {
        for pair in [["v1.2.0", "v1.2.1"], ["v1.6.0", "v1.6.1"]] {
            assert!(
                groups
                    .iter()
                    .any(|(c, tags)| *c == channel && pair.iter().all(|t| tags.contains(t))),
                "{pair:?} {channel}: {groups:?}"
            );
            let a = catalog()
                .bundle("gateway-api")
                .unwrap()
                .release(pair[0], channel)
                .unwrap();
            let b = catalog()
                .bundle("gateway-api")
                .unwrap()
                .release(pair[1], channel)
                .unwrap();
            assert!(a.same_content(b));
            assert_eq!(
                catalog()
                    .bundle("gateway-api")
                    .unwrap()
                    .identical_to(pair[1], channel),
                {
                    let mut others: Vec<&str> = groups
                        .iter()
                        .find(|(c, tags)| *c == channel && tags.contains(&pair[1]))
                        .unwrap()
                        .1
                        .clone();
                    others.retain(|t| *t != pair[1]);
                    others
                }
            );
        }
    }
    // Real changes are not reported as equal.
    let a = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v1.5.0", Channel::Standard)
        .unwrap();
    let b = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v1.5.1", Channel::Standard)
        .unwrap();
    assert!(!a.same_content(b));
    // And the corpus files of an equal pair differ in nothing but the bundle-version value.
    let old = read("gateway-api/v1.6.0/standard-install.yaml");
    let new = read("gateway-api/v1.6.1/standard-install.yaml");
    assert_eq!(
        old.replace("bundle-version: v1.6.0", "bundle-version: v1.6.1"),
        new
    );
}

#[test]
fn v0_8_1_content_is_identified_and_its_annotation_reported_truthfully() {
    let v081 = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v0.8.1", Channel::Standard)
        .unwrap();
    assert_eq!(v081.version.to_string(), "v0.8.1");
    assert_eq!(v081.bundle_version_annotation.to_string(), "v0.8.0");
    let crds = crds_of_text("v0.8.1", &read("gateway-api/v0.8.1/standard-install.yaml"));
    let (mut changed, mut unchanged) = (0, 0);
    for crd in &crds {
        assert_eq!(
            crd.pointer("/metadata/annotations/gateway.networking.k8s.io~1bundle-version")
                .unwrap(),
            "v0.8.0"
        );
        let found = catalog()
            .bundle("gateway-api")
            .unwrap()
            .identify(crd)
            .unwrap();
        let tags: BTreeSet<&str> = found.matches.iter().map(|r| r.tag.as_str()).collect();
        if tags.contains(&"v0.8.0") {
            // Unchanged since v0.8.0: the annotation names a release with exactly this content.
            unchanged += 1;
            assert_eq!(found.best.tag, "v0.8.0");
            assert_eq!(found.annotation_check(), AnnotationCheck::Agrees);
        } else {
            // Changed in v0.8.1 but still labelled v0.8.0, as upstream shipped it.
            changed += 1;
            assert_eq!(tags, BTreeSet::from(["v0.8.1"]));
            match found.annotation_check() {
                AnnotationCheck::UpstreamLabel {
                    annotated,
                    identified,
                } => {
                    assert_eq!(annotated, "v0.8.0");
                    assert_eq!(identified.tag, "v0.8.1");
                }
                other => panic!("{}: {other:?}", found.crd),
            }
            assert_eq!(
                found.annotation_check().reason_code(),
                Some("identified-by-digest")
            );
        }
    }
    assert!(changed > 0, "v0.8.1 changed no standard CRD?");
    assert!(unchanged > 0, "v0.8.1 changed every standard CRD?");
    // As a set, the bundle is v0.8.1 (v0.8.0 lacks the changed CRDs).
    let bundle = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identify_bundle(&crds);
    assert_eq!(bundle.best.unwrap().tag, "v0.8.1");
    assert!(bundle.complete);
}

#[test]
fn edited_annotations_are_a_mismatch() {
    let crds = crds_of_text("v1.2.1", &read("gateway-api/v1.2.1/standard-install.yaml"));
    let mut lying = crds[0].clone();
    lying["metadata"]["annotations"][GATEWAY_VERSION_ANNOTATION] = Value::from("v1.6.1");
    let found = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identify(&lying)
        .unwrap();
    assert_eq!(found.best.tag, "v1.2.0", "lowest of the equal releases");
    let check = found.annotation_check();
    assert_eq!(check.reason_code(), Some("annotation-mismatch"));
    match check {
        AnnotationCheck::Mismatch {
            annotated,
            identified,
        } => {
            assert_eq!(annotated.version.as_deref(), Some("v1.6.1"));
            assert_eq!(identified.tag, "v1.2.0");
        }
        other => panic!("{other:?}"),
    }
    // A standard CRD relabelled experimental (what safe-upgrades is about) is caught too.
    let http = crds
        .iter()
        .find(|c| c["spec"]["names"]["kind"] == "HTTPRoute")
        .unwrap();
    let mut relabelled = http.clone();
    relabelled["metadata"]["annotations"][GATEWAY_CHANNEL_ANNOTATION] = Value::from("experimental");
    let check = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identify(&relabelled)
        .unwrap()
        .annotation_check();
    assert!(
        matches!(check, AnnotationCheck::Mismatch { .. }),
        "{check:?}"
    );
    // Only the channel stripped: missing, and the version still agrees.
    let mut half = http.clone();
    half["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(GATEWAY_CHANNEL_ANNOTATION);
    let found = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identify(&half)
        .unwrap();
    assert_eq!(
        found.best.tag, "v1.2.1",
        "the annotated version is preferred among equals"
    );
    match found.annotation_check() {
        AnnotationCheck::Missing { missing, .. } => {
            assert_eq!(
                missing,
                [format!("annotation {GATEWAY_CHANNEL_ANNOTATION}")]
            )
        }
        other => panic!("{other:?}"),
    }
    // Edited content is not identified at all, and a bundle reports it.
    let mut edited = http.clone();
    edited["spec"]["versions"][0]["served"] = Value::Bool(false);
    assert!(
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .identify(&edited)
            .is_none()
    );
    let mut set = crds.clone();
    set.retain(|c| c["metadata"]["name"] != http["metadata"]["name"]);
    set.push(edited);
    let bundle = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identify_bundle(&set);
    assert_eq!(
        bundle.unidentified,
        ["httproutes.gateway.networking.k8s.io"]
    );
    assert!(!bundle.complete);
    assert_eq!(bundle.best.unwrap().tag, "v1.2.1");
}

/// Reverses the key order of every object, recursively.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map.iter().rev() {
                out.insert(k.clone(), reversed(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

/// Turns every integer into the equal float (`253` → `253.0`), as some serializers write them.
fn floats(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), floats(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(floats).collect()),
        Value::Number(n) if n.is_i64() || n.is_u64() => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(value.clone(), Value::Number),
        other => other.clone(),
    }
}

#[test]
fn re_serialized_copies_have_the_same_digest() {
    let mut descriptions_changed = 0;
    for (path, tag) in [
        ("gateway-api/v1.6.1/experimental-install.yaml", "v1.6.1"),
        ("gateway-api/v0.5.0/standard-install.yaml", "v0.5.0"),
        ("gateway-api/v1.0.0/experimental-install.yaml", "v1.0.0"),
    ] {
        let text = read(path);
        let originals = crds_of_text(path, &text);
        let digests: Vec<String> = originals.iter().map(digest).collect();

        // JSON, keys in reverse order, integers as floats.
        for (crd, expected) in originals.iter().zip(&digests) {
            let json = serde_json::to_string(&floats(&reversed(crd))).unwrap();
            assert!(json.contains(".0"), "the float rewrite did something");
            let back: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(
                &digest(&back),
                expected,
                "{path}: JSON copy of {}",
                crd["metadata"]["name"]
            );
        }

        // YAML without comments and without any blank line (paragraph breaks in descriptions).
        let squeezed: String = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(squeezed.len() < text.len());
        let copies = crds_of_text("squeezed", &squeezed);
        assert_eq!(copies.len(), originals.len());
        for (copy, expected) in copies.iter().zip(&digests) {
            assert_eq!(
                &digest(copy),
                expected,
                "{path}: squeezed copy of {}",
                copy["metadata"]["name"]
            );
        }
        descriptions_changed += copies
            .iter()
            .zip(&originals)
            .filter(|(c, o)| c != o)
            .count();

        // Re-rendered by a YAML library (block styles, quoting and wrapping all change).
        let yaml = serde_yaml_ng::to_string(&originals[0]).unwrap();
        let back = crds_of_text("rerendered", &yaml);
        assert_eq!(digest(&back[0]), digests[0]);

        // Read back from an API server: status, server metadata, defaults filled in, tool labels.
        let mut served = originals[0].clone();
        served["status"] = serde_json::json!({ "storedVersions": ["v1"], "conditions": [] });
        let metadata = served["metadata"].as_object_mut().unwrap();
        metadata.insert("uid".into(), "6b1c".into());
        metadata.insert("resourceVersion".into(), "42".into());
        metadata.insert("generation".into(), 3.into());
        metadata.insert("creationTimestamp".into(), "2026-01-01T00:00:00Z".into());
        metadata.insert(
            "managedFields".into(),
            serde_json::json!([{ "manager": "kubectl" }]),
        );
        metadata.insert(
            "labels".into(),
            serde_json::json!({ "app.kubernetes.io/managed-by": "Helm" }),
        );
        served["spec"]["conversion"] = serde_json::json!({ "strategy": "None" });
        let kind = served["spec"]["names"]["kind"]
            .as_str()
            .unwrap()
            .to_string();
        served["spec"]["names"]["singular"] = kind.to_lowercase().into();
        served["spec"]["names"]["listKind"] = format!("{kind}List").into();
        assert_eq!(digest(&served), digests[0]);

        let found = catalog()
            .bundle("gateway-api")
            .unwrap()
            .identify(&served)
            .unwrap();
        assert!(found.matches.iter().any(|r| r.tag == tag));
    }
    assert!(
        descriptions_changed > 0,
        "dropping blank lines changed no description"
    );
}

/// Helm templates in the corpus wrap plain CRDs in one `{{- if … }}` … `{{- end }}` pair.
fn detemplate(text: &str) -> String {
    let directives = text
        .lines()
        .filter(|l| l.trim_start().starts_with("{{"))
        .count();
    assert!(directives <= 2, "more templating than an if/end wrapper");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("{{"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn envoy_gateway_vendored_copies_are_their_upstream_release() {
    let provenance = read("GATEWAY_API_PROVENANCE.tsv");
    let header: Vec<&str> = provenance.lines().next().unwrap().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (path_col, release_col) = (column("saved_path"), column("bundle_version/channel"));
    let mut checked = 0;
    for row in provenance
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("envoy-gateway\t"))
    {
        let cells: Vec<&str> = row.split('\t').collect();
        let path = cells[path_col];
        let (version, channel) = cells[release_col].split_once('/').unwrap();
        let channel = Channel::parse(channel).unwrap();
        let expected = catalog()
            .bundle("gateway-api")
            .unwrap()
            .release(version, channel)
            .unwrap();
        let crds = crds_of_text(path, &detemplate(&read(path)));
        assert!(!crds.is_empty(), "{path}");
        for (label, set) in [
            ("annotated", crds.clone()),
            ("stripped", crds.iter().map(strip_markers).collect()),
        ] {
            let bundle = catalog()
                .bundle("gateway-api")
                .unwrap()
                .identify_bundle(&set);
            let best = bundle
                .best
                .unwrap_or_else(|| panic!("{path} ({label}): not identified"));
            assert!(bundle.complete, "{path} ({label})");
            assert!(
                same_or_identical(best, expected),
                "{path} ({label}): {} instead of {}",
                best.label(),
                expected.label()
            );
            if label == "annotated" {
                assert!(std::ptr::eq(best, expected), "{path}: {}", best.label());
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked, 22,
        "rows of GATEWAY_API_PROVENANCE.tsv for envoy-gateway"
    );
}

#[test]
fn fetched_manifests_verify_and_tampered_ones_do_not() {
    // The install files as published also carry the webhook or the safe-upgrades policy.
    for (path, tag, channel) in [
        (
            "gateway-api/v1.6.1/as-released/standard-install.yaml",
            "v1.6.1",
            Channel::Standard,
        ),
        (
            "gateway-api/v0.8.1/as-released/experimental-install.yaml",
            "v0.8.1",
            Channel::Experimental,
        ),
        (
            "gateway-api/v1.2.0/experimental-install.yaml",
            "v1.2.0",
            Channel::Experimental,
        ),
    ] {
        let release = catalog()
            .bundle("gateway-api")
            .unwrap()
            .release(tag, channel)
            .unwrap();
        let loaded = load_text(path, &read(path), Limits::default()).unwrap();
        let mut documents: Vec<Value> = loaded.crds.into_iter().map(|c| c.object).collect();
        documents.extend(loaded.others.into_iter().map(|o| o.object));
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .verify(release, &documents)
            .unwrap();

        let mut tampered = documents.clone();
        tampered[0]["spec"]["scope"] = Value::from("Cluster");
        if tampered[0]["spec"]["scope"] == documents[0]["spec"]["scope"] {
            tampered[0]["spec"]["scope"] = Value::from("Namespaced");
        }
        let err = release.verify(&tampered).unwrap_err();
        assert_eq!(err.crd, release.crds[0].name);
        assert_eq!(
            err.expected.as_deref(),
            Some(release.crds[0].digest.as_str())
        );
        assert!(err.actual.is_some());
        assert!(err.to_string().contains(&release.crds[0].name), "{err}");

        let mut missing = documents.clone();
        missing.remove(1);
        let err = release.verify(&missing).unwrap_err();
        assert_eq!(
            (err.crd.as_str(), err.actual.as_deref()),
            (release.crds[1].name.as_str(), None)
        );
    }
    // The wrong release's files do not verify: v1.5.0 is not v1.5.1.
    let other = crds_of_text("v1.5.0", &read("gateway-api/v1.5.0/standard-install.yaml"));
    let release = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v1.5.1", Channel::Standard)
        .unwrap();
    assert!(release.verify(&other).is_err());
    // An experimental file does not pass for the standard release (extra CRDs, other content).
    let wider = crds_of_text(
        "v1.6.1",
        &read("gateway-api/v1.6.1/experimental-install.yaml"),
    );
    let err = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v1.6.1", Channel::Standard)
        .unwrap()
        .verify(&wider)
        .unwrap_err();
    assert!(err.actual.is_some());
}

#[test]
fn standard_and_experimental_copies_may_be_equal_and_the_set_decides() {
    // Find a CRD whose content is the same in both channels of one release.
    let mut shared = None;
    'outer: for standard in catalog()
        .bundle("gateway-api")
        .unwrap()
        .releases()
        .iter()
        .filter(|r| r.channel == Channel::Standard)
    {
        let experimental = catalog()
            .bundle("gateway-api")
            .unwrap()
            .release(&standard.tag, Channel::Experimental)
            .unwrap();
        for crd in &standard.crds {
            if experimental
                .crd(&crd.name)
                .is_some_and(|e| e.digest == crd.digest)
            {
                shared = Some((standard, experimental, crd.name.clone()));
                break 'outer;
            }
        }
    }
    let (standard, experimental, name) = shared.expect("some CRD is equal in both channels");
    let (_, crds) = corpus_releases()
        .iter()
        .find(|(r, _)| std::ptr::eq(*r, experimental))
        .unwrap();
    let crd = strip_markers(
        crds.iter()
            .find(|c| c["metadata"]["name"] == name.as_str())
            .unwrap(),
    );
    let found = catalog()
        .bundle("gateway-api")
        .unwrap()
        .identify(&crd)
        .unwrap();
    assert_eq!(
        found.channels(),
        BTreeSet::from([Channel::Standard, Channel::Experimental])
    );
    assert_eq!(
        found.best.channel,
        Channel::Standard,
        "the narrowest channel holding the content"
    );
    assert!(found.matches.iter().any(|r| std::ptr::eq(*r, standard)));
    // The whole experimental set is identified as experimental.
    let all: Vec<Value> = crds.iter().map(strip_markers).collect();
    assert_eq!(
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .identify_bundle(&all)
            .best
            .unwrap()
            .channel,
        Channel::Experimental
    );
}

#[test]
fn minimum_kubernetes_follows_what_the_crds_use() {
    let min = |tag: &str, channel| {
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .release(tag, channel)
            .unwrap()
            .min_kubernetes
            .unwrap()
            .to_string()
    };
    assert_eq!(
        min("v0.7.1", Channel::Experimental),
        "v1.16.0",
        "no CEL before v0.8"
    );
    assert_eq!(min("v0.8.0", Channel::Standard), "v1.25.0", "CEL from v0.8");
    assert_eq!(min("v1.4.1", Channel::Experimental), "v1.25.0");
    assert_eq!(
        min("v1.5.0", Channel::Standard),
        "v1.31.0",
        "isIP in TLSRoute"
    );
    assert_eq!(min("v1.6.1", Channel::Standard), "v1.31.0");
    assert_eq!(
        min("v1.6.1", Channel::Experimental),
        "v1.32.0",
        "format library in XBackend"
    );
    let v15 = catalog()
        .bundle("gateway-api")
        .unwrap()
        .release("v1.5.0", Channel::Standard)
        .unwrap();
    assert!(
        v15.extras
            .iter()
            .any(|e| e.kind == "ValidatingAdmissionPolicy")
    );
    assert_eq!(v15.extras_min_kubernetes.unwrap().to_string(), "v1.30.0");
    assert!(
        catalog()
            .bundle("gateway-api")
            .unwrap()
            .release("v1.4.1", Channel::Standard)
            .unwrap()
            .extras_min_kubernetes
            .is_none()
    );
    // The webhook of v0.5–v0.8 is recorded as extras, for both channels.
    for channel in [Channel::Standard, Channel::Experimental] {
        let v05 = catalog()
            .bundle("gateway-api")
            .unwrap()
            .release("v0.5.0", channel)
            .unwrap();
        assert!(
            v05.extras
                .iter()
                .any(|e| e.kind == "ValidatingWebhookConfiguration")
        );
    }
}

#[test]
fn storage_history_is_derived_from_the_releases() {
    let grpc = catalog()
        .bundle("gateway-api")
        .unwrap()
        .storage_history_of("grpcroutes.gateway.networking.k8s.io")
        .unwrap();
    assert_eq!(grpc.kind, "GRPCRoute");
    let v = |s: &str| s.parse::<BundleVersion>().unwrap();
    assert_eq!(grpc.storage_at(&v("v1.0.0")), Some("v1alpha2"));
    assert_eq!(grpc.storage_at(&v("v1.1.0")), Some("v1"));
    assert_eq!(
        grpc.storage_at(&v("v0.5.0")),
        None,
        "GRPCRoute arrived in v0.6"
    );
    let gateways = catalog()
        .bundle("gateway-api")
        .unwrap()
        .storage_history_of("gateways.gateway.networking.k8s.io")
        .unwrap();
    let runs: Vec<(&str, String, String)> = gateways
        .runs
        .iter()
        .map(|r| {
            (
                r.version.as_str(),
                r.from.to_string(),
                r.through.to_string(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("v1alpha2", "v0.5.0".to_string(), "v0.5.1".to_string()),
            ("v1beta1", "v0.6.0".to_string(), "v1.0.0".to_string()),
            ("v1", "v1.1.0".to_string(), "v1.6.1".to_string()),
        ]
    );
    // Consistent with every release's own storage version.
    for release in catalog()
        .bundle("gateway-api")
        .unwrap()
        .releases()
        .iter()
        .filter(|r| !r.is_monthly())
    {
        for crd in &release.crds {
            let history = catalog()
                .bundle("gateway-api")
                .unwrap()
                .storage_history_of(&crd.name)
                .unwrap();
            assert_eq!(
                history.storage_at(&release.version),
                Some(crd.storage.as_str())
            );
        }
    }
}

/// The second bundle with catalog data: every prometheus-operator CRD of the corpus (v0.92.1,
/// v0.93.0), its version marker stripped, is identified by content as its release, alone and
/// as an installed set; the plan's message names the bundle and no channel.
#[test]
fn prometheus_operator_releases_are_identified_by_content() {
    use crdguard_core::identify::Identifier;
    let prometheus = catalog().bundle("prometheus-operator").unwrap();
    assert_eq!(prometheus.releases().len(), 2);
    for release in prometheus.releases() {
        let dir = corpus().join(format!(
            "large/prometheus-operator/{}/example/prometheus-operator-crd",
            release.tag
        ));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut stripped = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let mut crd = load_text(&file.display().to_string(), &text, Limits::default())
                .unwrap()
                .crds
                .remove(0);
            let found = prometheus.identify(&crd.object).unwrap();
            assert_eq!(found.best.tag, release.tag, "{}", file.display());
            assert!(matches!(found.annotation_check(), AnnotationCheck::Agrees));
            crd.object["metadata"]["annotations"]
                .as_object_mut()
                .unwrap()
                .remove("operator.prometheus.io/version");
            crd.annotations.remove("operator.prometheus.io/version");
            stripped.push(crd);
        }
        assert_eq!(stripped.len(), release.crds.len());
        let refs: Vec<&crdguard_core::Crd> = stripped.iter().collect();
        for answer in catalog().identify_installed("prometheus-operator", &refs) {
            let answer = answer.unwrap();
            assert_eq!(answer.version, release.version);
            assert_eq!(answer.code, crdguard_core::Code::IdentifiedByDigest);
            assert!(
                answer
                    .message
                    .contains(&format!("prometheus-operator {}", release.tag))
                    && answer
                        .message
                        .contains("annotation operator.prometheus.io/version")
                    && !answer.message.contains("standard"),
                "{}",
                answer.message
            );
        }
        // The Gateway API's data knows none of it.
        assert!(
            catalog()
                .identify_installed("gateway-api", &refs)
                .iter()
                .all(Option::is_none)
        );
    }
    assert_eq!(
        catalog().newest_known("prometheus-operator"),
        Some("v0.93.0".parse().unwrap())
    );
    // The `-full` copies of v0.93.0 (alertmanagerconfigs serves v1beta1 there too) are the
    // same release to identification.
    let full =
        corpus().join("large/prometheus-operator/v0.93.0/example/prometheus-operator-crd-full");
    for entry in std::fs::read_dir(&full).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let crd = load_text(&path.display().to_string(), &text, Limits::default())
            .unwrap()
            .crds
            .remove(0);
        let found = prometheus
            .identify(&crd.object)
            .unwrap_or_else(|| panic!("{} not identified", path.display()));
        assert_eq!(found.best.tag, "v0.93.0", "{}", path.display());
    }
}
