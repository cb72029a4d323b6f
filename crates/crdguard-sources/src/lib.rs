//! File adapters: turn command-line sources (files, directories, stdin, Helm chart
//! directories and `.tgz` archives, snapshots, policy files) into the core's desired and
//! observed state. Reading happens here; everything it reads goes to `crdguard-core`.

mod chart;
mod error;
mod read;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crdguard_core::load::{Loaded, load_text};
use crdguard_core::state::{InputWarning, skip_non_crds};
use crdguard_core::yaml::Limits;
use crdguard_core::{Crd, DesiredState, InputError, ObservedState, Policy};

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

/// What the sources yielded before they are merged into a desired state.
#[derive(Debug, Default)]
pub struct Gathered {
    /// CRDs only: non-CRD documents were rejected or turned into warnings.
    pub loaded: Loaded,
    pub chart_policy: Option<Policy>,
    pub warnings: Vec<InputWarning>,
}

impl Gathered {
    pub fn extend(&mut self, other: Gathered) {
        self.loaded.extend(other.loaded);
        self.chart_policy = self.chart_policy.take().or(other.chart_policy);
        self.warnings.extend(other.warnings);
    }

    /// Merges into one desired state: duplicates checked across all sources; no CRD at all
    /// is an error naming the sources.
    pub fn into_desired(self, described: &str) -> Result<DesiredState, SourceError> {
        self.into_desired_or_empty(described, false)
    }

    /// `into_desired`, where `allow_empty` accepts sources without any CRD (a chart installed by
    /// `crdguard install` need not ship one: its phase 2 still runs). A chart's policy is not
    /// part of the desired state: take [`Gathered::chart_policy`] first.
    pub fn into_desired_or_empty(
        self,
        described: &str,
        allow_empty: bool,
    ) -> Result<DesiredState, SourceError> {
        let mut state = DesiredState::from_loaded(self.loaded)?;
        state.warnings.extend(self.warnings);
        if state.crds.is_empty() && !allow_empty {
            // What was skipped (members leaving an archive, links, non-CRD documents) is often
            // the reason; say so, as the warnings are lost with the plan.
            let skipped: Vec<String> = state
                .warnings
                .iter()
                .take(3)
                .map(|w| format!("{}: {}", w.origin, w.message))
                .collect();
            let mut message = "no CustomResourceDefinition found in the sources".to_string();
            if !skipped.is_empty() {
                message.push_str(&format!(" ({})", skipped.join("; ")));
                if state.warnings.len() > skipped.len() {
                    message.push_str(&format!(
                        " and {} more warnings",
                        state.warnings.len() - skipped.len()
                    ));
                }
            }
            return Err(SourceError::Input(InputError::new(described, message)));
        }
        Ok(state)
    }
}

/// Reads every source (in parallel) without merging them yet.
pub fn gather(sources: &[Source], options: Options) -> Result<Gathered, SourceError> {
    let per_source: Vec<Result<SourceLoad, SourceError>> = sources
        .par_iter()
        .map(|source| load_source(source, options))
        .collect();
    let mut gathered = Gathered::default();
    for result in per_source {
        let (loaded, chart_policy, warnings) = result?;
        gathered.extend(Gathered {
            loaded,
            chart_policy,
            warnings,
        });
    }
    Ok(gathered)
}

/// Loads every source into one desired state. Sources are read and parsed in parallel.
pub fn load_desired(sources: &[Source], options: Options) -> Result<DesiredState, SourceError> {
    let names: Vec<String> = sources.iter().map(describe).collect();
    gather(sources, options)?.into_desired(&names.join(", "))
}

/// Reads the sources like [`load_desired`], for a command that needs each CRD once (the new
/// set of `diff`): each file's CRDs go to `visit` as soon as that file is parsed, files in
/// parallel, and are dropped after, so a few files' CRDs are held at a time instead of the
/// whole set (half the memory of `diff` on 2,000 CRDs). The results come back in source, file
/// and document order. Non-CRD documents are skipped as by [`load_desired`]; duplicate names
/// and a set without CRDs, which [`load_desired`] refuses, are the caller's to check.
pub fn visit_crds<T: Send>(
    sources: &[Source],
    options: Options,
    visit: impl Fn(Crd) -> T + Sync,
) -> Result<Vec<T>, SourceError> {
    let mut visited = Vec::new();
    for source in sources {
        let files = match source {
            Source::Path(path) if path.is_dir() && !path.join("Chart.yaml").is_file() => {
                read::yaml_files_under(path)?
            }
            Source::Path(path) if path.is_file() && !chart::is_archive(path) => vec![path.clone()],
            // Standard input and charts are read whole, as by `load_desired`.
            _ => {
                let (loaded, _, _) = load_source(source, options)?;
                visited.extend(loaded.crds.into_par_iter().map(&visit).collect::<Vec<T>>());
                continue;
            }
        };
        let per_file: Vec<Result<Vec<T>, SourceError>> = files
            .par_iter()
            .map(|path| {
                Ok(load_file(path, options)?
                    .crds
                    .into_iter()
                    .map(&visit)
                    .collect())
            })
            .collect();
        for result in per_file {
            visited.extend(result?);
        }
    }
    Ok(visited)
}

