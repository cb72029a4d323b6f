//! crdguard's own guard (SPEC §9): a ValidatingAdmissionPolicy and its binding that keep
//! anyone, crdguard included, from downgrading the CRD bundles crdguard manages.
//!
//! For CRDs whose `spec.group` belongs to a managed bundle it denies:
//! - `no-downgrade`: an UPDATE that lowers the bundle-version annotation;
//! - `no-channel-narrowing`: an UPDATE from the `experimental` channel to `standard`;
//! - `keep-bundle-annotations`: an UPDATE that removes the bundle version or channel annotation
//!   from a CRD that had it;
//! - `no-delete`: a DELETE.
//!
//! Overrides, both on the CRD itself so that they are visible and deliberate:
//! - [`ALLOW_DOWNGRADE_ANNOTATION`] `"true"` on the object being written lifts the three UPDATE
//!   rules. It stays on the CRD after the write, so remove it afterwards.
//! - [`ALLOW_DELETE_LABEL`] `"true"` on the live CRD lifts `no-delete`: on a DELETE the policy
//!   only sees the stored object, so the label has to be set first (`kubectl label crd NAME
//!   crdguard.dev/allow-delete=true`), which the guard allows. A label rather than an exempt
//!   user: it names one CRD, not everything one identity does, and `kubectl get crd -l` shows
//!   what is unlocked.
//!
//! What it never denies (the mistakes of Gateway API's `safe-upgrades` it does not repeat):
//! - CREATE: there is nothing installed to protect, and a CRD without bundle annotations
//!   (vendored, stripped, hand-made) is a legitimate thing to install. CREATE is not even in the
//!   match rules.
//! - CRDs without bundle annotations that never had them, and CRDs of other groups (a match
//!   condition keeps the policy away from them).
//! - Pre-releases and builds: only two release versions (`vX.Y.Z`, no pre-release or build
//!   suffix) are ordered. Semver precedence puts `v1.6.0-rc.1` below `v1.6.0`, and the monthly
//!   builds' `v0.0.0-dev` is a marker, not version zero: writing such a version, or writing over
//!   one, is allowed.
//! - Upgrades, channel widening (standard → experimental), same-version re-applies, label and
//!   annotation edits that keep the bundle annotations.
//! - Status: the rules cover the `customresourcedefinitions` resource only, not
//!   `customresourcedefinitions/status`, so storedVersions patches and the API server's
//!   condition updates are never evaluated. An UPDATE of the main resource cannot change status
//!   (the API server resets it to the stored one), and no rule looks at status anyway.

use std::fmt;

use crdguard_core::registry::{KnownBundle, MarkerKey, Registry};
use crdguard_core::version::KubeVersion;
use serde_json::{Value, json};

/// Name of the policy and of its binding.
pub const GUARD_NAME: &str = "crdguard-guard";
/// On the object written: lifts the UPDATE rules for that write.
pub const ALLOW_DOWNGRADE_ANNOTATION: &str = "crdguard.dev/allow-downgrade";
/// On the live CRD: lets it be deleted.
pub const ALLOW_DELETE_LABEL: &str = "crdguard.dev/allow-delete";
/// On the rendered objects: the bundles the guard protects, comma-separated.
pub const GUARD_BUNDLES_ANNOTATION: &str = "crdguard.dev/guard-bundles";

/// Rule names, as they appear in the denial messages.
pub const RULE_NO_DOWNGRADE: &str = "no-downgrade";
pub const RULE_NO_CHANNEL_NARROWING: &str = "no-channel-narrowing";
pub const RULE_KEEP_ANNOTATIONS: &str = "keep-bundle-annotations";
pub const RULE_NO_DELETE: &str = "no-delete";

/// A release version: the only kind the guard orders. Digits are capped at nine so that `int()`
/// and `semver()` can never fail on the server (an error would deny under failurePolicy Fail).
const RELEASE_PATTERN: &str = "^v?(0|[1-9][0-9]{0,8})[.](0|[1-9][0-9]{0,8})[.](0|[1-9][0-9]{0,8})$";

/// A bundle the guard protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedBundle {
    pub name: String,
    /// API groups whose CRDs belong to the bundle.
    pub groups: Vec<String>,
    /// Where the bundle version is written (an annotation or a label).
    pub version: MarkerKey,
    /// Where the channel is written (`standard` ⊂ `experimental`), if the bundle has channels.
    pub channel: Option<MarkerKey>,
}

