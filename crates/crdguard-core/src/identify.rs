//! Identification of installed bundles by content, supplied from outside the core (the catalog
//! crate knows upstream releases; the core only knows what to do with the answer).

use crate::companion::CompanionObject;
use crate::model::{BundleMembership, Channel, Crd};
use crate::reason::{Code, Reason};
use crate::version::BundleVersion;

/// What the content of a CRD proves about its bundle, when that adds to or contradicts its
/// annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// The newest release holding the content (of `range`, when there is one).
    pub version: BundleVersion,
    /// `None` for a bundle without channels (prometheus-operator).
    pub channel: Option<Channel>,
    /// Releases from `.0` through `.1` all hold this content: identification cannot tell
    /// them apart, and the plan reasons with the newest (SPEC §1), so it never lowers.
    pub range: Option<(BundleVersion, BundleVersion)>,
    /// `identified-by-digest` (annotations missing or upstream's own mislabel) or
    /// `annotation-mismatch` (annotations contradict the content).
    pub code: Code,
    pub message: String,
}

/// Something that can identify CRDs by content (the built-in Gateway API catalog).
pub trait Identifier: Sync {
    /// `None` when the CRD is unknown or its annotations agree with its content.
    fn identify(&self, crd: &Crd) -> Option<Identified>;

    /// Identifies the installed CRDs of one bundle together (SPEC §1): candidate releases per
    /// CRD, reconciled across the bundle. One answer per CRD, in the order given.
    fn identify_installed(&self, _bundle: &str, crds: &[&Crd]) -> Vec<Option<Identified>> {
        crds.iter().map(|crd| self.identify(crd)).collect()
    }

    /// The oldest Kubernetes that accepts `version` of `bundle` in `channel`, and why (CEL
    /// functions, API versions), when the catalog knows that release.
    fn minimum_kubernetes(
        &self,
        _bundle: &str,
        _version: &BundleVersion,
        _channel: Channel,
    ) -> Option<(crate::version::KubeVersion, String)> {
        None
    }

    /// The newest release of `bundle` that ships the CRD named `crd`, if the identifier knows
    /// the bundle and the CRD. A CRD whose last release is older than a version can never be at
    /// that version: upstream removed its kind.
    fn last_release_with(&self, _bundle: &str, _crd: &str) -> Option<BundleVersion> {
        None
    }

    /// The newest release of `bundle` the identifier knows, if it knows the bundle at all.
    fn newest_known(&self, _bundle: &str) -> Option<BundleVersion> {
        None
    }

    /// Upstream's companion objects (SPEC §1) of `version` of `bundle` in `channel`, when the
    /// catalog knows that release; empty otherwise.
    fn companions(
        &self,
        _bundle: &str,
        _version: &BundleVersion,
        _channel: Channel,
    ) -> Vec<CompanionObject> {
        Vec::new()
    }

    /// The oldest Kubernetes that serves the companions of that release, if they need one.
    fn companions_minimum_kubernetes(
        &self,
        _bundle: &str,
        _version: &BundleVersion,
        _channel: Channel,
    ) -> Option<crate::version::KubeVersion> {
        None
    }

    /// The releases whose companion of this kind and name has exactly the content of
    /// `object` (an installed copy), by digest. Empty: not upstream's content.
    fn companion_releases(
        &self,
        _bundle: &str,
        _kind: &str,
        _name: &str,
        _object: &serde_json::Value,
    ) -> Vec<(BundleVersion, Channel)> {
        Vec::new()
    }
}

/// A development build (`v0.0.0-dev`, as Gateway API's monthly and main-branch builds say):
/// its position among releases is not its semver, 0.0.0.
pub fn is_development_build(version: &BundleVersion) -> bool {
    let v = &version.0;
    v.major == 0 && v.minor == 0 && v.patch == 0 && !v.pre.is_empty()
}

/// Classifies and identifies the installed CRDs: per bundle, content wins over annotations
/// and the plan says so with a reason. A development build whose content no release holds
/// stays unversioned (its position is unknown).
pub fn identify_installed<'c>(
    crds: impl IntoIterator<Item = &'c Crd>,
    mut classify: impl FnMut(&Crd) -> BundleMembership,
    identifier: Option<&dyn Identifier>,
) -> Vec<(&'c Crd, BundleMembership)> {
    let mut out: Vec<(&Crd, BundleMembership)> = crds
        .into_iter()
        .map(|crd| {
            let mut membership = classify(crd);
            if let Some(version) = membership.version.take_if(|v| is_development_build(v)) {
                membership.warnings.push(Reason::new(
                    Code::BadAnnotation,
                    format!(
                        "bundle version {version} marks a development build: its position \
                         among releases is unknown unless its content identifies it"
                    ),
                ));
            }
            (crd, membership)
        })
        .collect();
    let Some(identifier) = identifier else {
        return out;
    };
    let mut by_bundle: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (index, (_, membership)) in out.iter().enumerate() {
        if let Some(bundle) = &membership.bundle {
            by_bundle.entry(bundle.clone()).or_default().push(index);
        }
    }
    for (bundle, indexes) in by_bundle {
        let crds: Vec<&Crd> = indexes.iter().map(|&i| out[i].0).collect();
        let answers = identifier.identify_installed(&bundle, &crds);
        for (&index, answer) in indexes.iter().zip(answers) {
            if let Some(identified) = answer {
                adopt(&mut out[index].1, identified);
            }
        }
    }
    out
}

/// The content wins over the annotations; the plan says so with a reason.
pub fn apply_identification(
    membership: &mut BundleMembership,
    crd: &Crd,
    identifier: Option<&dyn Identifier>,
) {
    if membership.bundle.is_none() {
        return;
    }
    let Some(identified) = identifier.and_then(|i| i.identify(crd)) else {
        return;
    };
    adopt(membership, identified);
}

fn adopt(membership: &mut BundleMembership, identified: Identified) {
    membership.version = Some(identified.version);
    membership.channel = identified.channel;
    membership.range = identified.range;
    // Bad-annotation warnings are superseded by what the content proves.
    membership
        .warnings
        .retain(|w| w.code != Code::BadAnnotation);
    membership
        .warnings
        .push(Reason::new(identified.code, identified.message));
}
