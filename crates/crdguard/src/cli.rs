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
check failed); 2 bad usage or bad input; 3 cluster unreachable or API failure; 4 internal \
error (a bug in crdguard: please report it).\n\n\
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

    /// Colour in output for people: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what crdguard would do with each CRD, and why (writes nothing).
    #[command(
        after_help = "The plan has one decision per CRD (create, upgrade, unchanged, keep, \
conflict, blocked) and per bundle, with reason codes, and a preflight. Exit code 1 when anything \
is blocked or in conflict.\n\nSources are CRD files (YAML/JSON, multi-document, v1 List), \
directories (searched recursively for *.yaml, *.yml, *.json), '-' for stdin, and Helm charts \
(directory or .tgz: the chart's crds/ and every subchart's crds/).\n\n\
Examples:\n  crdguard plan --chart ./my-chart --snapshot cluster.yaml\n  \
crdguard plan --chart ./my-chart --snapshot cluster.yaml -o markdown > plan.md\n  \
crdguard plan gateway-api@v1.6.1/experimental --for envoy-gateway@v1.9\n  \
crdguard plan --chart oci://docker.io/envoyproxy/gateway-helm --release eg -n envoy-gateway-system\n  \
crdguard plan crds/ --policy crdguard.yaml --context prod -o json > plan.json"
    )]
    Plan(PlanArgs),
    /// Inventory of the cluster's CRDs: bundles, versions, channels, owners, skew, stored versions.
    #[command(
        after_help = "Examples:\n  crdguard status\n  crdguard status --context prod -o json\n  \
crdguard status --snapshot cluster.yaml --policy crdguard.yaml"
    )]
    Status(StatusArgs),
    /// Preflight only: check the cluster against a compatibility policy.
    #[command(
        after_help = "Examples:\n  crdguard check --for envoy-gateway@v1.9\n  \
crdguard check --policy crdguard.yaml --snapshot cluster.yaml --server-version v1.33.1\n  \
crdguard check --policy crdguard.yaml crds/ --snapshot cluster.yaml -o json"
    )]
    Check(CheckArgs),
    /// Run the plan against a live cluster: server-side apply, wait for Established, migrate.
    #[command(
        after_help = "apply computes the same plan as `plan` (live), and writes nothing when \
the plan is blocked or a preflight check fails (exit 1). Writes use server-side apply with field \
manager `crdguard`; CRDs owned by other managers are conflicts unless --take-ownership. \
--dry-run=server sends every write as a server-side dry run. --migrate rewrites objects stored in \
a version the new CRD drops, then trims status.storedVersions, before applying.\n\nThe report \
has the plan's format plus an `apply` section. Exit codes: 0 applied and established; 1 stopped \
safely (blocked, conflict, not established in time, or interrupted); 3 cluster unreachable or API \
failure.\n\nTransient API failures (429, 5xx, timeouts, broken connections) are retried up to 5 \
times with backoff, honouring Retry-After. Ctrl-C or SIGTERM lets the writes in flight finish, \
sends nothing new and reports what was not sent (apply.notSent); run the same command again to \
resume. A second signal exits at once.\n\n\
Examples:\n  crdguard apply --chart ./my-chart --dry-run=server\n  \
crdguard apply gateway-api@v1.6.1 --for envoy-gateway@v1.9 --migrate\n  \
crdguard apply crds/ --take-ownership --context prod --timeout 5m\n  \
crdguard plan --chart ./my-chart -o json > plan.json && crdguard apply --plan plan.json"
    )]
    Apply(ApplyArgs),
    /// Staged Helm install/upgrade: the chart's CRDs through crdguard, then the rest through helm.
    #[command(
        after_help = "Phase 1 renders the chart with the real helm (`helm template \
--include-crds` with your values), plans its CRDs against the live cluster and applies them as \
`apply` does. Phase 2 runs `helm upgrade --install --skip-crds` with crdguard's post-renderer \
(a Helm 4 postrenderer/v1 plugin crdguard provides for that one run), so no CRD goes through \
Helm or into its release Secret. Phase 2 never runs when phase 1 is blocked or fails. Flags \
after `--` go to helm.\n\nExamples:\n  crdguard install eg oci://docker.io/envoyproxy/gateway-helm -n envoy-gateway-system \\\n    \
-- --create-namespace --version v1.9.0\n  \
crdguard install my-app ./my-chart -n apps -f values.yaml --dry-run=server\n  \
helm crdguard install my-app ./my-chart -n apps (as a Helm plugin)"
    )]
    Install(InstallArgs),
    /// Helm post-renderer: reads rendered manifests on stdin, writes them without CRDs.
    #[command(
        after_help = "Used by `crdguard install` through a Helm 4 postrenderer/v1 plugin; \
every document other than a CustomResourceDefinition is passed through byte for byte.\n\n\
Examples:\n  helm template my-app ./my-chart | crdguard post-render\n  \
helm template my-app ./my-chart --include-crds | crdguard post-render > without-crds.yaml"
    )]
    PostRender,
    /// Write the cluster's observed state (CRDs, admission policies, server version) as YAML.
    #[command(after_help = "Examples:\n  crdguard snapshot --file cluster.yaml\n  \