impl ManagedBundle {
    /// The guard's view of a registry bundle; `None` when the bundle writes no version (there
    /// is nothing to order then).
    pub fn from_known(bundle: &KnownBundle) -> Option<Self> {
        Some(ManagedBundle {
            name: bundle.name.clone(),
            groups: bundle.groups.clone(),
            version: bundle.version.clone()?,
            channel: bundle.channel.clone(),
        })
    }

    pub fn gateway_api() -> Self {
        Self::from_known(crdguard_core::registry::gateway())
            .expect("the Gateway API writes its version")
    }

    /// A built-in bundle, known without a policy.
    pub fn known(name: &str) -> Option<Self> {
        Registry::builtin().bundle(name).and_then(Self::from_known)
    }

    /// Every built-in bundle that writes its version.
    pub fn builtin() -> Vec<Self> {
        Registry::builtin()
            .bundles()
            .iter()
            .filter_map(Self::from_known)
            .collect()
    }
}

/// How the rendered policy compares versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionComparison {
    /// `split()` and `int()`: works on every server with admissionregistration.k8s.io/v1
    /// (Kubernetes ≥ 1.30).
    #[default]
    Portable,
    /// The Kubernetes semver CEL library (`semver()`, `isLessThan()`). It arrived in 1.33, and
    /// like every new CEL library is accepted in newly written objects one release later, so
    /// this needs Kubernetes ≥ 1.34. Same verdicts as `Portable`.
    SemverLibrary,
}

impl VersionComparison {
    /// The comparison a server of `version` accepts (portable when unknown).
    pub fn for_server(version: Option<KubeVersion>) -> Self {
        match version {
            Some(v) if v >= KubeVersion::new(1, 34, 0) => VersionComparison::SemverLibrary,
            _ => VersionComparison::Portable,
        }
    }
}

/// What to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardOptions {
    pub bundles: Vec<ManagedBundle>,
    pub version_comparison: VersionComparison,
}

impl Default for GuardOptions {
    fn default() -> Self {
        GuardOptions {
            bundles: vec![ManagedBundle::gateway_api()],
            version_comparison: VersionComparison::default(),
        }
    }
}

/// Why the guard cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// A bundle name crdguard does not know (only `gateway-api` is built in).
    UnknownBundle(String),
    /// A bundle without API groups.
    NoGroups(String),
    /// A group or annotation key with characters that have no place in one.
    InvalidName { bundle: String, value: String },
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::UnknownBundle(name) => write!(
                f,
                "unknown bundle {name:?}: the guard knows {}; other bundles need their \
                 groups and version marker from a policy's spec.knownBundles",
                Registry::builtin().names().collect::<Vec<_>>().join(", ")
            ),
            GuardError::NoGroups(name) => write!(f, "bundle {name:?} names no API groups"),
            GuardError::InvalidName { bundle, value } => write!(
                f,
                "bundle {bundle:?}: {value:?} is not a valid API group or annotation key"
            ),
        }
    }
}

impl std::error::Error for GuardError {}

