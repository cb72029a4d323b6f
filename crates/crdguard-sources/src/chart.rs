//! Helm charts as CRD sources: the chart's `crds/`, every subchart's `crds/` (directories and
//! nested `.tgz` archives under `charts/`), and a `crdguard.yaml` policy at the chart root.
//! Rendering `templates/` needs the real `helm` and lives in the Helm adapter.
//!
//! Archives are read in memory and never extracted to disk, so a hostile archive cannot write
//! anywhere; member paths with `..`, absolute paths and links are skipped with a warning.

use std::io::Read;
use std::path::{Component, Path};

use crdguard_core::state::InputWarning;

use crate::SourceError;
use crate::read::{self, ReadLimits};

/// The policy file looked for at a chart's root.
pub const POLICY_FILE: &str = "crdguard.yaml";
/// How deep `charts/x.tgz` archives may nest inside each other.
const MAX_ARCHIVE_DEPTH: usize = 4;
/// Members of one archive beyond which it is refused.
const MAX_ARCHIVE_MEMBERS: usize = 50_000;

/// A file read from a chart, named for messages (`chart.tgz!gateway-helm/crds/x.yaml`).
#[derive(Debug, Clone)]
pub struct NamedText {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Chart {
    pub crd_files: Vec<NamedText>,
    pub policy_file: Option<NamedText>,
    pub warnings: Vec<InputWarning>,
}

pub fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".tgz") || name.ends_with(".tar.gz")
}

/// Where a path inside a chart (relative to the chart root) falls.
#[derive(Debug, PartialEq, Eq)]
enum ChartPath {
    Crd,
    Policy,
    NestedArchive,
    Other,
}

fn classify(relative: &[&str]) -> ChartPath {
    // Strip `charts/<subchart>/` prefixes: subcharts' crds count like the chart's own.
    let mut rest = relative;
    let mut nested = false;
    while rest.len() > 2 && rest[0] == "charts" {
        rest = &rest[2..];
        nested = true;
    }
    match rest {
        [first, .., last] if *first == "crds" && read::is_manifest(Path::new(last)) => {
            ChartPath::Crd
        }
        [only] if *only == POLICY_FILE && !nested => ChartPath::Policy,
        ["charts", archive] if is_archive(Path::new(archive)) => ChartPath::NestedArchive,
        _ => ChartPath::Other,
    }
}

impl Chart {
    pub fn open(path: &Path, limits: ReadLimits) -> Result<Chart, SourceError> {
        let mut chart = Chart::default();
        if path.is_dir() {
            if !path.join("Chart.yaml").is_file() {
                return Err(not_a_chart(&path.display().to_string()));
            }
            chart.read_dir(path, limits)?;
        } else {
            let meta = std::fs::metadata(path).map_err(|e| SourceError::io(path, e))?;
            if meta.len() > limits.max_file_bytes {
                return Err(SourceError::Io {
                    path: path.display().to_string(),
                    message: format!("archive is larger than {} bytes", limits.max_file_bytes),
                });
            }
            let bytes = std::fs::read(path).map_err(|e| SourceError::io(path, e))?;
            chart.read_archive(&path.display().to_string(), &bytes, limits, 0, &mut 0)?;
        }
        chart.crd_files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(chart)
    }

    /// Reads a chart archive (.tgz) that is already in memory; `name` is used in messages.
    /// Nothing is written anywhere: members are read into memory, never extracted.
    pub fn from_archive(
        name: &str,
        bytes: &[u8],
        limits: ReadLimits,
    ) -> Result<Chart, SourceError> {
        let mut chart = Chart::default();
        chart.read_archive(name, bytes, limits, 0, &mut 0)?;
        chart.crd_files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(chart)
    }

