//! crdguard's catalog (SPEC §8): facts about upstream CRD bundle releases, kept as data, not
//! copies of manifests, keyed by bundle: one data file per bundle of the registry
//! (`data/<bundle>.json`). For the Gateway API, v0.5.0 … v1.6.1 and the monthly builds; for
//! prometheus-operator, v0.92.1 and v0.93.0. Per release and channel: the CRDs (names, kinds,
//! scope, versions, storage version) with their content digests, the release asset URL where
//! upstream publishes one, and the oldest Kubernetes that accepts them; the storage version
//! history per CRD; which releases have identical content. Plus built-in compatibility
//! policies (SPEC §4) of well-known implementations.
//!
//! With it crdguard identifies installed CRDs by content when their markers are missing or
//! wrong ([`BundleCatalog::identify`]), checks fetched manifests ([`Release::verify`]), finds
//! the experimental release to preserve a wider channel
//! ([`BundleCatalog::experimental_counterpart`]) and answers `crdguard check --for
//! envoy-gateway@v1.9` ([`Catalog::policy`]).
//!
//! Adding a bundle: its registry entry (crdguard-core's `registry.rs`) and its data file
//! (`build.rs` embeds every `data/*.json`). The generator writes data files from the corpus for
//! the bundles in its `UPSTREAMS` (repository, asset URL, corpus layout).
//!
//! Pure: no network, no async. Only the generator ([`generate`]) reads files, to produce the
//! data files from the corpus; everything else works on the embedded data.

mod bundle;
mod catalog;
pub mod data;
pub mod digest;
pub mod generate;
mod identify;
mod policies;
pub mod requirements;
mod summary;
mod verify;

pub use bundle::{
    BundleCatalog, CatalogCrd, ExtraObject, IdenticalReleases, Release, ReleaseKind,
    StorageHistory, StorageRun,
};
pub use catalog::{Catalog, CatalogError};
pub use digest::digest;
pub use identify::{
    AnnotatedMarkers, AnnotationCheck, BundleIdentification, Identification, ReleaseRef,
};
pub use policies::BuiltinPolicy;
pub use summary::{
    BundleListing, CatalogListing, CatalogRef, ChannelDetail, ChannelListing, PolicyBundleSummary,
    PolicySummary, ProductDetail, ProductListing, ReleaseDetail, ReleaseListing, ShowError, Shown,
};
pub use verify::DigestMismatch;
