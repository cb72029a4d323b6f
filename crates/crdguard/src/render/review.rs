//! A plan as a reviewer reads it (SPEC §3 v2, human output): bundles first, then only what
//! writes or blocks; `unchanged`/`keep` items counted; errors and warnings listed, infos
//! counted by check; the verdict last with the way forward. `--details` lists everything.
//! The same selection feeds the text table and the Markdown comment.

use std::collections::BTreeMap;

use crdguard_core::plan::{
    Action, BundleState, CheckStatus, Code, InstalledState, ItemPlan, NextStep, Plan, Verdict,
};
use crdguard_schema::{Check, Finding, Severity};

use super::grid::{Cell, Grid, Style};
use super::palette;

/// What a plan review shows, in the order it shows it.
pub struct Review<'a> {
    pub plan: &'a Plan,
    /// Items that stop the plan (`blocked`, `conflict`).
    pub stopping: Vec<&'a ItemPlan>,
    /// Items that write (`create`, `upgrade`).
    pub writing: Vec<&'a ItemPlan>,
    /// Items left alone (`unchanged`, `keep`): counted unless details are asked for.
    pub quiet: Vec<&'a ItemPlan>,
    /// Errors, then warnings, with their item's name.
    pub listed: Vec<(&'a str, &'a Finding)>,
    pub infos: Vec<(&'a str, &'a Finding)>,
    /// Info findings per check, most first.
    pub info_counts: Vec<(Check, usize)>,
    pub next: Vec<NextStep>,
}

impl<'a> Review<'a> {
    pub fn of(plan: &'a Plan) -> Self {
        // Bundle order of the plan, then extension CRDs; the plan's order within each.
        let rank = |item: &ItemPlan| {
            item.bundle
                .as_deref()
                .and_then(|b| plan.bundles.iter().position(|p| p.name == b))
                .unwrap_or(usize::MAX)
        };
        let mut items: Vec<&ItemPlan> = plan.items.iter().collect();
        items.sort_by_key(|i| rank(i));
        let pick = |f: fn(Action) -> bool| -> Vec<&'a ItemPlan> {
            items.iter().copied().filter(|i| f(i.action)).collect()
        };
        let stopping = pick(Action::stops);
        let writing = pick(Action::writes);
        let quiet = pick(|a| !a.stops() && !a.writes());
        let mut listed = Vec::new();
        let mut infos = Vec::new();
        for item in &items {
            for finding in &item.findings {
                match finding.severity {
                    Severity::Info => infos.push((item.crd.as_str(), finding)),
                    _ => listed.push((item.crd.as_str(), finding)),
                }
            }
        }
        listed.sort_by_key(|(_, f)| f.severity);
        let mut counts: BTreeMap<Check, usize> = BTreeMap::new();
        for (_, f) in &infos {
            *counts.entry(f.check).or_default() += 1;
        }
        let mut info_counts: Vec<(Check, usize)> = counts.into_iter().collect();
        info_counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Review {
            plan,
            stopping,
            writing,
            quiet,
            listed,
            infos,
            info_counts,
            next: crdguard_core::plan::next_steps(plan),
        }
    }

    /// `12 unchanged, 3 keep`.
    pub fn quiet_counts(&self) -> String {
        let s = &self.plan.summary;
        format!("{} unchanged, {} keep", s.unchanged, s.keep)
    }

    /// `field-added 120, description-changed 33`.
    pub fn info_summary(&self) -> String {
        self.info_counts
            .iter()
            .map(|(check, n)| format!("{check} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn blocked(&self) -> bool {
        self.plan.verdict == Verdict::Blocked
    }

    /// The flags of the next steps, for `the same command with --migrate --allow-breaking`.
    pub fn next_flags(&self) -> Vec<&'static str> {
        self.next.iter().filter_map(|s| s.flag).collect()
    }
}

/// `Next:` and one line per way forward (flag, count, what it does); nothing when there is
/// none.
pub fn next_lines(steps: &[NextStep]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let mut out = String::from("Next:\n");
    for step in steps {
        out.push_str(&format!(
            "  {}{}{}\n",
            step.flag.map(|f| format!("{f} ")).unwrap_or_default(),
            step_count(step),
            step.text
        ));
    }
    out
}

