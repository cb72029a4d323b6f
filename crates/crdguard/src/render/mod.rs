//! Output: JSON (the contract), tables for people, Markdown for pull requests and CI summaries.

mod grid;
mod human;

use std::io::Write;

use serde::Serialize;

use crdguard_core::plan::Plan;
use crdguard_core::status::Status;

use crate::cli::Output;
use crate::exit::CliError;

pub use grid::Style;

pub fn plan(plan: &Plan, output: Output) -> Result<(), CliError> {
    match output {
        Output::Json => json(plan),
        Output::Table => emit(&human::plan(plan, Style::Table)),
        Output::Markdown => emit(&human::plan(plan, Style::Markdown)),
    }
}

pub fn status(status: &Status, output: Output) -> Result<(), CliError> {
    match output {
        Output::Json => json(status),
        Output::Table => emit(&human::status(status, Style::Table)),
        Output::Markdown => emit(&human::status(status, Style::Markdown)),
    }
}

pub fn diff(
    diff: &crdguard_schema::SetDiff,
    no_info: bool,
    output: Output,
) -> Result<(), CliError> {
    match output {
        Output::Json => json(diff),
        Output::Table => emit(&human::diff(diff, no_info, Style::Table)),
        Output::Markdown => emit(&human::diff(diff, no_info, Style::Markdown)),
    }
}

/// Kubernetes objects to apply by hand: a YAML stream (`---` before each) or a JSON array.
pub fn documents(
    documents: &[serde_json::Value],
    format: crate::cli::SnapshotFormat,
) -> Result<(), CliError> {
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
                text.push_str(&crdguard_core::yaml::to_string(document).map_err(CliError::usage)?);
            }
            emit(&text)
        }
    }
}

/// `check` prints the preflight part of a plan.
pub fn check(plan: &Plan, output: Output) -> Result<(), CliError> {
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
    match output {
        Output::Json => json(&CheckReport {
            api_version: plan.api_version,
            kind: "Check",
            cluster: &plan.cluster,
            preflight: &plan.preflight,
            verdict: if failed { "blocked" } else { "ok" },
        }),
        Output::Table => emit(&human::check(plan, failed, Style::Table)),
        Output::Markdown => emit(&human::check(plan, failed, Style::Markdown)),
    }
}

fn json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::usage(format!("cannot serialize the report: {e}")))?;
    text.push('\n');
    emit(&text)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit_text(text: &str) -> Result<(), CliError> {
    emit(text)
}

fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::usage(format!("cannot write to stdout: {e}"))),
    }
}
