//! Who owns an installed CRD (SPEC §1): providers, Helm releases, field managers, crdguard.

use std::fmt;

use crate::model::Crd;

/// crdguard's server-side-apply field manager.
pub const FIELD_MANAGER: &str = "crdguard";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A cloud provider or addon manager (`components.gke.io/component-name`,
    /// `addonmanager.kubernetes.io/mode`, ...). Never ours to change.
    Provider {
        marker: String,
        value: String,
    },
    HelmRelease {
        name: String,
        namespace: String,
    },
    /// A field manager other than crdguard that owns part of `spec`.
    FieldManager {
        manager: String,
    },
    Crdguard,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Provider { marker, value } => write!(f, "provider ({marker}={value})"),
            Owner::HelmRelease { name, namespace } => write!(f, "helm release {namespace}/{name}"),
            Owner::FieldManager { manager } => write!(f, "field manager {manager}"),
            Owner::Crdguard => f.write_str(FIELD_MANAGER),
        }
    }
}

/// Field managers of a person at a terminal (SPEC §2 v2, Ownership): kubectl's own managers.
/// A CRD last written by one of them is nobody's product: a standard bundle upgrade the rules
/// allow takes it over.
pub const PERSON_MANAGERS: &[&str] = &[
    "kubectl",
    "kubectl-client-side-apply",
    "kubectl-edit",
    "kubectl-create",
    "kubectl-replace",
    "kubectl-patch",
    "kubectl-set",
    "kubectl-label",
    "kubectl-annotate",
];

/// The field managers other than crdguard that own an object's `spec` (any object: the
/// companion objects of a bundle too), from its `metadata.managedFields`.
pub fn other_spec_managers(object: &serde_json::Value) -> Vec<Owner> {
    let mut managers: Vec<String> = object
        .pointer("/metadata/managedFields")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(crate::load::field_manager)
        .filter(|m| m.owns_spec && m.manager != FIELD_MANAGER)
        .map(|m| m.manager)
        .collect();
    managers.sort();
    managers.dedup();
    managers
        .into_iter()
        .map(|manager| Owner::FieldManager { manager })
        .collect()
}

impl Owner {
    /// A person's kubectl, not a product or a controller.
    pub fn is_person(&self) -> bool {
        matches!(self, Owner::FieldManager { manager } if PERSON_MANAGERS.contains(&manager.as_str()))
    }
}

/// Who crdguard acts as: its field manager, and the Helm release it installs for (if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub helm_release: Option<(String, String)>,
}

const PROVIDER_MARKERS: [&str; 4] = [
    "components.gke.io/component-name",
    "addonmanager.kubernetes.io/mode",
    "eks.amazonaws.com/component",
    "kubernetes.azure.com/managedby",
];

/// Every owner the CRD shows, strongest claim first.
pub fn owners(crd: &Crd) -> Vec<Owner> {
    let mut owners = Vec::new();
    for marker in PROVIDER_MARKERS {
        if let Some(value) = crd.label(marker).or_else(|| crd.annotation(marker)) {
            owners.push(Owner::Provider {
                marker: marker.to_string(),
                value: value.to_string(),
            });
        }
    }
    if let Some(name) = crd.annotation("meta.helm.sh/release-name") {
        owners.push(Owner::HelmRelease {
            name: name.to_string(),
            namespace: crd
                .annotation("meta.helm.sh/release-namespace")
                .unwrap_or("default")
                .to_string(),
        });
    }
    let mut managers: Vec<&str> = crd
        .managed_fields
        .iter()
        .filter(|m| m.owns_spec)
        .map(|m| m.manager.as_str())
        .collect();
    managers.dedup();
    for manager in managers {
        owners.push(if manager == FIELD_MANAGER {
            Owner::Crdguard
        } else {
            Owner::FieldManager {
                manager: manager.to_string(),
            }
        });
    }
    owners
}

/// The owner to show in reports: the strongest claim.
pub fn primary_owner(crd: &Crd) -> Option<Owner> {
    owners(crd).into_iter().next()
}

/// The first owner that is not crdguard (acting as `me`), if any: a write would take the CRD
/// from them. A product or controller comes before a person's kubectl, so a person is named
/// only when nobody else claims the CRD.
pub fn other_owner(crd: &Crd, me: &Identity) -> Option<Owner> {
    let our_release = |name: &str, namespace: &str| {
        me.helm_release
            .as_ref()
            .is_some_and(|(n, ns)| n == name && ns == namespace)
    };
    let crd_release = crd.annotation("meta.helm.sh/release-name").map(|name| {
        let namespace = crd
            .annotation("meta.helm.sh/release-namespace")
            .unwrap_or("default");
        (name, namespace)
    });
    let release_is_ours = crd_release.is_some_and(|(n, ns)| our_release(n, ns));
    let mut others = owners(crd).into_iter().filter(|owner| match owner {
        Owner::Crdguard => false,
        Owner::HelmRelease { name, namespace } => !our_release(name, namespace),
        // Helm's own field manager on a CRD of the release we install for is us too.
        Owner::FieldManager { manager } => !(manager == "helm" && release_is_ours),
        Owner::Provider { .. } => true,
    });
    let first = others.next()?;
    if first.is_person() {
        Some(others.find(|o| !o.is_person()).unwrap_or(first))
    } else {
        Some(first)
    }
}
