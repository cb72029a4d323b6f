//! Identification of installed bundles by content, supplied from outside the core (the catalog
//! crate knows upstream releases; the core only knows what to do with the answer).

use crate::companion::CompanionObject;
use crate::model::{BundleMembership, Channel, Crd};
use crate::plan::{Code, Reason};
use crate::version::BundleVersion;

/// What the content of a CRD proves about its bundle, when that adds to or contradicts its
/// annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub version: BundleVersion,
    pub channel: Channel,
    /// `identified-by-digest` (annotations missing or upstream's own mislabel) or
    /// `annotation-mismatch` (annotations contradict the content).
    pub code: Code,
    pub message: String,
}

/// Something that can identify CRDs by content (the built-in Gateway API catalog).
pub trait Identifier: Sync {
    /// `None` when the CRD is unknown or its annotations agree with its content.
    fn identify(&self, crd: &Crd) -> Option<Identified>;

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
    membership.version = Some(identified.version);
    membership.channel = Some(identified.channel);
    // Bad-annotation warnings are superseded by what the content proves.
    membership
        .warnings
        .retain(|w| w.code != Code::BadAnnotation);
    membership
        .warnings
        .push(Reason::new(identified.code, identified.message));
}
