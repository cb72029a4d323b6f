//! Cache first, then the network; verify whatever is used; cache only what verified.

use std::path::PathBuf;

use crdguard_catalog::Release;

use crate::options::AssetUrlProblem;
use crdguard_core::Crd;
use crdguard_core::load::Loaded;

use crate::cache::{self, Lookup};
use crate::error::{FetchError, one_line};
use crate::http::{self, DownloadError};
use crate::options::FetchOptions;
use crate::reference::label;
use crate::verify::{self, Problem, Verified};

/// A release file, verified against the catalog.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `gateway-api@v1.6.1/experimental`: the name to use for it as a source. The CRDs'
    /// origins carry it too.
    pub label: String,
    /// The catalog's facts about the release (tag, version, channel, CRDs).
    pub release: Release,
    /// Where it is downloaded from with the options used (also for a cache hit).
    pub url: String,
    /// The file as published. Its CRDs are verified; its other objects (see `skipped`) are not
    /// covered by the catalog's digests.
    pub text: String,
    /// The release's CRDs, every one verified by digest.
    pub crds: Vec<Crd>,
    /// Non-CRD objects in the file that were left out, described (`ValidatingAdmissionPolicy
    /// safe-upgrades.gateway.networking.k8s.io`).
    pub skipped: Vec<String>,
    /// Served from the local cache, without any network access.
    pub from_cache: bool,
    /// The cache file, when there is a cache directory.
    pub cache_file: Option<PathBuf>,
    /// Problems that did not stop the fetch: a cache that could not be written, a corrupt
    /// cached copy that was replaced. One line each.
    pub warnings: Vec<String>,
}

impl Fetched {
    /// The CRDs as a core [`Loaded`], for the sources adapter.
    pub fn into_loaded(self) -> Loaded {
        Loaded {
            crds: self.crds,
            ..Loaded::default()
        }
    }
}

/// Fetches `release` of `catalog`: from the cache when a verified copy is there, else from
/// `options.base_url`. The download is verified before it is cached or returned.
pub fn fetch(release: &Release, options: &FetchOptions) -> Result<Fetched, FetchError> {
    let label = label(release);
    // The URL is checked even when the cache will serve: a misconfigured mirror should not go
    // unnoticed until the cache is cleared.
    let url = options
        .asset_url(release)
        .map_err(|problem| match problem {
            AssetUrlProblem::NotPublished => FetchError::NotInCatalog {
                reference: label.clone(),
                message: format!(
                    "{label} has no published file of exactly its CRDs in the catalog; give \
                     its CRD files (or their directory) as sources instead; the catalog still \
                     identifies them by content"
                ),
                suggestions: Vec::new(),
            },
            AssetUrlProblem::BadBase(reason) => FetchError::InsecureUrl {
                release: label.clone(),
                url: options.base_url.clone(),
                reason,
            },
        })?;
    let cache_file =
        cache::root(options.cache_dir.as_deref()).and_then(|root| cache::file(&root, release));
    let target = Target {
        label,
        url,
        cache_file,
    };
    let mut warnings = Vec::new();
    let cache_problem = match from_cache(&target, release, options, &mut warnings)? {
        Cached::Verified { text, verified } => {
            return Ok(target.fetched(release, text, verified, true, warnings));
        }
        Cached::Missing => None,
        Cached::Discarded(problem) => Some(problem),
    };
    if options.offline {
        return Err(FetchError::NotCached {
            release: target.label,
            url: target.url,
            cache_file: target.cache_file,
            reason: cache_problem,
        });
    }
    download(target, release, options, warnings)
}

/// Where a release file is looked for: its name as a source, its URL, its cache file.
struct Target {
    label: String,
    url: String,
    cache_file: Option<PathBuf>,
}

impl Target {
    fn fetched(
        self,
        release: &Release,
        text: String,
        verified: Verified,
        from_cache: bool,
        warnings: Vec<String>,
    ) -> Fetched {
        Fetched {
            label: self.label,
            release: release.clone(),
            url: self.url,
            text,
            crds: verified.crds,
            skipped: verified.skipped,
            from_cache,
            cache_file: self.cache_file,
            warnings,
        }
    }
}

