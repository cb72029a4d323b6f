//! One bundle's catalog: typed, validated facts about the releases of an upstream bundle, and
//! lookups.

use std::collections::{BTreeMap, HashMap};

use crdguard_core::companion::CompanionObject;
use crdguard_core::{BundleVersion, Channel, KubeVersion};
use serde::Serialize;
use serde_json::Value;

use crdguard_core::registry::{MarkerKey, Registry};

use crate::catalog::CatalogError;
use crate::data::{self, AddedRelease, CatalogFile};

/// A tagged semver release, or one of the `monthly-YYYY.MM` experimental builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    Release,
    Monthly,
}

impl ReleaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Release => "release",
            ReleaseKind::Monthly => "monthly",
        }
    }
}

/// One CRD of a release, as facts (no schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogCrd {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub scope: String,
    /// Every version in `spec.versions`, served or not.
    pub versions: Vec<String>,
    pub served: Vec<String>,
    pub storage: String,
    /// [`crate::digest()`] of the CRD as released.
    pub digest: String,
    /// Digests of other published copies of it in the same release.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternate_digests: Vec<String>,
}

impl CatalogCrd {
    /// Whether `digest` is this CRD's content, in any copy the release published.
    pub fn has_digest(&self, digest: &str) -> bool {
        self.digest == digest || self.alternate_digests.iter().any(|d| d == digest)
    }
}

/// A non-CRD object shipped with a release (admission webhook parts, `safe-upgrades` policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtraObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Companion objects only: the digest of their content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip)]
    pub annotations: BTreeMap<String, String>,
}

/// One release in one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The bundle's registry name (`gateway-api`).
    pub bundle: String,
    /// Whether the bundle has channels. A bundle without (prometheus-operator) records its
    /// releases as `standard`, and messages leave the channel out.
    pub channelled: bool,
    /// The upstream git tag: `v1.6.1`, `monthly-2026.04`.
    pub tag: String,
    pub kind: ReleaseKind,
    /// The release's version: the tag's for releases (`v0.8.1`), and for monthly builds, whose
    /// tags are not versions, the bundle-version annotation they carry (`v1.4.1`, `v0.0.0-dev`).
    /// Look monthly builds up by tag: [`BundleCatalog::release`] never returns one for a version.
    pub version: BundleVersion,
    /// What the CRDs' `gateway.networking.k8s.io/bundle-version` says. Differs from `version`
    /// for v0.8.1, whose CRDs say v0.8.0.
    pub bundle_version_annotation: BundleVersion,
    pub channel: Channel,
    /// Where upstream publishes the release's CRDs as one file, if it does.
    pub asset_url: Option<String>,
    /// The oldest Kubernetes that accepts the CRDs (see [`crate::requirements`]).
    pub min_kubernetes: Option<KubeVersion>,
    pub min_kubernetes_reason: Option<String>,
    pub extras: Vec<ExtraObject>,
    /// What the extras need on their own, if anything in particular: the `safe-upgrades`
    /// ValidatingAdmissionPolicy of v1.5+ needs 1.30 (below the CRDs' 1.31 there, but the
    /// policy object is reasoned about separately).
    pub extras_min_kubernetes: Option<KubeVersion>,
    pub crds: Vec<CatalogCrd>,
}

impl Release {
    pub fn crd(&self, name: &str) -> Option<&CatalogCrd> {
        self.crds.iter().find(|c| c.name == name)
    }

    pub fn is_monthly(&self) -> bool {
        self.kind == ReleaseKind::Monthly
    }

    /// `v1.6.1/experimental`-style label for messages (`v0.93.0` for a bundle without
    /// channels).
    pub fn label(&self) -> String {
        if self.channelled {
            format!("{}/{}", self.tag, self.channel)
        } else {
            self.tag.clone()
        }
    }

    /// Whether two releases carry exactly the same CRD content (same names, same digests).
    pub fn same_content(&self, other: &Release) -> bool {
        self.crds.len() == other.crds.len()
            && self
                .crds
                .iter()
                .all(|c| other.crd(&c.name).is_some_and(|o| o.digest == c.digest))
    }
}

/// One run of releases in which a CRD kept its storage version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageRun {
    pub version: String,
    pub from: BundleVersion,
    pub through: BundleVersion,
}

/// The storage versions a CRD had across stable releases: what `status.storedVersions` of an
/// installed CRD may hold, and so which migrations an upgrade may need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageHistory {
    pub crd: String,
    pub kind: String,
    pub runs: Vec<StorageRun>,
}

