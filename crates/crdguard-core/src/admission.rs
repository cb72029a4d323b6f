//! Admission prediction, supplied from outside the core: whether the cluster's admission
//! policies (ValidatingAdmissionPolicies such as Gateway API's `safe-upgrades`, or crdguard's own
//! guard) would deny a planned CRD write. The core only decides what a denial means for the plan.

use crate::model::Crd;

/// The verdict of the cluster's admission policies on one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmissionPrediction {
    /// Every matching policy allows the write (or no policy matches).
    Allowed,
    /// A policy denies it; `message` is the policy's own message.
    Denied { policy: String, message: String },
    /// A matching policy could not be evaluated (an unknown function, an unsupported
    /// expression): never a silent pass, the plan shows a warning.
    Unknown { policy: String, reason: String },
}

/// Something that can evaluate admission policies against planned CRD writes.
pub trait AdmissionPredictor: Sync {
    /// `installed` is `None` for a create; `desired` is the object crdguard would send.
    fn predict(&self, installed: Option<&Crd>, desired: &Crd) -> AdmissionPrediction;
}