crdguard snapshot --context prod --objects --file cluster-objects.yaml\n  \
crdguard snapshot -o json > cluster.json\n  \
crdguard plan --chart ./my-chart --snapshot cluster.yaml   (plan offline against it)")]
    Snapshot(SnapshotArgs),
    /// Rewrite a CRD's objects in its storage version and trim status.storedVersions.
    #[command(
        after_help = "Every object is listed (paged) and written back unchanged, so the server \
stores it in the storage version; the object count is checked again, and only then is \
status.storedVersions trimmed. Ctrl-C or SIGTERM stops between two objects, before \
storedVersions is touched (exit 1); running the same command again resumes.\n\n\
Examples:\n  crdguard migrate grpcroutes.gateway.networking.k8s.io\n  \
crdguard migrate httproutes.gateway.networking.k8s.io --to v1 --timeout 5m -o json"
    )]
    Migrate(MigrateArgs),
    /// Known upstream bundles and their releases (Gateway API, prometheus-operator), and
    /// built-in product policies.
    #[command(
        after_help = "Examples:\n  crdguard catalog list\n  crdguard catalog show gateway-api\n  \
crdguard catalog show gateway-api@v1.6.1/experimental\n  crdguard catalog show envoy-gateway@v1.9"
    )]
    Catalog(CatalogArgs),
    /// Admission policy that stops other tools from downgrading, narrowing or deleting managed CRDs.
    #[command(after_help = "The guard is a ValidatingAdmissionPolicy and binding \
(admissionregistration.k8s.io/v1, Kubernetes 1.30 or newer) that denies, for the managed \
bundles' CRDs: lowering the bundle version, experimental -> standard, removing the bundle \
annotations, and deleting the CRD. Overrides: the annotation crdguard.dev/allow-downgrade=\"true\" \
in the same write, and the label crdguard.dev/allow-delete=true on the CRD before deleting it. \
Creates, upgrades, channel widening and status updates (storage migrations) are never denied; \
pre-release and dev versions are not compared.\n\n\
Examples:\n  crdguard guard render > guard.yaml\n  \
crdguard guard render --policy crdguard.yaml --server-version v1.34.0\n  \
crdguard guard apply --dry-run=server\n  crdguard guard apply --bundle gateway-api --context prod")]
    Guard(GuardArgs),
    /// Print the least-privilege ClusterRole (and binding) crdguard needs; no `delete` anywhere.
    #[command(after_help = "Examples:\n  crdguard rbac | kubectl apply -f -\n  \
