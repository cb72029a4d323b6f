//! crdguard's catalog (SPEC §8): facts about upstream CRD bundle releases, kept as data, not
//! copies of manifests. For the Gateway API, v0.5.0 … v1.6.1 and the monthly builds: per release
//! and channel, the CRDs (names, kinds, scope, versions, storage version) with their content
//! digests, the release asset URL and the oldest Kubernetes that accepts them; the storage
//! version history per CRD; which releases have identical content. Plus built-in compatibility
//! policies (SPEC §4) of well-known implementations.
//!
//! With it crdguard identifies installed CRDs by content when annotations are missing or wrong
//! ([`Catalog::identify`]), checks fetched manifests ([`Release::verify`]), finds the
//! experimental release to preserve a wider channel ([`Catalog::experimental_counterpart`]) and
//! answers `crdguard check --for envoy-gateway@v1.9` ([`Catalog::policy`]).
//!
//! Pure: no network, no async. Only the generator ([`generate`]) reads files, to produce
//! `data/gateway-api.json` from the corpus; everything else works on the embedded data.

mod catalog;
pub mod data;
pub mod digest;
pub mod generate;
mod identify;
mod policies;
pub mod requirements;
mod summary;
mod verify;

pub use catalog::{
    Catalog, CatalogCrd, CatalogError, ExtraObject, IdenticalReleases, Release, ReleaseKind,
    StorageHistory, StorageRun,
};
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
