//! File adapters: turn command-line sources (files, directories, stdin, Helm chart
//! directories and `.tgz` archives, snapshots, policy files) into the core's desired and
//! observed state. Reading happens here; everything it reads goes to `crdguard-core`.

mod chart;
mod error;
mod read;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crdguard_core::load::{Loaded, load_text};
use crdguard_core::state::{InputWarning, take_non_crds};
use crdguard_core::yaml::Limits;
use crdguard_core::{DesiredState, InputError, NonCrdDocuments, ObservedState, Policy};

pub use chart::{Chart, POLICY_FILE};
pub use error::SourceError;
pub use read::ReadLimits;

/// One source of desired CRDs, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-`: a YAML/JSON stream on standard input.
    Stdin,
    /// A file or a directory (a directory with `Chart.yaml` is a chart).
    Path(PathBuf),
    /// `--chart C`: a chart directory or `.tgz` archive.
    Chart(PathBuf),
}

impl Source {
    pub fn from_arg(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::Path(PathBuf::from(arg))
        }
    }
}

/// Limits for everything read from the user.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub read: ReadLimits,
    pub parse: Limits,
}

/// The desired state plus a policy found at a chart's root (`crdguard.yaml`).
#[derive(Debug, Default)]
pub struct Desired {
    pub state: DesiredState,
    pub chart_policy: Option<Policy>,
}

/// Loads every source into one desired state. Sources are read and parsed in parallel.
pub fn load_desired(sources: &[Source], options: Options) -> Result<Desired, SourceError> {
    let per_source: Vec<Result<SourceLoad, SourceError>> = sources
        .par_iter()
        .map(|source| load_source(source, options))
        .collect();
    let mut all = Loaded::default();
    let mut chart_policy = None;
    let mut warnings = Vec::new();
    for result in per_source {
        let (loaded, policy, source_warnings) = result?;
        all.extend(loaded);
        warnings.extend(source_warnings);
        chart_policy = chart_policy.or(policy);
    }
    let mut state = DesiredState::from_loaded(all, NonCrdDocuments::Reject)?;
    state.warnings.extend(warnings);
    if state.crds.is_empty() {
        let names: Vec<String> = sources.iter().map(describe).collect();
        return Err(SourceError::Input(InputError::new(
            names.join(", "),
            "no CustomResourceDefinition found in the sources",
        )));
    }
    Ok(Desired {
        state,
        chart_policy,
    })
}

fn describe(source: &Source) -> String {
    match source {
        Source::Stdin => "<stdin>".to_string(),
        Source::Path(p) | Source::Chart(p) => p.display().to_string(),
    }
}

/// What one source yields: its CRDs (non-CRD documents already screened out), a policy found
/// at a chart root, and warnings.
type SourceLoad = (Loaded, Option<Policy>, Vec<InputWarning>);

fn screened(
    mut loaded: Loaded,
    non_crd: NonCrdDocuments,
    policy: Option<Policy>,
    mut warnings: Vec<InputWarning>,
) -> Result<SourceLoad, SourceError> {
    warnings.extend(take_non_crds(&mut loaded, non_crd)?);
    Ok((loaded, policy, warnings))
}

fn load_source(source: &Source, options: Options) -> Result<SourceLoad, SourceError> {
    match source {
        Source::Stdin => {
            let text = read::stdin(options.read)?;
            let loaded = load_text("<stdin>", &text, options.parse)?;
            screened(loaded, NonCrdDocuments::Reject, None, Vec::new())
        }
        Source::Chart(path) => load_chart(path, options),
        Source::Path(path) => {
            let meta = std::fs::metadata(path).map_err(|e| SourceError::io(path, e))?;
            if meta.is_dir() {
                if path.join("Chart.yaml").is_file() {
                    load_chart(path, options)
                } else {
                    let files = read::yaml_files_under(path)?;
                    let loaded = load_files(&files, options)?;
                    screened(loaded, NonCrdDocuments::SkipWithWarning, None, Vec::new())
                }
            } else if chart::is_archive(path) {
                load_chart(path, options)
            } else {
                let loaded = load_files(std::slice::from_ref(path), options)?;
                screened(loaded, NonCrdDocuments::Reject, None, Vec::new())
            }
        }
    }
}

fn load_chart(path: &Path, options: Options) -> Result<SourceLoad, SourceError> {
    let chart = Chart::open(path, options.read)?;
    let mut loaded = Loaded::default();
    let per_file: Vec<Result<Loaded, SourceError>> = chart
        .crd_files
        .par_iter()
        .map(|file| Ok(load_text(&file.name, &file.text, options.parse)?))
        .collect();
    for result in per_file {
        loaded.extend(result?);
    }
    let policy = match &chart.policy_file {
        Some(file) => Some(Policy::from_yaml(&file.name, &file.text)?),
        None => None,
    };
    screened(
        loaded,
        NonCrdDocuments::SkipWithWarning,
        policy,
        chart.warnings,
    )
}

/// Reads and loads files in parallel.
pub fn load_files(files: &[PathBuf], options: Options) -> Result<Loaded, SourceError> {
    let per_file: Vec<Result<Loaded, SourceError>> = files
        .par_iter()
        .map(|path| {
            let text = read::file(path, options.read)?;
            Ok(load_text(
                &path.display().to_string(),
                &text,
                options.parse,
            )?)
        })
        .collect();
    let mut loaded = Loaded::default();
    for result in per_file {
        loaded.extend(result?);
    }
    Ok(loaded)
}

/// Loads a snapshot file (`-` for stdin) as observed state.
pub fn load_snapshot(
    path: &Path,
    server_version: Option<&str>,
    options: Options,
) -> Result<ObservedState, SourceError> {
    let name = path.display().to_string();
    let text = if name == "-" {
        read::stdin(options.read)?
    } else {
        read::file(path, options.read)?
    };
    let loaded = load_text(&name, &text, options.parse)?;
    Ok(ObservedState::from_snapshot(loaded, server_version, &name)?)
}

/// Reads a policy file.
pub fn load_policy(path: &Path, options: Options) -> Result<Policy, SourceError> {
    let text = read::file(path, options.read)?;
    Ok(Policy::from_yaml(&path.display().to_string(), &text)?)
}
