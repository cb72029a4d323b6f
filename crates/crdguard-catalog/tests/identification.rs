//! Identification of installed bundles without annotations (SPEC §1), end to end through the
//! planner and `status`, on the real corpus: stripped clusters are identified as their true
//! release (or a content-identical range holding it) and channel, and plans against them make
//! the decisions the annotated cluster would.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use std::collections::BTreeMap;
use std::path::PathBuf;

use crdguard_catalog::{Catalog, ReleaseKind};
/// Upstream's markers, spelled here as the release files spell them.
const GATEWAY_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";
const GATEWAY_CHANNEL_ANNOTATION: &str = "gateway.networking.k8s.io/channel";
use crdguard_core::identify::Identifier;
use crdguard_core::load::load_text;
use crdguard_core::plan::{Plan, PlanInputs, PlanOptions, plan};
use crdguard_core::yaml::Limits;
use crdguard_core::{BundleVersion, DesiredState, ObservedState, Policy};
use rayon::prelude::*;
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn gateway_api() -> &'static crdguard_catalog::BundleCatalog {
    catalog().bundle("gateway-api").unwrap()
}

fn catalog() -> &'static Catalog {
    Catalog::builtin().unwrap()
}

fn release_file(tag: &str, channel: &str) -> (String, String) {
    let path = format!("gateway-api/{tag}/{channel}-install.yaml");
    let text = std::fs::read_to_string(corpus().join(&path)).unwrap();
    (path, text)
}

/// A snapshot of a cluster where `tag`/`channel` was installed (stored versions known), with
/// or without the Gateway API markers.
fn cluster(tag: &str, channel: &str, strip: bool) -> ObservedState {
    let (path, text) = release_file(tag, channel);
    let loaded = load_text(&path, &text, Limits::default()).unwrap();
    let items: Vec<Value> = loaded
        .crds
        .iter()
        .map(|crd| {
            let mut object = crd.object.clone();
            if strip
                && let Some(Value::Object(annotations)) =
                    object.pointer_mut("/metadata/annotations")
            {
                annotations.remove(GATEWAY_VERSION_ANNOTATION);
                annotations.remove(GATEWAY_CHANNEL_ANNOTATION);
            }
            object["status"] = json!({ "storedVersions": [crd.storage_version().unwrap()] });
            object
        })
        .collect();
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": items }).to_string();
    let loaded = load_text("snapshot", &list, Limits::default()).unwrap();
    ObservedState::from_snapshot(loaded, Some("v1.35.0"), "snapshot").unwrap()
}

fn desired(tag: &str, channel: &str) -> DesiredState {
    let (path, text) = release_file(tag, channel);
    DesiredState::from_loaded(load_text(&path, &text, Limits::default()).unwrap()).unwrap()
}

fn plan_of(desired: &DesiredState, observed: &ObservedState) -> Plan {
    let policy = Policy::default_policy();
    plan(&PlanInputs {
        desired,
        observed,
        policy: &policy,
        options: &PlanOptions::default(),
        identifier: Some(catalog() as &dyn Identifier),
        admission: None,
        preserved_channel: None,
    })
}

/// A release tag and channel (`v1.6.1`, `standard`).
type ReleaseChannel = (String, String);

fn tagged_releases() -> Vec<ReleaseChannel> {
    gateway_api()
        .releases()
        .iter()
        .filter(|r| r.kind == ReleaseKind::Release)
        .map(|r| (r.tag.clone(), r.channel.to_string()))
        .collect()
}

fn version(text: &str) -> BundleVersion {
    text.parse().unwrap()
}

