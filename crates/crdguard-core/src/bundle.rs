//! Bundle detection and classification (SPEC §1): which bundle a CRD belongs to, its class,
//! version and channel.

use crate::model::{BundleMembership, Channel, Class, Crd};
use crate::plan::{Code, Reason};
use crate::policy::{GATEWAY_API, Policy};

pub const GATEWAY_GROUPS: [&str; 2] = ["gateway.networking.k8s.io", "gateway.networking.x-k8s.io"];
pub const GATEWAY_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";
pub const GATEWAY_CHANNEL_ANNOTATION: &str = "gateway.networking.k8s.io/channel";

/// Classifies CRDs against the built-in knowledge (Gateway API) and a policy's bundles.
pub struct Classifier<'p> {
    policy: &'p Policy,
}

impl<'p> Classifier<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Classifier { policy }
    }

    pub fn classify(&self, crd: &Crd) -> BundleMembership {
        if GATEWAY_GROUPS.contains(&crd.group.as_str()) {
            return annotated(
                crd,
                GATEWAY_API,
                Class::Standard,
                Some(GATEWAY_VERSION_ANNOTATION),
                Some(GATEWAY_CHANNEL_ANNOTATION),
            );
        }
        for bundle in &self.policy.spec.bundles {
            if bundle.groups.iter().any(|g| g == &crd.group) {
                return annotated(
                    crd,
                    &bundle.name,
                    bundle.class.unwrap_or(Class::Standard),
                    bundle.version_annotation.as_deref(),
                    None,
                );
            }
        }
        BundleMembership {
            bundle: None,
            class: Class::Extension,
            version: None,
            channel: None,
            range: None,
            warnings: Vec::new(),
        }
    }
}

fn annotated(
    crd: &Crd,
    bundle: &str,
    class: Class,
    version_key: Option<&str>,
    channel_key: Option<&str>,
) -> BundleMembership {
    let mut warnings = Vec::new();
    let version = version_key
        .and_then(|key| crd.annotation(key).map(|v| (key, v)))
        .and_then(|(key, value)| match value.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(Reason::new(
                    Code::BadAnnotation,
                    format!("annotation {key}: {e}; the version is treated as unknown"),
                ));
                None
            }
        });
    let channel = channel_key
        .and_then(|key| crd.annotation(key).map(|v| (key, v)))
        .and_then(|(key, value)| match Channel::parse(value) {
            Some(c) => Some(c),
            None => {
                warnings.push(Reason::new(
                    Code::BadAnnotation,
                    format!(
                        "annotation {key}: {value:?} is neither standard nor experimental; \
                         the channel is treated as unknown"
                    ),
                ));
                None
            }
        });
    BundleMembership {
        bundle: Some(bundle.to_string()),
        class,
        version,
        channel,
        range: None,
        warnings,
    }
}
