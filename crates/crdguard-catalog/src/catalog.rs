//! The catalog keyed by bundle: one [`BundleCatalog`] per data file (`data/<bundle>.json`), plus
//! the built-in product policies. Lookups name the bundle; the planner's identifier
//! ([`crdguard_core::identify::Identifier`]) hands each question to the bundle it names.

use std::fmt;
use std::sync::OnceLock;

use crdguard_core::companion::CompanionObject;
use crdguard_core::identify::{Identified, Identifier};
use crdguard_core::{BundleVersion, Channel, Crd, InputError, KubeVersion};
use serde_json::Value;

use crate::bundle::BundleCatalog;
use crate::data::AddedRelease;
use crate::policies::{self, BuiltinPolicy};

/// `(source for messages, file text)` of every bundle with release facts, generated from the
/// corpus by `examples/generate-catalog.rs`: every `data/*.json`, embedded by `build.rs`. A new
/// standard bundle is its registry entry (crdguard-core's `registry.rs`) and its data file.
const BUILTIN_BUNDLE_FILES: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/builtin_bundle_files.rs"));

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

/// Facts about the releases of every bundle crdguard has data for, plus the built-in product
/// policies.
#[derive(Debug, Clone)]
pub struct Catalog {
    bundles: Vec<BundleCatalog>,
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
                Catalog::from_sources(BUILTIN_BUNDLE_FILES, &policies::BUILTIN_POLICY_FILES)
            })
            .as_ref()
    }

    /// The built-in catalog with releases recorded by `crdguard catalog add` (SPEC §8 v2), each
    /// joined to its own bundle's data. A release of a bundle without built-in data is left out:
    /// its repository and markers would be guesses.
    pub fn with_added(added: &[AddedRelease]) -> Result<Catalog, CatalogError> {
        let bundles = BUILTIN_BUNDLE_FILES
            .iter()
            .map(|(source, text)| BundleCatalog::with_added(source, text, added))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Catalog {
            bundles,
            policies: policies::load(&policies::BUILTIN_POLICY_FILES)?,
        })
    }

    /// Builds a catalog from data files `(source, text)` and policy files `(product, text)`.
    pub fn from_sources(
        bundle_files: &[(&str, &str)],
        policy_files: &[(&str, &str)],
    ) -> Result<Catalog, CatalogError> {
        let mut bundles: Vec<BundleCatalog> = Vec::new();
        for (source, text) in bundle_files {
            let bundle = BundleCatalog::from_json(source, text)?;
            if bundles.iter().any(|b| b.bundle() == bundle.bundle()) {
                return Err(CatalogError::Data {
                    source: source.to_string(),
                    message: format!("a second data file for bundle {:?}", bundle.bundle()),
                });
            }
            bundles.push(bundle);
        }
        Ok(Catalog {
            bundles,
            policies: policies::load(policy_files)?,
        })
    }

    /// Every bundle with release facts, in the order `catalog list` shows them.
    pub fn bundles(&self) -> &[BundleCatalog] {
        &self.bundles
    }

    /// The facts of one bundle, by its registry name (`gateway-api`).
    pub fn bundle(&self, name: &str) -> Option<&BundleCatalog> {
        self.bundles.iter().find(|b| b.bundle() == name)
    }

    /// The names of the bundles with release facts.
    pub fn bundle_names(&self) -> impl Iterator<Item = &str> {
        self.bundles.iter().map(BundleCatalog::bundle)
    }
}

/// The catalog as the planner's identifier: each question goes to the bundle it names; a lone
/// CRD goes to the bundle whose data holds its content.
impl Identifier for Catalog {
    fn identify(&self, crd: &Crd) -> Option<Identified> {
        self.bundles.iter().find_map(|b| b.identify_crd(crd))
    }

    fn identify_installed(&self, bundle: &str, crds: &[&Crd]) -> Vec<Option<Identified>> {
        match self.bundle(bundle) {
            Some(data) => data.identify_installed(crds),
            None => crds.iter().map(|_| None).collect(),
        }
    }

    fn minimum_kubernetes(
        &self,
        bundle: &str,
        version: &BundleVersion,
        channel: Channel,
    ) -> Option<(KubeVersion, String)> {
        self.bundle(bundle)?.minimum_kubernetes(version, channel)
    }

    fn last_release_with(&self, bundle: &str, crd: &str) -> Option<BundleVersion> {
        self.bundle(bundle)?.last_release_with(crd)
    }

    fn newest_known(&self, bundle: &str) -> Option<BundleVersion> {
        self.bundle(bundle)?.newest_known()
    }

    fn companions(
        &self,
        bundle: &str,
        version: &BundleVersion,
        channel: Channel,
    ) -> Vec<CompanionObject> {
        self.bundle(bundle)
            .map(|b| b.companions(version, channel))
            .unwrap_or_default()
    }

    fn companions_minimum_kubernetes(
        &self,
        bundle: &str,
        version: &BundleVersion,
        channel: Channel,
    ) -> Option<KubeVersion> {
        self.bundle(bundle)?
            .companions_minimum_kubernetes(version, channel)
    }

    fn companion_releases(
        &self,
        bundle: &str,
        kind: &str,
        name: &str,
        object: &Value,
    ) -> Vec<(BundleVersion, Channel)> {
        self.bundle(bundle)
            .map(|b| b.companion_release_versions(kind, name, object))
            .unwrap_or_default()
    }
}
