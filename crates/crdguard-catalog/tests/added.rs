//! `crdguard catalog add` (SPEC §8 v2): the facts of a release the built-in catalog lacks, read
//! from the install file users download, and the catalog that knows them afterwards. The "new"
//! release is a real one (v1.6.1 as released) relabelled v1.7.0, so its content is known.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use std::path::PathBuf;

use crdguard_catalog::Catalog;
use crdguard_catalog::generate::added_release;
use crdguard_core::Channel;

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// v1.6.1's published standard install file, every bundle-version marker saying v1.7.0.
fn relabelled_v1_7_0() -> String {
    read("gateway-api/v1.6.1/as-released/standard-install.yaml")
        .replace("bundle-version: v1.6.1", "bundle-version: v1.7.0")
}

#[test]
fn an_install_file_gives_its_release_facts_and_companions() {
    let added = added_release("standard-install.yaml", &relabelled_v1_7_0()).unwrap();
    assert_eq!(added.bundle, "gateway-api");
    assert_eq!(added.release.tag, "v1.7.0");
    assert_eq!(added.release.channel, "standard");
    let builtin = Catalog::builtin().unwrap();
    let v161 = builtin
        .bundle("gateway-api")
        .unwrap()
        .release("v1.6.1", Channel::Standard)
        .unwrap();
    assert_eq!(added.release.crds.len(), v161.crds.len());
    // The CRD digests leave the markers out: the same content as v1.6.1's.
    for crd in &added.release.crds {
        assert_eq!(
            Some(&crd.digest),
            v161.crd(&crd.name).map(|c| &c.digest),
            "{}",
            crd.name
        );
    }
    // The safe-upgrades policy and binding of the same file are its companions.
    let companions: Vec<&str> = added
        .release
        .extras
        .iter()
        .filter(|e| e.digest.is_some())
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        companions,
        [
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
    assert_eq!(added.companions.len(), 2);
}

#[test]
fn the_catalog_with_an_added_release_knows_it_and_its_identical_content() {
    let added = added_release("standard-install.yaml", &relabelled_v1_7_0()).unwrap();
    let catalog = Catalog::with_added(std::slice::from_ref(&added)).unwrap();
    let release = catalog
        .bundle("gateway-api")
        .unwrap()
        .release("v1.7.0", Channel::Standard)
        .unwrap();
    assert_eq!(release.crds.len(), added.release.crds.len());
    assert!(
        !catalog
            .bundle("gateway-api")
            .unwrap()
            .companion_objects(release)
            .is_empty()
    );
    let builtin_v161 = Catalog::builtin()
        .unwrap()
        .bundle("gateway-api")
        .unwrap()
        .release("v1.6.1", Channel::Standard)
        .unwrap();
    assert_eq!(release.min_kubernetes, builtin_v161.min_kubernetes);
    assert!(release.min_kubernetes.is_some());
    let identical = catalog
        .bundle("gateway-api")
        .unwrap()
        .identical_to("v1.7.0", Channel::Standard);
    assert!(identical.contains(&"v1.6.1"), "{identical:?}");
    // Every built-in release is still there, and the built-in data wins for a known tag.
    let builtin = Catalog::builtin().unwrap();
    assert_eq!(
        catalog.bundle("gateway-api").unwrap().releases().len(),
        builtin.bundle("gateway-api").unwrap().releases().len() + 1
    );
    let mut again = added.clone();
    again.release.tag = "v1.6.1".into();
    again.release.version = "v1.6.1".into();
    let unchanged = Catalog::with_added(&[again]).unwrap();
    assert_eq!(
        unchanged.bundle("gateway-api").unwrap().releases().len(),
        builtin.bundle("gateway-api").unwrap().releases().len()
    );
}

#[test]
fn files_that_are_not_a_tagged_gateway_api_release_are_refused_with_the_reason() {
    let dev = relabelled_v1_7_0().replace("bundle-version: v1.7.0", "bundle-version: v0.0.0-dev");
    let err = added_release("dev.yaml", &dev).unwrap_err().to_string();
    assert!(
        err.contains("dev.yaml") && err.contains("development build"),
        "{err}"
    );
    // A product's own CRD belongs to no bundle the catalog records.
    let product = read(
        "envoy-gateway/v1.9.0/charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_envoyproxies.yaml",
    );
    let err = added_release("envoyproxies.yaml", &product)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("belongs to no bundle the catalog records")
            && err.contains("gateway-api, prometheus-operator"),
        "{err}"
    );
    // One file, one bundle: a Gateway API release with another bundle's CRD in it is refused.
    let prometheus = read(
        "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd-full/monitoring.coreos.com_thanosrulers.yaml",
    );
    let mixed = format!("{}\n---\n{prometheus}", relabelled_v1_7_0());
    let err = added_release("mixed.yaml", &mixed).unwrap_err().to_string();
    assert!(err.contains("is not a gateway-api CRD"), "{err}");
    let err = added_release("empty.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no CustomResourceDefinition"), "{err}");
}

/// Any bundle with catalog data takes added releases: a prometheus-operator file (whose version
/// marker carries no `v`) gives the tag upstream uses, and no channel is invented for it.
#[test]
fn a_prometheus_operator_file_is_a_release_of_its_own_bundle() {
    let text = read(
        "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_thanosrulers.yaml",
    )
    .replace("operator.prometheus.io/version: 0.93.0", "operator.prometheus.io/version: 0.94.0");
    let added = added_release("thanosrulers.yaml", &text).unwrap();
    assert_eq!(added.bundle, "prometheus-operator");
    assert_eq!(added.release.tag, "v0.94.0");
    assert_eq!(added.release.asset_url, None);
    let catalog = Catalog::with_added(std::slice::from_ref(&added)).unwrap();
    let prometheus = catalog.bundle("prometheus-operator").unwrap();
    let release = prometheus.release("0.94.0", Channel::Standard).unwrap();
    assert_eq!(release.label(), "v0.94.0");
    // The Gateway API's releases are untouched by it.
    assert_eq!(
        catalog.bundle("gateway-api").unwrap().releases().len(),
        Catalog::builtin()
            .unwrap()
            .bundle("gateway-api")
            .unwrap()
            .releases()
            .len()
    );
}
