//! The on-disk format of `data/<bundle>.json`: written by the generator, read by the
//! catalog. Plain strings here; the catalog parses and validates them into typed values.

use serde::{Deserialize, Serialize};

/// Bumped when the layout changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CatalogFile {
    pub schema: u32,
    /// Bundle name as crdguard reports it (`gateway-api`).
    pub bundle: String,
    /// Upstream repository (`kubernetes-sigs/gateway-api`).
    pub repository: String,
    /// One entry per tag and channel, ordered: releases by version, then monthly builds by tag;
    /// standard before experimental.
    pub releases: Vec<ReleaseEntry>,
    /// Per CRD, which storage version each run of releases used (stable releases only).
    pub storage_history: Vec<StorageHistoryEntry>,
    /// Releases of one channel whose CRDs have identical digests (only annotations differ).
    pub identical_releases: Vec<IdenticalGroup>,
    /// The content of every companion object (SPEC §1) by digest, without metadata: the same
    /// policy ships in several releases, each with its own annotations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<CompanionEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompanionEntry {
    pub digest: String,
    /// `apiVersion`, `kind` and `spec` as upstream wrote them.
    pub object: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseEntry {
    pub tag: String,
    /// `release` (a semver tag) or `monthly` (a `monthly-YYYY.MM` experimental build).
    pub kind: String,
    pub version: String,
    /// The `gateway.networking.k8s.io/bundle-version` value the release's CRDs carry.
    pub bundle_version_annotation: String,
    pub channel: String,
    /// The published file holding exactly the release's CRDs, when upstream has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_url: Option<String>,
    pub min_kubernetes: Option<String>,
    pub min_kubernetes_reason: Option<String>,
    /// Non-CRD objects the release ships with (admission webhook, safe-upgrades policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<ExtraEntry>,
    /// What the extras need, when they need a particular version (the safe-upgrades
    /// ValidatingAdmissionPolicy: 1.30), independently of `min_kubernetes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras_min_kubernetes: Option<String>,
    pub crds: Vec<CrdEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraEntry {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// For companion objects: the digest of their content (see `CatalogFile::companions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// For companion objects: the annotations this release's copy carries.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CrdEntry {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub scope: String,
    /// Every version listed in `spec.versions`, served or not (storedVersions may name any).
    pub versions: Vec<String>,
    pub served: Vec<String>,
    pub storage: String,
    pub digest: String,
    /// Digests of the release's other published copies of this CRD (prometheus-operator's
    /// `-full` set): the same release to identification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_digests: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StorageHistoryEntry {
    pub crd: String,
    pub kind: String,
    pub storage: Vec<StorageRun>,
}

/// `version` was the storage version in every stable release from `from` through `through`
/// that contains the CRD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StorageRun {
    pub version: String,
    pub from: String,
    pub through: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdenticalGroup {
    pub channel: String,
    pub tags: Vec<String>,
}

/// Bumped when the layout of an added release file changes incompatibly.
pub const ADDED_SCHEMA_VERSION: u32 = 1;

/// The facts of one release and channel that `crdguard catalog add` recorded in the user's
/// cache (SPEC §8 v2): the catalog ships every few months behind upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddedRelease {
    pub schema: u32,
    /// The bundle the release belongs to (`gateway-api`).
    pub bundle: String,
    pub release: ReleaseEntry,
    /// The content of the release's companion objects, by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<CompanionEntry>,
}
