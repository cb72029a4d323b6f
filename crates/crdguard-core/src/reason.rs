//! Reason codes and reasons: the vocabulary of every decision and warning. Below `plan/`, so
//! that identification and classification (which the planner uses) can give reasons without
//! importing the planner.

use serde::Serialize;

/// Stable reason codes (SPEC §2 and the bundle-level checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    Absent,
    Identical,
    NewerInstalled,
    WiderChannelInstalled,
    UnversionedInstalled,
    OwnedByOther,
    StoredVersionRemoved,
    /// The installed CRD's `status.storedVersions` is unknown and the change removes a version.
    StoredVersionsUnknown,
    BreakingChange,
    AdmissionDenied,
    ChannelWidening,
    ChannelMismatch,
    ChannelPreserved,
    OlderInstalled,
    BelowMinimum,
    CompatibleInstalled,
    ExtensionUpdate,
    AboveTestedMaximum,
    BundleSkew,
    MissingRequiredKind,
    KubernetesTooOld,
    /// A bundle annotation could not be parsed.
    BadAnnotation,
    /// The policy forbids installing this bundle (`install: never`).
    InstallDisabled,
    /// `--take-ownership` or `onConflict: take-ownership` lets crdguard take a CRD over.
    OwnershipTaken,
    /// `--allow-breaking` lets a breaking schema change through.
    BreakingChangeAllowed,
    /// Objects will be migrated off a removed stored version first (`--migrate`).
    MigrationPlanned,
    /// Admission policies exist that crdguard cannot evaluate yet.
    AdmissionUnchecked,
    /// The installed version was identified from the CRD's content (annotations missing, or
    /// upstream's own label differs from the release).
    IdentifiedByDigest,
    /// The CRD's annotations contradict its content; the content wins.
    AnnotationMismatch,
    /// An installed companion object is not upstream's content for any release.
    CompanionModified,
    /// A bundle version newer than every release the catalog knows: newer than everything,
    /// never downgraded, but its facts (Kubernetes minimum, companions) are unknown.
    CatalogStale,
    /// The object changed between crdguard reading it and writing it (another writer); the
    /// item was decided again on what is there now, or left alone when it kept changing.
    PlanStale,
    /// The server refused the write in the server-side dry run sent before any real write.
    DryRunRefused,
    /// The write would break a requirement another product recorded on the bundle (SPEC §12).
    BreaksOtherProduct,
    /// The write would take the bundle above the policy's own hard `maximum` (SPEC §4 v2).
    AboveMaximum,
    /// A CRD of the bundle carries a requirements annotation crdguard cannot read: what other
    /// products need is unknown, so no write to the bundle is made (SPEC §12).
    RequirementsUnreadable,
}

impl Code {
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: Code,
    pub message: String,
}

impl Reason {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Reason {
            code,
            message: message.into(),
        }
    }
}
