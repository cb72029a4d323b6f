//! The bundle registry (SPEC §1 "Known bundle"): which standard bundles crdguard recognizes, the
//! API groups of their CRDs, where each writes its version and channel (an annotation or a label
//! key), and the companion objects its releases ship.
//!
//! This is the only place that spells a bundle's groups or marker keys. Two bundles are built
//! in; a policy adds more with `spec.knownBundles` (SPEC §4), and a bundle defined there behaves
//! exactly like a built-in one: classification, never-downgrade, status and the guard all read
//! it from here.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::companion::{
    CompanionKind, VALIDATING_ADMISSION_POLICY, VALIDATING_ADMISSION_POLICY_BINDING,
};
use crate::model::{Channel, Class, Crd};

/// The Gateway API bundle's name (the catalog, channel preservation and the companions are
/// Gateway API facts and look it up by this name).
pub const GATEWAY_API: &str = "gateway-api";
/// The Prometheus Operator bundle's name.
pub const PROMETHEUS_OPERATOR: &str = "prometheus-operator";

/// The name Gateway API gives its safe-upgrades policy and binding.
pub const GATEWAY_SAFE_UPGRADES: &str = "safe-upgrades.gateway.networking.k8s.io";

/// Where a bundle writes a marker (its version or its channel) on each CRD.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum MarkerKey {
    Annotation(String),
    Label(String),
}

impl MarkerKey {
    /// The key itself, e.g. `gateway.networking.k8s.io/bundle-version`.
    pub fn key(&self) -> &str {
        match self {
            MarkerKey::Annotation(k) | MarkerKey::Label(k) => k,
        }
    }

    pub fn is_label(&self) -> bool {
        matches!(self, MarkerKey::Label(_))
    }

    /// The marker's value on `crd`, if it carries one.
    pub fn read<'c>(&self, crd: &'c Crd) -> Option<&'c str> {
        match self {
            MarkerKey::Annotation(k) => crd.annotation(k),
            MarkerKey::Label(k) => crd.labels.get(k).map(String::as_str),
        }
    }

    /// The marker's value on a CRD still in its JSON form (the catalog identifies content
    /// before, or without, loading it as a [`Crd`]).
    pub fn read_object<'o>(&self, object: &'o serde_json::Value) -> Option<&'o str> {
        let map = match self {
            MarkerKey::Annotation(_) => "/metadata/annotations",
            MarkerKey::Label(_) => "/metadata/labels",
        };
        object.pointer(map)?.get(self.key())?.as_str()
    }

    /// For messages: `annotation KEY` or `label KEY`.
    pub fn describe(&self) -> String {
        match self {
            MarkerKey::Annotation(k) => format!("annotation {k}"),
            MarkerKey::Label(k) => format!("label {k}"),
        }
    }
}

/// A companion object a bundle's releases ship: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCompanion {
    pub kind: CompanionKind,
    pub name: String,
}

/// One known bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownBundle {
    pub name: String,
    /// The API groups whose CRDs form the bundle.
    pub groups: Vec<String>,
    /// Where the bundle version is written (`None`: never; the version is unknown unless the
    /// content identifies it).
    pub version: Option<MarkerKey>,
    /// Where the channel is written, for bundles with channels (`standard` ⊂ `experimental`).
    pub channel: Option<MarkerKey>,
    /// `standard` for shared upstream bundles; a policy's legacy `bundles[].class` may say
    /// `extension`.
    pub class: Class,
    pub companions: Vec<KnownCompanion>,
}

impl KnownBundle {
    pub fn owns_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The marker keys (version and channel) of the bundle.
    pub fn markers(&self) -> impl Iterator<Item = &MarkerKey> {
        self.version.iter().chain(self.channel.iter())
    }

    /// The version marker's key, when the version is an annotation (the catalog and the
    /// Gateway API's own tooling read it so).
    pub fn version_annotation(&self) -> Option<&str> {
        match &self.version {
            Some(MarkerKey::Annotation(k)) => Some(k),
            _ => None,
        }
    }

    pub fn channel_annotation(&self) -> Option<&str> {
        match &self.channel {
            Some(MarkerKey::Annotation(k)) => Some(k),
            _ => None,
        }
    }
}

/// A `spec.knownBundles` entry of a policy file, as written (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnownBundleSpec {
    pub name: String,
    pub groups: Vec<String>,
    /// `{ label: KEY }` or `{ annotation: KEY }`.
    #[serde(default)]
    pub version: Option<MarkerKey>,
    /// `null`, or `{ annotation: KEY, values: [standard, experimental] }`.
    #[serde(default)]
    pub channel: Option<ChannelMarkerSpec>,
}

/// Where a policy-defined bundle writes its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelMarkerSpec {
    #[serde(default)]
    pub annotation: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// The values the marker takes, narrowest first; crdguard's channels are `standard` and
    /// `experimental`.
    #[serde(default)]
    pub values: Vec<Channel>,
}

impl ChannelMarkerSpec {
    /// The marker key, or why there is none (exactly one of `annotation` and `label`).
    pub fn key(&self) -> Result<MarkerKey, &'static str> {
        match (&self.annotation, &self.label) {
            (Some(a), None) => Ok(MarkerKey::Annotation(a.clone())),
            (None, Some(l)) => Ok(MarkerKey::Label(l.clone())),
            (Some(_), Some(_)) => Err("give either annotation or label, not both"),
            (None, None) => Err("give the annotation or label that holds the channel"),
        }
    }
}

impl KnownBundleSpec {
    pub fn to_known(&self) -> KnownBundle {
        KnownBundle {
            name: self.name.clone(),
            groups: self.groups.clone(),
            version: self.version.clone(),
            channel: self.channel.as_ref().and_then(|c| c.key().ok()),
            class: Class::Standard,
            companions: Vec::new(),
        }
    }
}

