//! One item's whole decision (`crdguard explain`): the decision table row by row, every
//! finding with each change of its severity, the stored objects checked, and its bundle.

use serde::Serialize;

use crdguard_core::plan::rules::{RowOutcome, RuleRow};
use crdguard_core::plan::{BundlePlan, ClusterInfo, ItemPlan, Overrides, Plan, PreflightCheck};

use super::grid::{Cell, Grid, Style};
use super::palette;
use super::review::{self, cluster_text, desired_text, findings_table, installed_text};

/// The JSON (and YAML) of `explain`: the item as in the plan, with what the plan leaves out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation<'a> {
    api_version: &'a str,
    kind: &'static str,
    cluster: &'a ClusterInfo,
    overrides: &'a Overrides,
    item: &'a ItemPlan,
    /// SPEC §2's table, row by row, for this item (empty for companions, which follow their
    /// bundle's decision).
    rules: &'a [RuleRow],
    bundle: Option<&'a BundlePlan>,
    /// The preflight checks about the item's bundle.
    preflight: Vec<&'a PreflightCheck>,
}

pub fn explanation(plan: &Plan, index: usize) -> Explanation<'_> {
    let item = &plan.items[index];
    let bundle = item
        .bundle
        .as_deref()
        .and_then(|name| plan.bundles.iter().find(|b| b.name == name));
    let preflight = plan
        .preflight
        .iter()
        .filter(|c| match &item.bundle {
            Some(name) => c.message.starts_with(&format!("{name}:")),
            None => false,
        })
        .collect();
    Explanation {
        api_version: plan.api_version,
        kind: "Explanation",
        cluster: &plan.cluster,
        overrides: &plan.overrides,
        item,
        rules: &item.rule_rows,
        bundle,
        preflight,
    }
}

fn outcome_text(outcome: RowOutcome) -> &'static str {
    match outcome {
        RowOutcome::Decides => "DECIDES",
        RowOutcome::AlsoBlocks => "also blocks",
        RowOutcome::Applies => "applies",
        RowOutcome::DoesNotApply => "-",
    }
}