/// `(3 item(s)) ` for a step about items, nothing for one about a bundle or the cluster.
pub fn step_count(step: &NextStep) -> String {
    if step.items == 0 {
        String::new()
    } else {
        format!("({} item(s)) ", step.items)
    }
}

pub fn state(version: Option<&str>, channel: Option<&str>) -> String {
    match (version, channel) {
        (Some(v), Some(c)) => format!("{v}/{c}"),
        (Some(v), None) => v.to_string(),
        (None, Some(c)) => format!("unversioned/{c}"),
        (None, None) => "-".to_string(),
    }
}

pub fn installed_text(installed: Option<&InstalledState>) -> String {
    match installed {
        None => "absent".to_string(),
        Some(i) => state(i.version.as_deref(), i.channel.as_deref()),
    }
}

pub fn desired_text(desired: &BundleState) -> String {
    state(desired.version.as_deref(), desired.channel.as_deref())
}

pub fn bundle_state(s: Option<&BundleState>) -> String {
    s.map_or_else(|| "absent".to_string(), desired_text)
}

pub fn check_mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "ok",
        CheckStatus::Warn => "WARN",
        CheckStatus::Fail => "FAIL",
    }
}

pub fn cluster_text(cluster: &crdguard_core::plan::ClusterInfo) -> String {
    format!(
        "{}, Kubernetes {}",
        cluster.source,
        cluster
            .server_version
            .as_deref()
            .unwrap_or("version unknown")
    )
}

fn is_blocker(code: Code) -> bool {
    matches!(
        code,
        Code::OwnedByOther
            | Code::StoredVersionRemoved
            | Code::StoredVersionsUnknown
            | Code::BreakingChange
            | Code::AdmissionDenied
            | Code::BreaksOtherProduct
            | Code::AboveMaximum
            | Code::RequirementsUnreadable
            | Code::ChannelWidening
            | Code::UnversionedInstalled
    )
}

/// An item's reason in words: the first reason, every other blocker of a stopped item
/// (SPEC §2), and how many findings it has.
pub fn item_reason(item: &ItemPlan) -> String {
    let mut detail = item
        .reasons
        .first()
        .map(|r| r.message.clone())
        .unwrap_or_default();
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
    // The explicit overrides are shown in the plan, not only in --details or JSON (SPEC §2:
    // taking ownership and applying breaking changes are explicit, logged and shown).
    if item.action.writes() {
        for r in item.reasons.iter().skip(1).filter(|r| {
            matches!(
                r.code,
                Code::OwnershipTaken | Code::BreakingChangeAllowed | Code::MigrationPlanned
            )
        }) {
            detail.push_str(&format!("; {}: {}", r.code.as_str(), r.message));
        }
    }
    if !item.findings.is_empty() {
        let errors = item
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        detail.push_str(&format!(
            " [{} finding(s), {errors} breaking]",
            item.findings.len()
        ));
    }
    detail
}