/// The known bundles, built in first, then those a policy defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    bundles: Vec<KnownBundle>,
}

fn gateway_api() -> KnownBundle {
    let safe_upgrades = |kind| KnownCompanion {
        kind,
        name: GATEWAY_SAFE_UPGRADES.to_string(),
    };
    KnownBundle {
        name: GATEWAY_API.to_string(),
        groups: vec![
            "gateway.networking.k8s.io".to_string(),
            "gateway.networking.x-k8s.io".to_string(),
        ],
        version: Some(MarkerKey::Annotation(
            "gateway.networking.k8s.io/bundle-version".to_string(),
        )),
        channel: Some(MarkerKey::Annotation(
            "gateway.networking.k8s.io/channel".to_string(),
        )),
        class: Class::Standard,
        companions: vec![
            safe_upgrades(VALIDATING_ADMISSION_POLICY),
            safe_upgrades(VALIDATING_ADMISSION_POLICY_BINDING),
        ],
    }
}

fn prometheus_operator() -> KnownBundle {
    KnownBundle {
        name: PROMETHEUS_OPERATOR.to_string(),
        groups: vec!["monitoring.coreos.com".to_string()],
        // Values carry no `v` (`0.93.0`); bundle versions accept either.
        version: Some(MarkerKey::Annotation(
            "operator.prometheus.io/version".to_string(),
        )),
        channel: None,
        class: Class::Standard,
        companions: Vec::new(),
    }
}

impl Registry {
    /// The built-in bundles, without any policy.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| Registry {
            bundles: vec![gateway_api(), prometheus_operator()],
        })
    }

    /// The built-in bundles and `extra` (a validated policy's `knownBundles`, and its legacy
    /// `bundles[]` entries that name groups). An extra bundle never replaces a built-in one.
    pub fn with(extra: impl IntoIterator<Item = KnownBundle>) -> Registry {
        let mut bundles = Registry::builtin().bundles.clone();
        for bundle in extra {
            if !bundles.iter().any(|b| b.name == bundle.name) {
                bundles.push(bundle);
            }
        }
        Registry { bundles }
    }

    pub fn bundles(&self) -> &[KnownBundle] {
        &self.bundles
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.bundles.iter().map(|b| b.name.as_str())
    }

    pub fn bundle(&self, name: &str) -> Option<&KnownBundle> {
        self.bundles.iter().find(|b| b.name == name)
    }

    /// The bundle whose CRDs are in `group`.
    pub fn for_group(&self, group: &str) -> Option<&KnownBundle> {
        self.bundles.iter().find(|b| b.owns_group(group))
    }

    /// The bundle `crd` belongs to.
    pub fn of_crd(&self, crd: &Crd) -> Option<&KnownBundle> {
        self.for_group(&crd.group)
    }

    /// Whether `key` is a marker (version or channel) of any known bundle.
    pub fn is_marker(&self, key: &str) -> bool {
        self.bundles
            .iter()
            .flat_map(KnownBundle::markers)
            .any(|m| m.key() == key)
    }

    /// The bundle an object is a companion of, if it is one (matched by apiVersion group, kind
    /// and name; the version of the admission API is not part of the identity).
    pub fn companion_bundle(&self, api_version: &str, kind: &str, name: &str) -> Option<&str> {
        let group = api_version.split('/').next().unwrap_or_default();
        self.bundles
            .iter()
            .find(|b| {
                b.companions.iter().any(|c| {
                    c.kind.kind == kind
                        && c.name == name
                        && c.kind.api_version.split('/').next() == Some(group)
                })
            })
            .map(|b| b.name.as_str())
    }
}

/// The Gateway API bundle: what the guard protects when no bundle is named.
pub fn gateway() -> &'static KnownBundle {
    Registry::builtin()
        .bundle(GATEWAY_API)
        .expect("the Gateway API is built in")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_bundles_are_found_by_group() {
        let registry = Registry::builtin();
        assert_eq!(
            registry
                .for_group("gateway.networking.x-k8s.io")
                .map(|b| b.name.as_str()),
            Some(GATEWAY_API)
        );
        assert_eq!(
            registry
                .for_group("monitoring.coreos.com")
                .map(|b| b.name.as_str()),
            Some(PROMETHEUS_OPERATOR)
        );
        assert!(registry.for_group("gateway.envoyproxy.io").is_none());
        assert!(registry.is_marker("operator.prometheus.io/version"));
        assert!(!registry.is_marker("app.kubernetes.io/version"));
    }

    #[test]
    fn a_policy_bundle_never_replaces_a_builtin_one() {
        let spec: KnownBundleSpec = serde_json::from_value(serde_json::json!({
            "name": "gateway-api", "groups": ["example.com"], "version": {"label": "v"}
        }))
        .unwrap();
        let registry = Registry::with([spec.to_known()]);
        assert_eq!(registry.bundles().len(), 2);
        assert!(registry.for_group("example.com").is_none());
    }

    #[test]
    fn marker_keys_read_annotations_or_labels() {
        let spec: KnownBundleSpec = serde_json::from_value(serde_json::json!({
            "name": "cert-manager", "groups": ["cert-manager.io"],
            "version": {"label": "app.kubernetes.io/version"},
            "channel": null
        }))
        .unwrap();
        let known = spec.to_known();
        assert_eq!(
            known.version,
            Some(MarkerKey::Label("app.kubernetes.io/version".into()))
        );
        assert!(known.channel.is_none());
        let bad: Result<KnownBundleSpec, _> = serde_json::from_value(serde_json::json!({
            "name": "x", "groups": ["x.io"], "version": {"header": "k"}
        }));
        assert!(bad.is_err());
    }
}
