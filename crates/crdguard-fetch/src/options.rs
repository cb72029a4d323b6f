//! What the caller can configure, and the asset URL it leads to.

use crdguard_core::retry::RetryPolicy;
use std::path::PathBuf;
use std::time::Duration;

use crdguard_catalog::Release;
use crdguard_core::yaml::Limits;

/// Where Gateway API publishes release assets: `<base>/<tag>/<channel>-install.yaml`.
pub const DEFAULT_BASE_URL: &str =
    "https://github.com/kubernetes-sigs/gateway-api/releases/download";

/// The environment variable the CLI reads for [`FetchOptions::base_url`] (with
/// `--catalog-url`). Named here so every caller spells it the same way; this crate does not
/// read it itself.
pub const BASE_URL_ENV: &str = "CRDGUARD_CATALOG_URL";

/// Which certificate authorities HTTPS servers are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsRoots {
    /// Mozilla's roots, built in: the same on every machine, and enough for GitHub. Works in
    /// minimal containers that have no CA bundle.
    #[default]
    Bundled,
    /// The operating system's trust store: for a mirror behind a private CA, or a proxy that
    /// re-signs TLS.
    System,
}

/// How [`crate::fetch_release`] downloads and caches.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// A mirror of release assets: files are downloaded from `<base_url>/<tag>/<file>`, or, left
    /// at [`DEFAULT_BASE_URL`], from the catalog's asset URL of each bundle. https, or
    /// http to a loopback address (127.0.0.0/8, ::1, localhost) only.
    pub base_url: String,
    /// Directory holding `<bundle>/<tag>/<channel>-install.yaml`. `None`: `$XDG_CACHE_HOME/crdguard/catalog`,
    /// else `~/.cache/crdguard/catalog`, else no cache.
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network: serve from the cache or fail.
    pub offline: bool,
    pub tls_roots: TlsRoots,
    /// Largest response accepted, in bytes. The biggest release file is ~1.4 MB; the cap only
    /// stops a misbehaving server from filling memory.
    pub max_bytes: u64,
    /// Budget for establishing one connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Budget for the whole download: every attempt, redirect and backoff pause together, so
    /// a command never waits longer than this for the catalog.
    pub total_timeout: Duration,
    /// Tries per download and the pauses between them (crdguard's one retry policy,
    /// [`RetryPolicy::DOWNLOAD`] by default). Only connection failures, connect timeouts, 5xx,
    /// 408 and 429 are retried; everything else fails at once.
    pub retry: RetryPolicy,
    /// Limits for parsing the downloaded YAML.
    pub parse_limits: Limits,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            base_url: DEFAULT_BASE_URL.to_string(),
            cache_dir: None,
            offline: false,
            tls_roots: TlsRoots::default(),
            max_bytes: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            retry: RetryPolicy::DOWNLOAD,
            parse_limits: Limits::default(),
        }
    }
}

/// Why a release has no URL to download from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetUrlProblem {
    /// The catalog names no published file for the release (a bundle whose upstream ships its
    /// CRDs only inside larger files).
    NotPublished,
    /// The configured base URL cannot have a path appended.
    BadBase(String),
}

impl FetchOptions {
    /// The URL `release` is downloaded from with these options: the catalog's asset URL, or,
    /// with another base URL (a mirror), `<base>/<tag>/<file>` with the asset's file name. The
    /// base must have no query or fragment: the path is appended to it.
    pub fn asset_url(&self, release: &Release) -> Result<String, AssetUrlProblem> {
        let asset = release
            .asset_url
            .as_deref()
            .ok_or(AssetUrlProblem::NotPublished)?;
        let base = self.base_url.trim().trim_end_matches('/');
        // Not mirrored: each bundle's own upstream, as the catalog records it.
        if base == DEFAULT_BASE_URL {
            return Ok(asset.to_string());
        }
        if base.contains(['?', '#']) {
            return Err(AssetUrlProblem::BadBase(
                "the catalog URL must not have a query or fragment".to_string(),
            ));
        }
        if base.is_empty() {
            return Err(AssetUrlProblem::BadBase(
                "the catalog URL is empty".to_string(),
            ));
        }
        let file = asset.rsplit('/').next().unwrap_or(asset);
        Ok(format!("{base}/{}/{file}", release.tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdguard_catalog::Catalog;
    use crdguard_core::Channel;

    #[test]
    fn default_urls_are_the_catalogs_asset_urls() {
        let catalog = Catalog::builtin().unwrap().bundle("gateway-api").unwrap();
        let options = FetchOptions::default();
        for release in catalog.releases() {
            assert_eq!(Some(options.asset_url(release).unwrap()), release.asset_url);
        }
    }

    #[test]
    fn base_url_is_joined_with_one_slash() {
        let catalog = Catalog::builtin().unwrap().bundle("gateway-api").unwrap();
        let release = catalog.release("v1.6.1", Channel::Experimental).unwrap();
        let options = FetchOptions {
            base_url: "http://127.0.0.1:8080/mirror/".into(),
            ..FetchOptions::default()
        };
        assert_eq!(
            options.asset_url(release).unwrap(),
            "http://127.0.0.1:8080/mirror/v1.6.1/experimental-install.yaml"
        );
        let options = FetchOptions {
            base_url: "https://mirror.example/dl?token=x".into(),
            ..FetchOptions::default()
        };
        assert!(options.asset_url(release).is_err());
    }
}
