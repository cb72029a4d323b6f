//! Plan, status and check reports for people: grouped by bundle, actions with from → to, and
//! the reason in words.

use std::collections::BTreeMap;

use crdguard_core::plan::{BundleState, CheckStatus, InstalledState, ItemPlan, Plan};
use crdguard_core::status::Status;

use super::grid::{Grid, Style};

fn heading(style: Style, level: usize, text: &str) -> String {
    match style {
        Style::Table => format!("{text}\n"),
        Style::Markdown => format!("{} {text}\n\n", "#".repeat(level)),
    }
}

fn state(version: Option<&str>, channel: Option<&str>) -> String {
    match (version, channel) {
        (Some(v), Some(c)) => format!("{v}/{c}"),
        (Some(v), None) => v.to_string(),
        (None, Some(c)) => format!("unversioned/{c}"),
        (None, None) => "-".to_string(),
    }
}

fn installed_text(installed: Option<&InstalledState>) -> String {
    match installed {
        None => "absent".to_string(),
        Some(i) => state(i.version.as_deref(), i.channel.as_deref()),
    }
}

fn desired_text(desired: &BundleState) -> String {
    state(desired.version.as_deref(), desired.channel.as_deref())
}

fn bundle_state(s: Option<&BundleState>) -> String {
    s.map_or_else(|| "absent".to_string(), desired_text)
}

fn status_mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "ok  ",
        CheckStatus::Warn => "WARN",
        CheckStatus::Fail => "FAIL",
    }
}

fn cluster_line(plan_cluster: &crdguard_core::plan::ClusterInfo) -> String {
    format!(
        "Cluster: {} (Kubernetes {})\n",
        plan_cluster.source,
        plan_cluster
            .server_version
            .as_deref()
            .unwrap_or("version unknown")
    )
}

