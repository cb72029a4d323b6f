//! The plan as reported: the JSON contract of SPEC §3, field names exactly as written there.

use serde::Serialize;

use crdguard_schema::Finding;

pub const PLAN_API_VERSION: &str = "crdguard.dev/v1alpha1";

/// What crdguard does with one CRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Upgrade,
    Unchanged,
    Keep,
    Conflict,
    Blocked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Upgrade => "upgrade",
            Action::Unchanged => "unchanged",
            Action::Keep => "keep",
            Action::Conflict => "conflict",
            Action::Blocked => "blocked",
        }
    }

    /// Whether this action writes to the cluster.
    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Upgrade)
    }

    /// Whether this action stops the plan (exit code 1).
    pub fn stops(self) -> bool {
        matches!(self, Action::Conflict | Action::Blocked)
    }
}

pub use crate::reason::{Code, Reason};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// `live` or `snapshot`.
    pub source: &'static str,
    #[serde(rename = "serverVersion")]
    pub server_version: Option<String>,
    /// The cluster's identity (live plans): a saved plan applies only to this cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightCheck {
    pub check: String,
    pub status: CheckStatus,
    pub message: String,
}

/// A bundle's version and channel, either may be unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleState {
    pub version: Option<String>,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundlePlan {
    pub name: String,
    pub class: &'static str,
    pub installed: Option<BundleState>,
    pub desired: Option<BundleState>,
    pub decision: Action,
    pub reasons: Vec<Reason>,
    /// The companion objects planned with the bundle, as `Kind/name` (SPEC §3 v2).
    pub companions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledState {
    pub version: Option<String>,
    pub channel: Option<String>,
    /// When identification yields a run of content-identical releases (`version` is the
    /// newest of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_range: Option<VersionRange>,
    pub stored_versions: Vec<String>,
    pub owner: Option<String>,
}

/// A run of releases with the same content, oldest to newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRange {
    pub from: String,
    pub to: String,
}

impl From<&(crate::BundleVersion, crate::BundleVersion)> for VersionRange {
    fn from((from, to): &(crate::BundleVersion, crate::BundleVersion)) -> Self {
        VersionRange {
            from: from.to_string(),
            to: to.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemPlan {
    /// The CRD's name, or `Kind/name` for a companion object.
    pub crd: String,
    /// `CustomResourceDefinition`, or the companion's kind.
    pub kind: String,
    pub bundle: Option<String>,
    pub class: &'static str,
    pub action: Action,
    pub installed: Option<InstalledState>,
    pub desired: BundleState,
    pub reasons: Vec<Reason>,
    pub findings: Vec<Finding>,
    /// The stored objects checked against the desired schema, when they were read (SPEC §5 v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<ItemObjects>,
    /// How `apply` writes this item (SPEC §3 v2).
    pub step: Step,
    /// The object's resourceVersion as observed (live or snapshot), `null` when absent: what
    /// every write of the item is conditioned on (SPEC §11).
    #[serde(rename = "observedResourceVersion")]
    pub observed_resource_version: Option<String>,
    /// For a companion item that writes: upstream's object that `apply` sends.
    #[serde(skip)]
    pub companion: Option<crate::companion::CompanionObject>,
    /// Every row of SPEC §2's table as it judged this CRD (`crdguard explain`); empty for
    /// companions, which follow their bundle.
    #[serde(skip)]
    pub rule_rows: Vec<super::rules::RuleRow>,
}

impl ItemPlan {
    pub fn is_companion(&self) -> bool {
        self.kind != CRD_KIND
    }

    /// Sets `step` from the action, the reasons and the stored versions the write drops.
    pub fn set_step(&mut self, dropped: Vec<String>) {
        self.step = Step::of(self.action, &self.reasons, dropped);
    }
}

/// `objects` of an item: how many stored objects were checked, and those that violate a
/// finding (up to 20 per finding's schema node, see `crdguard_schema::evidence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemObjects {
    pub checked: usize,
    pub violations: Vec<crdguard_schema::ObjectViolation>,
}

/// The write `apply` makes for an item: the plan is a program, and `apply` runs these steps
/// without reading reasons. Serialized as its name (SPEC §3 v2 `step`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Step {
    /// A create that fails if the object appeared meanwhile.
    Create,
    /// Server-side apply conditioned on the observed resourceVersion.
    Apply,
    /// Server-side apply taking fields over from another manager (`--take-ownership`).
    ForceApply,
    /// Objects migrated off the `dropped` stored versions first, then the apply (forced when
    /// the write also takes fields over).
    MigrateThenApply { dropped: Vec<String>, force: bool },
    /// Nothing is written.
    #[default]
    None,
}

impl Step {
    /// The step of an item the engine decided: `dropped` are the installed stored versions the
    /// desired CRD no longer has.
    pub fn of(action: Action, reasons: &[Reason], dropped: Vec<String>) -> Step {
        let has = |code| reasons.iter().any(|r| r.code == code);
        let force = has(Code::OwnershipTaken);
        match action {
            Action::Create => Step::Create,
            Action::Upgrade if has(Code::MigrationPlanned) && !dropped.is_empty() => {
                Step::MigrateThenApply { dropped, force }
            }
            Action::Upgrade if force => Step::ForceApply,
            Action::Upgrade => Step::Apply,
            _ => Step::None,
        }
    }

