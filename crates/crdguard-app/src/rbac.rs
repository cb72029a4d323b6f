//! `crdguard rbac`: the ClusterRole crdguard needs, and a binding template. Read and write CRDs
//! (never delete), read admission policies for prediction; status patches and object rewrites
//! only for the CRDs named for migration; the guard's objects only with `--guard`.

use serde_json::{Value, json};

use crate::error::CommandError;

pub const ROLE_NAME: &str = "crdguard";

#[derive(Debug, Clone)]
pub struct RbacSettings {
    /// Also the verbs `guard apply` needs.
    pub guard: bool,
    /// CRDs whose objects crdguard may migrate (`<plural>.<group>`).
    pub migrate_crds: Vec<String>,
    /// `ServiceAccount:NAMESPACE:NAME`, `User:NAME` or `Group:NAME`.
    pub subject: String,
}

/// The ClusterRole and its binding.
pub fn documents(args: &RbacSettings) -> Result<Vec<Value>, CommandError> {
    let write = ["get", "list", "watch", "create", "patch", "update"];
    let mut rules = vec![
        json!({ "apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": write }),
        // The cluster's identity (SPEC §11) is the kube-system namespace's UID: without this
        // read, the identity falls back to the server URL and CA, and a plan saved with other
        // credentials (read-only in CI, say) would be refused as made for another cluster.
        json!({ "apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"],
                "resourceNames": ["kube-system"] }),
        // Admission prediction reads the cluster's policies (a 403 here only skips prediction).
        json!({ "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
                "verbs": ["get", "list"] }),
        // Bundles' companion objects (Gateway API's safe-upgrades policy and binding), written
        // with server-side apply by name: a PATCH names its object, so the rule can too.
        json!({ "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
                "verbs": ["patch"],
                "resourceNames": companion_names() }),
        // An absent companion is created with a POST (it must fail if another writer created it
        // meanwhile, SPEC §11), and Kubernetes cannot restrict `create` by name.
        json!({ "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
                "verbs": ["create"] }),
    ];
    if !args.migrate_crds.is_empty() {
        rules.push(json!({ "apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions/status"],
                           "verbs": ["patch"], "resourceNames": args.migrate_crds }));
        for name in &args.migrate_crds {
            let (plural, group) = name.split_once('.').ok_or_else(|| {
                CommandError::usage(format!("--migrate-crd {name}: expected <plural>.<group>"))
            })?;
            rules.push(json!({ "apiGroups": [group], "resources": [plural], "verbs": ["get", "list", "update"] }));
        }
    }
    if args.guard {
        rules.push(json!({ "apiGroups": ["admissionregistration.k8s.io"],
                           "resources": ["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
                           "verbs": ["create", "patch", "update"] }));
    }
    let subject = subject(&args.subject)?;
    Ok(vec![
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": { "name": ROLE_NAME, "labels": { "app.kubernetes.io/managed-by": "crdguard" } },
                "rules": rules }),
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": { "name": ROLE_NAME },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE_NAME },
                "subjects": [subject] }),
    ])
}

/// `ServiceAccount:NAMESPACE:NAME`, `User:NAME` or `Group:NAME`.
fn subject(text: &str) -> Result<Value, CommandError> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        ["ServiceAccount", namespace, name] => {
            Ok(json!({ "kind": "ServiceAccount", "namespace": namespace, "name": name }))
        }
        [kind @ ("User" | "Group"), name] => {
            Ok(json!({ "kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": name }))
        }
        _ => Err(CommandError::usage(format!(
            "--subject {text:?}: expected ServiceAccount:NAMESPACE:NAME, User:NAME or Group:NAME"
        ))),
    }
}

/// The names of every built-in bundle's companion objects, once each, from the registry.
fn companion_names() -> Vec<String> {
    let mut names: Vec<String> = crdguard_core::registry::Registry::builtin()
        .bundles()
        .iter()
        .flat_map(|b| b.companions.iter().map(|c| c.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}
