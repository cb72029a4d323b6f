//! The settings the actions take: plain values, resolved once by the CLI from its flags (or by
//! any other caller), never clap types. Each action's own settings live beside it; these are the
//! groups several actions share.

use std::path::PathBuf;
use std::time::Duration;

/// Where the observed state comes from: a snapshot file, or the live cluster of a kubeconfig.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    pub snapshot: Option<PathBuf>,
    /// Overrides the server version (a snapshot without one, or what-if planning).
    pub server_version: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// How charts are rendered and catalog releases are had.
#[derive(Debug, Clone, Default)]
pub struct RenderSettings {
    /// A mirror of the catalog's release files instead of the upstream release URLs.
    pub catalog_url: Option<String>,
    /// Catalog releases only from the cache; nothing is downloaded.
    pub offline: bool,
    pub values: Vec<PathBuf>,
    pub set: Vec<String>,
    /// The helm binary to render charts with (else `helm` on the PATH).
    pub helm: Option<PathBuf>,
}

/// Which policy applies: a file, a built-in product's (`--for`), or the default (which a
/// chart's `crdguard.yaml` replaces).
#[derive(Debug, Clone, Default)]
pub enum PolicyChoice {
    #[default]
    Default,
    File(PathBuf),
    Product(String),
}

impl PolicyChoice {
    pub fn from_flags(file: Option<PathBuf>, product: Option<String>) -> Self {
        match (file, product) {
            (Some(file), _) => PolicyChoice::File(file),
            (None, Some(product)) => PolicyChoice::Product(product),
            (None, None) => PolicyChoice::Default,
        }
    }
}

/// The desired state: CRD sources (files, directories, `-`, charts, catalog references), how
/// charts are rendered, and the policy.
#[derive(Debug, Clone, Default)]
pub struct DesiredSettings {
    pub sources: Vec<String>,
    pub charts: Vec<String>,
    pub render: RenderSettings,
    pub policy: PolicyChoice,
}

/// How to reach a live cluster for commands that write.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// How long to wait for CRDs to be Established (and migrations to finish).
    pub timeout: Duration,
    /// The bound of each API request.
    pub request_timeout: Duration,
}

/// How the plan's writes are made.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// Server-side dry run: the server checks every write, nothing is persisted.
    pub dry_run: bool,
    pub migrate: bool,
    pub take_ownership: bool,
    pub allow_breaking: bool,
    /// Writes in flight at once.
    pub concurrency: u16,
}
