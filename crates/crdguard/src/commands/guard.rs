//! `crdguard guard render|apply`: the admission policy that protects managed bundles.

use serde_json::Value;

use crdguard_guard::{GuardOptions, ManagedBundle, VersionComparison, render_guard_with};
use crdguard_kube::{ApplyOptions, TypeCheck};

use crate::cli::{GuardArgs, GuardBundles, GuardCommand};
use crate::exit::{CliError, Exit};

const GROUP_VERSION: &str = "/apis/admissionregistration.k8s.io/v1";
const POLICY_KIND: &str = "ValidatingAdmissionPolicy";

fn name_of(document: &Value) -> &str {
    document
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Writes one rendered policy or binding and says so.
async fn apply_document(
    cluster: &crdguard_kube::Cluster,
    document: &Value,
    options: ApplyOptions,
) -> Result<(), CliError> {
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
    println!(
        "{kind} {name} applied{}",
        if options.dry_run {
            " (server dry run)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Why the server's type checking of policy `name` does not allow binding it, if it does not.
async fn unsound(
    cluster: &crdguard_kube::Cluster,
    name: &str,
    timeout: std::time::Duration,
) -> Result<Option<String>, CliError> {
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

pub fn run(args: &GuardArgs) -> Result<Exit, CliError> {
    match &args.command {
        GuardCommand::Render(render) => {
            let server = render
                .server_version
                .as_deref()
                .map(|v| {
                    v.parse()
                        .map_err(|e: String| CliError::usage(format!("--server-version: {e}")))
                })
                .transpose()?;
            let documents = documents(&render.bundles, VersionComparison::for_server(server))?;
            crate::render::documents(&documents, render.output)?;
            Ok(Exit::Ok)
        }
        GuardCommand::Apply(apply) => {
            let connect = super::live_options(&apply.live);
            super::runtime()?.block_on(async {
                let cluster = super::connect_live(&connect).await?;
                if !cluster.serves(GROUP_VERSION, "validatingadmissionpolicies").await? {
                    eprintln!(
                        "error: the server ({}) does not serve admissionregistration.k8s.io/v1 \
                         ValidatingAdmissionPolicy (Kubernetes 1.30 or newer is needed); the guard was not installed",
                        cluster.server_version
                    );
                    return Ok(Exit::Blocked);
                }
                let server = cluster.server_version.parse().ok();
                let documents = documents(&apply.bundles, VersionComparison::for_server(server))?;
                let options = ApplyOptions {
                    dry_run: apply.dry_run.is_some(),
                    force: false,
                    concurrency: 1,
                };
                // Policies first; a binding only once the server type-checked its policy.
                let (policies, bindings): (Vec<&Value>, Vec<&Value>) = documents
                    .iter()
                    .partition(|d| d.get("kind").and_then(Value::as_str) == Some(POLICY_KIND));
                for policy in &policies {
                    apply_document(&cluster, policy, options).await?;
                }
                if !options.dry_run {
                    for policy in &policies {
                        let name = name_of(policy);
                        if let Some(why) = unsound(&cluster, name, apply.live.timeout).await? {
                            eprintln!(
                                "error: ValidatingAdmissionPolicy {name} was not bound: {why}. \
                                 Unbound, it enforces nothing; bound, a policy that does not \
                                 type-check would deny every write it matches"
                            );
                            return Ok(Exit::Blocked);
                        }
                    }
                }
                for binding in &bindings {
                    apply_document(&cluster, binding, options).await?;
                }
                Ok(Exit::Ok)
            })
        }
    }
}

fn documents(
    bundles: &GuardBundles,
    comparison: VersionComparison,
) -> Result<Vec<Value>, CliError> {
    let mut managed: Vec<ManagedBundle> = Vec::new();
    let policy = match &bundles.policy {
        Some(path) => Some((
            path,
            crdguard_sources::load_policy(path, super::input_options()?)?,
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
                CliError::usage(format!(
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
            CliError::usage(format!(
                "--bundle {name}: unknown bundle (known: {}; others come from --policy)",
                known()
            ))
        })?);
    }
    if managed.is_empty() {
        managed.push(ManagedBundle::gateway_api());
    }
    render_guard_with(&GuardOptions {
        bundles: managed,
        version_comparison: comparison,
    })
    .map_err(|e| CliError::usage(e.to_string()))
}
