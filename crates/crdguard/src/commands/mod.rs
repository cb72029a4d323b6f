//! One module per command; shared input handling here.

pub mod check;
pub mod diff;
pub mod plan;
pub mod status;

use std::path::Path;

use crdguard_core::{ObservedState, Policy};
use crdguard_sources::{Options, ReadLimits, Source};

use crate::cli::ClusterArgs;
use crate::exit::CliError;

/// Input limits, adjustable through the environment for unusually large inputs.
pub fn input_options() -> Result<Options, CliError> {
    let mut options = Options::default();
    if let Some(bytes) = env_bytes("CRDGUARD_MAX_INPUT_BYTES")? {
        options.read = ReadLimits {
            max_file_bytes: bytes,
            max_archive_bytes: bytes,
        };
    }
    if let Some(bytes) = env_bytes("CRDGUARD_MAX_DOCUMENT_BYTES")? {
        options.parse.max_document_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    Ok(options)
}

fn env_bytes(name: &str) -> Result<Option<u64>, CliError> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| CliError::usage(format!("{name}={value:?} is not a number of bytes"))),
        Err(_) => Ok(None),
    }
}

/// The observed state: a snapshot file, or (not in this build) a live cluster.
pub fn observed_state(args: &ClusterArgs, options: Options) -> Result<ObservedState, CliError> {
    match &args.snapshot {
        Some(path) => Ok(crdguard_sources::load_snapshot(
            path,
            args.server_version.as_deref(),
            options,
        )?),
        None => Err(CliError::usage(
            "live cluster access is not available in this build yet; pass --snapshot FILE \
             (for example the output of `kubectl get crd -o yaml`)",
        )),
    }
}

pub fn policy_file(path: Option<&Path>, options: Options) -> Result<Option<Policy>, CliError> {
    path.map(|p| crdguard_sources::load_policy(p, options))
        .transpose()
        .map_err(CliError::from)
}

pub fn sources(args: &[String], charts: &[std::path::PathBuf]) -> Vec<Source> {
    args.iter()
        .map(|a| Source::from_arg(a))
        .chain(charts.iter().cloned().map(Source::Chart))
        .collect()
}