crdguard rbac --guard --migrate-crd grpcroutes.gateway.networking.k8s.io\n  \
crdguard rbac --subject ServiceAccount:ci:deployer -o json")]
    Rbac(RbacArgs),
    /// Schema compatibility of two CRD sets, offline (matched by name).
    #[command(
        after_help = "Findings have a severity (error, warning, info), a check name, the \
API version and the JSON path, e.g. `error field-removed v1 .spec.rules[*].matches`. Exit code 1 \
when any error finding exists, 0 otherwise, 2 on bad input.\n\n\
Examples:\n  crdguard diff old/standard-install.yaml new/standard-install.yaml\n  \
crdguard diff crds/ ../next-release/crds/ --server-version v1.33.1 --no-info\n  \
git show HEAD:crds/widgets.yaml | crdguard diff - crds/widgets.yaml -o markdown"
    )]
    Diff(DiffArgs),
    /// One item's whole decision: every row of the decision table, every finding, every
    /// object checked (same inputs as plan).
    #[command(
        after_help = "explain makes the same plan as `plan` and shows one item of it: its decision and step, each row of the decision table (SPEC §2) with whether it decides, also blocks, applies or does not apply, its bundle's decision, every schema finding (infos included) with each change of severity, and the stored objects checked. CRD is the CRD's full name, its plural when only one CRD has it, or Kind/name for a companion object. Exit codes as plan's, for that one item: 1 when it is blocked or in conflict; 2 when the plan has no such item.\n\n\
Examples:\n  crdguard explain httproutes.gateway.networking.k8s.io --chart ./my-chart --snapshot cluster.yaml\n  \
crdguard explain httproutes gateway-api@v1.6.1/standard --context prod\n  \
crdguard explain ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io crds/ -o json"
    )]
    Explain(ExplainArgs),
    /// Requirements products recorded on shared bundles (crdguard.dev/requirements).
    #[command(
        after_help = "When crdguard applies a bundle for a product (a policy file or --for), it \
records that product's requirement (minimum, hard maximum, tested maximum, channel, kinds) on \
each CRD of the bundle, and every later plan, for any product, refuses a write that breaks one \
(`breaks-other-product`). `crdguard status` lists them. `requirements remove` drops a \
product's entry, for a product that was uninstalled; other products' entries stay.\n\n\
Examples:\n  crdguard requirements remove istio --dry-run=server\n  \
crdguard requirements remove istio --context prod -o json"
    )]
    Requirements(RequirementsArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "The script completes subcommands, flags and their fixed values. Load it \
in the current shell, or install it where the shell looks for completions.\n\n\
Examples:\n  source <(crdguard completions bash)\n  \
crdguard completions bash > ~/.local/share/bash-completion/completions/crdguard\n  \
crdguard completions zsh > \"${fpath[1]}/_crdguard\"\n  \
crdguard completions fish > ~/.config/fish/completions/crdguard.fish\n  \
crdguard completions powershell | Out-String | Invoke-Expression"
    )]
    Completions(CompletionsArgs),
    /// Print the man page crdguard(1) in roff, or write one page per command with --dir.
    #[command(after_help = "Examples:\n  crdguard man | man -l -\n  \
crdguard man > /usr/local/share/man/man1/crdguard.1\n  \
crdguard man --dir /usr/local/share/man/man1   (crdguard.1, crdguard-plan.1, ...)")]
    Man(ManArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people: aligned tables, fitted to the terminal.
    Table,
    /// The contract (SPEC §3) other tools read.
    Json,
    /// The same object as `json`, as YAML.
    Yaml,
    /// For pull requests and CI summaries (GitHub-flavoured).
    Markdown,
}

/// When to colour output for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    Auto,
    Always,
    Never,
}

/// How to reach a live cluster: the same two flags in every command that can.
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// Where the observed state comes from.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Observed state from a file (`kubectl get crd -o yaml` or `crdguard snapshot`; `-` for stdin)
    /// instead of a live cluster.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kubeconfig", "context"])]
    pub snapshot: Option<PathBuf>,

    /// Kubernetes server version to assume offline (e.g. v1.33.1); overrides the snapshot's.
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<String>,

    #[command(flatten)]
    pub kube: KubeArgs,
}

/// The explicit overrides of SPEC §2's invariants' edges: each is logged and shown in the plan.
#[derive(Debug, Args, Clone, Copy)]
pub struct OverrideArgs {
    /// Take CRDs over from other owners (Helm releases, field managers) with server-side
    /// apply's force.
    #[arg(long)]
    pub take_ownership: bool,

    /// Upgrade even when the schema analysis finds breaking changes.
    #[arg(long)]
    pub allow_breaking: bool,

    /// Migrate objects off stored versions the new CRDs drop, then trim status.storedVersions.
    #[arg(long)]
    pub migrate: bool,
}

