//! Fetching upstream releases named in the catalog (SPEC §8): `gateway-api@v1.6.1/experimental`
//! → the release's install file, downloaded over HTTPS, every CRD verified against the
//! catalog's digest, kept in a local cache for offline use.
//!
//! The catalog crate holds facts and never touches the network; this crate is the adapter that
//! does, so the rest of crdguard can treat a release like any other source of CRDs.
//!
//! ```no_run
//! let fetched = crdguard_fetch::fetch_release(
//!     "gateway-api@v1.6.1/experimental",
//!     &crdguard_fetch::FetchOptions::default(),
//! )?;
//! assert_eq!(fetched.crds.len(), 13);
//! # Ok::<(), crdguard_fetch::FetchError>(())
//! ```
//!
//! Blocking by design: the CLI calls it from synchronous code, once per command.

mod cache;
mod error;
mod fetch;
mod http;
mod options;
mod reference;
mod url;
mod verify;

use crdguard_catalog::{Catalog, CatalogRef};

pub use error::{ExitClass, FetchError};
pub use fetch::{Fetched, fetch};
pub use options::{AssetUrlProblem, BASE_URL_ENV, DEFAULT_BASE_URL, FetchOptions, TlsRoots};
pub use reference::{label, parse_reference, resolve};

/// Parses `reference` (`gateway-api@v1.6.1/experimental`, `gateway-api@1.6.1`,
/// `gateway-api@monthly-2026.06/experimental`), finds it in the built-in catalog and fetches it.
pub fn fetch_release(reference: &str, options: &FetchOptions) -> Result<Fetched, FetchError> {
    fetch_ref(&parse_reference(reference)?, options)
}

/// [`fetch_release`] for an already parsed reference.
pub fn fetch_ref(reference: &CatalogRef, options: &FetchOptions) -> Result<Fetched, FetchError> {
    let catalog = Catalog::builtin().map_err(|e| FetchError::Catalog {
        message: e.to_string(),
    })?;
    fetch_in(catalog, reference, options)
}

/// [`fetch_ref`] against `catalog` (the built-in one with the user's added releases).
pub fn fetch_in(
    catalog: &Catalog,
    reference: &CatalogRef,
    options: &FetchOptions,
) -> Result<Fetched, FetchError> {
    let release = resolve(catalog, reference)?;
    fetch(release, options)
}

/// The root of crdguard's cache of release files (`$XDG_CACHE_HOME/crdguard/catalog`, else
/// `~/.cache/crdguard/catalog`), or `override_dir`; `None` without a usable home.
pub fn cache_root(override_dir: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    cache::root(override_dir)
}