impl StorageHistory {
    /// The storage version in `version`, if that release falls inside a run.
    pub fn storage_at(&self, version: &BundleVersion) -> Option<&str> {
        self.runs
            .iter()
            .find(|r| &r.from <= version && version <= &r.through)
            .map(|r| r.version.as_str())
    }
}

/// Releases of one channel whose CRDs are digest-identical (only annotations differ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdenticalReleases {
    pub channel: Channel,
    pub tags: Vec<String>,
}

/// Facts about the releases of one bundle (SPEC §1 "Known bundle"): one data file.
#[derive(Debug, Clone)]
pub struct BundleCatalog {
    bundle: String,
    repository: String,
    /// Where the bundle writes its version and channel, from the registry entry of `bundle`.
    version_marker: Option<MarkerKey>,
    channel_marker: Option<MarkerKey>,
    releases: Vec<Release>,
    storage_history: Vec<StorageHistory>,
    identical: Vec<IdenticalReleases>,
    /// digest → indexes into `releases` of every release holding a CRD with that digest.
    by_digest: HashMap<String, Vec<usize>>,
    /// Companion content (apiVersion, kind, spec) by digest.
    companions: HashMap<String, Value>,
}

impl BundleCatalog {
    /// Parses one bundle's data file.
    pub fn from_json(source: &str, text: &str) -> Result<BundleCatalog, CatalogError> {
        let file: CatalogFile = serde_json::from_str(text).map_err(|e| CatalogError::Data {
            source: source.to_string(),
            message: e.to_string(),
        })?;
        BundleCatalog::from_file(source, file)
    }

    /// This bundle with releases recorded by `crdguard catalog add` (SPEC §8 v2): a release the
    /// data already has is left as it is; derived facts (storage history, content-identical
    /// releases) are computed over all of them. Releases of other bundles are not this one's.
    pub(crate) fn with_added(
        source: &str,
        text: &str,
        added: &[AddedRelease],
    ) -> Result<BundleCatalog, CatalogError> {
        let err = |message: String| CatalogError::Data {
            source: format!("{source} and added releases"),
            message,
        };
        let mut file: CatalogFile = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        let before = file.releases.len();
        for release in added {
            let known = file
                .releases
                .iter()
                .any(|r| r.tag == release.release.tag && r.channel == release.release.channel);
            if known || release.bundle != file.bundle {
                continue;
            }
            file.releases.push(release.release.clone());
            for companion in &release.companions {
                if !file.companions.iter().any(|c| c.digest == companion.digest) {
                    file.companions.push(companion.clone());
                }
            }
        }
        if file.releases.len() == before {
            return BundleCatalog::from_file(source, file);
        }
        file.releases.sort_by_key(crate::generate::release_order);
        file.storage_history =
            crate::generate::storage_history(&file.releases).map_err(|e| err(e.to_string()))?;
        file.identical_releases = crate::generate::identical_groups(&file.releases);
        BundleCatalog::from_file(source, file)
    }

