//! One module per command; shared input handling here.

pub mod apply;
pub mod catalog;
pub mod check;
pub mod completions;
pub mod diff;
pub mod explain;
pub mod guard;
pub mod install;
pub mod man;
pub mod migrate;
pub mod objects;
pub mod plan;
pub mod post_render;
pub mod rbac;
pub mod requirements;
pub mod saved_plan;
pub mod snapshot;
pub mod status;

use std::path::Path;

use crdguard_core::{ObservedState, Policy};
use crdguard_kube::{Cluster, ConnectOptions};
use crdguard_sources::{Options, ReadLimits, Source};

use crate::cli::ClusterArgs;
use crate::exit::CliError;

/// Leaves large loaded state to the process's exit instead of freeing it node by node: dropping
/// the values of a 2,000-CRD plan took a twentieth of its time, and the OS reclaims them at exit
/// anyway. Only for state a one-shot command no longer needs.
pub fn free_at_exit<T>(state: T) {
    std::mem::forget(state);
}

/// Input limits, adjustable through the environment for unusually large inputs.
pub fn input_options() -> Result<Options, CliError> {
    let mut options = Options::default();
    if let Some(bytes) = env_bytes("CRDGUARD_MAX_INPUT_BYTES")? {
        options.read = ReadLimits {
            max_file_bytes: bytes,
            max_archive_bytes: bytes,
        };
    }
    if let Some(bytes) = env_bytes("CRDGUARD_MAX_DOCUMENT_BYTES")? {
        options.parse.max_document_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    Ok(options)
}

fn env_bytes(name: &str) -> Result<Option<u64>, CliError> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| CliError::usage(format!("{name}={value:?} is not a number of bytes"))),
        Err(_) => Ok(None),
    }
}

/// The observed state: a snapshot file, or the live cluster of the kubeconfig.
pub fn observed_state(args: &ClusterArgs, options: Options) -> Result<ObservedState, CliError> {
    match &args.snapshot {
        Some(path) => Ok(crdguard_sources::load_snapshot(
            path,
            args.server_version.as_deref(),
            options,
        )?),
        None => {
            let connect = connect_options(args);
            let mut observed = runtime()?.block_on(async {
                let cluster = connect_live(&connect).await?;
                Ok::<_, CliError>(cluster.observe().await?)
            })?;
            if let Some(text) = &args.server_version {
                observed.server_version = Some(
                    text.parse()
                        .map_err(|e: String| CliError::usage(format!("--server-version: {e}")))?,
                );
                observed.server_version_text = Some(text.clone());
            }
            Ok(observed)
        }
    }
}

/// How to reach the live cluster of the plan-like commands.
pub fn connect_options(args: &ClusterArgs) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        request_timeout: None,
        ..ConnectOptions::default()
    }
}

/// The catalog (built in, plus the user's added releases), as the planner's identifier.
pub fn catalog_identifier() -> Result<&'static dyn crdguard_core::identify::Identifier, CliError> {
    catalog::catalog().map(|c| c as &dyn crdguard_core::identify::Identifier)
}

/// Evaluates the cluster's ValidatingAdmissionPolicies against planned writes (when it has any).
pub fn admission_predictor(observed: &ObservedState) -> Option<crdguard_guard::PolicyEvaluator> {
    (!observed.admission.is_empty())
        .then(|| crdguard_guard::PolicyEvaluator::from_observed(observed))
}

/// A tokio runtime for the commands that talk to a cluster.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))
}

/// Connects, warning when the kubeconfig turned TLS verification off.
pub async fn connect_live(options: &ConnectOptions) -> Result<Cluster, CliError> {
    let cluster = Cluster::connect(options).await?;
    if cluster.insecure {
        tracing::warn!(
            server = cluster.server(),
            "TLS verification is disabled by the kubeconfig (insecure-skip-tls-verify)"
        );
        eprintln!(
            "warning: TLS verification is disabled for {} by the kubeconfig (insecure-skip-tls-verify)",
            cluster.server()
        );
    }
    Ok(cluster)
}

