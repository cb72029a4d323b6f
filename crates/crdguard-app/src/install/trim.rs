//! Phase 2 runs on a copy of the chart without what phase 1 applied (SPEC §6 v2, release size):
//! Helm stores the chart itself, every template and every `crds/` file, in the release Secret,
//! and a Secret holds at most 1 MiB. Envoy Gateway's `gateway-crds-helm` chart (5 MB of CRD
//! templates) cannot be installed by plain helm for that reason. Dropped: every `crds/`
//! directory (helm runs with `--skip-crds`) and every template whose rendered documents are all
//! CRDs or companions (the post-renderer would drop them anyway), so helm renders the same
//! manifest from the copy. Only local chart directories are copied; archives and repository
//! charts go to helm as given.

use std::path::{Path, PathBuf};

use crdguard_core::post_render::managed_only_templates;

/// A trimmed copy of a chart directory, removed when dropped.
pub struct TrimmedChart {
    root: PathBuf,
    /// The copy of the chart itself, inside `root`.
    pub chart: PathBuf,
    /// What was left out, relative to the chart (`crds`, `charts/sub/crds`, `templates/x.yaml`).
    pub left_out: Vec<String>,
}

impl TrimmedChart {
    /// A copy of `chart` without what `rendered` (its `helm template --include-crds` output with
    /// the install's values) shows phase 1 applied. `None` when `chart` is not a local chart
    /// directory or when nothing would be left out.
    pub fn of(chart: &str, rendered: &str) -> std::io::Result<Option<TrimmedChart>> {
        let source = Path::new(chart);
        if !source.join("Chart.yaml").is_file() {
            return Ok(None);
        }
        let mut left_out = Vec::new();
        crds_directories(source, Path::new(""), &mut left_out)?;
        for template in managed_only_templates(rendered) {
            // `<chart name>/templates/x.yaml`, `<chart name>/charts/sub/templates/x.yaml`.
            let Some((_, relative)) = template.split_once('/') else {
                continue;
            };
            let inside = Path::new(relative);
            let plain = inside
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            let in_templates = inside.components().any(|c| c.as_os_str() == "templates");
            if plain && in_templates && source.join(inside).is_file() {
                left_out.push(relative.to_string());
            }
        }
        if left_out.is_empty() {
            return Ok(None);
        }
        // One directory per copy, so copies made in one process (tests) never share one.
        static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let copy_number = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "crdguard-phase2-{}-{copy_number}",
            std::process::id()
        ));
        let name = source
            .file_name()
            .map_or_else(|| "chart".into(), |n| n.to_os_string());
        let copy = root.join(name);
        let trimmed = TrimmedChart {
            root,
            chart: copy,
            left_out,
        };
        copy_tree(source, &trimmed.chart)?;
        for relative in &trimmed.left_out {
            let path = trimmed.chart.join(relative);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(Some(trimmed))
    }
}

impl Drop for TrimmedChart {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Every `crds/` directory of the chart and of its unpacked subcharts (`charts/<name>/`).
fn crds_directories(chart: &Path, relative: &Path, found: &mut Vec<String>) -> std::io::Result<()> {
    if chart.join("crds").is_dir() {
        found.push(relative.join("crds").display().to_string());
    }
    let charts = chart.join("charts");
    if charts.is_dir() {
        let mut subcharts: Vec<PathBuf> = std::fs::read_dir(&charts)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("Chart.yaml").is_file())
            .collect();
        subcharts.sort();
        for sub in subcharts {
            if let Some(name) = sub.file_name() {
                crds_directories(&sub, &relative.join("charts").join(name), found)?;
            }
        }
    }
    Ok(())
}

/// Copies a directory tree (files are copied through symbolic links, as helm reads them).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
