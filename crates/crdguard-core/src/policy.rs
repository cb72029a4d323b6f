//! The compatibility policy of one product (SPEC §4), and the default policy when none is given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::model::{Channel, Class};
use crate::version::{BundleVersion, KubeVersion};

pub const POLICY_API_VERSION: &str = "crdguard.dev/v1alpha1";
pub const POLICY_KIND: &str = "Policy";
pub use crate::registry::GATEWAY_API;
use crate::registry::{KnownBundle, KnownBundleSpec, Registry};
use crate::schema_checks::SchemaChecks;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    pub api_version: String,
    pub kind: String,
    pub metadata: PolicyMetadata,
    #[serde(default)]
    pub spec: PolicySpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyMetadata {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default)]
    pub kubernetes: Option<KubernetesPolicy>,
    #[serde(default)]
    pub bundles: Vec<BundlePolicy>,
    /// Standard bundles beyond the built-in ones (SPEC §4), added to the registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_bundles: Vec<KnownBundleSpec>,
    /// Per-check enforcement and acknowledged findings (SPEC §4 v2).
    #[serde(default, skip_serializing_if = "SchemaChecks::is_empty")]
    pub schema_checks: SchemaChecks,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesPolicy {
    #[serde(default)]
    pub minimum: Option<KubeVersion>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BundlePolicy {
    pub name: String,
    /// Refuse to run below this version.
    #[serde(default)]
    pub minimum: Option<BundleVersion>,
    /// What the product installs when absent or when upgrading.
    #[serde(default)]
    pub recommended: Option<BundleVersion>,
    /// Newer than this is allowed, with a warning.
    #[serde(default)]
    pub tested_maximum: Option<BundleVersion>,
    /// A hard limit the product cannot run above (SPEC §4 v2): recorded for other products'
    /// plans (SPEC §12).
    #[serde(default)]
    pub maximum: Option<BundleVersion>,
    /// The narrowest channel the product works with.
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub required_kinds: Vec<String>,
    /// The API versions the product reads, per kind (`HTTPRoute: [v1]`): recorded for other
    /// products' plans, which must keep them served (SPEC §12).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub served_versions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub install: InstallMode,
    #[serde(default)]
    pub upgrade: UpgradeMode,
    #[serde(default)]
    pub on_conflict: ConflictMode,
    /// For bundles other than the Gateway API: the API groups whose CRDs form this bundle.
    #[serde(default)]
    pub groups: Vec<String>,
    /// For bundles other than the Gateway API: `standard` (shared, default) or `extension`.
    #[serde(default)]
    pub class: Option<Class>,
    /// For bundles other than the Gateway API: the annotation holding the bundle version.
    #[serde(default)]
    pub version_annotation: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallMode {
    #[default]
    IfAbsent,
    Never,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    Never,
    IfBelowMinimum,
    /// Upgrade whenever the installed version is older than what we carry (the default,
    /// matching the Gateway API project's guidance).
    #[default]
    ToRecommended,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictMode {
    #[default]
    Fail,
    Skip,
    TakeOwnership,
}

impl Policy {
    /// No policy file: the Gateway API project's own CRD-management guidance (install if absent,
    /// upgrade if older, keep if the same or newer, never cross channels downward, never delete).
    pub fn default_policy() -> Policy {
        Policy {
            api_version: POLICY_API_VERSION.to_string(),
            kind: POLICY_KIND.to_string(),
            metadata: PolicyMetadata {
                name: "default".to_string(),
                version: None,
            },
            spec: PolicySpec::default(),
        }
    }

    pub fn is_default(&self) -> bool {
        self.metadata.name == "default"
            && self.spec.bundles.is_empty()
            && self.spec.known_bundles.is_empty()
            && self.spec.schema_checks.is_empty()
            && self.spec.kubernetes.is_none()
    }

    /// Parses and validates a policy file. Unknown fields and invalid versions name the field.
    pub fn from_yaml(source: &str, text: &str) -> Result<Policy, InputError> {
        let value = crate::yaml::value_from_str(text)
            .map_err(|e| InputError::new(source, format!("invalid YAML: {e}")))?;
        if value.is_null() {
            return Err(InputError::new(source, "the policy file is empty"));
        }
        let policy: Policy = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            let err = InputError::new(source, e.inner().to_string());
            if field == "." { err } else { err.field(field) }
        })?;
        policy.validate(source)?;
        Ok(policy)
    }

    /// Checks `requiredKinds` of `bundle` against the kinds that bundle has (from the catalog
    /// and the sources): a kind nobody defines is a typo, never a condition to wait for. The
    /// error names the field and the nearest known kind.
    pub fn check_required_kinds(
        &self,
        source: &str,
        bundle: &str,
        known: &std::collections::BTreeSet<String>,
    ) -> Result<(), InputError> {
        if known.is_empty() {
            return Ok(());
        }
        let Some((index, policy)) = self
            .spec
            .bundles
            .iter()
            .enumerate()
            .find(|(_, b)| b.name == bundle)
        else {
            return Ok(());
        };
        let kinds = policy
            .required_kinds
            .iter()
            .enumerate()
            .map(|(k, kind)| (format!("requiredKinds[{k}]"), kind))
            .chain(
                policy
                    .served_versions
                    .keys()
                    .map(|kind| (format!("servedVersions.{kind}"), kind)),
            );
        for (field, kind) in kinds {
            if known.contains(kind) {
                continue;
            }
            let nearest = nearest_match(kind, known.iter().map(String::as_str))
                .map(|c| format!("; did you mean {c:?}?"))
                .unwrap_or_else(|| {
                    format!(
                        "; its kinds are {}",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                });
            return Err(InputError::new(
                source,
                format!("bundle {bundle} has no kind {kind:?}{nearest}"),
            )
            .field(format!("spec.bundles[{index}].{field}")));
        }
        Ok(())
    }

    fn validate(&self, source: &str) -> Result<(), InputError> {
        let err = |field: String, message: String| InputError::new(source, message).field(field);
        if self.api_version != POLICY_API_VERSION {
            return Err(err(
                "apiVersion".into(),
                format!(
                    "expected {POLICY_API_VERSION}, found {:?}",
                    self.api_version
                ),
            ));
        }
        if self.kind != POLICY_KIND {
            return Err(err(
                "kind".into(),
                format!("expected {POLICY_KIND}, found {:?}", self.kind),
            ));
        }
        self.validate_known_bundles(source)?;
        self.spec.schema_checks.validate(source)?;
        let registry = self.registry();
        let mut seen = std::collections::BTreeSet::new();
        for (i, bundle) in self.spec.bundles.iter().enumerate() {
            let field = |name: &str| format!("spec.bundles[{i}].{name}");
            if bundle.name.trim().is_empty() {
                return Err(err(field("name"), "a bundle needs a name".into()));
            }
            if !seen.insert(bundle.name.as_str()) {
                return Err(err(
                    field("name"),
                    format!("bundle {:?} is listed twice", bundle.name),
                ));
            }
            if bundle.groups.is_empty() && registry.bundle(&bundle.name).is_none() {
                let close = nearest_match(&bundle.name, registry.names())
                    .map(|name| format!("did you mean {name}? "))
                    .unwrap_or_default();
                return Err(err(
                    field("name"),
                    format!(
                        "bundle {:?} is not known to crdguard ({close}known: {}); define it \
                         under spec.knownBundles with its API groups and version marker",
                        bundle.name,
                        registry.names().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            // A channel is a property of bundles that have channels.
            if let Some(channel) = bundle.channel
                && registry
                    .bundle(&bundle.name)
                    .is_some_and(|known| known.channel.is_none())
            {
                return Err(err(
                    field("channel"),
                    format!(
                        "bundle {} has no channels, so `channel: {channel}` cannot be met; \
                         remove it",
                        bundle.name
                    ),
                ));
            }
            let ordered = |lower: &Option<BundleVersion>,
                           lower_name: &str,
                           upper: &Option<BundleVersion>,
                           upper_name: &str| {
                match (lower, upper) {
                    (Some(l), Some(u)) if l > u => Err(err(
                        field(upper_name),
                        format!("{upper_name} {u} is below {lower_name} {l}"),
                    )),
                    _ => Ok(()),
                }
            };
            for (kind, versions) in &bundle.served_versions {
                if let Some(bad) = versions.iter().find(|v| !is_api_version(v)) {
                    return Err(err(
                        field(&format!("servedVersions.{kind}")),
                        format!(
                            "{bad:?} is not a Kubernetes API version (v1, v1beta1, v1alpha2, …)"
                        ),
                    ));
                }
            }
            ordered(
                &bundle.minimum,
                "minimum",
                &bundle.recommended,
                "recommended",
            )?;
            ordered(
                &bundle.minimum,
                "minimum",
                &bundle.tested_maximum,
                "testedMaximum",
            )?;
            ordered(
                &bundle.recommended,
                "recommended",
                &bundle.tested_maximum,
                "testedMaximum",
            )?;
        }
        Ok(())
    }

    /// The known bundles under this policy: the built-in ones, `spec.knownBundles`, and legacy
    /// `bundles[]` entries that name their own groups.
    pub fn registry(&self) -> Registry {
        let defined = self
            .spec
            .known_bundles
            .iter()
            .map(KnownBundleSpec::to_known);
        let legacy = self
            .spec
            .bundles
            .iter()
            .filter(|b| !b.groups.is_empty())
            .map(|b| KnownBundle {
                name: b.name.clone(),
                groups: b.groups.clone(),
                version: b
                    .version_annotation
                    .clone()
                    .map(crate::registry::MarkerKey::Annotation),
                channel: None,
                class: b.class.unwrap_or(Class::Standard),
                companions: Vec::new(),
            });
        Registry::with(defined.chain(legacy))
    }

    /// `spec.knownBundles`: names new and unique, groups given and owned by one bundle only,
    /// channel markers well formed.
    fn validate_known_bundles(&self, source: &str) -> Result<(), InputError> {
        let builtin = Registry::builtin();
        let mut owners: std::collections::BTreeMap<&str, String> = builtin
            .bundles()
            .iter()
            .flat_map(|b| b.groups.iter().map(move |g| (g.as_str(), b.name.clone())))
            .collect();
        let mut names = std::collections::BTreeSet::new();
        for (i, bundle) in self.spec.known_bundles.iter().enumerate() {
            let err = |name: &str, message: String| {
                InputError::new(source, message).field(format!("spec.knownBundles[{i}].{name}"))
            };
            if bundle.name.trim().is_empty() {
                return Err(err("name", "a bundle needs a name".into()));
            }
            if builtin.bundle(&bundle.name).is_some() {
                return Err(err(
                    "name",
                    format!(
                        "{:?} is a built-in bundle; use spec.bundles to set its policy",
                        bundle.name
                    ),
                ));
            }
            if !names.insert(bundle.name.as_str()) {
                return Err(err(
                    "name",
                    format!("bundle {:?} is defined twice", bundle.name),
                ));
            }
            if bundle.groups.is_empty() {
                return Err(err(
                    "groups",
                    format!("bundle {:?} lists no API groups", bundle.name),
                ));
            }
            for (g, group) in bundle.groups.iter().enumerate() {
                if !is_dns_subdomain(group) {
                    return Err(err(
                        &format!("groups[{g}]"),
                        format!("{group:?} is not an API group (a DNS subdomain like example.com)"),
                    ));
                }
                if let Some(owner) = owners.insert(group, bundle.name.clone()) {
                    return Err(err(
                        &format!("groups[{g}]"),
                        format!("group {group} already belongs to bundle {owner}"),
                    ));
                }
            }
            if let Some(marker) = &bundle.version
                && marker.key().trim().is_empty()
            {
                return Err(err("version", "the version key is empty".into()));
            }
            if let Some(channel) = &bundle.channel {
                channel
                    .key()
                    .map_err(|message| err("channel", message.to_string()))?;
                if channel.values.is_empty() {
                    return Err(err(
                        "channel.values",
                        "list the channel values, narrowest first: [standard, experimental]".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn bundle(&self, name: &str) -> Option<&BundlePolicy> {
        self.spec.bundles.iter().find(|b| b.name == name)
    }

    pub fn kubernetes_minimum(&self) -> Option<KubeVersion> {
        self.spec.kubernetes.as_ref().and_then(|k| k.minimum)
    }
}

/// The candidate closest to a misspelt `word` (Jaro-Winkler above 0.8), for "did you mean".
pub fn nearest_match<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8)
        .map(|(_, candidate)| candidate)
}

/// An API group: lowercase DNS labels joined by dots.
fn is_dns_subdomain(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 253
        && group.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `v1`, `v1beta1`, `v2alpha3`: the form of Kubernetes API versions.
fn is_api_version(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('v') else {
        return false;
    };
    let major = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if major.len() == rest.len() || rest.starts_with('0') {
        return false;
    }
    let level = major
        .strip_prefix("alpha")
        .or_else(|| major.strip_prefix("beta"));
    match level {
        None => major.is_empty(),
        Some(n) => !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()),
    }
}

impl BundlePolicy {
    /// The policy for a bundle the policy file does not mention.
    pub fn default_for(name: &str) -> BundlePolicy {
        BundlePolicy {
            name: name.to_string(),
            minimum: None,
            recommended: None,
            tested_maximum: None,
            maximum: None,
            channel: None,
            required_kinds: Vec::new(),
            served_versions: BTreeMap::new(),
            install: InstallMode::IfAbsent,
            upgrade: UpgradeMode::ToRecommended,
            on_conflict: ConflictMode::Fail,
            groups: Vec::new(),
            class: None,
            version_annotation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"
apiVersion: crdguard.dev/v1alpha1
kind: Policy
metadata: { name: envoy-gateway, version: v1.9.0 }
spec:
  kubernetes: { minimum: "1.33" }
  bundles:
  - name: gateway-api
    minimum: v1.6.0
    recommended: v1.6.1
    testedMaximum: v1.6.1
    channel: standard
    requiredKinds: [GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant, BackendTLSPolicy]
    install: if-absent
    upgrade: if-below-minimum
    onConflict: fail
"#;

    #[test]
    fn parses_the_spec_example() {
        let p = Policy::from_yaml("p.yaml", SPEC_EXAMPLE).unwrap();
        let b = p.bundle(GATEWAY_API).unwrap();
        assert_eq!(b.minimum.as_ref().unwrap().to_string(), "v1.6.0");
        assert_eq!(b.upgrade, UpgradeMode::IfBelowMinimum);
        assert_eq!(b.channel, Some(Channel::Standard));
        assert_eq!(p.kubernetes_minimum(), Some(KubeVersion::new(1, 33, 0)));
    }

    #[test]
    fn served_versions_are_read_per_kind_and_must_be_api_versions() {
        let text = SPEC_EXAMPLE.replace(
            "onConflict: fail",
            "onConflict: fail\n    servedVersions: {HTTPRoute: [v1], TLSRoute: [v1alpha2, v1alpha3]}",
        );
        let p = Policy::from_yaml("p.yaml", &text).unwrap();
        let b = p.bundle(GATEWAY_API).unwrap();
        assert_eq!(b.served_versions["TLSRoute"], ["v1alpha2", "v1alpha3"]);
        for bad in ["v1.2", "1", "v0", "v1beta", "v1gamma1", "v01", "v1alpha01"] {
            let text = SPEC_EXAMPLE.replace(
                "onConflict: fail",
                &format!("onConflict: fail\n    servedVersions: {{HTTPRoute: [\"{bad}\"]}}"),
            );
            let err = Policy::from_yaml("p.yaml", &text).unwrap_err();
            assert_eq!(
                err.field.as_deref(),
                Some("spec.bundles[0].servedVersions.HTTPRoute"),
                "{bad}"
            );
        }
        for good in ["v1", "v2", "v1beta1", "v1alpha3", "v10beta12"] {
            assert!(is_api_version(good), "{good}");
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let text = SPEC_EXAMPLE.replace("onConflict: fail", "onConflict: fail\n    colour: blue");
        let err = Policy::from_yaml("p.yaml", &text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.bundles[0].colour"));
        assert!(err.message.contains("unknown field"), "{err}");
    }

    #[test]
    fn bad_semver_is_named() {
        let text = SPEC_EXAMPLE.replace("minimum: v1.6.0", "minimum: v1.six");
        let err = Policy::from_yaml("p.yaml", &text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.bundles[0].minimum"));
        assert!(err.to_string().contains("v1.six"), "{err}");
    }

    #[test]
    fn unquoted_versions_are_refused_with_advice_to_quote_them() {
        for (from, to, field) in [
            (
                "minimum: \"1.33\"",
                "minimum: 1.30",
                "spec.kubernetes.minimum",
            ),
            ("minimum: v1.6.0", "minimum: 1.6", "spec.bundles[0].minimum"),
        ] {
            let text = SPEC_EXAMPLE.replace(from, to);
            assert_ne!(text, SPEC_EXAMPLE, "{from}");
            let err = Policy::from_yaml("p.yaml", &text).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field));
            assert!(err.message.contains("quote it"), "{err}");
        }
    }

    #[test]
    fn inverted_range_is_rejected() {
        let text = SPEC_EXAMPLE.replace("testedMaximum: v1.6.1", "testedMaximum: v1.5.0");
        let err = Policy::from_yaml("p.yaml", &text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.bundles[0].testedMaximum"));
    }

    #[test]
    fn bad_enum_value_is_named() {
        let text = SPEC_EXAMPLE.replace("upgrade: if-below-minimum", "upgrade: sometimes");
        let err = Policy::from_yaml("p.yaml", &text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.bundles[0].upgrade"));
    }

    #[test]
    fn a_misspelt_bundle_is_named_with_a_suggestion_and_a_channel_needs_channels() {
        let policy = |bundle: &str| {
            format!(
                "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{name: x, version: v1.0}}\nspec:\n  bundles:\n{bundle}"
            )
        };
        let err =
            Policy::from_yaml("p.yaml", &policy("  - name: prometheus-operater\n")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.bundles[0].name"));
        assert!(
            err.to_string()
                .contains("did you mean prometheus-operator?"),
            "{err}"
        );
        let err = Policy::from_yaml(
            "p.yaml",
            &policy("  - name: prometheus-operator\n    channel: experimental\n"),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.bundles[0].channel"));
        assert!(
            Policy::from_yaml(
                "p.yaml",
                &policy("  - name: gateway-api\n    channel: experimental\n")
            )
            .is_ok()
        );
    }
}
