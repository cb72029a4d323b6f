//! The `crdguard` binary: parses the command line, runs one command, maps the outcome to an
//! exit code. The work happens in `crdguard-core` and the adapter crates.

mod cli;
mod commands;
mod exit;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                Exit::BadInput as u8
            } else {
                0
            });
        }
    };
    init_tracing(&cli.log_level);
    let outcome = match &cli.command {
        Command::Plan(args) => commands::plan::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Catalog(args) => commands::catalog::run(args),
        Command::Guard(args) => commands::guard::run(args),
        Command::Rbac(args) => commands::rbac::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Install(args) => commands::install::run(args),
        Command::PostRender => commands::post_render::run(),
        Command::Snapshot(args) => commands::snapshot::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
    };
    match outcome {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            ExitCode::from(err.exit() as u8)
        }
    }
}

fn init_tracing(level: &str) {
    // kube-client logs every failed connection attempt at ERROR; crdguard reports the failure
    // itself, once, so the client's own logs only show at debug and trace.
    let directives = if matches!(level, "debug" | "trace") {
        level.to_string()
    } else {
        format!("{level},kube_client=off,kube_runtime=off,tower=off,hyper=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
