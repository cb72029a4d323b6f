//! crdguard's admission layer (SPEC §9, and the `admission-denied` rule of §2).
//!
//! - [`PolicyEvaluator`] predicts what the cluster's ValidatingAdmissionPolicies (Gateway API's
//!   `safe-upgrades`, crdguard's own guard, anyone's) would say about a planned CRD write, by
//!   evaluating their CEL for real. Whatever it cannot evaluate is reported as unknown, never
//!   passed silently.
//! - [`render_guard`] renders crdguard's own guard policy and binding.
//!
//! CEL comes from the `cel` crate as re-exported by `kube-cel` (the Kubernetes extension
//! libraries), which pins `cel` 0.13: a second, newer `cel` could not share a context with
//! kube-cel's functions. Where that `cel` differs from the API server, `compile` and `cel_env`
//! make it stricter (an error, reported as unknown), never laxer.
//!
//! Module map: `values` (JSON → CEL), `shape` (which parts of an object policies read),
//! `cel_env` (the CEL environment and crdguard's functions in it), `compile` (compiling and
//! running one expression), `matching` (match constraints and bindings), `request` (the
//! admission request of a write), `policy` (reading policy objects), `evaluate` (one policy
//! against one request), `predictor` (all policies of a cluster), `guard` (crdguard's own
//! policy).

mod cel_env;
mod compile;
mod evaluate;
mod guard;
mod matching;
mod policy;
mod predictor;
mod probe;
mod request;
mod shape;
mod values;

pub use guard::{
    ALLOW_DELETE_LABEL, ALLOW_DOWNGRADE_ANNOTATION, GUARD_BUNDLES_ANNOTATION, GUARD_NAME,
    GuardError, GuardOptions, ManagedBundle, RULE_KEEP_ANNOTATIONS, RULE_NO_CHANNEL_NARROWING,
    RULE_NO_DELETE, RULE_NO_DOWNGRADE, VersionComparison, render_guard, render_guard_with,
};
pub use predictor::PolicyEvaluator;
pub use probe::{Probe, ProbeVerdict, probe_policy};
pub use request::{AdmissionRequest, Identity, Operation, applied_object};
