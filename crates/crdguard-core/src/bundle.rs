//! Bundle detection and classification (SPEC §1): which bundle a CRD belongs to, its class,
//! version and channel.

use crate::model::{BundleMembership, Channel, Class, Crd};
use crate::policy::Policy;
use crate::reason::{Code, Reason};
use crate::registry::{KnownBundle, MarkerKey, Registry};

/// Classifies CRDs against the bundle registry under a policy (built-in bundles and those the
/// policy defines).
pub struct Classifier {
    registry: Registry,
}

impl Classifier {
    pub fn new(policy: &Policy) -> Self {
        Classifier {
            registry: policy.registry(),
        }
    }

    pub fn classify(&self, crd: &Crd) -> BundleMembership {
        match self.registry.of_crd(crd) {
            Some(bundle) => marked(crd, bundle),
            None => BundleMembership {
                bundle: None,
                class: Class::Extension,
                version: None,
                channel: None,
                marked_version: None,
                range: None,
                warnings: Vec::new(),
            },
        }
    }
}

/// The membership `crd` declares through `bundle`'s markers; a marker that cannot be read is a
/// warning and an unknown value, never a guess.
fn marked(crd: &Crd, bundle: &KnownBundle) -> BundleMembership {
    let mut warnings = Vec::new();
    let read = |marker: &Option<MarkerKey>| {
        marker
            .as_ref()
            .and_then(|m| m.read(crd).map(|value| (m.describe(), value)))
    };
    let version = read(&bundle.version).and_then(|(key, value)| match value.parse() {
        Ok(v) => Some(v),
        Err(e) => {
            warnings.push(Reason::new(
                Code::BadAnnotation,
                format!("{key}: {e}; the version is treated as unknown"),
            ));
            None
        }
    });
    let channel = read(&bundle.channel).and_then(|(key, value)| match Channel::parse(value) {
        Some(c) => Some(c),
        None => {
            warnings.push(Reason::new(
                Code::BadAnnotation,
                format!(
                    "{key}: {value:?} is neither standard nor experimental; \
                     the channel is treated as unknown"
                ),
            ));
            None
        }
    });
    BundleMembership {
        bundle: Some(bundle.name.clone()),
        class: bundle.class,
        marked_version: version.clone(),
        version,
        channel,
        range: None,
        warnings,
    }
}