pub fn text(plan: &Plan, index: usize, style: Style, width: Option<usize>) -> String {
    let e = explanation(plan, index);
    let item = e.item;
    let heading = |level: usize, text: &str| super::human::heading(style, level, text);
    let line = |text: String| match style {
        Style::Table => format!("  {text}\n"),
        Style::Markdown => format!("- {}\n", super::markdown::escape_text(&text)),
    };
    let mut out = heading(
        3,
        &format!(
            "crdguard explain {}: {}",
            item.crd,
            cluster_text(&plan.cluster)
        ),
    );
    if style == Style::Table {
        out.push('\n');
    }
    out.push_str(&heading(
        4,
        &format!(
            "Decision: {} (step: {})",
            item.action.as_str().to_uppercase(),
            serde_json::to_value(&item.step)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    ));
    out.push_str(&line(format!(
        "{}{}",
        // A companion's name already says its kind (`Kind/name`).
        if item.is_companion() {
            item.crd.clone()
        } else {
            format!("{} {}", item.kind, item.crd)
        },
        item.bundle
            .as_deref()
            .map(|b| format!(" (bundle {b}, {})", item.class))
            .unwrap_or_else(|| format!(" ({})", item.class))
    )));
    out.push_str(&line(format!(
        "installed: {}{}",
        installed_text(item.installed.as_ref()),
        item.installed
            .as_ref()
            .map(|i| format!(
                "; stored versions [{}]; owner {}",
                i.stored_versions.join(", "),
                i.owner.as_deref().unwrap_or("none")
            ))
            .unwrap_or_default()
    )));
    out.push_str(&line(format!("desired: {}", desired_text(&item.desired))));
    if let Some(rv) = &item.observed_resource_version {
        out.push_str(&line(format!(
            "observed resourceVersion {rv}: every write of this item is conditioned on it"
        )));
    }
    let flags = review::override_flags(plan);
    if !flags.is_empty() {
        out.push_str(&line(format!("overrides in effect: {}", flags.join(" "))));
    }
    out.push('\n');
    out.push_str(&heading(4, "Reasons"));
    for reason in &item.reasons {
        out.push_str(&line(format!(
            "{}: {}",
            reason.code.as_str(),
            reason.message
        )));
    }
    if item.reasons.is_empty() {
        out.push_str(&line("(none)".to_string()));
    }
    out.push('\n');
    if item.rule_rows.is_empty() {
        out.push_str(&heading(4, "Decision table"));
        out.push_str(&line(
            "a companion object follows its bundle's decision; the table's rows are the CRDs'"
                .to_string(),
        ));
    } else {
        out.push_str(&heading(4, "Decision table (SPEC §2), row by row"));
        let mut grid = Grid::new(&["ROW", "RULE", "OUTCOME", "ACTION", "REASON"]);
        for row in &item.rule_rows {
            let outcome = Cell::from(outcome_text(row.outcome));
            let outcome = match (row.outcome, row.action) {
                (RowOutcome::Decides | RowOutcome::AlsoBlocks, Some(action)) => {
                    outcome.painted(palette::action(action))
                }
                _ => outcome,
            };
            grid.row(vec![
                Cell::from(row.row.to_string()),
                Cell::code(row.rule.as_str()),
                outcome,
                Cell::from(row.action.map(|a| a.as_str()).unwrap_or("")),
                Cell::from(
                    row.reasons
                        .iter()
                        .map(|r| r.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ]);
        }
        out.push_str(&grid.render(style, "  ", width));
    }
    out.push('\n');
    if let Some(bundle) = e.bundle {
        out.push_str(&heading(
            4,
            &format!(
                "Bundle {} ({}): {} -> {}: {}",
                bundle.name,
                bundle.class,
                review::bundle_state(bundle.installed.as_ref()),
                review::bundle_state(bundle.desired.as_ref()),
                bundle.decision.as_str().to_uppercase()
            ),
        ));
        for reason in &bundle.reasons {
            out.push_str(&line(format!(
                "{}: {}",
                reason.code.as_str(),
                reason.message
            )));
        }
        for check in &e.preflight {
            out.push_str(&line(format!(
                "preflight {} {}: {}",
                review::check_mark(check.status),
                check.check,
                check.message
            )));
        }
        out.push('\n');
    }
    let findings: Vec<(&str, &crdguard_schema::Finding)> = item
        .findings
        .iter()
        .map(|f| (item.crd.as_str(), f))
        .collect();
    let (errors, warnings) = review::severity_counts(&findings);
    out.push_str(&heading(
        4,
        &format!(
            "Schema findings ({errors} error, {warnings} warning, {} info)",
            findings.len() - errors - warnings
        ),
    ));
    if findings.is_empty() {
        out.push_str(&line(
            "none (findings are computed for CRDs that would be written)".to_string(),
        ));
    } else {
        let mut sorted = findings;
        sorted.sort_by_key(|(_, f)| f.severity);
        out.push_str(&findings_table(&sorted, false).render(style, "  ", width));
    }
    if let Some(objects) = &item.objects {
        out.push('\n');
        out.push_str(&heading(
            4,
            &format!(
                "Stored objects: {} checked against the new schema, {} violation(s) named",
                objects.checked,
                objects.violations.len()
            ),
        ));
        for v in &objects.violations {
            out.push_str(&line(format!(
                "{} ({}) {} {}: {}",
                v.object, v.version, v.check, v.path, v.message
            )));
        }
    }
    out.push('\n');
    let verdict = if item.action.stops() {
        let next: Vec<&str> = crdguard_core::plan::next_steps(&only(plan, index))
            .iter()
            .filter_map(|s| s.flag)
            .collect();
        if next.is_empty() {
            "Verdict for this item: BLOCKED".to_string()
        } else {
            format!(
                "Verdict for this item: BLOCKED; next: the same command with {}",
                next.join(" ")
            )
        }
    } else {
        format!("Verdict for this item: {}", item.action.as_str())
    };
    match style {
        Style::Table => {
            out.push_str(&palette::paint(
                &verdict,
                palette::verdict(item.action.stops()),
            ));
            out.push('\n');
        }
        Style::Markdown => {
            out.push_str(&format!("**{}**\n", super::markdown::escape_text(&verdict)))
        }
    }
    match (style, width) {
        (Style::Table, Some(width)) => super::grid::fit_lines(&out, width),
        _ => out,
    }
}

/// The plan with only the item at `index`, for the next steps of that item alone.
fn only(plan: &Plan, index: usize) -> Plan {
    let mut one = plan.clone();
    one.items = vec![plan.items[index].clone()];
    one.preflight.clear();
    one
}
