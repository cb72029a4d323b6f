//! Output: JSON (the contract), tables for people, Markdown for pull requests and CI summaries.

pub mod catalog;
mod explain;
mod grid;
mod human;
mod markdown;
mod palette;
mod review;

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crdguard_core::plan::Plan;
use crdguard_core::status::Status;

use crate::cli::Output;
use crdguard_app::CommandError;

pub use grid::Style;

/// How a report for people is laid out, resolved once per run.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// `--details`: every item and finding, not only what changes or blocks.
    pub details: bool,
    /// The terminal's width when stdout is one; `None` when piped (one row per line).
    pub width: Option<usize>,
}

impl View {
    pub fn new(details: bool) -> Self {
        let width = std::io::stdout()
            .is_terminal()
            .then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
            .flatten();
        View { details, width }
    }
}

pub fn plan(plan: &Plan, output: Output, view: View) -> Result<(), CommandError> {
    match output {
        Output::Json => json(plan),
        Output::Yaml => yaml(plan),
        Output::Table => emit_for_people(&review::text(plan, view.details, view.width)),
        Output::Markdown => emit(&markdown::plan(plan, view.details)),
    }
}

/// One item of `plan` in full (`crdguard explain`).
pub fn explain(plan: &Plan, index: usize, output: Output) -> Result<(), CommandError> {
    match output {
        Output::Json => json(&explain::explanation(plan, index)),
        Output::Yaml => yaml(&explain::explanation(plan, index)),
        Output::Table => emit_for_people(&explain::text(
            plan,
            index,
            Style::Table,
            View::new(false).width,
        )),
        Output::Markdown => emit(&explain::text(plan, index, Style::Markdown, None)),
    }
}

pub fn status(status: &Status, output: Output) -> Result<(), CommandError> {
    let view = View::new(false);
    match output {
        Output::Json => json(status),
        Output::Yaml => yaml(status),
        Output::Table => emit_for_people(&human::status(status, Style::Table, view.width)),
        Output::Markdown => emit(&human::status(status, Style::Markdown, None)),
    }
}

pub fn diff(
    diff: &crdguard_schema::SetDiff,
    no_info: bool,
    output: Output,
) -> Result<(), CommandError> {
    let view = View::new(false);
    match output {
        Output::Json => json(diff),
        Output::Yaml => yaml(diff),
        Output::Table => emit_for_people(&human::diff(diff, no_info, Style::Table, view.width)),
        Output::Markdown => emit(&human::diff(diff, no_info, Style::Markdown, None)),
    }
}

/// Kubernetes objects to apply by hand: a YAML stream (`---` before each) or a JSON array.
pub fn documents(
    documents: &[serde_json::Value],
    format: crate::cli::SnapshotFormat,
) -> Result<(), CommandError> {
    match format {
        // A `v1 List`, never a bare array: `kubectl apply -f -` takes the one, not the other.
        crate::cli::SnapshotFormat::Json => json(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": documents,
        })),
        crate::cli::SnapshotFormat::Yaml => {
            let mut text = String::new();
            for document in documents {
                text.push_str("---\n");
                text.push_str(
                    &crdguard_core::yaml::to_string(document).map_err(CommandError::internal)?,
                );
            }
            emit(&text)
        }
    }
}

/// `check` prints the preflight part of a plan.
pub fn check(plan: &Plan, output: Output) -> Result<(), CommandError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct CheckReport<'a> {
        api_version: &'a str,
        kind: &'a str,
        cluster: &'a crdguard_core::plan::ClusterInfo,
        preflight: &'a [crdguard_core::plan::PreflightCheck],
        verdict: &'a str,
    }
    let failed = plan
        .preflight
        .iter()
        .any(|c| c.status == crdguard_core::plan::CheckStatus::Fail);
    let report = CheckReport {
        api_version: plan.api_version,
        kind: "Check",
        cluster: &plan.cluster,
        preflight: &plan.preflight,
        verdict: if failed { "blocked" } else { "ok" },
    };
    match output {
        Output::Json => json(&report),
        Output::Yaml => yaml(&report),
        Output::Table => emit_for_people(&human::check(
            plan,
            failed,
            Style::Table,
            View::new(false).width,
        )),
        Output::Markdown => emit(&human::check(plan, failed, Style::Markdown, None)),
    }
}

pub fn json<T: Serialize>(value: &T) -> Result<(), CommandError> {
    emit(&to_json(value)?)
}

/// Pretty JSON and a final newline, as every `-o json` prints it.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, CommandError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CommandError::internal(format!("cannot serialize the report: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// The same object as `-o json`, as YAML (SPEC §3 v2).
pub fn yaml<T: Serialize>(value: &T) -> Result<(), CommandError> {
    emit(&to_yaml(value)?)
}

pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, CommandError> {
    // Through a JSON value, so YAML holds exactly what `-o json` holds.
    let value = serde_json::to_value(value)
        .map_err(|e| CommandError::internal(format!("cannot serialize the report: {e}")))?;
    crdguard_core::yaml::to_string(&value)
        .map_err(|e| CommandError::internal(format!("cannot serialize the report: {e}")))
}

/// Text for people: colour kept on a terminal (or `--color always`), stripped otherwise.
fn emit_for_people(text: &str) -> Result<(), CommandError> {
    let mut out = anstream::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CommandError::usage(format!("cannot write to stdout: {e}"))),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit_text(text: &str) -> Result<(), CommandError> {
    emit(text)
}

fn emit(text: &str) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CommandError::usage(format!("cannot write to stdout: {e}"))),
    }
}
