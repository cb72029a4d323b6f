//! Status, check and diff reports for people: grouped by bundle, with the reason in words.
//! Plans have their own review (`review.rs`, `markdown.rs`).

use crdguard_core::plan::Plan;
use crdguard_core::status::Status;

use super::grid::{Grid, Style};
use super::palette;
use super::review::{cluster_text, findings_grid, preflight_grid, state};

pub(super) fn heading(style: Style, level: usize, text: &str) -> String {
    match style {
        Style::Table => format!("{}\n", palette::paint(text, palette::heading())),
        Style::Markdown => format!("{} {text}\n\n", "#".repeat(level)),
    }
}

fn cluster_line(cluster: &crdguard_core::plan::ClusterInfo) -> String {
    format!("Cluster: {}\n", cluster_text(cluster))
}

/// `v1.5.0..v1.6.1 (experimental, standard)` for a list of `version/channel` releases.
fn release_span(releases: &[String]) -> String {
    let mut versions: Vec<crdguard_core::BundleVersion> = Vec::new();
    let mut channels: Vec<&str> = Vec::new();
    for release in releases {
        let (version, channel) = release.split_once('/').unwrap_or((release, ""));
        if let Ok(v) = version.parse() {
            versions.push(v);
        }
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    versions.sort();
    versions.dedup();
    channels.sort();
    match (versions.first(), versions.last()) {
        (Some(first), Some(last)) if first != last => {
            format!("{first}..{last} ({})", channels.join(", "))
        }
        (Some(only), _) => format!("{only} ({})", channels.join(", ")),
        _ => String::new(),
    }
}

pub fn check(plan: &Plan, failed: bool, style: Style, width: Option<usize>) -> String {
    let mut out = heading(style, 1, "crdguard check");
    out.push_str(&cluster_line(&plan.cluster));
    out.push('\n');
    out.push_str(&heading(style, 2, "Preflight"));
    out.push_str(&preflight_grid(plan).render(style, "  ", width));
    if failed {
        let next = super::review::next_lines(&crdguard_core::plan::next_steps(plan));
        if !next.is_empty() {
            out.push('\n');
            out.push_str(&next);
        }
    }
    out.push_str(&format!(
        "\nVerdict: {}\n",
        if failed { "BLOCKED" } else { "ok" }
    ));
    out
}

pub fn status(status: &Status, style: Style, width: Option<usize>) -> String {
    let mut out = heading(style, 1, "crdguard status");
    out.push_str(&cluster_line(&status.cluster));
    out.push('\n');
    out.push_str(&heading(style, 2, "Bundles"));
    let mut grid = Grid::new(&[
        "BUNDLE", "CLASS", "VERSION", "CHANNEL", "CRDS", "SKEW", "OWNERS",
    ]);
    for b in &status.bundles {
        grid.row(vec![
            b.name.clone(),
            b.class.to_string(),
            match &b.version_range {
                // Content-identical releases: the newest is what crdguard reasons with.
                Some(range) => format!("{}..{} (by content)", range.from, range.to),
                None if b.identified_by == "digest" => {
                    format!("{} (by content)", b.versions.join(", "))
                }
                None => b.versions.join(", "),
            },
            b.channels.join(", "),
            b.crds.to_string(),
            if b.skew { "yes".into() } else { "no".into() },
            b.owners.join(", "),
        ]);
    }
    if grid.is_empty() {
        out.push_str("  (no known bundles installed)\n");
    } else {
        out.push_str(&grid.render(style, "  ", width));
    }
    let mut companions = Grid::new(&[
        "BUNDLE",
        "COMPANION",
        "STATE",
        "RELEASES",
        "OWNER",
        "LETS THROUGH",
    ]);
    for b in &status.bundles {
        for c in &b.companions {
            let mut lets_through = c.lets_through.join("; ");
            if !c.undecided.is_empty() {
                lets_through.push_str(&format!(" (cannot tell: {})", c.undecided.join("; ")));
            }
            companions.row(vec![
                b.name.clone(),
                c.object.clone(),
                c.state.to_string(),
                release_span(&c.releases),
                c.owner.clone().unwrap_or_default(),
                lets_through,
            ]);
        }
    }
    if !companions.is_empty() {
        out.push('\n');
        out.push_str(&heading(style, 2, "Companions"));
        out.push_str(&companions.render(style, "  ", width));
    }
    let mut requirements = Grid::new(&[
        "BUNDLE", "PRODUCT", "MINIMUM", "MAXIMUM", "TESTED", "CHANNEL", "KINDS",
    ]);
    let text = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for b in &status.bundles {
        for r in &b.requirements {
            requirements.row(vec![
                b.name.clone(),
                r.who(),
                text(r.minimum.as_ref().map(ToString::to_string)),
                text(r.maximum.as_ref().map(ToString::to_string)),
                text(r.tested_maximum.as_ref().map(ToString::to_string)),
                text(r.channel.map(|c| c.to_string())),
                r.kinds.join(","),
            ]);
        }
    }
    if !requirements.is_empty() {
        out.push('\n');
        out.push_str(&heading(
            style,
            2,
            "Requirements recorded by products (crdguard.dev/requirements)",
        ));
        out.push_str(&requirements.render(style, "  ", width));
    }
    out.push('\n');
    out.push_str(&heading(style, 2, "CRDs"));
    let mut grid = Grid::new(&[
        "CRD", "BUNDLE", "VERSION", "SERVED", "STORAGE", "STORED", "OWNER",
    ]);
    for c in &status.crds {
        let mut stored = c.stored_versions.join(",");
        if !c.unserved_stored_versions.is_empty() {
            stored.push_str(&format!(
                " (unserved: {}; migrate)",
                c.unserved_stored_versions.join(",")
            ));
        }
        grid.row(vec![
            c.name.clone(),
            c.bundle.clone().unwrap_or_else(|| "-".into()),
            state(c.version.as_deref(), c.channel.as_deref()),
            c.served_versions.join(","),
            c.storage_version.clone().unwrap_or_default(),
            stored,
            c.owner.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if grid.is_empty() {
        out.push_str("  (no CRDs)\n");
    } else {
        out.push_str(&grid.render(style, "  ", width));
    }
    out
}

pub fn diff(
    diff: &crdguard_schema::SetDiff,
    no_info: bool,
    style: Style,
    width: Option<usize>,
) -> String {
    let mut out = heading(style, 1, "crdguard diff");
    let findings: Vec<(&str, &crdguard_schema::Finding)> = diff
        .findings()
        .filter(|(_, f)| !(no_info && f.severity == crdguard_schema::Severity::Info))
        .collect();
    let grid = findings_grid(&findings);
    if grid.is_empty() {
        out.push_str("  (no findings)\n");
    } else {
        out.push_str(&grid.render(style, "  ", width));
    }
    let s = diff.summary;
    out.push_str(&format!(
        "\n{} CRD(s) compared: {} error, {} warning, {} info\n",
        diff.items.len(),
        s.error,
        s.warning,
        s.info
    ));
    out
}