/// How sources are resolved: charts rendered with the real helm (`helm template
/// --include-crds`), catalog references (`gateway-api@v1.6.1/experimental`) fetched and verified.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// Where catalog references are fetched from (a mirror of the upstream release assets).
    #[arg(long, value_name = "URL", env = "CRDGUARD_CATALOG_URL")]
    pub catalog_url: Option<String>,

    /// Use only the local cache for catalog references; never reach the network.
    #[arg(long)]
    pub offline: bool,

    /// Helm values files for the chart.
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// Helm --set values (KEY=VALUE).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// The helm binary (default: $HELM_BIN, then helm on PATH). Without helm, only the charts'
    /// crds/ directories are read and templates/ are not rendered.
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
}

/// What the desired state is made of (plan, apply).
#[derive(Debug, Args)]
pub struct DesiredArgs {
    /// CRD sources: files, directories, charts (dir, .tgz, oci://), catalog references
    /// (`gateway-api@v1.6.1[/experimental]`), or `-` for stdin.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,

    /// A Helm chart (directory, .tgz, oci:// or repo/name) whose CRDs are the desired state.
    #[arg(long, value_name = "CHART")]
    pub chart: Vec<String>,

    #[command(flatten)]
    pub render: SourceArgs,

    /// Compatibility policy (default: crdguard.yaml at the chart root, else the built-in default).
    #[arg(long, value_name = "FILE", conflicts_with = "product")]
    pub policy: Option<PathBuf>,

    /// A built-in product policy instead of a file, e.g. envoy-gateway@v1.9 (see `crdguard
    /// catalog list`).
    #[arg(long = "for", value_name = "PRODUCT@VERSION")]
    pub product: Option<String>,
}

/// `--release NAME -n NS`: the Helm release whose CRDs are the user's own (SPEC §2 Ownership).
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The Helm release whose CRDs are yours: they are planned as your own, not as
    /// `owned-by-other` (install implies its RELEASE).
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,

    /// The namespace of --release (default: default).
    #[arg(short = 'n', long, value_name = "NAMESPACE", requires = "release")]
    pub namespace: Option<String>,
}

impl ReleaseArgs {
    pub fn identity(&self) -> crdguard_core::owner::Identity {
        crdguard_core::owner::Identity {
            helm_release: self.release.clone().map(|name| {
                let namespace = self.namespace.clone().unwrap_or_else(|| "default".into());
                (name, namespace)
            }),
        }
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The item: a CRD's name (or its plural alone, when unique), or Kind/name for a companion.
    #[arg(value_name = "CRD")]
    pub item: String,

    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,

    #[command(flatten)]
    pub release: ReleaseArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub overrides: OverrideArgs,

    /// List every item and finding, not only what changes or blocks (table and markdown).
    #[arg(long)]
    pub details: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Every write is sent with dryRun=All: validated and admitted by the server, not stored.
    Server,
}

/// Live-cluster connection flags, for commands that only work live.
#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub kube: KubeArgs,

    /// How long to wait for what the command waits on (e.g. 30s, 2m): CRDs to become
    /// Established (apply, install), a storage migration's CRD switch (apply, migrate), the
    /// server's type checking of the guard policy (guard apply).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// How long to wait for one API request before it counts as failed and is retried (up to 5
    /// tries), as kubectl's --request-timeout (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,

    #[command(flatten)]
    pub release: ReleaseArgs,

    /// Apply exactly a plan saved with `crdguard plan ... -o json > plan.json` against this
    /// cluster: its objects, policy and options. Refused (exit 1, `plan-stale`, nothing
    /// written) when an item's object changed since it was saved; exit 2 when the file was
    /// edited, cut short, or made for another cluster.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sources", "chart", "policy", "product", "release", "take_ownership", "allow_breaking", "migrate"])]
    pub plan: Option<PathBuf>,

    /// With --plan: plan again on what the cluster holds now (with the saved objects, policy
    /// and options) instead of refusing a stale plan.
    #[arg(long, requires = "plan")]
    pub replan: bool,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub write: WriteArgs,

    /// List every item and finding, not only what changes or blocks (table and markdown).
    #[arg(long)]
    pub details: bool,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// How CRDs are written (apply, install).
#[derive(Debug, Args, Clone)]
pub struct WriteArgs {
    /// `server`: send every write as a server-side dry run; nothing is stored.
    #[arg(long, value_enum, value_name = "MODE", require_equals = true, num_args = 0..=1, default_missing_value = "server")]
    pub dry_run: Option<DryRun>,