/// Every release × channel, stripped: the true channel, the true release or a range holding
/// it, no skew, and the content named as the evidence.
#[test]
fn stripped_clusters_are_identified_as_their_release_and_channel() {
    for (tag, channel) in tagged_releases() {
        let observed = cluster(&tag, &channel, true);
        let status = crdguard_core::status::status(
            &observed,
            &Policy::default_policy(),
            Some(catalog() as &dyn Identifier),
        );
        let status = serde_json::to_value(&status).unwrap();
        let bundle = &status["bundles"][0];
        let label = format!("{tag}/{channel}");
        assert_eq!(bundle["skew"], false, "{label}: {bundle}");
        assert_eq!(bundle["channels"], json!([channel]), "{label}: {bundle}");
        assert_eq!(bundle["identifiedBy"], "digest", "{label}");
        let reported = version(bundle["versions"][0].as_str().unwrap());
        let truth = version(&tag);
        match bundle.get("versionRange") {
            Some(range) => {
                let (from, to) = (
                    version(range["from"].as_str().unwrap()),
                    version(range["to"].as_str().unwrap()),
                );
                assert!(from <= truth && truth <= to, "{label}: {range}");
                assert_eq!(reported, to, "{label}: the range's newest is reported");
            }
            None => assert_eq!(reported, truth, "{label}: {bundle}"),
        }
    }
}

