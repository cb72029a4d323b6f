//! What `crdguard catalog list` and `crdguard catalog show NAME[@VERSION][/CHANNEL]` print:
//! serializable summaries, independent of the output format the CLI chooses.

use std::fmt;

use crdguard_core::policy::{BundlePolicy, ConflictMode, InstallMode, UpgradeMode};
use crdguard_core::{BundleVersion, Channel};
use serde::Serialize;

use crate::bundle::{BundleCatalog, CatalogCrd, ExtraObject, Release, ReleaseKind, short_kube};
use crate::catalog::Catalog;
use crate::policies::{BuiltinPolicy, canonical_product, parse_minor};

pub const SUMMARY_API_VERSION: &str = "crdguard.dev/v1alpha1";

/// A reference as users write it: `gateway-api`, `gateway-api@v1.6.1`,
/// `gateway-api@v1.6.1/experimental`, `envoy-gateway@v1.9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRef {
    pub name: String,
    pub version: Option<String>,
    pub channel: Option<Channel>,
}

impl CatalogRef {
    pub fn parse(text: &str) -> Result<CatalogRef, String> {
        let text = text.trim();
        let (rest, channel) = match text.rsplit_once('/') {
            Some((rest, channel)) => {
                let parsed = Channel::parse(channel).ok_or_else(|| {
                    format!("{text:?}: channel {channel:?} is neither standard nor experimental")
                })?;
                (rest, Some(parsed))
            }
            None => (text, None),
        };
        let (name, version) = match rest.split_once('@') {
            Some((_, version)) if version.trim().is_empty() => {
                return Err(format!(
                    "{text:?}: nothing after '@' (expected NAME@VERSION)"
                ));
            }
            Some((name, version)) => (name, Some(version.trim().to_string())),
            None => (rest, None),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!(
                "{text:?}: expected NAME[@VERSION][/CHANNEL], e.g. gateway-api@v1.6.1/experimental"
            ));
        }
        Ok(CatalogRef {
            name: name.to_string(),
            version,
            channel,
        })
    }
}

impl fmt::Display for CatalogRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        if let Some(channel) = self.channel {
            write!(f, "/{channel}")?;
        }
        Ok(())
    }
}

/// `catalog list`: every bundle with its releases, every product with a built-in policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogListing {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub bundles: Vec<BundleListing>,
    pub products: Vec<ProductListing>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleListing {
    pub name: String,
    pub repository: String,
    pub releases: Vec<ReleaseListing>,
}

/// One tag, all its channels.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseListing {
    pub tag: String,
    pub version: BundleVersion,
    pub kind: ReleaseKind,
    /// Present only when it differs from `version` (v0.8.1 says v0.8.0; monthly builds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_version_annotation: Option<BundleVersion>,
    pub channels: Vec<ChannelListing>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelListing {
    /// `null` for a bundle without channels (prometheus-operator).
    pub channel: Option<Channel>,
    pub crds: usize,
    pub min_kubernetes: Option<String>,
    /// Other tags with digest-identical CRDs in this channel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identical_to: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductListing {
    pub product: String,
    /// Minors with a built-in policy (`v1.9`).
    pub versions: Vec<String>,
}