    fn read_dir(&mut self, root: &Path, limits: ReadLimits) -> Result<(), SourceError> {
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| SourceError::io(&dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| SourceError::io(&dir, e))?;
                let path = entry.path();
                // Follows symlinks: a chart on the user's own disk may link `crds` elsewhere.
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let Ok(relative) = path.strip_prefix(root) else {
                    continue;
                };
                let parts: Vec<&str> = relative
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(s) => s.to_str(),
                        _ => None,
                    })
                    .collect();
                let name = path.display().to_string();
                match classify(&parts) {
                    ChartPath::Crd => self.crd_files.push(NamedText {
                        text: read::file(&path, limits)?,
                        name,
                    }),
                    ChartPath::Policy => {
                        self.policy_file = Some(NamedText {
                            text: read::file(&path, limits)?,
                            name,
                        })
                    }
                    ChartPath::NestedArchive => {
                        let size = std::fs::metadata(&path)
                            .map_err(|e| SourceError::io(&path, e))?
                            .len();
                        if size > limits.max_file_bytes {
                            return Err(archive_error(
                                &name,
                                &format!("archive is larger than {} bytes", limits.max_file_bytes),
                            ));
                        }
                        let bytes = std::fs::read(&path).map_err(|e| SourceError::io(&path, e))?;
                        self.read_archive(&name, &bytes, limits, 1, &mut 0)?;
                    }
                    ChartPath::Other => {}
                }
            }
        }
        Ok(())
    }

    fn read_archive(
        &mut self,
        name: &str,
        bytes: &[u8],
        limits: ReadLimits,
        depth: usize,
        total: &mut u64,
    ) -> Result<(), SourceError> {
        if depth > MAX_ARCHIVE_DEPTH {
            return Err(archive_error(name, "subchart archives nest too deeply"));
        }
        let mut archive = tar::Archive::new(Capped {
            inner: flate2::read::GzDecoder::new(bytes),
            limit: limits.max_archive_bytes,
            left: limits.max_archive_bytes,
        });
        let entries = archive.entries().map_err(|e| {
            archive_error(name, &format!("not a gzip-compressed tar archive ({e})"))
        })?;
        let mut saw_chart_yaml = false;
        for (index, entry) in entries.enumerate() {
            if index >= MAX_ARCHIVE_MEMBERS {
                return Err(archive_error(name, "too many members"));
            }
            let mut entry =
                entry.map_err(|e| archive_error(name, &format!("corrupt archive ({e})")))?;
            let raw_path = entry
                .path()
                .map_err(|e| archive_error(name, &format!("bad member path ({e})")))?
                .into_owned();
            let member = raw_path.display().to_string();
            let safe = raw_path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            let kind = entry.header().entry_type();
            if !safe {
                self.warn(
                    name,
                    format!("skipped member {member:?}: path leaves the archive"),
                );
                continue;
            }
            if kind.is_symlink() || kind.is_hard_link() {
                self.warn(
                    name,
                    format!("skipped member {member:?}: links are not followed"),
                );
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            // Every member counts towards the total, read or not, and so do the members of
            // nested archives: the tar reader decompresses what it skips, and a gigabyte of
            // zeros under templates/ is a few kilobytes of gzip.
            let size = entry.header().size().unwrap_or(u64::MAX);
            *total = total.saturating_add(size);
            if size > limits.max_file_bytes || *total > limits.max_archive_bytes {
                return Err(archive_error(
                    name,
                    &format!(
                        "member {member:?} takes the archive past the size limit of {} bytes \
                         uncompressed (raise it with CRDGUARD_MAX_INPUT_BYTES)",
                        limits.max_archive_bytes.min(limits.max_file_bytes)
                    ),
                ));
            }
            let parts: Vec<&str> = raw_path
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => s.to_str(),
                    _ => None,
                })
                .collect();
            // Members are `<chart>/...`; the first component is the chart's directory.
            let Some((_, relative)) = parts.split_first() else {
                continue;
            };
            if relative == ["Chart.yaml"] {
                saw_chart_yaml = true;
            }
            let class = classify(relative);
            if class == ChartPath::Other {
                continue;
            }
            let mut content = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(limits.max_file_bytes + 1)
                .read_to_end(&mut content)
                .map_err(|e| {
                    archive_error(name, &format!("cannot read member {member:?} ({e})"))
                })?;
            let member_name = format!("{name}!{member}");
            match class {
                ChartPath::Crd => self.crd_files.push(NamedText {
                    text: read::utf8(&member_name, content)?,
                    name: member_name,
                }),
                ChartPath::Policy if depth == 0 => {
                    self.policy_file = Some(NamedText {
                        text: read::utf8(&member_name, content)?,
                        name: member_name,
                    })
                }
                ChartPath::NestedArchive => {
                    self.read_archive(&member_name, &content, limits, depth + 1, total)?
                }
                _ => {}
            }
        }
        if !saw_chart_yaml {
            return Err(not_a_chart(name));
        }
        Ok(())
    }

    fn warn(&mut self, origin: &str, message: String) {
        self.warnings.push(InputWarning {
            origin: origin.to_string(),
            message,
        });
    }
}

/// The decompressed stream of an archive, failing past the limit: what the tar reader reads on
/// its own (headers, long names, members it skips) is bounded too.
struct Capped<R> {
    inner: R,
    limit: u64,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "more than the size limit of {} bytes uncompressed (raise it with \
                 CRDGUARD_MAX_INPUT_BYTES)",
                self.limit
            ))
        })?;
        Ok(n)
    }
}

fn not_a_chart(name: &str) -> SourceError {
    SourceError::Io {
        path: name.to_string(),
        message: "not a Helm chart (no Chart.yaml at its root)".to_string(),
    }
}

fn archive_error(name: &str, message: &str) -> SourceError {
    SourceError::Io {
        path: name.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_chart_paths() {
        assert_eq!(classify(&["crds", "a.yaml"]), ChartPath::Crd);
        assert_eq!(classify(&["crds", "generated", "a.yml"]), ChartPath::Crd);
        assert_eq!(
            classify(&["charts", "crds", "crds", "a.yaml"]),
            ChartPath::Crd
        );
        assert_eq!(classify(&["charts", "sub.tgz"]), ChartPath::NestedArchive);
        assert_eq!(classify(&["crdguard.yaml"]), ChartPath::Policy);
        assert_eq!(
            classify(&["charts", "sub", "crdguard.yaml"]),
            ChartPath::Other
        );
        assert_eq!(classify(&["templates", "crds", "a.yaml"]), ChartPath::Other);
        assert_eq!(classify(&["crds", "README.md"]), ChartPath::Other);
    }
}
