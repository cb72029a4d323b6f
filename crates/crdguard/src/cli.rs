//! Command-line definitions (clap derive). The contract is SPEC §3.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "crdguard",
    version,
    about = "Install, upgrade and guard Kubernetes CustomResourceDefinitions safely",
    long_about = "crdguard plans CRD changes before anything is written: it separates shared, \
upstream CRD bundles (the Gateway API first of all) from a product's own CRDs, checks them \
against a compatibility policy, and never downgrades a bundle, narrows a channel, deletes a CRD \
or drops a stored version that still holds objects.",
    after_help = "Exit codes: 0 ok; 1 the plan holds blocked or conflict items (or a preflight \
check failed); 2 bad usage or bad input; 3 cluster unreachable or API failure.\n\n\
Examples:\n  crdguard plan --chart ./my-chart --snapshot cluster.yaml\n  \
crdguard plan crds/ --policy crdguard.yaml --snapshot cluster.yaml -o json\n  \
crdguard status --snapshot cluster.yaml\n  \
crdguard check --policy crdguard.yaml --snapshot cluster.yaml --server-version v1.33.1"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log verbosity for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, env = "CRDGUARD_LOG", default_value = "warn")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what crdguard would do with each CRD, and why (writes nothing).
    #[command(
        after_help = "The plan has one decision per CRD (create, upgrade, unchanged, keep, \
conflict, blocked) and per bundle, with reason codes, and a preflight. Exit code 1 when anything \
is blocked or in conflict.\n\nSources are CRD files (YAML/JSON, multi-document, v1 List), \
directories (searched recursively for *.yaml, *.yml, *.json), '-' for stdin, and Helm charts \
(directory or .tgz: the chart's crds/ and every subchart's crds/)."
    )]
    Plan(PlanArgs),
    /// Inventory of the cluster's CRDs: bundles, versions, channels, owners, skew, stored versions.
    Status(StatusArgs),
    /// Preflight only: check the cluster against a compatibility policy.
    Check(CheckArgs),
    /// Schema compatibility of two CRD sets, offline (matched by name).
    #[command(
        after_help = "Findings have a severity (error, warning, info), a check name, the \
API version and the JSON path, e.g. `error field-removed v1 .spec.rules[*].matches`. Exit code 1 \
when any error finding exists, 0 otherwise, 2 on bad input."
    )]
    Diff(DiffArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Markdown,
}

/// Where the observed state comes from.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Observed state from a file (`kubectl get crd -o yaml` or `crdguard snapshot`; `-` for stdin)
    /// instead of a live cluster.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// Kubernetes server version to assume offline (e.g. v1.33.1); overrides the snapshot's.
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<String>,

    /// Kubeconfig file for live mode (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", conflicts_with = "snapshot")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context for live mode.
    #[arg(long, value_name = "NAME", conflicts_with = "snapshot")]
    pub context: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// CRD sources: files, directories, charts (dir or .tgz), or `-` for stdin.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,

    /// A Helm chart (directory or .tgz) whose CRDs are the desired state.
    #[arg(long, value_name = "CHART")]
    pub chart: Vec<PathBuf>,

    /// Helm values files for the chart (used when templates are rendered).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// Compatibility policy (default: crdguard.yaml at the chart root, else the built-in default).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Plan to take CRDs over from other owners (Helm releases, field managers).
    #[arg(long)]
    pub take_ownership: bool,

    /// Plan upgrades even when the schema analysis finds breaking changes.
    #[arg(long)]
    pub allow_breaking: bool,

    /// Plan a storage migration where a stored version is dropped.
    #[arg(long)]
    pub migrate: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Compatibility policy, to classify bundles it defines.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Compatibility policy to check against.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,

    /// Optional CRD sources: check the state the plan would leave behind.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old CRDs: a file, directory, chart, or `-` (what is installed, or the previous release).
    #[arg(value_name = "OLD")]
    pub old: String,

    /// The new CRDs: a file, directory, chart, or `-`.
    #[arg(value_name = "NEW")]
    pub new: String,

    /// Hide info findings in table and markdown output.
    #[arg(long)]
    pub no_info: bool,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}