/// `catalog show`: what the reference named.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind")]
pub enum Shown {
    /// `gateway-api`
    Bundle(BundleListing),
    /// `gateway-api@v1.6.1[/channel]`
    Release(ReleaseDetail),
    /// `envoy-gateway`
    Product(ProductDetail),
    /// `envoy-gateway@v1.9`
    Policy(PolicySummary),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDetail {
    pub bundle: String,
    pub tag: String,
    pub version: BundleVersion,
    pub release_kind: ReleaseKind,
    pub bundle_version_annotation: BundleVersion,
    pub channels: Vec<ChannelDetail>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelDetail {
    /// `null` for a bundle without channels.
    pub channel: Option<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_url: Option<String>,
    pub min_kubernetes: Option<String>,
    pub min_kubernetes_reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<ExtraObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extras_min_kubernetes: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identical_to: Vec<String>,
    pub crds: Vec<CatalogCrd>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDetail {
    pub product: String,
    pub policies: Vec<PolicySummary>,
}

/// A built-in policy in a form that serializes (the core's `Policy` only deserializes).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    pub product: String,
    pub version: String,
    pub kubernetes_minimum: Option<String>,
    pub bundles: Vec<PolicyBundleSummary>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyBundleSummary {
    pub name: String,
    pub minimum: Option<BundleVersion>,
    pub recommended: Option<BundleVersion>,
    pub tested_maximum: Option<BundleVersion>,
    pub channel: Option<Channel>,
    pub required_kinds: Vec<String>,
    /// The API versions the product reads, per kind (they must stay served).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub served_versions: std::collections::BTreeMap<String, Vec<String>>,
    pub install: &'static str,
    pub upgrade: &'static str,
    pub on_conflict: &'static str,
}

/// Why `catalog show` found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShowError {
    BadReference(String),
    UnknownName {
        name: String,
        known: Vec<String>,
    },
    UnknownVersion {
        reference: String,
        known: Vec<String>,
    },
}

impl fmt::Display for ShowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowError::BadReference(message) => f.write_str(message),
            ShowError::UnknownName { name, known } => {
                write!(f, "{name:?} is not in the catalog")?;
                if let Some(close) =
                    crdguard_core::policy::nearest_match(name, known.iter().map(String::as_str))
                {
                    write!(f, "; did you mean {close}?")?;
                }
                write!(f, " (known: {})", known.join(", "))
            }
            ShowError::UnknownVersion { reference, known } => write!(
                f,
                "{reference} is not in the catalog (known: {})",
                known.join(", ")
            ),
        }
    }
}

impl std::error::Error for ShowError {}

impl Catalog {
    /// `catalog list`.
    pub fn list(&self) -> CatalogListing {
        let mut products: Vec<ProductListing> = Vec::new();
        for policy in &self.policies {
            match products.iter_mut().find(|p| p.product == policy.product) {
                Some(listing) => listing.versions.push(policy.version_label()),
                None => products.push(ProductListing {
                    product: policy.product.clone(),
                    versions: vec![policy.version_label()],
                }),
            }
        }
        CatalogListing {
            api_version: SUMMARY_API_VERSION,
            kind: "CatalogList",
            bundles: self
                .bundles()
                .iter()
                .map(BundleCatalog::bundle_listing)
                .collect(),
            products,
        }
    }

    /// `catalog show NAME[@VERSION][/CHANNEL]`.
    pub fn show(&self, reference: &str) -> Result<Shown, ShowError> {
        let reference = CatalogRef::parse(reference).map_err(ShowError::BadReference)?;
        if let Some(bundle) = self.bundle(&reference.name) {
            if let Some(channel) = reference.channel
                && bundle.channel_marker().is_none()
            {
                return Err(ShowError::BadReference(format!(
                    "{} has no channels; leave out /{channel}",
                    bundle.bundle()
                )));
            }
            return match &reference.version {
                None => Ok(Shown::Bundle(bundle.bundle_listing())),
                Some(version) => bundle
                    .release_detail(version, reference.channel)
                    .map(Shown::Release)
                    .ok_or_else(|| ShowError::UnknownVersion {
                        reference: reference.to_string(),
                        known: bundle.tags(),
                    }),
            };
        }
        let product = canonical_product(&reference.name);
        let policies: Vec<&BuiltinPolicy> = self
            .policies
            .iter()
            .filter(|p| p.product == product)
            .collect();
        if policies.is_empty() {
            let mut known: Vec<String> = self.bundle_names().map(str::to_string).collect();
            known.extend(self.list().products.into_iter().map(|p| p.product));
            return Err(ShowError::UnknownName {
                name: reference.name,
                known,
            });
        }
        match &reference.version {
            None => Ok(Shown::Product(ProductDetail {
                product,
                policies: policies.into_iter().map(policy_summary).collect(),
            })),
            Some(version) => parse_minor(version)
                .and_then(|minor| policies.iter().find(|p| p.minor == minor))
                .map(|p| Shown::Policy(policy_summary(p)))
                .ok_or_else(|| ShowError::UnknownVersion {
                    reference: reference.to_string(),
                    known: policies.iter().map(|p| p.version_label()).collect(),
                }),
        }
    }
}

