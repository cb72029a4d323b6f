//! A plan as a pull-request comment (SPEC §3 v2): summary table first, the verdict on its own
//! line, blocked and conflicting items named first, infos and long lists folded in
//! `<details>`, names and JSON paths in code spans, and never more than [`LIMIT`] characters
//! (GitHub refuses comments over 65,536), whatever the plan: a table that does not fit is cut
//! with a count of what was left out.

use crdguard_core::plan::{ItemPlan, Plan};
use crdguard_schema::Finding;

use super::grid::Grid;
use super::review::{self, Review};

/// The most characters a comment may have.
pub const LIMIT: usize = 60_000;

/// The longest a table cell gets; the JSON report has every word.
const CELL_LIMIT: usize = 400;

/// Room kept for the lines after the big tables (notes of what was cut, outcome, warnings).
const TAIL_RESERVE: usize = 4_000;

/// Plain words for Markdown: every character that could start emphasis, a link, HTML, an
/// entity or a table cell is escaped, and newlines become spaces (table cells are one line).
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in shorten(text).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A name or JSON path as a code span: no emphasis inside, `|` escaped for GFM tables (the
/// table is split on `|` before code spans are read), and a fence longer than any run of
/// backticks in the text.
pub fn code_span(text: &str) -> String {
    let text = shorten(text).replace(['\n', '\r'], " ").replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= CELL_LIMIT {
        return text.into();
    }
    let mut out: String = text.chars().take(CELL_LIMIT - 1).collect();
    out.push('…');
    out.into()
}

/// A comment under construction that knows how much room is left.
struct Comment {
    text: String,
    /// The size the big tables may fill up to.
    budget: usize,
}

impl Comment {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// A table with as many rows as fit in the budget, then a line counting the rest.
    fn table(&mut self, grid: &Grid, what: &str) {
        let header = grid.markdown_header();
        if self.text.len() + header.len() > self.budget {
            self.push(&format!(
                "{} {what} not shown (the comment's size limit); `-o json` lists them all.\n\n",
                grid.len()
            ));
            return;
        }
        self.push(&header);
        let mut shown = 0;
        for row in grid.markdown_rows() {
            if self.text.len() + row.len() > self.budget {
                break;
            }
            self.push(&row);
            shown += 1;
        }
        self.push("\n");
        if shown < grid.len() {
            self.push(&format!(
                "… and {} more {what} not shown (the comment's size limit); `-o json` lists them all.\n\n",
                grid.len() - shown
            ));
        }
    }

    /// Names in code spans, comma-separated, as many as fit.
    fn names(&mut self, items: &[&ItemPlan]) {
        let mut shown = 0;
        for item in items {
            let name = code_span(&item.crd);
            if self.text.len() + name.len() + 2 > self.budget {
                break;
            }
            if shown > 0 {
                self.push(", ");
            }
            self.push(&name);
            shown += 1;
        }
        if shown < items.len() {
            self.push(&format!(" … and {} more", items.len() - shown));
        }
        self.push("\n\n");
    }
}

fn details_open(comment: &mut Comment, summary: &str) {
    comment.push(&format!(
        "<details><summary>{}</summary>\n\n",
        html_escape(summary)
    ));
}

fn details_close(comment: &mut Comment) {
    comment.push("</details>\n\n");
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn plan(plan: &Plan, details: bool) -> String {
    let review = Review::of(plan);
    let mut c = Comment {
        text: String::new(),
        budget: LIMIT - TAIL_RESERVE,
    };
    c.push("### crdguard plan\n\n");
    // Summary table first, then the verdict on a line of its own.
    let s = &plan.summary;
    c.push(
        "| create | upgrade | unchanged | keep | conflict | blocked |\n|---|---|---|---|---|---|\n",
    );
    c.push(&format!(
        "| {} | {} | {} | {} | {} | {} |\n\n",
        s.create, s.upgrade, s.unchanged, s.keep, s.conflict, s.blocked
    ));
    c.push(&format!(
        "**Verdict: {}**\n\n",
        escape_text(&review::verdict(plan))
    ));
    if !review.next.is_empty() {
        c.push("Next:\n\n");
        for step in &review.next {
            c.push(&format!(
                "- {}{}{}\n",
                step.flag
                    .map(|f| format!("{} ", code_span(f)))
                    .unwrap_or_default(),
                review::step_count(step),
                escape_text(&step.text)
            ));
        }
        c.push("\n");
    }
    let mut context = format!(
        "Cluster: {}.",
        escape_text(&review::cluster_text(&plan.cluster))
    );
    let flags = review::override_flags(plan);
    if !flags.is_empty() {
        let spans: Vec<String> = flags.iter().map(|f| code_span(f)).collect();
        context.push_str(&format!(" Overrides in effect: {}.", spans.join(" ")));
    }
    if let Some(release) = &plan.overrides.release {
        context.push_str(&format!(
            " Your own CRDs: those of Helm release {} in namespace {}.",
            code_span(&release.name),
            code_span(&release.namespace)
        ));
    }
    c.push(&context);
    c.push("\n\n");
    let outcome = review::outcome_lines(plan);
    if !outcome.is_empty() {
        for line in outcome.iter().take(60) {
            c.push(&format!("{}  \n", escape_text(line.trim_start())));
        }
        if outcome.len() > 60 {
            c.push(&format!("… and {} more lines\n", outcome.len() - 60));
        }
        c.push("\n");
    }

    let failing = plan
        .preflight
        .iter()
        .any(|p| p.status != crdguard_core::plan::CheckStatus::Pass);
    if failing {
        c.push("#### Preflight\n\n");
        c.table(&review::preflight_grid(plan), "checks");
    } else if !plan.preflight.is_empty() {
        details_open(
            &mut c,
            &format!("Preflight: {} checks pass", plan.preflight.len()),
        );
        c.table(&review::preflight_grid(plan), "checks");
        details_close(&mut c);
    }
    if !plan.bundles.is_empty() {
        c.push("#### Bundles\n\n");
        c.table(&review::bundles_grid(plan, " → ", details), "bundles");
    }
    if !review.stopping.is_empty() {
        c.push(&format!(
            "#### Blocked or in conflict ({})\n\n",
            review.stopping.len()
        ));
        c.table(&review::items_grid(&review.stopping, " → "), "items");
    }
    if !review.writing.is_empty() {
        c.push(&format!("#### Changes ({})\n\n", review.writing.len()));
        c.table(&review::items_grid(&review.writing, " → "), "items");
    }
    if !review.listed.is_empty() {
        let (errors, warnings) = review::severity_counts(&review.listed);
        c.push(&format!(
            "#### Schema findings ({errors} error, {warnings} warning)\n\n"
        ));
        c.table(&review::findings_grid(&review.listed), "findings");
    }
    if !review.infos.is_empty() {
        details_open(
            &mut c,
            &format!(
                "{} info findings: {}",
                review.infos.len(),
                review.info_summary()
            ),
        );
        let infos: &[(&str, &Finding)] = &review.infos;
        c.table(&review::findings_grid(infos), "info findings");
        details_close(&mut c);
    }
    if !review.quiet.is_empty() {
        details_open(&mut c, &format!("Not changed: {}", review.quiet_counts()));
        if details {
            c.table(&review::items_grid(&review.quiet, " → "), "items");
        } else {
            c.names(&review.quiet);
        }
        details_close(&mut c);
    }
    // What is left of the reserve: warnings about the inputs, then stored objects.
    c.budget = LIMIT - 200;
    if !plan.warnings.is_empty() {
        c.push("#### Warnings\n\n");
        let mut grid = Grid::new(&["SOURCE", "WARNING"]);
        for w in &plan.warnings {
            grid.row(vec![
                super::grid::Cell::code(&w.source),
                super::grid::Cell::from(w.message.as_str()),
            ]);
        }
        c.table(&grid, "warnings");
    }
    let checked: Vec<&ItemPlan> = plan.items.iter().filter(|i| i.objects.is_some()).collect();
    if !checked.is_empty() {
        let mut grid = Grid::new(&["CRD", "OBJECTS CHECKED", "VIOLATIONS NAMED"]);
        for item in checked {
            if let Some(objects) = &item.objects {
                grid.row(vec![
                    super::grid::Cell::code(&item.crd),
                    super::grid::Cell::from(objects.checked.to_string()),
                    super::grid::Cell::from(objects.violations.len().to_string()),
                ]);
            }
        }
        c.push("#### Stored objects\n\n");
        c.table(&grid, "CRDs");
    }
    c.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code_span("a|b"), "`a\\|b`");
        assert_eq!(code_span("x`y"), "``x`y``");
        assert_eq!(code_span("`x"), "`` `x ``");
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "word ".repeat(200);
        let escaped = escape_text(&long);
        assert!(escaped.chars().count() <= CELL_LIMIT);
        assert!(escaped.ends_with('…'));
    }
}