/// A finding's message, labelled when it is about `.status` and followed by every change of
/// its severity (ratcheting, stored objects, policy), so the table shows why it weighs what
/// it weighs.
pub fn finding_message(f: &Finding) -> String {
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

pub fn items_grid(items: &[&ItemPlan], arrow: &str) -> Grid {
    let mut grid = Grid::new(&["CRD", "ACTION", "INSTALLED -> OFFERED", "REASON"]);
    for item in items {
        grid.row(vec![
            Cell::code(&item.crd),
            Cell::from(item.action.as_str()).painted(palette::action(item.action)),
            Cell::from(format!(
                "{}{arrow}{}",
                installed_text(item.installed.as_ref()),
                desired_text(&item.desired)
            )),
            Cell::from(item_reason(item)),
        ]);
    }
    grid
}

pub fn findings_grid(findings: &[(&str, &Finding)]) -> Grid {
    findings_table(findings, true)
}

/// Findings with or without the CRD column (`explain` shows one CRD's).
pub fn findings_table(findings: &[(&str, &Finding)], with_crd: bool) -> Grid {
    let header: &[&str] = if with_crd {
        &["CRD", "SEVERITY", "CHECK", "VERSION", "PATH", "MESSAGE"]
    } else {
        &["SEVERITY", "CHECK", "VERSION", "PATH", "MESSAGE"]
    };
    let mut grid = Grid::new(header);
    for (crd, f) in findings {
        let mut row = Vec::with_capacity(6);
        if with_crd {
            row.push(Cell::code(*crd));
        }
        row.extend([
            Cell::from(f.severity.as_str()).painted(palette::severity(f.severity)),
            Cell::code(f.check.as_str()),
            Cell::code(&f.version),
            Cell::code(&f.path),
            Cell::from(finding_message(f)),
        ]);
        grid.row(row);
    }
    grid
}

pub fn preflight_grid(plan: &Plan) -> Grid {
    let mut grid = Grid::new(&["", "CHECK", "DETAIL"]);
    for check in &plan.preflight {
        grid.row(vec![
            Cell::from(check_mark(check.status)).painted(palette::check(check.status)),
            Cell::code(&check.check),
            Cell::from(check.message.as_str()),
        ]);
    }
    grid
}

pub fn bundles_grid(plan: &Plan, arrow: &str, details: bool) -> Grid {
    let mut grid = Grid::new(&["BUNDLE", "CLASS", "INSTALLED -> OFFERED", "DECISION", "WHY"]);
    for bundle in &plan.bundles {
        let why = if details {
            bundle
                .reasons
                .iter()
                .map(|r| format!("{}: {}", r.code.as_str(), r.message))
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            bundle_why(bundle)
        };
        grid.row(vec![
            Cell::code(&bundle.name),
            Cell::from(bundle.class),
            Cell::from(format!(
                "{}{arrow}{}",
                bundle_state(bundle.installed.as_ref()),
                bundle_state(bundle.desired.as_ref())
            )),
            Cell::from(bundle.decision.as_str().to_uppercase())
                .painted(palette::action(bundle.decision)),
            Cell::from(why),
        ]);
    }
    grid
}

/// The one reason that explains a bundle's decision: the first blocker when it stops, else
/// the first reason.
fn bundle_why(bundle: &crdguard_core::plan::BundlePlan) -> String {
    let reason = if bundle.decision.stops() {
        bundle
            .reasons
            .iter()
            .find(|r| is_blocker(r.code))
            .or(bundle.reasons.first())
    } else if bundle.decision.writes() {
        // What is written, not the CRDs that stay as they are ("identical: 8 CRDs" beside
        // UPGRADE read as if nothing changed).
        bundle
            .reasons
            .iter()
            .find(|r| r.code != Code::Identical)
            .or(bundle.reasons.first())
    } else {
        bundle.reasons.first()
    };
    let mut why = reason
        .map(|r| format!("{}: {}", r.code.as_str(), r.message))
        .unwrap_or_default();
    if why.is_empty() && bundle.desired.is_none() {
        why = "not in the sources; left as installed".to_string();
    }
    // A kept channel says which policy setting would widen it (SPEC §2 row 10, keep + warning).
    for mismatch in bundle
        .reasons
        .iter()
        .filter(|r| r.code == Code::ChannelMismatch && Some(*r) != reason)
    {
        why.push_str(&format!(
            "; {}: {}",
            mismatch.code.as_str(),
            mismatch.message
        ));
    }
    why
}

/// The verdict in words: for a plan, whether anything will be written; for an apply that
/// stopped, whether it wrote anything before it did (never "nothing" when it did).
pub fn verdict(plan: &Plan) -> String {
    // Phase 1 wrote the CRDs and Helm's phase 2 failed: that failure is what stopped it, and
    // no item is blocked.
    if let Some(install) = &plan.install
        && install.phase2 == "failed"
        && plan.verdict == Verdict::Blocked
        && !plan.items.iter().any(|i| i.action.stops())
    {
        let written = plan.apply.as_ref().map_or(0, |a| a.applied.len());
        return format!(
            "FAILED in phase 2 (helm) after {written} write(s) of phase 1; fix what helm says \
             above and run the same command again"
        );
    }
    match (plan.verdict, &plan.apply) {
        (Verdict::Ok, _) => "ok".to_string(),
        (Verdict::Blocked, None) => "BLOCKED (nothing will be written)".to_string(),
        (Verdict::Blocked, Some(apply)) if apply.applied.is_empty() || apply.dry_run => {
            "BLOCKED (nothing was written)".to_string()
        }
        (Verdict::Blocked, Some(apply)) => format!(
            "BLOCKED after {} write(s); run the same command again once the items above are resolved",
            apply.applied.len()
        ),
    }
}

/// The lines about an apply and an install (what was written), in words.
pub fn outcome_lines(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(apply) = &plan.apply {
        // Companion objects are applied beside the CRDs and named `Kind/name`; counting them
        // as CRDs overstated what was written.
        let companions = apply.applied.iter().filter(|a| a.contains('/')).count();
        let crds = apply.applied.len() - companions;
        let companions = match companions {
            0 => String::new(),
            1 => " and 1 companion object".to_string(),
            n => format!(" and {n} companion objects"),
        };
        lines.push(format!(
            "Applied{}: {crds} CRD(s){companions}; conflicts: {}; failed: {}; not established: {}; migrations: {}",
            if apply.dry_run {
                " (server dry run)"
            } else {
                ""
            },
            apply.conflicts.len(),
            apply.failed.len(),
            apply.not_established.len(),
            apply.migrations.len()
        ));
        for failure in apply.conflicts.iter().chain(&apply.failed) {
            lines.push(format!("  - {}: {}", failure.crd, failure.message));
        }
        if !apply.decided_again.is_empty() {
            lines.push(format!(
                "Decided again (changed by another writer after crdguard read them): {}",
                apply.decided_again.join(", ")
            ));
        }
        if !apply.requirements_recorded.is_empty() {
            lines.push(format!(
                "Requirements recorded (crdguard.dev/requirements) on {} CRD(s)",
                apply.requirements_recorded.len()
            ));
        }
        if let Some(stopped) = &apply.stopped {
            lines.push(format!("Stopped: {stopped}"));
        }
    }
    if let Some(install) = &plan.install {
        if !install.protected.is_empty() {
            lines.push(format!(
                "Kept from Helm's pruning (release {}'s last manifest; helm.sh/resource-policy: keep):",
                install.release
            ));
            for object in &install.protected {
                lines.push(format!(
                    "  - {}: {}{} ({})",
                    object.object,
                    object.action,
                    if object.done { ", done" } else { "" },
                    object.message
                ));
            }
        }
        lines.push(format!(
            "Phase 2 (helm upgrade --install {} -n {} --skip-crds): {}{}",
            install.release,
            install.namespace,
            install.phase2,
            if install.message.is_empty() {
                String::new()
            } else {
                format!(": {}", install.message)
            }
        ));
        if install.phase2_started == Some(crdguard_core::plan::Phase2Start::CrdsWritten) {
            lines.push(
                "  helm started once phase 1's CRDs were written, while the server established them"
                    .into(),
            );
        }
        if let Some(bytes) = install.release_secret_bytes {
            lines.push(format!(
                "Release Secret: {bytes} bytes (Kubernetes refuses Secrets above 1,048,576)"
            ));
        }
    }
    lines
}

pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "Summary: {} create, {} upgrade, {} unchanged, {} keep, {} conflict, {} blocked",
        s.create, s.upgrade, s.unchanged, s.keep, s.conflict, s.blocked
    )
}