/// Whether a command-line source names a Helm chart: a directory with `Chart.yaml`, a `.tgz`,
/// or a reference only helm can resolve (`oci://`, `repo/name`).
pub fn is_chart_reference(arg: &str) -> bool {
    let path = Path::new(arg);
    if arg.starts_with("oci://") {
        return true;
    }
    if path.is_dir() {
        return path.join("Chart.yaml").is_file();
    }
    chart::is_archive(path)
}

/// The `crdguard.yaml` policy at a local chart's root (directory or archive), if any.
pub fn chart_policy(path: &Path, options: Options) -> Result<Option<Policy>, SourceError> {
    // A chart directory's policy is one file at its root: read that one, not every file of
    // the chart (its crds/ are megabytes, and helm has rendered them already).
    if path.is_dir() {
        let file = path.join(POLICY_FILE);
        if !file.is_file() {
            return Ok(None);
        }
        let text = read::file(&file, options.read)?;
        return Ok(Some(Policy::from_yaml(&file.display().to_string(), &text)?));
    }
    let chart = Chart::open(path, options.read)?;
    match &chart.policy_file {
        Some(file) => Ok(Some(Policy::from_yaml(&file.name, &file.text)?)),
        None => Ok(None),
    }
}

/// CRDs out of rendered chart output (`helm template`): other objects are expected there.
pub fn crds_from_rendered(
    source: &str,
    text: &str,
    options: Options,
) -> Result<Gathered, SourceError> {
    // Per template (helm's `# Source:` comments), so that every message names the chart or
    // subchart file a CRD came from, not only a document number in the whole stream.
    // Templates are parsed side by side (a chart's CRDs are a few large files), and merged in
    // their order, so the first error is the first in the output.
    let per_template: Vec<Result<Loaded, SourceError>> =
        crdguard_core::post_render::by_template(text)
            .into_par_iter()
            .map(|(template, documents)| {
                let name = match template {
                    Some(path) => format!("{source}: {path}"),
                    None => source.to_string(),
                };
                Ok(load_text(&name, documents, options.parse)?)
            })
            .collect();
    let mut loaded = Loaded::default();
    for result in per_template {
        loaded.extend(result?);
    }
    let warnings = skip_non_crds(&mut loaded, source).into_iter().collect();
    Ok(Gathered {
        loaded,
        warnings,
        ..Gathered::default()
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

/// Skips the documents that are neither CRDs nor companions, with one counted warning per
/// source (SPEC §1): whole install manifests are what users have.
fn screened(
    mut loaded: Loaded,
    source: &str,
    policy: Option<Policy>,
    mut warnings: Vec<InputWarning>,
) -> Result<SourceLoad, SourceError> {
    warnings.extend(skip_non_crds(&mut loaded, source));
    Ok((loaded, policy, warnings))
}

fn load_source(source: &Source, options: Options) -> Result<SourceLoad, SourceError> {
    match source {
        Source::Stdin => {
            let text = read::stdin(options.read)?;
            let loaded = load_text("<stdin>", &text, options.parse)?;
            screened(loaded, "<stdin>", None, Vec::new())
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
                    screened(loaded, &path.display().to_string(), None, Vec::new())
                }
            } else if chart::is_archive(path) {
                load_chart(path, options)
            } else {
                let loaded = load_files(std::slice::from_ref(path), options)?;
                screened(loaded, &path.display().to_string(), None, Vec::new())
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
    screened(loaded, &path.display().to_string(), policy, chart.warnings)
}

/// Reads and loads files in parallel.
pub fn load_files(files: &[PathBuf], options: Options) -> Result<Loaded, SourceError> {
    let per_file: Vec<Result<Loaded, SourceError>> = files
        .par_iter()
        .map(|path| load_file(path, options))
        .collect();
    let mut loaded = Loaded::default();
    for result in per_file {
        loaded.extend(result?);
    }
    Ok(loaded)
}

/// Reads and loads one file; its text is dropped once parsed.
fn load_file(path: &Path, options: Options) -> Result<Loaded, SourceError> {
    let text = read::file(path, options.read)?;
    Ok(load_text(
        &path.display().to_string(),
        &text,
        options.parse,
    )?)
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

/// Reads standard input as text, within the input limit.
pub fn read_stdin(options: Options) -> Result<String, SourceError> {
    read::stdin(options.read)
}