    #[command(flatten)]
    pub overrides: OverrideArgs,

    /// How many CRDs are applied at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The Helm release name.
    #[arg(value_name = "RELEASE")]
    pub release: String,

    /// The chart: a directory, a .tgz, oci://... or repo/name.
    #[arg(value_name = "CHART")]
    pub chart: String,

    /// The release namespace (passed to helm; CRDs are cluster-scoped).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    #[command(flatten)]
    pub render: SourceArgs,

    /// Compatibility policy (default: crdguard.yaml at the chart root, else the built-in default).
    #[arg(long, value_name = "FILE", conflicts_with = "product")]
    pub policy: Option<PathBuf>,

    /// A built-in product policy instead of a file, e.g. envoy-gateway@v1.9 (see `crdguard
    /// catalog list`).
    #[arg(long = "for", value_name = "PRODUCT@VERSION")]
    pub product: Option<String>,

    #[command(flatten)]
    pub live: LiveArgs,

    #[command(flatten)]
    pub write: WriteArgs,

    /// List every item and finding, not only what changes or blocks (table and markdown).
    #[arg(long)]
    pub details: bool,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,

    /// Flags passed through to `helm upgrade --install` (after `--`).
    #[arg(last = true, value_name = "HELM_ARGS")]
    pub helm_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub live: LiveArgs,

    /// Also write every custom resource of every CRD (paged, at each served version, without
    /// managedFields), so offline plans can check stored objects against new schemas. The
    /// snapshot may then hold sensitive data: prefer --file, which is created with mode 0600.
    #[arg(long)]
    pub objects: bool,

    /// Write the snapshot to FILE (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// yaml for people; json loads about twice as fast (`kubectl get crd -o yaml` and `-o json`
    /// are snapshots too).
    #[arg(short, long, value_enum, default_value_t = SnapshotFormat::Yaml)]
    pub output: SnapshotFormat,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The CRD to migrate, e.g. grpcroutes.gateway.networking.k8s.io, or its plural or kind
    /// (grpcroutes, GRPCRoute) when one installed CRD alone has it.
    #[arg(value_name = "CRD")]
    pub crd: String,

    /// The version to keep (default: the CRD's storage version). Must be the storage version.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    #[command(flatten)]
    pub live: LiveArgs,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Durations as kubectl and Go write them (`90s`, `2m`, `1h30m`, `500ms`); a bare number is
/// seconds, as kubectl's `--request-timeout=30` is.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => std::time::Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a duration like 90s, 2m or 1h30m ({e})"))?,
    };
    if duration.is_zero() {
        return Err("the timeout must be more than zero".into());
    }
    Ok(duration)
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
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,

    #[arg(short, long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Every known bundle release and product policy.
    #[command(after_help = "Examples:\n  crdguard catalog list\n  crdguard catalog list -o json")]
    List,
    /// One bundle, release (`gateway-api@v1.6.1[/experimental]`), product or product version.
    #[command(after_help = "Examples:\n  crdguard catalog show gateway-api\n  \
crdguard catalog show gateway-api@v1.6.1/experimental\n  crdguard catalog show envoy-gateway@v1.9")]
    Show {
        #[arg(value_name = "NAME[@VERSION]")]
        reference: String,
    },
    /// Record a release the catalog lacks from its published install file (e.g. a Gateway API
    /// `standard-install.yaml` newer than this crdguard): its facts are shown, then kept in the
    /// cache ($XDG_CACHE_HOME/crdguard/catalog/added), and identification and references know it.
    #[command(
        after_help = "Examples:\n  crdguard catalog add standard-install.yaml experimental-install.yaml --dry-run\n  \
crdguard catalog add standard-install.yaml experimental-install.yaml\n  \
crdguard catalog add prometheus-operator/example/prometheus-operator-crd/"
    )]
    Add {
        /// The release's published files: Gateway API's install files (one per channel), or
        /// every CRD file of a release that publishes one per CRD (prometheus-operator), or
        /// the directory holding them. Files of one release given together are one release.
        #[arg(value_name = "FILE|DIR", required = true)]
        files: Vec<PathBuf>,
        /// Show the facts; record nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Compatibility policy to check against.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "product",
        conflicts_with = "product"
    )]
    pub policy: Option<PathBuf>,

    /// A built-in product policy instead of a file, e.g. envoy-gateway@v1.9 (see `crdguard catalog list`).
    #[arg(long = "for", value_name = "PRODUCT@VERSION")]
    pub product: Option<String>,

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

    /// The Kubernetes version the new CRDs go to (e.g. v1.33.1): from 1.30 the server ratchets
    /// validation, so tightenings it covers are warnings. Without it, findings are as compared.
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<String>,

    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write crdguard.1 and one page per command (crdguard-plan.1, crdguard-guard-render.1, ...)
    /// into DIR instead of printing crdguard(1).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(subcommand)]
    pub command: GuardCommand,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Print the policy and binding (YAML by default).
    #[command(after_help = "Examples:\n  crdguard guard render > guard.yaml\n  \