pub fn override_flags(plan: &Plan) -> Vec<&'static str> {
    let o = &plan.overrides;
    [
        (o.take_ownership, "--take-ownership"),
        (o.allow_breaking, "--allow-breaking"),
        (o.migrate, "--migrate"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect()
}

/// The plan as text for a terminal or a pipe (`width` set on a terminal only).
pub fn text(plan: &Plan, details: bool, width: Option<usize>) -> String {
    let review = Review::of(plan);
    let heading = |text: &str| format!("{}\n", palette::paint(text, palette::heading()));
    let mut out = heading(&format!("crdguard plan: {}", cluster_text(&plan.cluster)));
    let flags = override_flags(plan);
    if !flags.is_empty() {
        out.push_str(&format!("Overrides in effect: {}\n", flags.join(" ")));
    }
    if let Some(release) = &plan.overrides.release {
        out.push_str(&format!(
            "Your own CRDs: those of Helm release {} in namespace {} (--release)\n",
            release.name, release.namespace
        ));
    }
    let section = |out: &mut String, title: &str, grid: &Grid| {
        out.push('\n');
        out.push_str(&heading(title));
        out.push_str(&grid.render(Style::Table, "  ", width));
    };
    if !plan.preflight.is_empty() {
        section(&mut out, "Preflight", &preflight_grid(plan));
    }
    if !plan.bundles.is_empty() {
        section(&mut out, "Bundles", &bundles_grid(plan, " -> ", details));
    }
    if details {
        let all: Vec<&ItemPlan> = review
            .stopping
            .iter()
            .chain(&review.writing)
            .chain(&review.quiet)
            .copied()
            .collect();
        section(
            &mut out,
            &format!("Items ({})", all.len()),
            &items_grid(&all, " -> "),
        );
    } else {
        if !review.stopping.is_empty() {
            section(
                &mut out,
                &format!("Blocked or in conflict ({})", review.stopping.len()),
                &items_grid(&review.stopping, " -> "),
            );
        }
        if !review.writing.is_empty() {
            section(
                &mut out,
                &format!("Changes ({})", review.writing.len()),
                &items_grid(&review.writing, " -> "),
            );
        }
        if !review.quiet.is_empty() {
            out.push_str(&format!(
                "\nNot listed: {} (--details lists them)\n",
                review.quiet_counts()
            ));
        }
    }
    let findings: Vec<(&str, &Finding)> = if details {
        review.listed.iter().chain(&review.infos).copied().collect()
    } else {
        review.listed.clone()
    };
    if !findings.is_empty() {
        let (errors, warnings) = severity_counts(&review.listed);
        let title = if details {
            format!(
                "Schema findings ({errors} error, {warnings} warning, {} info)",
                review.infos.len()
            )
        } else {
            format!("Schema findings ({errors} error, {warnings} warning)")
        };
        section(&mut out, &title, &findings_grid(&findings));
    }
    if !details && !review.infos.is_empty() {
        out.push_str(&format!(
            "\nInfo findings: {} ({}; --details lists them)\n",
            review.infos.len(),
            review.info_summary()
        ));
    }
    stored_objects(&mut out, plan);
    if !plan.warnings.is_empty() {
        out.push('\n');
        out.push_str(&heading("Warnings"));
        for w in &plan.warnings {
            out.push_str(&format!("  - {}: {}\n", w.source, w.message));
        }
    }
    out.push('\n');
    for line in outcome_lines(plan) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&next_lines(&review.next));
    out.push_str(&summary_line(plan));
    out.push('\n');
    let mut verdict_line = format!("Verdict: {}", verdict(plan));
    let flags = review.next_flags();
    if review.blocked() && !flags.is_empty() && plan.apply.is_none() {
        verdict_line.push_str(&format!(
            "; next: the same command with {}",
            flags.join(" ")
        ));
    }
    out.push_str(&palette::paint(
        &verdict_line,
        palette::verdict(review.blocked()),
    ));
    out.push('\n');
    match width {
        Some(width) => super::grid::fit_lines(&out, width),
        None => out,
    }
}

pub fn severity_counts(findings: &[(&str, &Finding)]) -> (usize, usize) {
    let errors = findings
        .iter()
        .filter(|(_, f)| f.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|(_, f)| f.severity == Severity::Warning)
        .count();
    (errors, warnings)
}

fn stored_objects(out: &mut String, plan: &Plan) {
    let checked: Vec<&ItemPlan> = plan.items.iter().filter(|i| i.objects.is_some()).collect();
    if checked.is_empty() {
        return;
    }
    out.push('\n');
    out.push_str(&palette::paint("Stored objects", palette::heading()));
    out.push('\n');
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
}