fn preflight(plan: &Plan, style: Style) -> String {
    let mut grid = Grid::new(&["", "CHECK", "DETAIL"]);
    for check in &plan.preflight {
        grid.row(vec![
            status_mark(check.status).to_string(),
            check.check.clone(),
            check.message.clone(),
        ]);
    }
    let mut out = heading(style, 2, "Preflight");
    out.push_str(&grid.render(style, "  "));
    out
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

fn is_blocker(code: crdguard_core::Code) -> bool {
    use crdguard_core::Code;
    matches!(
        code,
        Code::OwnedByOther
            | Code::StoredVersionRemoved
            | Code::StoredVersionsUnknown
            | Code::BreakingChange
            | Code::AdmissionDenied
            | Code::ChannelWidening
            | Code::UnversionedInstalled
    )
}

fn item_row(item: &ItemPlan) -> Vec<String> {
    let reason = item
        .reasons
        .first()
        .map(|r| r.message.clone())
        .unwrap_or_default();
    let mut detail = reason;
    // Every blocker of a stopped item (SPEC §2), not only the first.
    if item.action.stops() {
        let more: Vec<&str> = item
            .reasons
            .iter()
            .skip(1)
            .filter(|r| is_blocker(r.code))
            .map(|r| r.message.as_str())
            .collect();
        if !more.is_empty() {
            detail.push_str(&format!("; also: {}", more.join("; ")));
        }
    }
    let errors = item
        .findings
        .iter()
        .filter(|f| f.severity == crdguard_schema::Severity::Error)
        .count();
    if !item.findings.is_empty() {
        detail.push_str(&format!(
            " [{} finding(s), {errors} breaking]",
            item.findings.len()
        ));
    }
    vec![
        item.crd.clone(),
        item.action.as_str().to_string(),
        format!(
            "{} -> {}",
            installed_text(item.installed.as_ref()),
            desired_text(&item.desired)
        ),
        detail,
    ]
}

pub fn plan(plan: &Plan, style: Style) -> String {
    let mut out = heading(style, 1, "crdguard plan");
    out.push_str(&cluster_line(&plan.cluster));
    if style == Style::Markdown {
        out.push('\n');
    }
    let overrides = &plan.overrides;
    let flags: Vec<&str> = [
        (overrides.take_ownership, "--take-ownership"),
        (overrides.allow_breaking, "--allow-breaking"),
        (overrides.migrate, "--migrate"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !flags.is_empty() {
        out.push_str(&format!("Overrides in effect: {}\n", flags.join(" ")));
    }
    if let Some(release) = &overrides.release {
        out.push_str(&format!(
            "Your own CRDs: those of Helm release {} in namespace {} (--release)\n",
            release.name, release.namespace
        ));
    }
    out.push('\n');
    out.push_str(&preflight(plan, style));
    out.push('\n');

    let mut by_bundle: BTreeMap<Option<&str>, Vec<&ItemPlan>> = BTreeMap::new();
    for item in &plan.items {
        by_bundle
            .entry(item.bundle.as_deref())
            .or_default()
            .push(item);
    }
    for bundle in &plan.bundles {
        out.push_str(&heading(
            style,
            2,
            &format!(
                "Bundle {} ({}): {} -> {}: {}",
                bundle.name,
                bundle.class,
                bundle_state(bundle.installed.as_ref()),
                bundle_state(bundle.desired.as_ref()),
                bundle.decision.as_str().to_uppercase()
            ),
        ));
        for reason in &bundle.reasons {
            out.push_str(&format!(
                "  - {}: {}\n",
                reason.code.as_str(),
                reason.message
            ));
        }
        if style == Style::Markdown && !bundle.reasons.is_empty() {
            out.push('\n');
        }
        if let Some(items) = by_bundle.remove(&Some(bundle.name.as_str())) {
            out.push_str(&items_grid(&items, style));
        }
        out.push('\n');
    }
    for (bundle, items) in by_bundle {
        let title = match bundle {
            Some(name) => format!("Bundle {name}"),
            None => "Extension CRDs".to_string(),
        };
        out.push_str(&heading(style, 2, &title));
        out.push_str(&items_grid(&items, style));
        out.push('\n');
    }
    let findings: Vec<(&str, &crdguard_schema::Finding)> = plan
        .items
        .iter()
        .flat_map(|i| i.findings.iter().map(move |f| (i.crd.as_str(), f)))
        .collect();
    if !findings.is_empty() {
        out.push_str(&heading(style, 2, "Schema findings"));
        let mut grid = Grid::new(&["CRD", "SEVERITY", "CHECK", "VERSION", "PATH", "MESSAGE"]);
        for (crd, f) in findings {
            grid.row(vec![
                crd.to_string(),
                f.severity.to_string(),
                f.check.clone(),
                f.version.clone(),
                f.path.clone(),
                finding_message(f),
            ]);
        }
        out.push_str(&grid.render(style, "  "));
        out.push('\n');
    }
    let checked: Vec<&crdguard_core::plan::ItemPlan> =
        plan.items.iter().filter(|i| i.objects.is_some()).collect();
    if !checked.is_empty() {
        out.push_str(&heading(style, 2, "Stored objects"));
        for item in checked {
            let Some(objects) = &item.objects else {
                continue;
            };
            out.push_str(&format!(
                "  {}: {} object(s) checked against the new schema, {} violation(s) named\n",
                item.crd,
                objects.checked,
                objects.violations.len()
            ));
            for v in &objects.violations {
                out.push_str(&format!(
                    "    - {} ({}) {} {}: {}\n",
                    v.object, v.version, v.check, v.path, v.message
                ));
            }
        }
        out.push('\n');
    }
    if !plan.warnings.is_empty() {
        out.push_str(&heading(style, 2, "Warnings"));
        for w in &plan.warnings {
            out.push_str(&format!("  - {}: {}\n", w.source, w.message));
        }
        out.push('\n');
    }
    if let Some(apply) = &plan.apply {
        out.push_str(&format!(
            "Applied{}: {} CRD(s); conflicts: {}; failed: {}; not established: {}; migrations: {}\n",
            if apply.dry_run { " (server dry run)" } else { "" },
            apply.applied.len(),
            apply.conflicts.len(),
            apply.failed.len(),
            apply.not_established.len(),
            apply.migrations.len()
        ));
        for failure in apply.conflicts.iter().chain(&apply.failed) {
            out.push_str(&format!("  - {}: {}\n", failure.crd, failure.message));
        }
        if !apply.decided_again.is_empty() {
            out.push_str(&format!(
                "Decided again (changed by another writer after crdguard read them): {}\n",
                apply.decided_again.join(", ")
            ));
        }
        if let Some(stopped) = &apply.stopped {
            out.push_str(&format!("Stopped: {stopped}\n"));
        }
    }
    if let Some(install) = &plan.install {
        if !install.protected.is_empty() {
            out.push_str(&format!(
                "Kept from Helm's pruning (release {}'s last manifest; helm.sh/resource-policy: keep):\n",
                install.release
            ));
            for object in &install.protected {
                out.push_str(&format!(
                    "  - {}: {}{} ({})\n",
                    object.object,
                    object.action,
                    if object.done { ", done" } else { "" },
                    object.message
                ));
            }
        }
        out.push_str(&format!(
            "Phase 2 (helm upgrade --install {} -n {} --skip-crds): {}{}\n",
            install.release,
            install.namespace,
            install.phase2,
            if install.message.is_empty() {
                String::new()
            } else {
                format!(": {}", install.message)
            }
        ));
    }
    let s = &plan.summary;
    out.push_str(&format!(
        "Summary: {} create, {} upgrade, {} unchanged, {} keep, {} conflict, {} blocked\n",
        s.create, s.upgrade, s.unchanged, s.keep, s.conflict, s.blocked
    ));
    out.push_str(&format!("Verdict: {}\n", verdict(plan)));
    out
}

/// The verdict line: for a plan, whether anything will be written; for an apply that
/// stopped, whether it wrote anything before it did (never "nothing" when it did).
fn verdict(plan: &Plan) -> String {
    match (plan.verdict, &plan.apply) {
        (crdguard_core::plan::Verdict::Ok, _) => "ok".to_string(),
        (crdguard_core::plan::Verdict::Blocked, None) => {
            "BLOCKED (nothing will be written)".to_string()
        }
        (crdguard_core::plan::Verdict::Blocked, Some(apply))
            if apply.applied.is_empty() || apply.dry_run =>
        {
            "BLOCKED (nothing was written)".to_string()
        }
        (crdguard_core::plan::Verdict::Blocked, Some(apply)) => format!(
            "BLOCKED after {} write(s); run the same command again once the items above are resolved",
            apply.applied.len()
        ),
    }
}

fn items_grid(items: &[&ItemPlan], style: Style) -> String {
    let mut grid = Grid::new(&["CRD", "ACTION", "FROM -> TO", "REASON"]);
    for item in items {
        grid.row(item_row(item));
    }
    grid.render(style, "  ")
}

pub fn check(plan: &Plan, failed: bool, style: Style) -> String {
    let mut out = heading(style, 1, "crdguard check");
    out.push_str(&cluster_line(&plan.cluster));
    out.push('\n');
    out.push_str(&preflight(plan, style));
    out.push_str(&format!(
        "\nVerdict: {}\n",
        if failed { "BLOCKED" } else { "ok" }
    ));
    out
}

pub fn status(status: &Status, style: Style) -> String {
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
        out.push_str(&grid.render(style, "  "));
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
        out.push_str(&companions.render(style, "  "));
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
        out.push_str(&grid.render(style, "  "));
    }
    out
}

pub fn diff(diff: &crdguard_schema::SetDiff, no_info: bool, style: Style) -> String {
    let mut out = heading(style, 1, "crdguard diff");
    let mut grid = Grid::new(&["CRD", "SEVERITY", "CHECK", "VERSION", "PATH", "MESSAGE"]);
    for (crd, f) in diff.findings() {
        if no_info && f.severity == crdguard_schema::Severity::Info {
            continue;
        }
        grid.row(vec![
            crd.to_string(),
            f.severity.to_string(),
            f.check.clone(),
            f.version.clone(),
            f.path.clone(),
            finding_message(f),
        ]);
    }
    if grid.is_empty() {
        out.push_str("  (no findings)\n");
    } else {
        out.push_str(&grid.render(style, "  "));
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

/// A finding's message, labelled when it is about `.status` and followed by every change of
/// its severity (ratcheting, stored objects, policy), so the table shows why it weighs what
/// it weighs.
fn finding_message(f: &crdguard_schema::Finding) -> String {
    let mut message = if f.affects_status {
        format!("[status: written by controllers] {}", f.message)
    } else {
        f.message.clone()
    };
    for a in &f.adjustments {
        message.push_str(&format!(" ({} -> {}: {})", a.from, a.to, a.reason));
    }
    message
}