impl BundleCatalog {
    fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for release in self.releases() {
            if !tags.contains(&release.tag) {
                tags.push(release.tag.clone());
            }
        }
        tags
    }

    fn bundle_listing(&self) -> BundleListing {
        let mut releases: Vec<ReleaseListing> = Vec::new();
        for release in self.releases() {
            let channel = ChannelListing {
                channel: release.channelled.then_some(release.channel),
                crds: release.crds.len(),
                min_kubernetes: release.min_kubernetes.as_ref().map(short_kube),
                identical_to: self.identical_tags(release),
            };
            match releases.iter_mut().find(|r| r.tag == release.tag) {
                Some(listing) => listing.channels.push(channel),
                None => releases.push(ReleaseListing {
                    tag: release.tag.clone(),
                    version: release.version.clone(),
                    kind: release.kind,
                    bundle_version_annotation: (release.bundle_version_annotation
                        != release.version
                        || release.is_monthly())
                    .then(|| release.bundle_version_annotation.clone()),
                    channels: vec![channel],
                }),
            }
        }
        BundleListing {
            name: self.bundle().to_string(),
            repository: self.repository().to_string(),
            releases,
        }
    }

    fn release_detail(&self, version: &str, channel: Option<Channel>) -> Option<ReleaseDetail> {
        let channels: Vec<&Release> = [Channel::Standard, Channel::Experimental]
            .into_iter()
            .filter(|c| channel.is_none_or(|wanted| wanted == *c))
            .filter_map(|c| self.release(version, c))
            .collect();
        let first = channels.first()?;
        Some(ReleaseDetail {
            bundle: self.bundle().to_string(),
            tag: first.tag.clone(),
            version: first.version.clone(),
            release_kind: first.kind,
            bundle_version_annotation: first.bundle_version_annotation.clone(),
            channels: channels
                .iter()
                .map(|r| ChannelDetail {
                    channel: r.channelled.then_some(r.channel),
                    asset_url: r.asset_url.clone(),
                    min_kubernetes: r.min_kubernetes.as_ref().map(short_kube),
                    min_kubernetes_reason: r.min_kubernetes_reason.clone(),
                    extras: r.extras.clone(),
                    extras_min_kubernetes: r.extras_min_kubernetes.as_ref().map(short_kube),
                    identical_to: self.identical_tags(r),
                    crds: r.crds.clone(),
                })
                .collect(),
        })
    }

    fn identical_tags(&self, release: &Release) -> Vec<String> {
        self.identical_to(&release.tag, release.channel)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

fn policy_summary(builtin: &BuiltinPolicy) -> PolicySummary {
    let policy = &builtin.policy;
    PolicySummary {
        product: builtin.product.clone(),
        version: builtin.version_label(),
        kubernetes_minimum: policy.kubernetes_minimum().as_ref().map(short_kube),
        bundles: policy.spec.bundles.iter().map(bundle_summary).collect(),
    }
}

fn bundle_summary(bundle: &BundlePolicy) -> PolicyBundleSummary {
    PolicyBundleSummary {
        name: bundle.name.clone(),
        minimum: bundle.minimum.clone(),
        recommended: bundle.recommended.clone(),
        tested_maximum: bundle.tested_maximum.clone(),
        channel: bundle.channel,
        required_kinds: bundle.required_kinds.clone(),
        served_versions: bundle.served_versions.clone(),
        install: match bundle.install {
            InstallMode::IfAbsent => "if-absent",
            InstallMode::Never => "never",
        },
        upgrade: match bundle.upgrade {
            UpgradeMode::Never => "never",
            UpgradeMode::IfBelowMinimum => "if-below-minimum",
            UpgradeMode::ToRecommended => "to-recommended",
        },
        on_conflict: match bundle.on_conflict {
            ConflictMode::Fail => "fail",
            ConflictMode::Skip => "skip",
            ConflictMode::TakeOwnership => "take-ownership",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r = CatalogRef::parse("gateway-api@v1.6.1/experimental").unwrap();
        assert_eq!(r.name, "gateway-api");
        assert_eq!(r.version.as_deref(), Some("v1.6.1"));
        assert_eq!(r.channel, Some(Channel::Experimental));
        assert_eq!(r.to_string(), "gateway-api@v1.6.1/experimental");
        let r = CatalogRef::parse("envoy-gateway").unwrap();
        assert_eq!((r.version, r.channel), (None, None));
        assert!(CatalogRef::parse("gateway-api@").is_err());
        assert!(CatalogRef::parse("@v1").is_err());
        assert!(CatalogRef::parse("gateway-api@v1.6.1/wide").is_err());
    }
}
