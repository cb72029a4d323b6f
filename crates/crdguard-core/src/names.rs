//! The names a CRD claims in its API group, and whether the server could refuse them.
//!
//! The server accepts a CRD's names (`NamesAccepted`) only when no other CRD of the same group
//! already uses one of them: its plural, singular and short names among the others' resource
//! names, its kind and list kind among their kinds. A CRD whose names are refused is never
//! Established. Knowing that beforehand lets `install` start helm before the server has
//! established the CRDs it wrote.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::Crd;

/// What a CRD claims in its group: resource names and kinds.
#[derive(Debug, Default)]
struct Claims {
    resources: BTreeSet<String>,
    kinds: BTreeSet<String>,
}

impl Claims {
    /// The names of `spec.names` and, for a CRD read from the cluster, of
    /// `status.acceptedNames` (what the server holds it to, which may lag the spec).
    fn of(crd: &Crd) -> Claims {
        let mut claims = Claims::default();
        for names in ["/spec/names", "/status/acceptedNames"] {
            let Some(names) = crd.object.pointer(names) else {
                continue;
            };
            // Published files carry `status.acceptedNames` with empty names: they claim nothing.
            let text = |key: &str| {
                names
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let kind = text("kind");
            claims.resources.extend(text("plural"));
            claims
                .resources
                .extend(text("singular").or_else(|| kind.as_ref().map(|k| k.to_lowercase())));
            if let Some(short) = names.get("shortNames").and_then(Value::as_array) {
                claims.resources.extend(
                    short
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
            claims
                .kinds
                .extend(text("listKind").or_else(|| kind.as_ref().map(|k| format!("{k}List"))));
            claims.kinds.extend(kind);
        }
        claims
    }

    fn clashes_with<'a>(&'a self, other: &'a Claims) -> Option<&'a str> {
        self.resources
            .intersection(&other.resources)
            .chain(self.kinds.intersection(&other.kinds))
            .next()
            .map(String::as_str)
    }
}

/// The first CRD of `desired` with a name another CRD of its group already claims, whether one
/// of `installed` or another of `desired` (both, for one being replaced), as a sentence; `None`
/// when the server can accept every desired CRD's names.
pub fn first_clash(desired: &[Crd], installed: &BTreeMap<String, Crd>) -> Option<String> {
    // Only the groups of desired CRDs matter: a cluster's thousands of other CRDs are neither
    // read for their names nor compared.
    let groups: std::collections::BTreeSet<&str> =
        desired.iter().map(|crd| crd.group.as_str()).collect();
    let mut by_group: BTreeMap<&str, Vec<(&Crd, Claims)>> = BTreeMap::new();
    for crd in installed.values().chain(desired) {
        if groups.contains(crd.group.as_str()) {
            by_group
                .entry(crd.group.as_str())
                .or_default()
                .push((crd, Claims::of(crd)));
        }
    }
    desired.iter().find_map(|crd| {
        let claims = Claims::of(crd);
        by_group
            .get(crd.group.as_str())?
            .iter()
            .filter(|(other, _)| other.name != crd.name)
            .find_map(|(other, theirs)| {
                claims.clashes_with(theirs).map(|name| {
                    format!(
                        "{} claims \"{name}\", which {} claims",
                        crd.name, other.name
                    )
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load::load_text;
    use crate::yaml::Limits;

    fn corpus_crds(relative: &str) -> Vec<Crd> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus")
            .join(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        load_text(relative, &text, Limits::default()).unwrap().crds
    }

    fn installed(crds: Vec<Crd>) -> BTreeMap<String, Crd> {
        crds.into_iter().map(|c| (c.name.clone(), c)).collect()
    }

    #[test]
    fn gateway_api_upgrades_and_first_installs_claim_nothing_taken() {
        let gateway_api = corpus_crds("gateway-api/v1.6.1/as-released/experimental-install.yaml");
        let older = corpus_crds("gateway-api/v1.5.1/as-released/standard-install.yaml");
        assert!(gateway_api.len() > 10 && older.len() > 4);
        // An upgrade of the same CRDs, and a first install of all of them.
        assert_eq!(first_clash(&gateway_api, &installed(older.clone())), None);
        assert_eq!(first_clash(&gateway_api, &BTreeMap::new()), None);
        // The copy Envoy Gateway's chart vendors carries `status.acceptedNames` with empty
        // names, which claim nothing.
        let vendored = corpus_crds(
            "envoy-gateway/v1.8.3/charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml",
        );
        assert!(
            vendored.iter().any(|c| {
                c.object.pointer("/status/acceptedNames/kind") == Some(&Value::from(""))
            })
        );
        assert_eq!(first_clash(&vendored, &installed(older)), None);
    }

    #[test]
    fn a_kind_or_short_name_taken_in_the_group_is_a_clash() {
        let gateway_api = corpus_crds("gateway-api/v1.6.1/as-released/standard-install.yaml");
        let httproutes = gateway_api
            .iter()
            .find(|c| c.name == "httproutes.gateway.networking.k8s.io")
            .unwrap();
        // Another product's CRD in the same group that also calls its kind HTTPRoute.
        let mut impostor = httproutes.clone();
        impostor.name = "myroutes.gateway.networking.k8s.io".into();
        impostor.object["spec"]["names"]["plural"] = "myroutes".into();
        impostor.object["spec"]["names"]["singular"] = "myroute".into();
        impostor.object["spec"]["names"]["shortNames"] = serde_json::json!([]);
        let clash = first_clash(&gateway_api, &installed(vec![impostor.clone()]));
        assert_eq!(
            clash.as_deref(),
            Some(
                "httproutes.gateway.networking.k8s.io claims \"HTTPRoute\", which \
                 myroutes.gateway.networking.k8s.io claims"
            )
        );
        // Two desired CRDs clash with each other just the same.
        let mut desired = gateway_api.clone();
        desired.push(impostor.clone());
        assert!(first_clash(&desired, &BTreeMap::new()).is_some());
        // A short name taken by a CRD of the group is a clash; in another group it is not.
        impostor.object["spec"]["names"]["kind"] = "MyRoute".into();
        impostor.object["spec"]["names"]["listKind"] = "MyRouteList".into();
        impostor.object["spec"]["names"]["shortNames"] = serde_json::json!(["gtw"]);
        let clash = first_clash(&gateway_api, &installed(vec![impostor.clone()]));
        assert!(
            clash.is_some_and(|c| c.contains("\"gtw\"")),
            "gateways' short name"
        );
        impostor.group = "example.com".into();
        assert_eq!(first_clash(&gateway_api, &installed(vec![impostor])), None);
    }
}
