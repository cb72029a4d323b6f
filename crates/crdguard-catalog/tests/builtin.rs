//! The embedded catalog and built-in policies: they load, they are consistent with each other,
//! and the lookups the CLI and the planner use answer as documented.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

use crdguard_catalog::{Catalog, ReleaseKind, ShowError, Shown};
use crdguard_core::Channel;
use crdguard_core::policy::{GATEWAY_API, UpgradeMode};

fn catalog() -> &'static Catalog {
    Catalog::builtin().unwrap()
}

#[test]
fn embedded_data_and_every_policy_parse() {
    let catalog = catalog();
    assert_eq!(
        catalog.bundle_names().collect::<Vec<_>>(),
        ["gateway-api", "prometheus-operator"]
    );
    assert!(!catalog.bundle("gateway-api").unwrap().releases().is_empty());
    // Every policy file document went through crdguard_core::Policy::from_yaml at load time;
    // re-parse the files here so a failure names the document.
    for product in [
        "envoy-gateway",
        "istio",
        "nginx-gateway-fabric",
        "contour",
        "cilium",
    ] {
        let path = format!(
            "{}/data/policies/{product}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let mut parsed = 0;
        for doc in crdguard_core::yaml::split_documents(&text) {
            if doc
                .text
                .lines()
                .all(|l| l.trim().is_empty() || l.trim().starts_with('#'))
            {
                continue;
            }
            let policy =
                crdguard_core::Policy::from_yaml(&path, doc.text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(policy.metadata.name, product);
            parsed += 1;
        }
        let loaded = catalog
            .policies()
            .iter()
            .filter(|p| p.product == product)
            .count();
        assert_eq!(parsed, loaded, "{product}");
        assert!(parsed > 0, "{product}");
    }
}

#[test]
fn policy_lookup_matches_by_minor() {
    let catalog = catalog();
    for version in ["v1.9", "1.9", "v1.9.0", "1.9.3"] {
        let policy = catalog.policy("envoy-gateway", version).unwrap();
        let bundle = policy.bundle(GATEWAY_API).unwrap();
        assert_eq!(bundle.recommended.as_ref().unwrap().to_string(), "v1.6.1");
        assert_eq!(bundle.minimum.as_ref().unwrap().to_string(), "v1.6.0");
        assert_eq!(bundle.channel, Some(Channel::Standard));
        assert_eq!(bundle.upgrade, UpgradeMode::IfBelowMinimum);
        assert_eq!(policy.kubernetes_minimum().unwrap().to_string(), "v1.33.0");
    }
    assert!(catalog.policy("EG", "1.6").is_some());
    assert!(catalog.policy("ngf", "2.1").is_some());
    assert!(catalog.policy("envoy-gateway", "v2.0").is_none());
    assert!(catalog.policy("envoy-gateway", "latest").is_none());
    assert!(catalog.policy("traefik", "v3.0").is_none());
    assert!(
        catalog.policy("istio", "1.29").is_none(),
        "not in the sources: no guess"
    );
    let cilium = catalog.policy("cilium", "1.16").unwrap();
    let bundle = cilium.bundle(GATEWAY_API).unwrap();
    assert_eq!(bundle.channel, Some(Channel::Experimental));
    assert!(bundle.required_kinds.iter().any(|k| k == "TLSRoute"));
}

/// The numbers of every built-in policy follow the rule their files document, checked against
/// the catalog: the releases exist, minimum is the minor's .0, testedMaximum is the latest
/// release with the recommended release's content, the kinds exist in the channel, and a
/// published Kubernetes minimum is not below what the CRDs need.
#[test]
fn policies_agree_with_the_catalog() {
    let catalog = catalog();
    for builtin in catalog.policies() {
        let label = format!("{} {}", builtin.product, builtin.version_label());
        let bundle = builtin.policy.bundle(GATEWAY_API).unwrap();
        let channel = bundle.channel.unwrap();
        let release = |v: &Option<crdguard_core::BundleVersion>| {
            let v = v.as_ref().unwrap().to_string();
            catalog
                .bundle("gateway-api")
                .unwrap()
                .release(&v, channel)
                .unwrap_or_else(|| panic!("{label}: {v}/{channel} is not in the catalog"))
        };
        let minimum = release(&bundle.minimum);
        let recommended = release(&bundle.recommended);
        let tested = release(&bundle.tested_maximum);
        assert_eq!(
            (
                minimum.version.0.major,
                minimum.version.0.minor,
                minimum.version.0.patch
            ),
            (recommended.version.0.major, recommended.version.0.minor, 0),
            "{label}: minimum is the recommended minor's first release"
        );
        let latest_same = catalog
            .bundle("gateway-api")
            .unwrap()
            .releases()
            .iter()
            .filter(|r| r.kind == ReleaseKind::Release && r.channel == channel)
            .filter(|r| r.version >= recommended.version && r.same_content(recommended))
            .max_by(|a, b| a.version.cmp(&b.version))
            .unwrap();
        assert_eq!(
            tested.version, latest_same.version,
            "{label}: testedMaximum"
        );
        for kind in &bundle.required_kinds {
            assert!(
                recommended.crds.iter().any(|c| &c.kind == kind),
                "{label}: {kind} is not in {}",
                recommended.label()
            );
        }
        if let Some(kube) = builtin.policy.kubernetes_minimum() {
            assert!(
                kube >= recommended.min_kubernetes.unwrap(),
                "{label}: Kubernetes {kube} is below what {} needs",
                recommended.label()
            );
        }
    }
}

/// Every `servedVersions` entry of the built-in policies names a kind some catalog release has,
/// and a version that kind's CRD lists in some release: the data was read off the products'
/// sources by hand, and a typo would be a requirement nothing can ever satisfy or break.
#[test]
fn served_versions_of_built_in_policies_exist_in_the_catalog() {
    let catalog = catalog();
    let mut entries = 0;
    for builtin in catalog.policies() {
        let label = format!("{} {}", builtin.product, builtin.version_label());
        let bundle = builtin.policy.bundle(GATEWAY_API).unwrap();
        for (kind, versions) in &bundle.served_versions {
            for version in versions {
                let listed = catalog
                    .bundle("gateway-api")
                    .unwrap()
                    .releases()
                    .iter()
                    .any(|r| {
                        r.crds
                            .iter()
                            .any(|c| &c.kind == kind && c.versions.contains(version))
                    });
                assert!(listed, "{label}: no release has {kind} {version}");
                entries += 1;
            }
        }
        // Every product reads the core kinds at some version.
        for kind in ["GatewayClass", "Gateway", "HTTPRoute"] {
            assert!(
                bundle.served_versions.contains_key(kind),
                "{label}: no served version for {kind}"
            );
        }
    }
    assert!(entries > 100, "{entries}");
}

#[test]
fn release_lookup_by_tag_and_version() {
    let catalog = catalog();
    let r = catalog
        .bundle("gateway-api")
        .unwrap()
        .release("1.6.1", Channel::Experimental)
        .unwrap();
    assert_eq!(r.tag, "v1.6.1");
    assert_eq!(
        r.asset_url.as_deref(),
        Some(
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/experimental-install.yaml"
        )
    );
    // monthly-2026.01 says v1.4.1 but is not v1.4.1: a version never selects a monthly build.
    assert_eq!(
        catalog
            .bundle("gateway-api")
            .unwrap()
            .release("v1.4.1", Channel::Experimental)
            .unwrap()
            .tag,
        "v1.4.1"
    );
    let monthly = catalog
        .bundle("gateway-api")
        .unwrap()
        .release("monthly-2026.01", Channel::Experimental)
        .unwrap();
    assert_eq!(monthly.kind, ReleaseKind::Monthly);
    assert_eq!(monthly.version.to_string(), "v1.4.1");
    assert!(
        catalog
            .bundle("gateway-api")
            .unwrap()
            .release("monthly-2026.01", Channel::Standard)
            .is_none()
    );
    assert!(
        catalog
            .bundle("gateway-api")
            .unwrap()
            .release("v9.9.9", Channel::Standard)
            .is_none()
    );
    assert!(
        catalog
            .bundle("gateway-api")
            .unwrap()
            .release("not-a-version", Channel::Standard)
            .is_none()
    );
    assert_eq!(
        catalog
            .bundle("gateway-api")
            .unwrap()
            .latest(Channel::Standard)
            .unwrap()
            .tag,
        "v1.6.1"
    );
}

#[test]
fn experimental_counterpart_of_a_version() {
    let catalog = catalog();
    let v = "v1.3.0".parse().unwrap();
    let counterpart = catalog
        .bundle("gateway-api")
        .unwrap()
        .experimental_counterpart(&v)
        .unwrap();
    assert_eq!(
        (counterpart.tag.as_str(), counterpart.channel),
        ("v1.3.0", Channel::Experimental)
    );
    assert!(
        counterpart.crds.len()
            > catalog
                .bundle("gateway-api")
                .unwrap()
                .release("v1.3.0", Channel::Standard)
                .unwrap()
                .crds
                .len()
    );
    assert!(
        catalog
            .bundle("gateway-api")
            .unwrap()
            .experimental_counterpart(&"v0.0.0-dev".parse().unwrap())
            .is_none()
    );
}

#[test]
fn list_and_show_serialize() {
    let catalog = catalog();
    let list = serde_json::to_value(catalog.list()).unwrap();
    assert_eq!(list["kind"], "CatalogList");
    let releases = list["bundles"][0]["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 26);
    let v081 = releases.iter().find(|r| r["tag"] == "v0.8.1").unwrap();
    assert_eq!(v081["bundleVersionAnnotation"], "v0.8.0");
    let v121 = releases.iter().find(|r| r["tag"] == "v1.2.1").unwrap();
    assert_eq!(v121["channels"][0]["identicalTo"][0], "v1.2.0");
    assert!(
        list["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["product"] == "envoy-gateway")
    );

    match catalog.show("gateway-api@v1.6.1/experimental").unwrap() {
        Shown::Release(detail) => {
            assert_eq!(detail.channels.len(), 1);
            assert_eq!(detail.channels[0].crds.len(), 13);
            assert_eq!(detail.channels[0].min_kubernetes.as_deref(), Some("1.32"));
        }
        other => panic!("{other:?}"),
    }
    let shown = serde_json::to_value(catalog.show("gateway-api@v1.5.0").unwrap()).unwrap();
    assert_eq!(shown["kind"], "Release");
    assert_eq!(shown["channels"].as_array().unwrap().len(), 2);
    assert_eq!(shown["channels"][0]["extrasMinKubernetes"], "1.30");
    let shown = serde_json::to_value(catalog.show("envoy-gateway@1.9").unwrap()).unwrap();
    assert_eq!(shown["kind"], "Policy");
    assert_eq!(shown["bundles"][0]["testedMaximum"], "v1.6.1");
    assert_eq!(shown["kubernetesMinimum"], "1.33");
    assert!(matches!(
        catalog.show("gateway-api").unwrap(),
        Shown::Bundle(_)
    ));
    assert!(matches!(catalog.show("cilium").unwrap(), Shown::Product(_)));
    assert!(matches!(
        catalog.show("traefik"),
        Err(ShowError::UnknownName { .. })
    ));
    let err = catalog.show("gateway-api@v9.0.0").unwrap_err();
    assert!(err.to_string().contains("v1.6.1"), "{err}");
    assert!(matches!(
        catalog.show("gateway-api@"),
        Err(ShowError::BadReference(_))
    ));
    // A bundle without channels takes no channel; a misspelt name gets a suggestion.
    let err = catalog
        .show("prometheus-operator@v0.93.0/standard")
        .unwrap_err();
    assert!(
        matches!(&err, ShowError::BadReference(m) if m.contains("has no channels")),
        "{err}"
    );
    let err = catalog.show("prometheus-operater").unwrap_err();
    assert!(
        err.to_string()
            .contains("did you mean prometheus-operator?"),
        "{err}"
    );
}

#[test]
fn a_broken_data_file_is_an_error_not_a_panic() {
    let err = Catalog::from_sources(&[("x.json", "{")], &[]).unwrap_err();
    assert!(err.to_string().contains("x.json"), "{err}");
    let text =
        include_str!("../data/gateway-api.json").replacen("\"schema\": 1", "\"schema\": 99", 1);
    assert!(Catalog::from_sources(&[("x.json", &text)], &[]).is_err());
    // Two files for one bundle, and a file for a bundle the registry does not know.
    let gateway = include_str!("../data/gateway-api.json");
    let err = Catalog::from_sources(&[("a.json", gateway), ("b.json", gateway)], &[]).unwrap_err();
    assert!(err.to_string().contains("second data file"), "{err}");
    let stranger = gateway.replacen("\"bundle\": \"gateway-api\"", "\"bundle\": \"stranger\"", 1);
    let err = Catalog::from_sources(&[("s.json", &stranger)], &[]).unwrap_err();
    assert!(err.to_string().contains("not in the registry"), "{err}");
    let bad_policy = "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: { name: x, version: v1.0 }\nspec:\n  colour: blue\n";
    let err = Catalog::from_sources(
        &[("x.json", include_str!("../data/gateway-api.json"))],
        &[("x", bad_policy)],
    )
    .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}