/// Connects for a command that writes, and makes SIGINT and SIGTERM stop it cleanly: writes in
/// flight finish, no new one starts, and the report says what was and was not written. A second
/// signal ends the process at once (exit 130), for a user who will not wait.
pub async fn connect_for_writes(options: &ConnectOptions) -> Result<Cluster, CliError> {
    let stop = crdguard_kube::StopSignal::default();
    let handler = stop.clone();
    tokio::spawn(async move {
        let Some(first) = next_signal().await else {
            return;
        };
        eprintln!("{first}: finishing the requests in flight, then stopping (again to abort)");
        handler.request(format!("interrupted by {first}"));
        if next_signal().await.is_some() {
            std::process::exit(130);
        }
    });
    let options = ConnectOptions {
        stop,
        ..options.clone()
    };
    connect_live(&options).await
}

/// The next SIGINT or SIGTERM, by name; `None` when signals cannot be watched.
#[cfg(unix)]
async fn next_signal() -> Option<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).ok()?;
    let mut terminate = signal(SignalKind::terminate()).ok()?;
    tokio::select! {
        _ = interrupt.recv() => Some("SIGINT"),
        _ = terminate.recv() => Some("SIGTERM"),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<&'static str> {
    tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
}

pub fn live_options(args: &crate::cli::LiveArgs) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        request_timeout: Some(args.request_timeout),
        ..ConnectOptions::default()
    }
}

/// Progress on stderr when it is a terminal and the output is for people: lines about what
/// happens, and a bar with counts and ETA for counted work (indicatif). Silent otherwise, so
/// JSON, YAML and piped runs carry none of it.
pub struct TerminalProgress {
    enabled: bool,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl TerminalProgress {
    pub fn new(output: crate::cli::Output) -> Self {
        use std::io::IsTerminal;
        TerminalProgress {
            enabled: matches!(
                output,
                crate::cli::Output::Table | crate::cli::Output::Markdown
            ) && std::io::stderr().is_terminal(),
            bar: std::sync::Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<indicatif::ProgressBar>)) {
        // A poisoned lock only means a panic elsewhere; progress is not worth a second one.
        if let Ok(mut bar) = self.bar.lock() {
            f(&mut bar);
        }
    }
}

impl crdguard_kube::Progress for TerminalProgress {
    fn message(&self, text: &str) {
        if !self.enabled {
            return;
        }
        self.with_bar(|bar| match bar {
            // Above the bar, which is drawn again under it.
            Some(bar) => bar.println(format!("  {text}")),
            None => eprintln!("  {text}"),
        });
    }

    fn start(&self, what: &str, total: u64) {
        if !self.enabled {
            return;
        }
        self.with_bar(|bar| {
            if let Some(old) = bar.take() {
                old.finish_and_clear();
            }
            let style = indicatif::ProgressStyle::with_template(
                "  {prefix} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            let new = indicatif::ProgressBar::new(total)
                .with_style(style)
                .with_prefix(what.to_string());
            new.enable_steady_tick(std::time::Duration::from_millis(200));
            *bar = Some(new);
        });
    }

    fn advance(&self, n: u64) {
        self.with_bar(|bar| {
            if let Some(bar) = bar {
                bar.inc(n);
            }
        });
    }

    fn finish(&self) {
        self.with_bar(|bar| {
            if let Some(bar) = bar.take() {
                // The final count stays on screen: what was done, at a glance.
                bar.finish();
            }
        });
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        crdguard_kube::Progress::finish(self);
    }
}

pub fn policy_file(path: Option<&Path>, options: Options) -> Result<Option<Policy>, CliError> {
    path.map(|p| crdguard_sources::load_policy(p, options))
        .transpose()
        .map_err(CliError::from)
}

pub fn sources(args: &[String], charts: &[std::path::PathBuf]) -> Vec<Source> {
    args.iter()
        .map(|a| Source::from_arg(a))
        .chain(charts.iter().cloned().map(Source::Chart))
        .collect()
}
