//! What every action shares: input limits, the policy file, reaching the cluster (runtime,
//! connection, stop on signals) and the observed state.

use std::path::Path;
use std::sync::OnceLock;

use crdguard_core::{ObservedState, Policy};
use crdguard_kube::{Cluster, ConnectOptions};
use crdguard_sources::{Options, Source};

use crate::error::CommandError;
use crate::settings::{ClusterSettings, LiveSettings};

/// Leaves large loaded state to the process's exit instead of freeing it node by node: dropping
/// the values of a 2,000-CRD plan took a twentieth of its time, and the OS reclaims them at exit
/// anyway. Only for state a one-shot command no longer needs.
pub fn free_at_exit<T>(state: T) {
    std::mem::forget(state);
}

/// The input limits of this run, set once by the caller before any action runs.
static INPUT_LIMITS: OnceLock<Options> = OnceLock::new();

/// Sets the limits for everything read from the user, for the whole run (the CLI resolves them
/// from its environment once, at start). Process-wide, as the allocator is: every action
/// reads inputs, and a limit that differed between two reads of one run would be a bug. A
/// second call is ignored.
pub fn set_input_limits(options: Options) {
    let _ = INPUT_LIMITS.set(options);
}

/// The limits set with [`set_input_limits`], else the defaults.
pub fn input_options() -> Options {
    INPUT_LIMITS.get().copied().unwrap_or_default()
}

/// The observed state: a snapshot file, or the live cluster of the kubeconfig.
pub fn observed_state(
    args: &ClusterSettings,
    options: Options,
) -> Result<ObservedState, CommandError> {
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
                Ok::<_, CommandError>(cluster.observe().await?)
            })?;
            if let Some(text) = &args.server_version {
                let stand_in = text
                    .parse()
                    .map_err(|e: String| CommandError::usage(format!("--server-version: {e}")))?;
                // SPEC §3: the flag stands in for the server's version offline; against a live
                // server it is a what-if, and it says so rather than pass silently.
                if observed.server_version.as_ref() != Some(&stand_in) {
                    tracing::warn!(
                        "--server-version {text} stands in for the live server's {}: version \
                         checks use {text}",
                        observed
                            .server_version_text
                            .as_deref()
                            .unwrap_or("unknown version")
                    );
                }
                observed.server_version = Some(stand_in);
                observed.server_version_text = Some(text.clone());
            }
            Ok(observed)
        }
    }
}

/// How to reach the live cluster of the plan-like commands.
pub fn connect_options(args: &ClusterSettings) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        request_timeout: None,
        ..ConnectOptions::default()
    }
}

/// The catalog (built in, plus the user's added releases), as the planner's identifier.
pub fn catalog_identifier() -> Result<&'static dyn crdguard_core::identify::Identifier, CommandError>
{
    crate::catalog::catalog().map(|c| c as &dyn crdguard_core::identify::Identifier)
}

/// Evaluates the cluster's ValidatingAdmissionPolicies against planned writes (when it has any).
pub fn admission_predictor(
    observed: &ObservedState,
) -> Option<crdguard_admission::PolicyEvaluator> {
    (!observed.admission.is_empty())
        .then(|| crdguard_admission::PolicyEvaluator::from_observed(observed))
}

/// A tokio runtime for the commands that talk to a cluster.
pub fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CommandError::usage(format!("cannot start the async runtime: {e}")))
}

/// Connects, warning when the kubeconfig turned TLS verification off.
pub async fn connect_live(options: &ConnectOptions) -> Result<Cluster, CommandError> {
    let cluster = Cluster::connect(options).await?;
    if cluster.insecure {
        // Through the logs, which show warnings unless the user asked for errors only; it was
        // also printed with eprintln!, so people saw it twice.
        tracing::warn!(
            "TLS verification is disabled for {} by the kubeconfig (insecure-skip-tls-verify)",
            cluster.server()
        );
    }
    Ok(cluster)
}

/// Connects for a command that writes, and makes SIGINT and SIGTERM stop it cleanly: writes in
/// flight finish, no new one starts, and the report says what was and was not written. A second
/// signal ends the process at once (exit 130), for a user who will not wait.
pub async fn connect_for_writes(options: &ConnectOptions) -> Result<Cluster, CommandError> {
    let stop = crdguard_kube::StopSignal::default();
    let handler = stop.clone();
    tokio::spawn(async move {
        let Some(first) = next_signal().await else {
            return;
        };
        tracing::warn!("{first}: finishing the requests in flight, then stopping (again to abort)");
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

pub fn live_options(args: &LiveSettings) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        request_timeout: Some(args.request_timeout),
        ..ConnectOptions::default()
    }
}

pub fn policy_file(path: Option<&Path>, options: Options) -> Result<Option<Policy>, CommandError> {
    path.map(|p| crdguard_sources::load_policy(p, options))
        .transpose()
        .map_err(CommandError::from)
}

pub fn sources(args: &[String], charts: &[std::path::PathBuf]) -> Vec<Source> {
    args.iter()
        .map(|a| Source::from_arg(a))
        .chain(charts.iter().cloned().map(Source::Chart))
        .collect()
}