    fn from_file(source: &str, file: CatalogFile) -> Result<BundleCatalog, CatalogError> {
        let err = |message: String| CatalogError::Data {
            source: source.to_string(),
            message,
        };
        // The registry says where the bundle's markers are: a data file for a bundle the
        // registry does not know could identify content but never read a CRD's version.
        let Some(known) = Registry::builtin().bundle(&file.bundle) else {
            return Err(err(format!(
                "bundle {:?} is not in the registry (crdguard-core's registry.rs)",
                file.bundle
            )));
        };
        let (version_marker, channel_marker) = (known.version.clone(), known.channel.clone());
        if file.schema != data::SCHEMA_VERSION {
            return Err(err(format!(
                "schema {} is not the supported {}",
                file.schema,
                data::SCHEMA_VERSION
            )));
        }
        let releases = file
            .releases
            .into_iter()
            .map(|entry| {
                convert_release(entry, &file.bundle, channel_marker.is_some()).map_err(&err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeMap::new();
        for (index, release) in releases.iter().enumerate() {
            if let Some(previous) = seen.insert((release.tag.as_str(), release.channel), index) {
                return Err(err(format!(
                    "release {} is listed twice (entries {previous} and {index})",
                    release.label()
                )));
            }
        }
        let storage_history = file
            .storage_history
            .into_iter()
            .map(|h| {
                let runs = h
                    .storage
                    .into_iter()
                    .map(|r| {
                        Ok(StorageRun {
                            from: parse_version(&r.from)?,
                            through: parse_version(&r.through)?,
                            version: r.version,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(&err)?;
                Ok(StorageHistory {
                    crd: h.crd,
                    kind: h.kind,
                    runs,
                })
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        let identical = file
            .identical_releases
            .into_iter()
            .map(|g| {
                Ok(IdenticalReleases {
                    channel: parse_channel(&g.channel).map_err(&err)?,
                    tags: g.tags,
                })
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        let mut by_digest: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, release) in releases.iter().enumerate() {
            for crd in &release.crds {
                for digest in std::iter::once(&crd.digest).chain(&crd.alternate_digests) {
                    let entry = by_digest.entry(digest.clone()).or_default();
                    if entry.last() != Some(&index) {
                        entry.push(index);
                    }
                }
            }
        }
        let companions: HashMap<String, Value> = file
            .companions
            .into_iter()
            .map(|c| (c.digest, c.object))
            .collect();
        for release in &releases {
            for digest in release.extras.iter().filter_map(|e| e.digest.as_ref()) {
                if !companions.contains_key(digest) {
                    return Err(err(format!(
                        "release {} names companion content {digest}, which the file lacks",
                        release.label()
                    )));
                }
            }
        }
        Ok(BundleCatalog {
            bundle: file.bundle,
            repository: file.repository,
            version_marker,
            channel_marker,
            releases,
            storage_history,
            identical,
            by_digest,
            companions,
        })
    }

    /// The companion objects (SPEC §1) of `release` as upstream shipped them, with the
    /// release's own annotations.
    pub fn companion_objects(&self, release: &Release) -> Vec<CompanionObject> {
        release
            .extras
            .iter()
            .filter_map(|extra| {
                let content = self.companions.get(extra.digest.as_ref()?)?;
                let mut object = content.as_object()?.clone();
                let mut metadata = serde_json::Map::new();
                metadata.insert("name".into(), extra.name.clone().into());
                if !extra.annotations.is_empty() {
                    metadata.insert(
                        "annotations".into(),
                        extra
                            .annotations
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect::<serde_json::Map<_, _>>()
                            .into(),
                    );
                }
                object.insert("metadata".into(), Value::Object(metadata));
                Some(CompanionObject {
                    bundle: self.bundle.clone(),
                    kind: extra.kind.clone(),
                    name: extra.name.clone(),
                    object: Value::Object(object),
                })
            })
            .collect()
    }

    /// The releases (tagged ones, any channel) whose companion of this kind and name has
    /// exactly this content, by digest. Empty when the object is not upstream's.
    pub fn companion_releases(&self, kind: &str, name: &str, object: &Value) -> Vec<&Release> {
        let digest = crate::digest::companion_digest(object);
        self.releases
            .iter()
            .filter(|r| r.kind == ReleaseKind::Release)
            .filter(|r| {
                r.extras.iter().any(|e| {
                    e.kind == kind && e.name == name && e.digest.as_deref() == Some(&digest)
                })
            })
            .collect()
    }

    /// The bundle these releases belong to (`gateway-api`).
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// Where the bundle writes its version on a CRD (an annotation or a label key).
    pub fn version_marker(&self) -> Option<&MarkerKey> {
        self.version_marker.as_ref()
    }

    /// Where the bundle writes its channel, for bundles with channels.
    pub fn channel_marker(&self) -> Option<&MarkerKey> {
        self.channel_marker.as_ref()
    }

    /// The upstream repository (`kubernetes-sigs/gateway-api`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Every release and channel: releases by version, then monthly builds; standard first.
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// A release by tag (`v0.8.1`, `monthly-2026.04`) or by version (`v1.6.1`, `1.6.1`), in one
    /// channel. A version never selects a monthly build, even one whose annotation says that
    /// version (monthly-2026.01 says v1.4.1 but is not v1.4.1).
    pub fn release(&self, version_or_tag: &str, channel: Channel) -> Option<&Release> {
        let wanted = version_or_tag.trim();
        if let Some(release) = self
            .releases
            .iter()
            .find(|r| r.tag == wanted && r.channel == channel)
        {
            return Some(release);
        }
        let version: BundleVersion = wanted.parse().ok()?;
        self.releases.iter().find(|r| {
            r.kind == ReleaseKind::Release && r.version == version && r.channel == channel
        })
    }

    /// The newest stable release of a channel.
    pub fn latest(&self, channel: Channel) -> Option<&Release> {
        self.releases
            .iter()
            .filter(|r| r.kind == ReleaseKind::Release && r.channel == channel)
            .max_by(|a, b| a.version.cmp(&b.version))
    }

    /// The experimental release of `version`: what to install instead of a newer standard
    /// release when the cluster has the experimental channel (SPEC §2 `channel-preserved`).
    pub fn experimental_counterpart(&self, version: &BundleVersion) -> Option<&Release> {
        self.releases.iter().find(|r| {
            r.kind == ReleaseKind::Release
                && &r.version == version
                && r.channel == Channel::Experimental
        })
    }

    /// Per CRD, the storage version of every run of stable releases.
    pub fn storage_history(&self) -> &[StorageHistory] {
        &self.storage_history
    }

    pub fn storage_history_of(&self, crd_name: &str) -> Option<&StorageHistory> {
        self.storage_history.iter().find(|h| h.crd == crd_name)
    }

    /// Groups of releases of one channel with identical CRD content.
    pub fn identical_releases(&self) -> &[IdenticalReleases] {
        &self.identical
    }

    /// The other tags whose `channel` release has the same content as `tag`'s.
    pub fn identical_to(&self, tag: &str, channel: Channel) -> Vec<&str> {
        self.identical
            .iter()
            .filter(|g| g.channel == channel && g.tags.iter().any(|t| t == tag))
            .flat_map(|g| g.tags.iter().map(String::as_str))
            .filter(|t| *t != tag)
            .collect()
    }

    pub(crate) fn releases_with_digest(&self, digest: &str) -> impl Iterator<Item = &Release> {
        self.by_digest
            .get(digest)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.releases.get(i))
    }
}

fn parse_version(text: &str) -> Result<BundleVersion, String> {
    text.parse()
}

fn parse_channel(text: &str) -> Result<Channel, String> {
    Channel::parse(text).ok_or_else(|| format!("{text:?} is not a channel"))
}

fn parse_kube(text: &Option<String>) -> Result<Option<KubeVersion>, String> {
    text.as_deref().map(str::parse).transpose()
}

fn convert_release(
    entry: data::ReleaseEntry,
    bundle: &str,
    channelled: bool,
) -> Result<Release, String> {
    let context = |e: String| format!("release {}/{}: {e}", entry.tag, entry.channel);
    let kind = match entry.kind.as_str() {
        "release" => ReleaseKind::Release,
        "monthly" => ReleaseKind::Monthly,
        other => return Err(context(format!("unknown kind {other:?}"))),
    };
    let release = Release {
        bundle: bundle.to_string(),
        channelled,
        kind,
        version: parse_version(&entry.version).map_err(context)?,
        bundle_version_annotation: parse_version(&entry.bundle_version_annotation)
            .map_err(context)?,
        channel: parse_channel(&entry.channel).map_err(context)?,
        min_kubernetes: parse_kube(&entry.min_kubernetes).map_err(context)?,
        extras_min_kubernetes: parse_kube(&entry.extras_min_kubernetes).map_err(context)?,
        min_kubernetes_reason: entry.min_kubernetes_reason.clone(),
        asset_url: entry.asset_url.clone(),
        extras: entry
            .extras
            .iter()
            .map(|e| ExtraObject {
                api_version: e.api_version.clone(),
                kind: e.kind.clone(),
                name: e.name.clone(),
                digest: e.digest.clone(),
                annotations: e.annotations.clone(),
            })
            .collect(),
        crds: entry
            .crds
            .iter()
            .map(|c| CatalogCrd {
                name: c.name.clone(),
                group: c.group.clone(),
                kind: c.kind.clone(),
                scope: c.scope.clone(),
                versions: c.versions.clone(),
                served: c.served.clone(),
                storage: c.storage.clone(),
                digest: c.digest.clone(),
                alternate_digests: c.alternate_digests.clone(),
            })
            .collect(),
        tag: entry.tag.clone(),
    };
    if release.crds.is_empty() {
        return Err(context("a release needs at least one CRD".into()));
    }
    Ok(release)
}

/// `1.31` for Kubernetes 1.31.0 (patch only when it is not 0), the form policies use.
pub(crate) fn short_kube(version: &KubeVersion) -> String {
    if version.patch == 0 {
        format!("{}.{}", version.major, version.minor)
    } else {
        format!("{}.{}.{}", version.major, version.minor, version.patch)
    }
}