    /// Whether the write takes fields over from other managers (server-side apply `force`).
    pub fn forces(&self) -> bool {
        matches!(
            self,
            Step::ForceApply | Step::MigrateThenApply { force: true, .. }
        )
    }

    /// The stored versions to migrate objects off before the write, if any.
    pub fn migrates(&self) -> Option<&[String]> {
        match self {
            Step::MigrateThenApply { dropped, .. } => Some(dropped),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Apply => "apply",
            Step::ForceApply => "force-apply",
            Step::MigrateThenApply { .. } => "migrate-then-apply",
            Step::None => "none",
        }
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// The `kind` of CRD items.
pub const CRD_KIND: &str = "CustomResourceDefinition";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub upgrade: usize,
    pub unchanged: usize,
    pub keep: usize,
    pub conflict: usize,
    pub blocked: usize,
}

impl Summary {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a ItemPlan>) -> Self {
        let mut s = Summary::default();
        for item in items {
            *match item.action {
                Action::Create => &mut s.create,
                Action::Upgrade => &mut s.upgrade,
                Action::Unchanged => &mut s.unchanged,
                Action::Keep => &mut s.keep,
                Action::Conflict => &mut s.conflict,
                Action::Blocked => &mut s.blocked,
            } += 1;
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Blocked,
}

/// The flags that loosen crdguard's rules, shown in every plan (SPEC §2 invariants).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    pub take_ownership: bool,
    pub allow_breaking: bool,
    pub migrate: bool,
    /// `--release NAME -n NS` (SPEC §2 Ownership): the Helm release whose CRDs are the
    /// user's own, so they are not `owned-by-other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<HelmRelease>,
}

/// A Helm release by name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelmRelease {
    pub name: String,
    pub namespace: String,
}

/// A warning about the inputs that did not stop the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanWarning {
    pub source: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub cluster: ClusterInfo,
    pub preflight: Vec<PreflightCheck>,
    pub bundles: Vec<BundlePlan>,
    pub items: Vec<ItemPlan>,
    pub summary: Summary,
    pub verdict: Verdict,
    pub overrides: Overrides,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PlanWarning>,
    /// Present in the report of `apply`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyResult>,
    /// Present in the report of `install`: what each phase did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<InstallResult>,
    /// What `apply --plan` needs to apply exactly this plan (SPEC §11): live plans only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub saved: Option<SavedPlan>,
}

