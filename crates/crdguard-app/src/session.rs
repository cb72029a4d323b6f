//! What every action shares: input limits, the policy file, reaching the cluster (runtime,
//! connection, stop on signals) and the observed state.

use std::path::Path;

use crdguard_core::{ObservedState, Policy};
use crdguard_kube::{Cluster, ConnectOptions};
use crdguard_sources::{Options, ReadLimits, Source};

use crate::error::CommandError;
use crate::settings::{ClusterSettings, LiveSettings};

/// Leaves large loaded state to the process's exit instead of freeing it node by node: dropping
/// the values of a 2,000-CRD plan took a twentieth of its time, and the OS reclaims them at exit
/// anyway. Only for state a one-shot command no longer needs.
pub fn free_at_exit<T>(state: T) {
    std::mem::forget(state);
}

/// Input limits, adjustable through the environment for unusually large inputs.
pub fn input_options() -> Result<Options, CommandError> {
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

fn env_bytes(name: &str) -> Result<Option<u64>, CommandError> {
    match std::env::var(name) {
        Ok(value) => {
            value.trim().parse().map(Some).map_err(|_| {
                CommandError::usage(format!("{name}={value:?} is not a number of bytes"))
            })
        }
        Err(_) => Ok(None),
    }
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
                observed.server_version =
                    Some(text.parse().map_err(|e: String| {
                        CommandError::usage(format!("--server-version: {e}"))
                    })?);
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
pub async fn connect_for_writes(options: &ConnectOptions) -> Result<Cluster, CommandError> {
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