/// The plan against a stripped cluster makes the annotated cluster's decisions, for every
/// pair of releases from v1.0.0 in the same channel; where they differ, the stripped CRD was
/// identified as a range of identical content that holds the annotated release (an annotated
/// cluster at the range's newest member would decide the same), and nothing is ever written
/// lower than what the annotated cluster has.
#[test]
fn plans_against_stripped_clusters_decide_as_against_annotated_ones() {
    let releases: Vec<ReleaseChannel> = tagged_releases()
        .into_iter()
        .filter(|(tag, _)| version(tag) >= version("v1.0.0"))
        .collect();
    let pairs: Vec<(&ReleaseChannel, &ReleaseChannel)> = releases
        .iter()
        .flat_map(|i| {
            releases
                .iter()
                .filter(move |d| d.1 == i.1)
                .map(move |d| (i, d))
        })
        .collect();
    let failures: Vec<String> = pairs
        .par_iter()
        .filter_map(|((itag, ichannel), (dtag, dchannel))| {
            let desired = desired(dtag, dchannel);
            let annotated = plan_of(&desired, &cluster(itag, ichannel, false));
            let stripped = plan_of(&desired, &cluster(itag, ichannel, true));
            let label = format!("{itag}/{ichannel} → {dtag}/{dchannel}");
            let by_name: BTreeMap<&str, _> = annotated
                .items
                .iter()
                .map(|i| (i.crd.as_str(), i))
                .collect();
            for item in &stripped.items {
                let Some(expected) = by_name.get(item.crd.as_str()) else {
                    return Some(format!("{label}: {} only in the stripped plan", item.crd));
                };
                if item.action == expected.action {
                    continue;
                }
                let holds_truth = item
                    .installed
                    .as_ref()
                    .and_then(|i| i.version_range.as_ref())
                    .is_some_and(|r| {
                        version(&r.from) <= version(itag) && version(itag) <= version(&r.to)
                    });
                if !holds_truth {
                    return Some(format!(
                        "{label}: {} is {:?} stripped but {:?} annotated ({:?})",
                        item.crd, item.action, expected.action, item.reasons
                    ));
                }
                if item.action.writes() && version(dtag) < version(itag) {
                    return Some(format!("{label}: {} written lower", item.crd));
                }
            }
            None
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Annotations that lie (v1.5.1 content labelled v1.6.1) are named, and never lead to a
/// downgrade: desired v1.6.0 is not written over a cluster that says v1.6.1.
#[test]
fn annotations_that_contradict_the_content_are_named_and_never_lower() {
    let (path, text) = release_file("v1.5.1", "standard");
    let relabelled = text.replace(
        &format!("{GATEWAY_VERSION_ANNOTATION}: v1.5.1"),
        &format!("{GATEWAY_VERSION_ANNOTATION}: v1.6.1"),
    );
    assert_ne!(relabelled, text);
    let mut loaded = load_text(&path, &relabelled, Limits::default()).unwrap();
    for crd in &mut loaded.crds {
        crd.stored_versions = vec![crd.storage_version().unwrap().to_string()];
        crd.stored_versions_known = true;
    }
    let mut observed = ObservedState::from_snapshot(
        load_text(
            "snapshot",
            "apiVersion: v1\nkind: List\nitems: []\n",
            Limits::default(),
        )
        .unwrap(),
        Some("v1.35.0"),
        "snapshot",
    )
    .unwrap();
    for crd in loaded.crds {
        observed.crds.insert(crd.name.clone(), crd);
    }
    let plan = plan_of(&desired("v1.6.0", "standard"), &observed);
    let mismatched = plan
        .items
        .iter()
        .filter(|i| {
            i.reasons
                .iter()
                .any(|r| r.code == crdguard_core::Code::AnnotationMismatch)
        })
        .count();
    // CRDs whose content did not change from v1.5.1 to v1.6.1 tell no lie.
    assert!(mismatched >= 3, "{:?}", plan.items);
    for item in plan.items.iter().filter(|i| !i.is_companion()) {
        if observed.crds.contains_key(&item.crd) {
            assert!(!item.action.writes(), "{}: {:?}", item.crd, item.action);
        }
    }
}

/// A development build (`v0.0.0-dev`) is not semver 0.0.0: a monthly build whose content is a
/// tagged release is that release; one whose content no release has stays unversioned, which
/// the planner treats as a conflict rather than an old version.
#[test]
fn development_builds_are_placed_by_content_or_not_at_all() {
    let monthly = gateway_api()
        .releases()
        .iter()
        .filter(|r| r.kind == ReleaseKind::Monthly)
        .collect::<Vec<_>>();
    assert!(!monthly.is_empty());
    for release in monthly {
        let path = format!(
            "gateway-api/monthly/{}/{}-install.yaml",
            release.tag, release.channel
        );
        let text = std::fs::read_to_string(corpus().join(&path)).unwrap();
        let mut loaded = load_text(&path, &text, Limits::default()).unwrap();
        for crd in &mut loaded.crds {
            crd.stored_versions = vec![crd.storage_version().unwrap().to_string()];
            crd.stored_versions_known = true;
        }
        let mut observed = ObservedState::from_snapshot(
            load_text(
                "s",
                "apiVersion: v1\nkind: List\nitems: []\n",
                Limits::default(),
            )
            .unwrap(),
            Some("v1.35.0"),
            "s",
        )
        .unwrap();
        for crd in loaded.crds {
            observed.crds.insert(crd.name.clone(), crd);
        }
        let plan = plan_of(&desired("v1.6.1", "experimental"), &observed);
        for item in plan.items.iter().filter(|i| !i.is_companion()) {
            let Some(installed) = &item.installed else {
                continue;
            };
            if let Some(v) = &installed.version {
                assert_ne!(
                    version(v).0.major + version(v).0.minor + version(v).0.patch,
                    0,
                    "{}: {}: a dev build compared as 0.0.0",
                    release.tag,
                    item.crd
                );
            } else {
                assert!(
                    item.action.stops(),
                    "{}: {}: unplaced dev build not a conflict: {:?}",
                    release.tag,
                    item.crd,
                    item.action
                );
            }
        }
    }
}

/// SPEC §8: a release newer than the catalog (v1.6.1 content labelled v9.0.0, as a newer
/// upstream would be) is newer than everything known: never downgraded, and the plan says the
/// catalog is stale.
#[test]
fn a_release_newer_than_the_catalog_is_kept_and_reported_stale() {
    let (path, text) = release_file("v1.6.1", "standard");
    let relabelled = text.replace(
        &format!("{GATEWAY_VERSION_ANNOTATION}: v1.6.1"),
        &format!("{GATEWAY_VERSION_ANNOTATION}: v9.0.0"),
    );
    let mut loaded = load_text(&path, &relabelled, Limits::default()).unwrap();
    let mut observed = ObservedState::from_snapshot(
        load_text(
            "s",
            "apiVersion: v1\nkind: List\nitems: []\n",
            Limits::default(),
        )
        .unwrap(),
        Some("v1.35.0"),
        "s",
    )
    .unwrap();
    for mut crd in std::mem::take(&mut loaded.crds) {
        crd.stored_versions = vec![crd.storage_version().unwrap().to_string()];
        crd.stored_versions_known = true;
        observed.crds.insert(crd.name.clone(), crd);
    }
    let plan = plan_of(&desired("v1.6.1", "standard"), &observed);
    assert!(
        plan.items
            .iter()
            .all(|i| !i.action.writes() || i.is_companion()),
        "{:?}",
        plan.items
            .iter()
            .map(|i| (&i.crd, i.action))
            .collect::<Vec<_>>()
    );
    let bundle = &plan.bundles[0];
    assert!(
        bundle
            .reasons
            .iter()
            .any(|r| r.code == crdguard_core::Code::CatalogStale),
        "{:?}",
        bundle.reasons
    );
    assert!(plan.preflight.iter().any(|c| c.check == "catalog-stale"));
}

/// The planner's identifier is the whole catalog: each question goes to the data of the bundle
/// it names and gets that bundle's answer; a bundle the catalog has no data for is unknown to
/// every question, so the planner treats its facts as unknown rather than borrowing another
/// bundle's.
#[test]
fn identifier_questions_go_to_the_named_bundle() {
    let catalog = catalog() as &dyn Identifier;
    let gateway = gateway_api();
    const UNKNOWN: &str = "no-such-bundle";
    let version: BundleVersion = "v1.5.1".parse().unwrap();
    let channel = crdguard_core::Channel::Standard;

    let (path, text) = release_file("v1.5.1", "standard");
    let mut crds = load_text(&path, &text, Limits::default()).unwrap().crds;
    for crd in &mut crds {
        for key in [GATEWAY_VERSION_ANNOTATION, GATEWAY_CHANNEL_ANNOTATION] {
            crd.object["metadata"]["annotations"]
                .as_object_mut()
                .unwrap()
                .remove(key);
            crd.annotations.remove(key);
        }
    }
    let refs: Vec<&crdguard_core::Crd> = crds.iter().collect();
    let identified = catalog.identify_installed("gateway-api", &refs);
    assert!(identified.iter().all(Option::is_some), "{identified:?}");
    assert_eq!(identified, gateway.identify_installed(&refs));
    let unknown = catalog.identify_installed(UNKNOWN, &refs);
    assert_eq!(unknown.len(), refs.len());
    assert!(unknown.iter().all(Option::is_none));

    let minimum = catalog.minimum_kubernetes("gateway-api", &version, channel);
    assert!(minimum.is_some());
    assert_eq!(minimum, gateway.minimum_kubernetes(&version, channel));
    assert_eq!(catalog.minimum_kubernetes(UNKNOWN, &version, channel), None);

    let crd = "gateways.gateway.networking.k8s.io";
    let last = catalog.last_release_with("gateway-api", crd);
    assert!(last.is_some());
    assert_eq!(last, gateway.last_release_with(crd));
    assert_eq!(catalog.last_release_with(UNKNOWN, crd), None);

    let newest = catalog.newest_known("gateway-api");
    assert!(newest.is_some());
    assert_eq!(newest, gateway.newest_known());
    assert_eq!(catalog.newest_known(UNKNOWN), None);

    let companions = catalog.companions("gateway-api", &version, channel);
    assert!(!companions.is_empty());
    assert_eq!(companions, gateway.companions(&version, channel));
    assert!(catalog.companions(UNKNOWN, &version, channel).is_empty());

    assert_eq!(
        catalog.companions_minimum_kubernetes("gateway-api", &version, channel),
        gateway.companions_minimum_kubernetes(&version, channel)
    );
    assert_eq!(
        catalog.companions_minimum_kubernetes(UNKNOWN, &version, channel),
        None
    );

    let companion = &companions[0];
    let releases = catalog.companion_releases(
        "gateway-api",
        &companion.kind,
        &companion.name,
        &companion.object,
    );
    assert!(
        releases.contains(&(version.clone(), channel)),
        "{releases:?}"
    );
    assert_eq!(
        releases,
        gateway.companion_release_versions(&companion.kind, &companion.name, &companion.object)
    );
    assert!(
        catalog
            .companion_releases(UNKNOWN, &companion.kind, &companion.name, &companion.object)
            .is_empty()
    );
}