/// The parts of a live plan that make it a saved plan (SPEC §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// Every desired object (CRDs, and companions the sources carry), with its digest.
    pub desired_objects: Vec<DesiredObject>,
    /// The policy the plan was made with.
    pub policy: serde_json::Value,
    /// Digest of the plan's decisions, objects, policy and cluster.
    pub plan_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DesiredObject {
    pub kind: String,
    pub name: String,
    pub digest: String,
    pub object: serde_json::Value,
}

/// The staged Helm install (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallResult {
    pub release: String,
    pub namespace: String,
    /// `helm upgrade --install --skip-crds` with the post-renderer: `succeeded`, `failed`,
    /// `skipped` (phase 1 did not finish cleanly) or `dry-run`.
    pub phase2: String,
    /// When phase 2 started; absent when it did not.
    #[serde(rename = "phase2Started", skip_serializing_if = "Option::is_none")]
    pub phase2_started: Option<Phase2Start>,
    pub message: String,
    /// Objects of the release's last manifest that phase 2's manifest will lack (every CRD:
    /// the post-renderer drops them), each kept from Helm's upgrade pruning (SPEC §6 v2).
    pub protected: Vec<ProtectedObject>,
    /// The size of the release Secret phase 2 wrote, in the bytes Kubernetes counts against
    /// its 1 MiB limit (SPEC §6 v2); absent when phase 2 wrote none (dry run, skipped) or the
    /// Secret could not be read.
    #[serde(rename = "releaseSecretBytes", skip_serializing_if = "Option::is_none")]
    pub release_secret_bytes: Option<u64>,
}

/// When phase 2 of the staged install started (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase2Start {
    /// After phase 1 had ended cleanly: every CRD Established, companions and requirements
    /// written.
    #[serde(rename = "after-phase-1")]
    AfterPhase1,
    /// Once every CRD of phase 1 was written, while the server established them: a first
    /// install whose chart cannot tell the difference, of CRDs whose names no other CRD
    /// claims. `install` still ends only after phase 1 has.
    CrdsWritten,
}

/// One object of the release's last manifest and how it is kept from Helm's pruning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedObject {
    /// `Kind/name`, e.g. `CustomResourceDefinition/carts.shop.example.com`.
    pub object: String,
    /// `annotate` (crdguard writes `helm.sh/resource-policy: keep`), `already-kept` (it carries
    /// that annotation), `absent` (not in the cluster: nothing for Helm to delete).
    pub action: String,
    /// Whether the action was carried out (false in a dry run, before phase 1, or when blocked).
    pub done: bool,
    /// Why the object is there: still in the chart, or dropped by the new chart version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Plan {
    pub fn item(&self, crd: &str) -> Option<&ItemPlan> {
        self.items.iter().find(|i| i.crd == crd)
    }

    pub fn bundle(&self, name: &str) -> Option<&BundlePlan> {
        self.bundles.iter().find(|b| b.name == name)
    }
}

/// What `apply` did (SPEC §3: the final report has the plan's format, plus this section).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    pub dry_run: bool,
    pub applied: Vec<String>,
    pub conflicts: Vec<ApplyFailure>,
    pub failed: Vec<ApplyFailure>,
    /// Applied but not Established/NamesAccepted before the timeout.
    pub not_established: Vec<String>,
    pub migrations: Vec<MigrationResult>,
    /// Writes not sent because apply was asked to stop (SIGINT, SIGTERM) before them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_sent: Vec<String>,
    /// Items decided again because their object changed after crdguard read it (SPEC §11).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decided_again: Vec<String>,
    /// Set when apply stopped before writing everything (why, in words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// CRDs whose `crdguard.dev/requirements` annotation was written with the policy's entry
    /// (SPEC §12).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements_recorded: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyFailure {
    pub crd: String,
    pub message: String,
}

/// One storage migration (SPEC §7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationResult {
    pub crd: String,
    pub storage_version: String,
    pub removed_stored_versions: Vec<String>,
    pub objects_before: usize,
    pub objects_after: usize,
    pub rewritten: usize,
}