crdguard guard render --bundle gateway-api --server-version v1.34.0 -o json")]
    Render(GuardRenderArgs),
    /// Install them with server-side apply (needs admissionregistration.k8s.io/v1 policies).
    #[command(after_help = "Examples:\n  crdguard guard apply --dry-run=server\n  \
crdguard guard apply --policy crdguard.yaml --context prod")]
    Apply(GuardApplyArgs),
}

/// Which bundles the guard protects.
#[derive(Debug, Args)]
pub struct GuardBundles {
    /// A bundle to protect (repeatable; default: gateway-api, or the policy's bundles).
    #[arg(long = "bundle", value_name = "NAME")]
    pub bundles: Vec<String>,

    /// A compatibility policy whose bundles (with their groups and version annotation) to protect.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GuardRenderArgs {
    #[command(flatten)]
    pub bundles: GuardBundles,

    /// The server version the policy is for (1.34+ uses the Kubernetes semver CEL library).
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<String>,

    /// Output format: the objects as a YAML stream, or as a JSON v1 List (for `kubectl apply -f`).
    #[arg(short, long, value_enum, default_value_t = SnapshotFormat::Yaml)]
    pub output: SnapshotFormat,
}

#[derive(Debug, Args)]
pub struct GuardApplyArgs {
    #[command(flatten)]
    pub bundles: GuardBundles,

    #[command(flatten)]
    pub live: LiveArgs,

    /// `server`: validate with a server-side dry run; nothing is stored.
    #[arg(long, value_enum, value_name = "MODE", require_equals = true, num_args = 0..=1, default_missing_value = "server")]
    pub dry_run: Option<DryRun>,
}

#[derive(Debug, Args)]
pub struct RequirementsArgs {
    #[command(subcommand)]
    pub command: RequirementsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RequirementsCommand {
    /// Drop one product's entry from every CRD that records it (live).
    #[command(after_help = "Examples:\n  crdguard requirements remove istio\n  \
crdguard requirements remove istio --dry-run=server -o json")]
    Remove {
        /// The product whose entry goes (as `crdguard status` names it).
        #[arg(value_name = "PRODUCT")]
        product: String,

        #[command(flatten)]
        live: LiveArgs,

        /// `server`: send every write as a server-side dry run; nothing is stored.
        #[arg(long, value_enum, value_name = "MODE", require_equals = true, num_args = 0..=1, default_missing_value = "server")]
        dry_run: Option<DryRun>,

        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Also allow installing the guard (ValidatingAdmissionPolicy and binding).
    #[arg(long)]
    pub guard: bool,

    /// A CRD whose objects `migrate` / `apply --migrate` may rewrite (repeatable).
    #[arg(long = "migrate-crd", value_name = "NAME")]
    pub migrate_crds: Vec<String>,

    /// The subject of the binding template.
    #[arg(
        long,
        value_name = "KIND:NAME",
        default_value = "ServiceAccount:crdguard:crdguard"
    )]
    pub subject: String,

    /// Output format: the objects as a YAML stream, or as a JSON v1 List (for `kubectl apply -f`).
    #[arg(short, long, value_enum, default_value_t = SnapshotFormat::Yaml)]
    pub output: SnapshotFormat,
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_kubectl_writes_them() {
        for (text, seconds) in [
            ("90s", 90.0),
            ("2m", 120.0),
            ("1h30m", 5400.0),
            ("30", 30.0),
        ] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs_f64(seconds)));
        }
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "0s", "0", "ten", "5x", "-1s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
