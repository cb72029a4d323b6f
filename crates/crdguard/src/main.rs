//! The `crdguard` binary: parses the command line, runs one command, maps the outcome to an
//! exit code. The work happens in `crdguard-core` and the adapter crates.

mod cli;
mod commands;
mod render;
mod settings;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};
use crdguard_app::{CommandError, Exit};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match parse(std::env::args_os()) {
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
    // Resolved once: every writer for people (anstream) and the logs follow it; `auto` leaves
    // the decision to anstream (a terminal, NO_COLOR, CLICOLOR_FORCE).
    anstream::ColorChoice::write_global(match cli.color {
        cli::ColorWhen::Auto => anstream::ColorChoice::Auto,
        cli::ColorWhen::Always => anstream::ColorChoice::Always,
        cli::ColorWhen::Never => anstream::ColorChoice::Never,
    });
    init_tracing(&cli.log_level);
    // A panic is crdguard's bug, never the input's: it exits 4 with a line saying so, after
    // the panic's own message, instead of Rust's 101.
    let outcome = std::panic::catch_unwind(|| {
        crdguard_app::session::set_input_limits(settings::input_limits()?);
        dispatch(&cli)
    })
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Err(CommandError::internal(format!("crdguard panicked: {what}")))
    });
    match outcome {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            ExitCode::from(err.exit() as u8)
        }
    }
}

fn dispatch(cli: &Cli) -> Result<Exit, CommandError> {
    match &cli.command {
        Command::Plan(args) => commands::plan::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Catalog(args) => commands::catalog::run(args),
        Command::Guard(args) => commands::guard::run(args),
        Command::Rbac(args) => commands::rbac::run(args),
        Command::Requirements(args) => commands::requirements::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Install(args) => commands::install::run(args),
        Command::PostRender => commands::post_render::run(),
        Command::Snapshot(args) => commands::snapshot::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Man(args) => commands::man::run(args),
    }
}

/// Parses the command line as `Cli::try_parse` does, with usage and help naming the command as
/// it was invoked: `kubectl crdguard` for the kubectl plugin (a binary or link named
/// `kubectl-crdguard` on PATH), `helm crdguard` under the Helm plugin (plugin.yaml).
fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let mut args = args.into_iter().peekable();
    let helm_plugin = std::env::var_os("HELM_PLUGIN_NAME");
    let mut command = Cli::command();
    if let Some(name) = invoked_as(
        args.peek().map(std::path::Path::new),
        helm_plugin.as_deref(),
    ) {
        command = command.bin_name(name);
    }
    let mut matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|err| err.format(&mut command))
}

/// The name usage and help give the command, when it is not the binary's own file name.
fn invoked_as(
    argv0: Option<&std::path::Path>,
    helm_plugin: Option<&std::ffi::OsStr>,
) -> Option<&'static str> {
    let stem = argv0
        .and_then(|path| path.file_stem())
        .and_then(|s| s.to_str());
    if stem == Some("kubectl-crdguard") {
        Some("kubectl crdguard")
    } else if helm_plugin.is_some_and(|name| name == "crdguard") {
        Some("helm crdguard")
    } else {
        None
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
    // Escapes as `--color` decides for stderr: logs sent to a file or a CI log stay plain text.
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // Diagnostics carry the time since start (where the seconds of a slow run go); warnings for
    // people do not.
    let _ = if matches!(level, "debug" | "trace") {
        builder
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init()
    } else {
        builder.without_time().try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::path::Path;

    #[test]
    fn plugin_names() {
        let kubectl = Some(Path::new("/usr/local/bin/kubectl-crdguard"));
        assert_eq!(invoked_as(kubectl, None), Some("kubectl crdguard"));
        let exe = Some(Path::new("C:/bin/kubectl-crdguard.exe"));
        assert_eq!(invoked_as(exe, None), Some("kubectl crdguard"));
        let plain = Some(Path::new("target/release/crdguard"));
        assert_eq!(invoked_as(plain, None), None);
        let helm = Some(OsStr::new("crdguard"));
        assert_eq!(invoked_as(plain, helm), Some("helm crdguard"));
        // The post-renderer plugin runs `crdguard post-render` under its own name.
        let post_render = Some(OsStr::new("crdguard-post-render"));
        assert_eq!(invoked_as(plain, post_render), None);
    }

    #[test]
    fn usage_names_the_plugin() {
        let err = parse(["kubectl-crdguard", "--no-such-flag"].map(Into::into))
            .err()
            .map(|e| e.render().to_string())
            .unwrap_or_default();
        assert!(err.contains("Usage: kubectl crdguard"), "{err}");
    }
}
