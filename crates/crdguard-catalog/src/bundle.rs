//! The catalog: typed, validated facts about the releases of an upstream bundle, and lookups.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use crdguard_core::companion::CompanionObject;
use crdguard_core::{BundleVersion, Channel, InputError, KubeVersion};
use serde::Serialize;
use serde_json::Value;

use crate::data::{self, AddedRelease, CatalogFile};
use crate::policies::{self, BuiltinPolicy};

/// The Gateway API facts, generated from the corpus by `examples/generate-catalog.rs`.
const GATEWAY_API_DATA: &str = include_str!("../data/gateway-api.json");

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
    /// The upstream git tag: `v1.6.1`, `monthly-2026.04`.
    pub tag: String,
    pub kind: ReleaseKind,
    /// The release's version: the tag's for releases (`v0.8.1`), and for monthly builds, whose
    /// tags are not versions, the bundle-version annotation they carry (`v1.4.1`, `v0.0.0-dev`).
    /// Look monthly builds up by tag: [`Catalog::release`] never returns one for a version.
    pub version: BundleVersion,
    /// What the CRDs' `gateway.networking.k8s.io/bundle-version` says. Differs from `version`
    /// for v0.8.1, whose CRDs say v0.8.0.
    pub bundle_version_annotation: BundleVersion,
    pub channel: Channel,
    pub asset_url: String,
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

    /// `gateway-api@v1.6.1/experimental`-style label for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.tag, self.channel)
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

/// The embedded data or a built-in policy is malformed. Only a broken build can produce this
/// for [`Catalog::builtin`]; the crate's tests load the embedded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    Data { source: String, message: String },
    Policy(InputError),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Data { source, message } => {
                write!(f, "catalog data {source}: {message}")
            }
            CatalogError::Policy(e) => write!(f, "built-in policy: {e}"),
        }
    }
}

impl std::error::Error for CatalogError {}

/// Facts about the releases of the Gateway API, plus the built-in product policies.
#[derive(Debug, Clone)]
pub struct Catalog {
    bundle: String,
    repository: String,
    releases: Vec<Release>,
    storage_history: Vec<StorageHistory>,
    identical: Vec<IdenticalReleases>,
    /// digest → indexes into `releases` of every release holding a CRD with that digest.
    by_digest: HashMap<String, Vec<usize>>,
    /// Companion content (apiVersion, kind, spec) by digest.
    companions: HashMap<String, Value>,
    pub(crate) policies: Vec<BuiltinPolicy>,
}

impl Catalog {
    /// The catalog built into crdguard, parsed once.
    ///
    /// Returns an error rather than panicking if the embedded data were malformed; that can only
    /// come from a broken build, which the crate's tests catch.
    pub fn builtin() -> Result<&'static Catalog, &'static CatalogError> {
        static BUILTIN: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Catalog::from_sources(
                    "data/gateway-api.json",
                    GATEWAY_API_DATA,
                    &policies::BUILTIN_POLICY_FILES,
                )
            })
            .as_ref()
    }

    /// The built-in catalog with releases recorded by `crdguard catalog add` (SPEC §8 v2): a
    /// release the built-in data already has is left as built in; derived facts (storage
    /// history, content-identical releases) are computed over all of them.
    pub fn with_added(added: &[AddedRelease]) -> Result<Catalog, CatalogError> {
        let source = "data/gateway-api.json and added releases";
        let mut file: CatalogFile =
            serde_json::from_str(GATEWAY_API_DATA).map_err(|e| CatalogError::Data {
                source: source.to_string(),
                message: e.to_string(),
            })?;
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
        file.releases.sort_by_key(crate::generate::release_order);
        file.storage_history =
            crate::generate::storage_history(&file.releases).map_err(|e| CatalogError::Data {
                source: source.to_string(),
                message: e.to_string(),
            })?;
        file.identical_releases = crate::generate::identical_groups(&file.releases);
        let mut catalog = Catalog::from_file(source, file)?;
        catalog.policies = policies::load(&policies::BUILTIN_POLICY_FILES)?;
        Ok(catalog)
    }

    /// Builds a catalog from a data file's text and policy files `(product, text)`.
    pub fn from_sources(
        source: &str,
        catalog_json: &str,
        policy_files: &[(&str, &str)],
    ) -> Result<Catalog, CatalogError> {
        let file: CatalogFile =
            serde_json::from_str(catalog_json).map_err(|e| CatalogError::Data {
                source: source.to_string(),
                message: e.to_string(),
            })?;
        let mut catalog = Catalog::from_file(source, file)?;
        catalog.policies = policies::load(policy_files)?;
        Ok(catalog)
    }

    fn from_file(source: &str, file: CatalogFile) -> Result<Catalog, CatalogError> {
        let err = |message: String| CatalogError::Data {
            source: source.to_string(),
            message,
        };
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
            .map(|entry| convert_release(entry).map_err(&err))
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
                let entry = by_digest.entry(crd.digest.clone()).or_default();
                if entry.last() != Some(&index) {
                    entry.push(index);
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
        Ok(Catalog {
            bundle: file.bundle,
            repository: file.repository,
            releases,
            storage_history,
            identical,
            by_digest,
            companions,
            policies: Vec::new(),
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

fn convert_release(entry: data::ReleaseEntry) -> Result<Release, String> {
    let context = |e: String| format!("release {}/{}: {e}", entry.tag, entry.channel);
    let kind = match entry.kind.as_str() {
        "release" => ReleaseKind::Release,
        "monthly" => ReleaseKind::Monthly,
        other => return Err(context(format!("unknown kind {other:?}"))),
    };
    let release = Release {
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
