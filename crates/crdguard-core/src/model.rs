//! The CRD model: what crdguard knows about one CustomResourceDefinition.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::version::BundleVersion;

/// Where a document came from, for error messages and reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// A file path, `<stdin>`, or `chart.tgz!crds/x.yaml` for a file inside an archive.
    pub source: String,
    /// 1-based document index within the source (List items count as `3.item[4]`... see `item`).
    pub document: usize,
    /// 0-based index of the item when the document is a `List`.
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {}", self.source, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        Ok(())
    }
}

/// A Gateway-API-style release channel. `Standard` ⊂ `Experimental`: experimental is wider.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Standard,
    Experimental,
}

impl Channel {
    pub fn parse(s: &str) -> Option<Channel> {
        match s.trim() {
            "standard" => Some(Channel::Standard),
            "experimental" => Some(Channel::Experimental),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Standard => "standard",
            Channel::Experimental => "experimental",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `standard`: an upstream bundle shared by many products; `extension`: the product's own CRDs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Standard,
    Extension,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Standard => "standard",
            Class::Extension => "extension",
        }
    }
}

/// One entry of `spec.versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
}

/// One server-side-apply / update field manager of an installed CRD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldManager {
    pub manager: String,
    pub operation: String,
    /// Whether this manager owns anything under `spec` (status-only managers such as the
    /// apiextensions controller do not make a CRD "owned by someone else").
    pub owns_spec: bool,
}

/// A CustomResourceDefinition as read from a source or from the cluster.
#[derive(Debug, Clone)]
pub struct Crd {
    /// `metadata.name`, always `<plural>.<group>`.
    pub name: String,
    pub group: String,
    pub kind: String,
    pub plural: String,
    pub scope: String,
    pub versions: Vec<CrdVersion>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `status.storedVersions` (installed CRDs only).
    pub stored_versions: Vec<String>,
    /// Whether `status.storedVersions` was there and not empty. A snapshot without `status`
    /// (or a plain CRD file given as a snapshot, whose generator may write an empty list) says
    /// nothing about what is stored: removing any of its versions may lose data (SPEC §2,
    /// unknown stored versions).
    pub stored_versions_known: bool,
    pub managed_fields: Vec<FieldManager>,
    pub origin: Origin,
    /// The whole object as read, for schema analysis, comparison and apply.
    pub object: Value,
}

impl Crd {
    pub fn storage_version(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.as_str())
    }

    pub fn served_versions(&self) -> impl Iterator<Item = &str> {
        self.versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.as_str())
    }

    pub fn has_version(&self, name: &str) -> bool {
        self.versions.iter().any(|v| v.name == name)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Whether any version's schema uses CEL validation rules (needs Kubernetes ≥ 1.25).
    pub fn uses_cel(&self) -> bool {
        self.object
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .is_some_and(|versions| {
                versions
                    .iter()
                    .any(|v| contains_key(v, "x-kubernetes-validations"))
            })
    }
}

fn contains_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| contains_key(v, key)),
        Value::Array(items) => items.iter().any(|v| contains_key(v, key)),
        _ => false,
    }
}

/// The bundle a CRD belongs to, as classified (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMembership {
    /// Bundle name (`gateway-api`), or `None` for an extension CRD outside any bundle.
    pub bundle: Option<String>,
    pub class: Class,
    pub version: Option<BundleVersion>,
    pub channel: Option<Channel>,
    /// What the CRD's own version marker says, whatever content identification later makes of
    /// `version`: a write that only corrects this marker is still a write (SPEC §1).
    pub marked_version: Option<BundleVersion>,
    /// When identified by content: releases from `.0` through `.1` hold it (`version` is `.1`).
    pub range: Option<(BundleVersion, BundleVersion)>,
    /// Problems with the markers (bad annotation values): reported, never fatal.
    pub warnings: Vec<crate::Reason>,
}