/// What the cache had for a release.
enum Cached {
    Verified {
        text: String,
        verified: Verified,
    },
    /// No cache directory, or no file in it.
    Missing,
    /// A copy that failed verification (or could not be read), now removed; why.
    Discarded(String),
}

/// Looks the release up in the cache and verifies what is there. A bad copy is removed;
/// offline, it is an error, since nothing can replace it.
fn from_cache(
    target: &Target,
    release: &Release,
    options: &FetchOptions,
    warnings: &mut Vec<String>,
) -> Result<Cached, FetchError> {
    let Some(path) = &target.cache_file else {
        return Ok(Cached::Missing);
    };
    let problem = match cache::read(path, options.max_bytes) {
        Lookup::Miss => return Ok(Cached::Missing),
        Lookup::Hit(text) => {
            match verify::verify(release, &target.label, &text, options.parse_limits) {
                Ok(verified) => return Ok(Cached::Verified { text, verified }),
                Err(problem) => problem.describe(),
            }
        }
        Lookup::Unusable(reason) => reason,
    };
    if let Err(e) = cache::discard(path) {
        warnings.push(format!(
            "could not remove the bad cached copy {}: {}",
            path.display(),
            one_line(e)
        ));
    }
    if options.offline {
        return Err(FetchError::CorruptCache {
            release: target.label.clone(),
            url: target.url.clone(),
            cache_file: path.clone(),
            problem,
        });
    }
    warnings.push(format!(
        "the cached copy {} failed verification ({problem}); downloading it again",
        path.display()
    ));
    Ok(Cached::Discarded(problem))
}

/// Downloads, verifies, then caches (a cache that cannot be written is only a warning).
fn download(
    target: Target,
    release: &Release,
    options: &FetchOptions,
    mut warnings: Vec<String>,
) -> Result<Fetched, FetchError> {
    let Target { label, url, .. } = &target;
    let bytes = http::download(url, options).map_err(|e| download_error(e, label, url))?;
    let text = String::from_utf8(bytes).map_err(|_| FetchError::InvalidContent {
        release: label.clone(),
        url: url.clone(),
        message: "not UTF-8 text".to_string(),
    })?;
    let verified = verify::verify(release, label, &text, options.parse_limits).map_err(
        |problem| match problem {
            Problem::Invalid(message) => FetchError::InvalidContent {
                release: label.clone(),
                url: url.clone(),
                message,
            },
            Problem::Mismatch(mismatch) => FetchError::DigestMismatch {
                release: label.clone(),
                url: url.clone(),
                mismatch: Box::new(mismatch),
            },
        },
    )?;
    if let Some(path) = &target.cache_file
        && let Err(e) = cache::write(path, &text)
    {
        // The download is good; a read-only home must not make crdguard unusable.
        warnings.push(format!(
            "could not cache {label} at {}: {}",
            path.display(),
            one_line(e)
        ));
    }
    Ok(target.fetched(release, text, verified, false, warnings))
}

fn download_error(error: DownloadError, release: &str, url: &str) -> FetchError {
    let release = release.to_string();
    match error {
        DownloadError::Refused {
            url: refused,
            reason,
        } => FetchError::InsecureUrl {
            release,
            // A refused redirect names both: what was asked for and where it led.
            url: if refused == url {
                refused
            } else {
                format!("{url} ({refused})")
            },
            reason,
        },
        DownloadError::Network { message, attempts } => FetchError::Network {
            release,
            url: url.to_string(),
            message,
            attempts,
        },
        DownloadError::Status { status, attempts } => FetchError::Http {
            release,
            url: url.to_string(),
            status,
            attempts,
        },
        DownloadError::TooLarge { limit } => FetchError::TooLarge {
            release,
            url: url.to_string(),
            limit,
        },
    }
}