/// The guard for the named bundles (none: the Gateway API), portable to Kubernetes ≥ 1.30:
/// `[ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding]`.
pub fn render_guard(bundles: &[String]) -> Result<Vec<Value>, GuardError> {
    let bundles = if bundles.is_empty() {
        vec![ManagedBundle::gateway_api()]
    } else {
        bundles
            .iter()
            .map(|name| {
                ManagedBundle::known(name).ok_or_else(|| GuardError::UnknownBundle(name.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    render_guard_with(&GuardOptions {
        bundles,
        version_comparison: VersionComparison::Portable,
    })
}

/// The guard for `options.bundles`: `[ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding]`.
pub fn render_guard_with(options: &GuardOptions) -> Result<Vec<Value>, GuardError> {
    if options.bundles.is_empty() {
        return Err(GuardError::UnknownBundle(String::new()));
    }
    for bundle in &options.bundles {
        if bundle.groups.is_empty() {
            return Err(GuardError::NoGroups(bundle.name.clone()));
        }
        let names = bundle
            .groups
            .iter()
            .map(String::as_str)
            .chain([bundle.version.key(), bundle.name.as_str()])
            .chain(bundle.channel.as_ref().map(MarkerKey::key));
        for value in names {
            // Everything is spliced into single-quoted CEL strings: keep to name characters.
            let ok = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
            if !ok {
                return Err(GuardError::InvalidName {
                    bundle: bundle.name.clone(),
                    value: value.to_string(),
                });
            }
        }
    }
    let bundle_names = options
        .bundles
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let metadata = json!({
        "name": GUARD_NAME,
        "labels": { "app.kubernetes.io/managed-by": "crdguard" },
        "annotations": { GUARD_BUNDLES_ANNOTATION: bundle_names },
    });
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata,
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "resourceRules": [{
                    "apiGroups": ["apiextensions.k8s.io"],
                    "apiVersions": ["v1"],
                    // No CREATE (never denied), and the main resource only: not `/status`.
                    "operations": ["UPDATE", "DELETE"],
                    "resources": ["customresourcedefinitions"],
                    "scope": "Cluster",
                }],
            },
            "matchConditions": [{
                "name": "managed-bundle",
                "expression": format!(
                    "(request.operation == 'DELETE' ? oldObject.spec.group : object.spec.group) \
                     in {}",
                    cel_list(options.bundles.iter().flat_map(|b| &b.groups))
                ),
            }],
            "variables": variables(options),
            "validations": validations(),
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": metadata,
        "spec": {
            "policyName": GUARD_NAME,
            "validationActions": ["Deny"],
        },
    });
    Ok(vec![policy, binding])
}

fn cel_string(s: &str) -> String {
    // Names are checked to hold no quote or backslash.
    format!("'{s}'")
}

fn cel_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| cel_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// `cond(bundle) ? value(bundle) : (... : '')` over the bundles, by the CRD's group.
fn by_bundle(bundles: &[ManagedBundle], value: impl Fn(&ManagedBundle) -> String) -> String {
    bundles
        .iter()
        .rev()
        .fold("''".to_string(), |otherwise, bundle| {
            let otherwise = if otherwise == "''" {
                otherwise
            } else {
                format!("({otherwise})")
            };
            format!(
                "variables.group in {} ? {} : {otherwise}",
                cel_list(&bundle.groups),
                value(bundle)
            )
        })
}

fn marker_place(marker: &MarkerKey) -> &'static str {
    if marker.is_label() {
        "labels"
    } else {
        "annotations"
    }
}

fn var(name: &str, expression: String) -> Value {
    json!({ "name": name, "expression": expression })
}

/// Every expression is written so that it cannot fail on any CRD: under failurePolicy Fail an
/// evaluation error would deny the write.
fn variables(options: &GuardOptions) -> Vec<Value> {
    let bundles = &options.bundles;
    // Fields are read one by one (never `object` as a whole), so that crdguard's evaluator
    // converts only those for each of thousands of CRDs.
    let mut vars = vec![
        // The group of the CRD the request is about: the stored one on DELETE.
        var(
            "group",
            "request.operation == 'DELETE' ? oldObject.spec.group : object.spec.group".to_string(),
        ),
        var("bundle", by_bundle(bundles, |b| cel_string(&b.name))),
        var(
            "versionKey",
            by_bundle(bundles, |b| cel_string(b.version.key())),
        ),
        // Where the markers live: 'labels' or 'annotations'.
        var(
            "versionIn",
            by_bundle(bundles, |b| cel_string(marker_place(&b.version))),
        ),
        var(
            "channelKey",
            by_bundle(bundles, |b| {
                cel_string(b.channel.as_ref().map(MarkerKey::key).unwrap_or_default())
            }),
        ),
        var(
            "channelIn",
            by_bundle(bundles, |b| {
                cel_string(b.channel.as_ref().map(marker_place).unwrap_or_default())
            }),
        ),
        var(
            "oldAnnotations",
            "oldObject != null && has(oldObject.metadata.annotations) ? \
             oldObject.metadata.annotations : {}"
                .to_string(),
        ),
        var(
            "newAnnotations",
            "object != null && has(object.metadata.annotations) ? \
             object.metadata.annotations : {}"
                .to_string(),
        ),
        var(
            "oldLabels",
            "oldObject != null && has(oldObject.metadata.labels) ? \
             oldObject.metadata.labels : {}"
                .to_string(),
        ),
        var(
            "newLabels",
            "object != null && has(object.metadata.labels) ? object.metadata.labels : {}"
                .to_string(),
        ),
    ];
    for side in ["old", "new"] {
        for (marker, key, place) in [
            ("Version", "versionKey", "versionIn"),
            ("Channel", "channelKey", "channelIn"),
        ] {
            let lookup = |map: &str| {
                format!(
                    "variables.{key} in variables.{side}{map} ? \
                     variables.{side}{map}[variables.{key}] : ''"
                )
            };
            vars.push(var(
                &format!("{side}{marker}"),
                format!(
                    "variables.{key} == '' ? '' : variables.{place} == 'labels' ? ({}) : ({})",
                    lookup("Labels"),
                    lookup("Annotations")
                ),
            ));
        }
        vars.push(var(
            &format!("{side}Release"),
            format!("variables.{side}Version.matches('{RELEASE_PATTERN}')"),
        ));
        // The version without its `v`, only meaningful when it is a release.
        vars.push(var(
            &format!("{side}Core"),
            format!(
                "variables.{side}Version.startsWith('v') ? variables.{side}Version.substring(1) \
                 : variables.{side}Version"
            ),
        ));
    }
    vars.push(var("lowered", lowered(options.version_comparison)));
    vars.push(var(
        "allowDowngrade",
        format!(
            "'{ALLOW_DOWNGRADE_ANNOTATION}' in variables.newAnnotations && \
             variables.newAnnotations['{ALLOW_DOWNGRADE_ANNOTATION}'] == 'true'"
        ),
    ));
    vars.push(var(
        "allowDelete",
        format!(
            "oldObject != null && has(oldObject.metadata.labels) && \
             '{ALLOW_DELETE_LABEL}' in oldObject.metadata.labels && \
             oldObject.metadata.labels['{ALLOW_DELETE_LABEL}'] == 'true'"
        ),
    ));
    vars
}

/// Whether the new version is a lower release than the old one.
fn lowered(comparison: VersionComparison) -> String {
    let both = "variables.oldRelease && variables.newRelease";
    match comparison {
        VersionComparison::SemverLibrary => {
            format!("{both} && semver(variables.newCore).isLessThan(semver(variables.oldCore))")
        }
        VersionComparison::Portable => {
            let part = |side: &str, i: usize| format!("int(variables.{side}Core.split('.')[{i}])");
            let (n0, n1, n2) = (part("new", 0), part("new", 1), part("new", 2));
            let (o0, o1, o2) = (part("old", 0), part("old", 1), part("old", 2));
            format!(
                "{both} && ({n0} < {o0} || ({n0} == {o0} && ({n1} < {o1} || \
                 ({n1} == {o1} && {n2} < {o2}))))"
            )
        }
    }
}

/// One rule: `message` is static, `messageExpression` names the CRD and versions. `detail`
/// is CEL producing the middle of the sentence.
fn validation(rule: &str, expression: &str, message: &str, detail: &str) -> Value {
    let tail = format!("is denied (rule {rule}). {}", override_hint(rule));
    json!({
        "expression": expression,
        "reason": "Forbidden",
        "message": format!("crdguard guard: {message} {tail}"),
        // `detail` opens with a string literal: the prefix joins it.
        "messageExpression": format!(
            "'crdguard guard: {} + ' {tail}'",
            detail.trim_start_matches('\'')
        ),
    })
}

fn override_hint(rule: &str) -> String {
    if rule == RULE_NO_DELETE {
        format!(
            "Override: label the CRD {ALLOW_DELETE_LABEL}=true first, then delete it \
             (the label is checked on the stored CRD)"
        )
    } else {
        format!(
            "Override: set the annotation {ALLOW_DOWNGRADE_ANNOTATION}: \"true\" on the CRD \
             in the same write, and remove it afterwards"
        )
    }
}

fn validations() -> Vec<Value> {
    let update = "request.operation != 'UPDATE' || variables.allowDowngrade";
    vec![
        validation(
            RULE_NO_DOWNGRADE,
            &format!("{update} || !variables.lowered"),
            "lowering the bundle version of a managed CRD",
            "'lowering the ' + variables.bundle + ' bundle version of CRD ' + request.name + \
             ' from ' + variables.oldVersion + ' to ' + variables.newVersion",
        ),
        validation(
            RULE_NO_CHANNEL_NARROWING,
            &format!(
                "{update} || !(variables.oldChannel == 'experimental' && \
                 variables.newChannel == 'standard')"
            ),
            "replacing an experimental-channel CRD with the standard channel",
            "'replacing the experimental channel of CRD ' + request.name + ' (' + \
             variables.bundle + ' ' + variables.oldVersion + ') with standard ' + \
             variables.newVersion",
        ),
        validation(
            RULE_KEEP_ANNOTATIONS,
            &format!(
                "{update} || ((variables.oldVersion == '' || variables.newVersion != '') && \
                 (variables.oldChannel == '' || variables.newChannel != ''))"
            ),
            "removing the bundle version or channel annotation of a managed CRD",
            "'removing the ' + variables.bundle + ' bundle markers (' + variables.versionKey + \
             (variables.channelKey == '' ? '' : ', ' + variables.channelKey) + ') from CRD ' + \
             request.name",
        ),
        validation(
            RULE_NO_DELETE,
            "request.operation != 'DELETE' || variables.allowDelete",
            "deleting a managed CRD",
            "'deleting the ' + variables.bundle + ' CRD ' + request.name",
        ),
    ]
}
