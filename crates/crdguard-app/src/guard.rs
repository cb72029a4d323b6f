//! `crdguard guard render|apply`: the admission policy that protects managed bundles.

use serde_json::Value;

use crdguard_admission::{GuardOptions, ManagedBundle, VersionComparison, render_guard_with};
use crdguard_kube::{ApplyOptions, TypeCheck};

use crate::error::CommandError;
use crate::settings::LiveSettings;

/// The bundles to guard: named ones, and those of a policy file (its `bundles` and
/// `knownBundles`); Gateway API when neither names any.
#[derive(Debug, Clone, Default)]
pub struct GuardBundles {
    pub bundles: Vec<String>,
    pub policy: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
pub struct GuardApplySettings {
    pub bundles: GuardBundles,
    pub live: LiveSettings,
    pub dry_run: bool,
}

/// What `guard apply` wrote, in order, and why it stopped if it did (nothing is bound then).
#[derive(Debug, Default)]
pub struct GuardApplied {
    /// `Kind name` of each object applied.
    pub applied: Vec<String>,
    pub dry_run: bool,
    /// Why the guard was not installed (or not bound); exit 1.
    pub refused: Option<String>,
    /// Whether the server was seen enforcing the guard before the command returned, in
    /// words: a binding takes effect a moment after it is written, and a script that runs
    /// `guard apply && kubectl apply ...` must not slip through that moment.
    pub enforcement: Option<String>,
}

const GROUP_VERSION: &str = "/apis/admissionregistration.k8s.io/v1";
const POLICY_KIND: &str = "ValidatingAdmissionPolicy";

fn name_of(document: &Value) -> &str {
    document
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Writes one rendered policy or binding; returns `Kind name`.
async fn apply_document(
    cluster: &crdguard_kube::Cluster,
    document: &Value,
    options: ApplyOptions,
) -> Result<String, CommandError> {
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = name_of(document);
    let collection = match kind {
        POLICY_KIND => "validatingadmissionpolicies",
        _ => "validatingadmissionpolicybindings",
    };
    cluster
        .apply_object(
            &format!("{GROUP_VERSION}/{collection}"),
            name,
            document,
            options,
            &crdguard_kube::Precondition::Unconditional,
        )
        .await?;
    Ok(format!("{kind} {name}"))
}

/// Why the server's type checking of policy `name` does not allow binding it, if it does not.
async fn unsound(
    cluster: &crdguard_kube::Cluster,
    name: &str,
    timeout: std::time::Duration,
) -> Result<Option<String>, CommandError> {
    Ok(match cluster.wait_type_checked(name, timeout).await? {
        TypeCheck::Checked { warnings } if warnings.is_empty() => None,
        TypeCheck::Checked { warnings } => Some(format!(
            "the server's type checking reported {} problem(s): {}",
            warnings.len(),
            warnings
                .iter()
                .map(|w| format!("{}: {}", w.field, w.warning))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        TypeCheck::Pending => Some(format!(
            "the server reported no type checking of it within {}s (--timeout); check \
             `kubectl get validatingadmissionpolicy {name} -o yaml` and run `crdguard guard apply` again",
            timeout.as_secs()
        )),
    })
}

/// The guard's policies and bindings for `bundles`, written for a server of `server_version`
/// (older servers compare versions without CEL's semver library).
pub fn render(
    bundles: &GuardBundles,
    server_version: Option<&str>,
) -> Result<Vec<Value>, CommandError> {
    let server = server_version
        .map(|v| {
            v.parse()
                .map_err(|e: String| CommandError::usage(format!("--server-version: {e}")))
        })
        .transpose()?;
    documents(bundles, VersionComparison::for_server(server))
}

/// Installs the guard: policies first, and a binding only once the server's type checking of
/// its policy reports no problem (SPEC §9).
pub fn apply(args: &GuardApplySettings) -> Result<GuardApplied, CommandError> {
    let connect = crate::session::live_options(&args.live);
    let mut report = GuardApplied {
        dry_run: args.dry_run,
        ..GuardApplied::default()
    };
    crate::session::runtime()?.block_on(async {
        let cluster = crate::session::connect_live(&connect).await?;
        if !cluster.serves(GROUP_VERSION, "validatingadmissionpolicies").await? {
            report.refused = Some(format!(
                "the server ({}) does not serve admissionregistration.k8s.io/v1 \
                 ValidatingAdmissionPolicy (Kubernetes 1.30 or newer is needed); the guard was not installed",
                cluster.server_version
            ));
            return Ok(());
        }
        let server = cluster.server_version.parse().ok();
        let documents = documents(&args.bundles, VersionComparison::for_server(server))?;
        let options = ApplyOptions {
            dry_run: args.dry_run,
            force: false,
            concurrency: 1,
        };
        // Policies first; a binding only once the server type-checked its policy.
        let (policies, bindings): (Vec<&Value>, Vec<&Value>) = documents
            .iter()
            .partition(|d| d.get("kind").and_then(Value::as_str) == Some(POLICY_KIND));
        for policy in &policies {
            report.applied.push(apply_document(&cluster, policy, options).await?);
        }
        if !options.dry_run {
            for policy in &policies {
                let name = name_of(policy);
                if let Some(why) = unsound(&cluster, name, args.live.timeout).await? {
                    report.refused = Some(format!(
                        "ValidatingAdmissionPolicy {name} was not bound: {why}. \
                         Unbound, it enforces nothing; bound, a policy that does not \
                         type-check would deny every write it matches"
                    ));
                    return Ok(());
                }
            }
        }
        for binding in &bindings {
            report.applied.push(apply_document(&cluster, binding, options).await?);
        }
        if !options.dry_run && !bindings.is_empty() {
            let managed = managed_bundles(&args.bundles)?;
            let names: Vec<&str> = policies.iter().map(|p| name_of(p)).collect();
            report.enforcement = Some(
                wait_for_enforcement(&cluster, &managed, &names, args.live.timeout).await?,
            );
        }
        Ok::<_, CommandError>(())
    })?;
    Ok(report)
}

/// Waits until the server enforces the guard, by sending writes the guard always denies as
/// server-side dry runs until the guard's own policy denies one. The probes, on an installed
/// managed CRD: deleting it (which Gateway API's safe-upgrades policy lets through, so only
/// the guard answers), else, without permission to delete, removing its version marker
/// (which safe-upgrades may deny first; the server reports one denial). Returns what was seen,
/// in words. Without a managed CRD installed, or without permission to probe, enforcement is
/// not confirmed, and the words say why.
async fn wait_for_enforcement(
    cluster: &crdguard_kube::Cluster,
    managed: &[ManagedBundle],
    policies: &[&str],
    timeout: std::time::Duration,
) -> Result<String, CommandError> {
    // A binding is enforced within seconds; a probe that is still allowed after this long is
    // allowed for another reason (an override on the probed CRD), not waited on longer.
    let timeout = timeout.min(std::time::Duration::from_secs(30));
    // Only a name and a marker are needed: the CRDs' metadata, not the whole cluster.
    let crds = cluster.crd_metadata().await?;
    let target = crds.iter().find_map(|crd| {
        // A CRD's name is `<plural>.<group>` (the server refuses any other).
        let name = crd.pointer("/metadata/name")?.as_str()?;
        let (_, group) = name.split_once('.')?;
        let bundle = managed
            .iter()
            .find(|b| b.groups.iter().any(|g| g == group))?;
        bundle.version.read_object(crd)?;
        let map = if bundle.version.is_label() {
            "labels"
        } else {
            "annotations"
        };
        let patch = serde_json::json!({"metadata": {map: {bundle.version.key(): null}}});
        Some((name.to_string(), bundle.version.describe(), patch))
    });
    let Some((crd, marker, patch)) = target else {
        return Ok(
            "not confirmed: no managed CRD is installed to probe with (the server \
                   enforces a new binding within seconds)"
                .to_string(),
        );
    };
    let by_the_guard = |message: &str| {
        policies
            .iter()
            .any(|name| message.contains(&format!("ValidatingAdmissionPolicy '{name}'")))
    };
    let by_a_policy = |message: &str| message.contains("ValidatingAdmissionPolicy '");
    let started = std::time::Instant::now();
    let mut delete_allowed_to_probe = true;
    loop {
        let (probe, answer) = if delete_allowed_to_probe {
            (
                format!("deleting {crd}"),
                cluster.dry_run_crd_delete(&crd).await,
            )
        } else {
            (
                format!("removing {marker} from {crd}"),
                cluster.dry_run_crd_merge_patch(&crd, &patch).await,
            )
        };
        match answer {
            Err(crdguard_kube::ClusterError::Api { message, .. }) if by_the_guard(&message) => {
                return Ok(format!(
                    "enforced: a server-side dry run {probe} was denied after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            // No permission to delete (crdguard's own role has none): probe with a patch.
            Err(crdguard_kube::ClusterError::Api {
                code: 403, message, ..
            }) if delete_allowed_to_probe && !by_a_policy(&message) => {
                delete_allowed_to_probe = false;
                continue;
            }
            Err(crdguard_kube::ClusterError::Api {
                code: 403, message, ..
            }) if !by_a_policy(&message) => {
                return Ok(format!(
                    "not confirmed: no permission to probe with a dry run {probe} (the server \
                     enforces a new binding within seconds)"
                ));
            }
            // Without delete permission, the marker probe is what is left; another policy
            // (safe-upgrades) answering it first will keep answering it, so waiting proves
            // nothing more.
            Err(crdguard_kube::ClusterError::Api { message, .. })
                if by_a_policy(&message) && !delete_allowed_to_probe =>
            {
                return Ok(format!(
                    "not confirmed: the dry run {probe} is answered by another policy first, and \
                     there is no permission to probe with a dry-run delete (the server enforces a \
                     new binding within seconds)"
                ));
            }
            // Allowed, or denied by another policy only: the guard is not seen yet.
            Err(crdguard_kube::ClusterError::Api { message, .. }) if by_a_policy(&message) => {}
            Err(e) => return Err(e.into()),
            Ok(()) => {}
        }
        if started.elapsed() >= timeout {
            return Ok(format!(
                "not confirmed: a dry run {probe} was not denied by the guard within {} s",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn documents(
    bundles: &GuardBundles,
    comparison: VersionComparison,
) -> Result<Vec<Value>, CommandError> {
    render_guard_with(&GuardOptions {
        bundles: managed_bundles(bundles)?,
        version_comparison: comparison,
    })
    .map_err(|e| CommandError::usage(e.to_string()))
}

/// The bundles the guard protects: a policy's, `--bundle`'s, else the Gateway API.
fn managed_bundles(bundles: &GuardBundles) -> Result<Vec<ManagedBundle>, CommandError> {
    let mut managed: Vec<ManagedBundle> = Vec::new();
    let policy = match &bundles.policy {
        Some(path) => Some((
            path,
            crdguard_sources::load_policy(path, crate::session::input_options())?,
        )),
        None => None,
    };
    let registry = policy
        .as_ref()
        .map(|(_, p)| p.registry())
        .unwrap_or_else(|| crdguard_core::registry::Registry::builtin().clone());
    let known = || registry.names().collect::<Vec<_>>().join(", ");
    if let Some((path, policy)) = &policy {
        let named = policy
            .spec
            .bundles
            .iter()
            .map(|b| b.name.as_str())
            .chain(policy.spec.known_bundles.iter().map(|b| b.name.as_str()));
        for name in named {
            if managed.iter().any(|m| m.name == name) {
                continue;
            }
            let bundle = registry.bundle(name).and_then(ManagedBundle::from_known);
            managed.push(bundle.ok_or_else(|| {
                CommandError::usage(format!(
                    "{}: bundle {name} needs groups and a version marker to be guarded \
                     (spec.knownBundles[].version)",
                    path.display()
                ))
            })?);
        }
    }
    for name in &bundles.bundles {
        if managed.iter().any(|m| &m.name == name) {
            continue;
        }
        let bundle = registry.bundle(name).and_then(ManagedBundle::from_known);
        managed.push(bundle.ok_or_else(|| {
            CommandError::usage(format!(
                "--bundle {name}: unknown bundle (known: {}; others come from --policy)",
                known()
            ))
        })?);
    }
    if managed.is_empty() {
        managed.push(ManagedBundle::gateway_api());
    }
    Ok(managed)
}
