//! Never let Helm delete what phase 1 manages (SPEC §6 v2).
//!
//! Helm's upgrade deletes every object of the release's last manifest that the new manifest
//! lacks. Phase 2's manifest never holds a CRD (the post-renderer drops them), so a release first
//! installed by plain helm, with CRDs rendered from `templates/`, would lose every such CRD, and
//! every custom resource of it, on its first `crdguard install`. Before phase 2, each of them gets
//! `helm.sh/resource-policy: keep`, which Helm honours. Whether that is possible is checked
//! before phase 1 writes anything (a server-side dry run of each annotation); when it is not,
//! the install is blocked (`helm-would-delete`) and nothing is written.

use crdguard_core::plan::{CheckStatus, PreflightCheck, ProtectedObject};
use crdguard_core::post_render::{ManagedObject, managed_objects};
use crdguard_core::state::DesiredState;
use crdguard_helm::HelmError;
use crdguard_kube::{Cluster, KEEP, KeepOutcome, RESOURCE_POLICY};

/// The preflight check's name, and the reason code of a blocked install.
pub const CHECK: &str = "helm-would-delete";

pub struct Protection {
    release: String,
    objects: Vec<ManagedObject>,
    pub report: Vec<ProtectedObject>,
    /// Why the objects cannot be protected, when they cannot.
    pub blocker: Option<String>,
}

impl Protection {
    /// Reads what the release's last manifest holds (`last_manifest`: `helm get manifest`, `None`
    /// for a new release) and checks, by server-side dry run, that every such object can be kept.
    /// Writes nothing.
    pub async fn check(
        cluster: &Cluster,
        release: &str,
        last_manifest: Result<Option<String>, HelmError>,
        desired: &DesiredState,
    ) -> Protection {
        let mut protection = Protection {
            release: release.to_string(),
            objects: Vec::new(),
            report: Vec::new(),
            blocker: None,
        };
        let manifest = match last_manifest {
            Ok(manifest) => manifest.unwrap_or_default(),
            Err(e) => {
                protection.blocker = Some(format!(
                    "cannot read the last manifest of release {release}, so crdguard cannot tell \
                     which CRDs Helm would delete on this upgrade: {e}. Grant read access to the \
                     release's Secrets (helm get manifest {release}) and run again"
                ));
                return protection;
            }
        };
        protection.objects = managed_objects(&manifest);
        for object in &protection.objects {
            let in_chart =
                object.kind != "CustomResourceDefinition" || desired.get(&object.name).is_some();
            let message = if in_chart {
                "managed by crdguard from now on; Helm must not prune it".to_string()
            } else {
                "no longer in the chart: kept in the cluster (crdguard never deletes a CRD)"
                    .to_string()
            };
            let (action, failure) = match cluster.keep_from_helm(object, true).await {
                Ok(KeepOutcome::Absent) => ("absent", None),
                Ok(KeepOutcome::AlreadyKept) => ("already-kept", None),
                Ok(KeepOutcome::Annotated) => ("annotate", None),
                Err(e) => ("annotate", Some(e.to_string())),
            };
            if let Some(failure) = failure
                && protection.blocker.is_none()
            {
                protection.blocker = Some(format!(
                    "{} is in release {release}'s last manifest, and Helm deletes it on this \
                     upgrade unless it carries {RESOURCE_POLICY}: {KEEP}; crdguard cannot write \
                     that annotation: {failure}. Grant patch on it (crdguard rbac), or annotate it \
                     yourself: kubectl annotate {} {RESOURCE_POLICY}={KEEP}",
                    object.reference(),
                    kubectl_name(object)
                ));
            }
            protection.report.push(ProtectedObject {
                object: object.reference(),
                action: action.to_string(),
                done: false,
                message,
            });
        }
        protection
    }

    /// The preflight check this adds to the plan.
    pub fn preflight(&self) -> PreflightCheck {
        let (status, message) = match &self.blocker {
            Some(blocker) => (CheckStatus::Fail, blocker.clone()),
            None => {
                let to_annotate = self
                    .report
                    .iter()
                    .filter(|o| o.action == "annotate")
                    .count();
                let message = if self.objects.is_empty() {
                    format!(
                        "release {}'s last manifest holds no CRD: Helm has none to delete",
                        self.release
                    )
                } else {
                    format!(
                        "{} CRD(s) in release {}'s last manifest; {to_annotate} get \
                         {RESOURCE_POLICY}: {KEEP} before helm runs, so Helm keeps them",
                        self.objects.len(),
                        self.release
                    )
                };
                (CheckStatus::Pass, message)
            }
        };
        PreflightCheck {
            check: CHECK.to_string(),
            status,
            message,
        }
    }

    /// Writes the annotations, after phase 1 and right before phase 2. Objects are read again:
    /// phase 1 may have changed them, or created one that the last manifest names.
    pub async fn carry_out(&mut self, cluster: &Cluster) -> Result<(), String> {
        for (object, report) in self.objects.iter().zip(self.report.iter_mut()) {
            match cluster.keep_from_helm(object, false).await {
                Ok(outcome) => {
                    report.action = match outcome {
                        KeepOutcome::Absent => "absent",
                        KeepOutcome::AlreadyKept if report.action == "annotate" => "annotate",
                        KeepOutcome::AlreadyKept => "already-kept",
                        KeepOutcome::Annotated => "annotate",
                    }
                    .to_string();
                    report.done = true;
                }
                Err(e) => {
                    let message = format!(
                        "cannot write {RESOURCE_POLICY}: {KEEP} on {}: {e}; helm was not run, \
                         so nothing was deleted",
                        object.reference()
                    );
                    self.blocker = Some(message.clone());
                    return Err(message);
                }
            }
        }
        Ok(())
    }
}

/// `kind/name` as kubectl takes it.
fn kubectl_name(object: &ManagedObject) -> String {
    format!("{}/{}", object.kind.to_lowercase(), object.name)
}
