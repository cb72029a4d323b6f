//! The decision table of SPEC §2, one function per row, in three named slices that read like
//! the table: facts about what is installed (rows 1–5), gates (rows 6–9, and SPEC §12's
//! `breaks-other-product`) and intents (rows 10–14). The intent — the write rows 10–14 would
//! make — is computed once and handed to the gates, which judge only a write ("a change is
//! needed"). The first row that returns `Some`, in table order, decides.

use crdguard_schema::{Check, Finding, Severity};

use super::report::{Action, Code, Reason};
use crate::model::{BundleMembership, Channel, Class, Crd};
use crate::owner::Owner;
use crate::policy::{BundlePolicy, ConflictMode, InstallMode, UpgradeMode};
use crate::version::BundleVersion;

/// Everything one decision needs, computed up front by the engine.
pub struct ItemContext<'a> {
    pub desired: &'a Crd,
    pub desired_bundle: &'a BundleMembership,
    pub installed: Option<&'a Crd>,
    pub installed_bundle: Option<&'a BundleMembership>,
    /// For a CRD that is absent while other CRDs of its bundle are installed: the bundle's
    /// installed version and channel (the newest version present, the widest channel).
    pub bundle_installed: Option<(Option<BundleVersion>, Option<Channel>)>,
    pub policy: &'a BundlePolicy,
    pub required_kind: bool,
    /// Semantically equal (SPEC §2 row 2).
    pub identical: bool,
    /// Someone other than crdguard owns the installed CRD.
    pub other_owner: Option<Owner>,
    pub take_ownership: bool,
    pub allow_breaking: bool,
    pub migrate: bool,
    /// Stored versions of the installed CRD that the desired CRD no longer has.
    pub removed_stored_versions: Vec<String>,
    /// Versions of the installed CRD that the desired CRD no longer has, when the installed
    /// CRD's stored versions are unknown (a snapshot without status): any may hold data.
    pub removed_versions_of_unknown_storage: Vec<String>,
    pub findings: &'a [Finding],
    /// The message of an admission policy that would deny the write.
    pub admission_denial: Option<String>,
    /// The experimental-channel release of the desired version, when a catalog has it.
    pub experimental_counterpart_available: bool,
    /// What other products recorded on the desired CRD's bundle (SPEC §12).
    pub other_requirements: &'a [crate::requirements::Requirement],
    /// Why a requirements annotation of the bundle could not be read, if one could not.
    pub requirements_unreadable: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reasons: Vec<Reason>,
}

impl Decision {
    fn new(action: Action, code: Code, message: impl Into<String>) -> Option<Decision> {
        Some(Decision {
            action,
            reasons: vec![Reason::new(code, message)],
        })
    }
}

/// A fact or intent row: its decision, if it applies.
type Rule = fn(&ItemContext) -> Option<Decision>;
/// A gate row: given the write the intent rows would make, its decision, if it stops it.
type Gate = fn(&ItemContext, &Decision) -> Option<Decision>;

/// Rows 1–5: what is installed (or not) decides alone.
const FACTS: &[(Code, Rule)] = &[
    (Code::Absent, absent),
    (Code::Identical, identical),
    (Code::NewerInstalled, newer_installed),
    (Code::WiderChannelInstalled, wider_channel_same_version),
    (Code::UnversionedInstalled, unversioned_installed),
];

/// Rows 6–9, then SPEC §12's gate: each can stop the intended write.
const GATES: &[(Code, Gate)] = &[
    (Code::OwnedByOther, owned_by_other),
    (Code::StoredVersionRemoved, stored_version_removed),
    (Code::BreakingChange, breaking_change),
    (Code::AdmissionDenied, admission_denied),
    (Code::BreaksOtherProduct, breaks_other_product),
];

/// Rows 10–14: what the version and channel rules want.
const INTENTS: &[(Code, Rule)] = &[
    (Code::ChannelWidening, channel_widening),
    (Code::ChannelPreserved, channel_preserved),
    (Code::OlderInstalled, older_installed),
    (Code::CompatibleInstalled, compatible_installed),
    (Code::ExtensionUpdate, extension_update),
];

/// Every row's verdict, in the table's order, each named by the reason code it gives.
fn judge(ctx: &ItemContext) -> Vec<(Code, Option<Decision>)> {
    let mut rows: Vec<(Code, Option<Decision>)> =
        Vec::with_capacity(FACTS.len() + GATES.len() + INTENTS.len());
    rows.extend(FACTS.iter().map(|(code, rule)| (*code, rule(ctx))));
    let intents: Vec<(Code, Option<Decision>)> = INTENTS
        .iter()
        .map(|(code, rule)| (*code, rule(ctx)))
        .collect();
    let intent = intended_write(&intents);
    rows.extend(
        GATES
            .iter()
            .map(|(code, gate)| (*code, intent.and_then(|write| gate(ctx, write)))),
    );
    rows.extend(intents);
    rows
}

/// The first intent row's decision, if it writes.
fn intended_write(intents: &[(Code, Option<Decision>)]) -> Option<&Decision> {
    intents
        .iter()
        .find_map(|(_, decision)| decision.as_ref())
        .filter(|d| d.action.writes())
}

/// Decides one CRD. Always returns a decision: the last row catches everything. The first
/// row decides; when it stops the plan, every later row that would stop it too adds its
/// reason (SPEC §2: every blocker is listed, so one fix does not just reveal the next).
pub fn decide(ctx: &ItemContext) -> Decision {
    decide_from(judge(ctx))
}

/// `decide` and `trace` from one judgement of the rows (the engine needs both per item).
pub fn decide_and_trace(ctx: &ItemContext) -> (Decision, Vec<RuleRow>) {
    let rows = judge(ctx);
    let trace = trace_from(&rows);
    (decide_from(rows), trace)
}

fn decide_from(rows: Vec<(Code, Option<Decision>)>) -> Decision {
    let mut applying = rows.into_iter().filter_map(|(_, decision)| decision);
    let Some(mut decision) = applying.next() else {
        return Decision {
            action: Action::Keep,
            reasons: vec![],
        };
    };
    if decision.action.stops() {
        for also in applying.filter(|d| d.action.stops()) {
            for reason in also.reasons {
                if !decision.reasons.iter().any(|r| r.code == reason.code) {
                    decision.reasons.push(reason);
                }
            }
        }
    }
    decision
}

/// How one row of the table judged an item, for `crdguard explain` (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleRow {
    /// The row's number in SPEC §2's table (1-based, as in the table).
    pub row: usize,
    /// The row's name: the reason code it gives.
    pub rule: Code,
    pub outcome: RowOutcome,
    /// What the row would do when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowOutcome {
    /// The first row that applies: it decides.
    Decides,
    /// Applies after the deciding row stopped the plan, and stops it too: its reason is listed.
    AlsoBlocks,
    /// Applies, but a row above decided.
    Applies,
    DoesNotApply,
}

/// Every row of the table for one item, as `decide` weighs them.
pub fn trace(ctx: &ItemContext) -> Vec<RuleRow> {
    trace_from(&judge(ctx))
}

fn trace_from(rows: &[(Code, Option<Decision>)]) -> Vec<RuleRow> {
    let mut decided: Option<Action> = None;
    rows.iter()
        .enumerate()
        .map(|(index, (rule, result))| {
            let outcome = match (&result, decided) {
                (None, _) => RowOutcome::DoesNotApply,
                (Some(d), None) => {
                    decided = Some(d.action);
                    RowOutcome::Decides
                }
                (Some(d), Some(first)) if first.stops() && d.action.stops() => {
                    RowOutcome::AlsoBlocks
                }
                (Some(_), Some(_)) => RowOutcome::Applies,
            };
            RuleRow {
                row: index + 1,
                rule: *rule,
                outcome,
                action: result.as_ref().map(|d| d.action),
                reasons: result
                    .as_ref()
                    .map(|d| d.reasons.clone())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The write rows 10–14 would make, if any ("a change is needed").
pub fn write_intent(ctx: &ItemContext) -> Option<Decision> {
    INTENTS
        .iter()
        .find_map(|(_, rule)| rule(ctx))
        .filter(|d| d.action.writes())
}

fn is_standard(ctx: &ItemContext) -> bool {
    ctx.desired_bundle.class == Class::Standard
}

fn installed_version<'c>(ctx: &'c ItemContext) -> Option<&'c BundleVersion> {
    match ctx.installed_bundle {
        Some(b) => b.version.as_ref(),
        None => ctx.bundle_installed.as_ref().and_then(|(v, _)| v.as_ref()),
    }
}

fn installed_channel(ctx: &ItemContext) -> Option<Channel> {
    match ctx.installed_bundle {
        Some(b) => b.channel,
        None => ctx.bundle_installed.as_ref().and_then(|(_, c)| *c),
    }
}

fn desired_version<'c>(ctx: &'c ItemContext) -> Option<&'c BundleVersion> {
    ctx.desired_bundle.version.as_ref()
}

fn show(version: Option<&BundleVersion>, channel: Option<Channel>) -> String {
    let v = version.map_or_else(|| "unversioned".to_string(), ToString::to_string);
    match channel {
        Some(c) => format!("{v} ({c})"),
        None => v,
    }
}

fn installed_text(ctx: &ItemContext) -> String {
    show(installed_version(ctx), installed_channel(ctx))
}

fn desired_text(ctx: &ItemContext) -> String {
    show(desired_version(ctx), ctx.desired_bundle.channel)
}

// Row 1: not installed, policy allows install → create (absent).
fn absent(ctx: &ItemContext) -> Option<Decision> {
    if ctx.installed.is_some() {
        return None;
    }
    let intent = absent_intent(ctx);
    // The gates stop a create (SPEC §2: "gates apply to creates too"), not a CRD that is not
    // added: an experimental-only kind kept off a standard cluster writes nothing, so another
    // product's requirement cannot be broken by it.
    if intent.as_ref().is_some_and(|d| !d.action.writes()) {
        return intent;
    }
    // "Policy allows install" includes the cluster's admission policies (row 9 for creates).
    if let Some(message) = &ctx.admission_denial {
        return Decision::new(Action::Blocked, Code::AdmissionDenied, message.clone());
    }
    if let Some(message) = above_own_maximum(ctx) {
        return Decision::new(Action::Blocked, Code::AboveMaximum, message);
    }
    if let Some(why) = ctx.requirements_unreadable.filter(|_| is_standard(ctx)) {
        return Decision::new(Action::Blocked, Code::RequirementsUnreadable, why);
    }
    if let Some(message) = broken_requirement(ctx) {
        return Decision::new(Action::Blocked, Code::BreaksOtherProduct, message);
    }
    intent
}

/// What row 1 does with an absent CRD before the gates: create it, or keep it out.
fn absent_intent(ctx: &ItemContext) -> Option<Decision> {
    let bundle = ctx.desired_bundle.bundle.as_deref().unwrap_or("its bundle");
    if is_standard(ctx) && ctx.policy.install == InstallMode::Never {
        return if ctx.required_kind {
            Decision::new(
                Action::Blocked,
                Code::MissingRequiredKind,
                format!(
                    "{} is required but not installed, and the policy says install: never for {bundle}",
                    ctx.desired.kind
                ),
            )
        } else {
            Decision::new(
                Action::Keep,
                Code::InstallDisabled,
                format!("not installed; the policy says install: never for {bundle}"),
            )
        };
    }
    // Other CRDs of the bundle are installed: adding this one must not mix an older or
    // narrower copy into the installed bundle.
    // The installed bundle is already at the desired release and channel (a CRD missing from
    // it, e.g. after an apply cut short): adding it mixes nothing. A standard copy is never
    // added to an experimental bundle: the experimental release's content is (channel.rs).
    let completes_installed_release = matches!(
        &ctx.bundle_installed,
        Some((Some(version), Some(channel)))
            if Some(version) == desired_version(ctx)
                && ctx.desired_bundle.channel == Some(*channel)
    );
    if is_standard(ctx) && ctx.bundle_installed.is_some() && !completes_installed_release {
        let bundle_intent = [newer_installed, wider_channel_same_version]
            .into_iter()
            .chain(INTENTS.iter().map(|(_, rule)| *rule))
            .find_map(|rule| rule(ctx));
        if let Some(intent) = bundle_intent.filter(|d| !d.action.writes()) {
            if ctx.required_kind {
                return Decision::new(
                    Action::Blocked,
                    Code::MissingRequiredKind,
                    format!(
                        "{} is required but the installed {bundle} {} does not have it, and \
                         adding {} next to it would mix bundle versions",
                        ctx.desired.kind,
                        installed_text(ctx),
                        desired_text(ctx),
                    ),
                );
            }
            let mut reasons = vec![Reason::new(
                Code::Absent,
                format!(
                    "not installed; not added because the installed {bundle} {} stays",
                    installed_text(ctx)
                ),
            )];
            reasons.extend(intent.reasons);
            return Some(Decision {
                action: Action::Keep,
                reasons,
            });
        }
    }
    let message = if desired_version(ctx).is_some() || ctx.desired_bundle.channel.is_some() {
        format!("not installed; will install {}", desired_text(ctx))
    } else {
        "not installed; will create it".to_string()
    };
    Decision::new(Action::Create, Code::Absent, message)
}

// Row 2: installed, semantically equal → unchanged (identical).
fn identical(ctx: &ItemContext) -> Option<Decision> {
    ctx.identical.then(|| Decision {
        action: Action::Unchanged,
        reasons: vec![Reason::new(
            Code::Identical,
            "installed CRD is semantically equal to the desired one",
        )],
    })
}

// Row 3: standard bundle, installed version newer than desired → keep (newer-installed).
fn newer_installed(ctx: &ItemContext) -> Option<Decision> {
    let (installed, desired) = (installed_version(ctx)?, desired_version(ctx)?);
    (is_standard(ctx) && installed > desired).then(|| Decision {
        action: Action::Keep,
        reasons: vec![Reason::new(
            Code::NewerInstalled,
            format!(
                "installed {} is newer than desired {}; never downgraded",
                installed_text(ctx),
                desired_text(ctx)
            ),
        )],
    })
}

// Row 4: same version, installed experimental, desired standard → keep (wider-channel-installed).
fn wider_channel_same_version(ctx: &ItemContext) -> Option<Decision> {
    let same_version = installed_version(ctx)? == desired_version(ctx)?;
    (is_standard(ctx)
        && same_version
        && installed_channel(ctx) == Some(Channel::Experimental)
        && ctx.desired_bundle.channel == Some(Channel::Standard))
    .then(|| Decision {
        action: Action::Keep,
        reasons: vec![Reason::new(
            Code::WiderChannelInstalled,
            format!(
                "installed {} is the wider channel of desired {}; never narrowed",
                installed_text(ctx),
                desired_text(ctx)
            ),
        )],
    })
}

// Row 5: installed CRD carries no bundle version but differs → conflict (unversioned-installed).
fn unversioned_installed(ctx: &ItemContext) -> Option<Decision> {
    ctx.installed?;
    (is_standard(ctx) && installed_version(ctx).is_none() && desired_version(ctx).is_some()).then(
        || Decision {
            action: Action::Conflict,
            reasons: vec![Reason::new(
                Code::UnversionedInstalled,
                format!(
                    "installed CRD has no bundle version annotation and differs from desired {}; \
                     crdguard cannot tell whether it is older or newer",
                    desired_text(ctx)
                ),
            )],
        },
    )
}

// Row 6: owned by someone else and a change is needed → conflict (owned-by-other).
fn owned_by_other(ctx: &ItemContext, _intent: &Decision) -> Option<Decision> {
    let owner = ctx.other_owner.as_ref()?;
    if ctx.take_ownership
        || ctx.policy.on_conflict == ConflictMode::TakeOwnership
        || person_takeover(ctx)
    {
        return None; // the engine records `ownership-taken` on the write
    }
    if ctx.policy.on_conflict == ConflictMode::Skip {
        return Decision::new(
            Action::Keep,
            Code::OwnedByOther,
            format!("owned by {owner}; skipped (policy onConflict: skip)"),
        );
    }
    Decision::new(
        Action::Conflict,
        Code::OwnedByOther,
        format!("owned by {owner}; a change is needed (use --take-ownership to take it over)"),
    )
}

/// A CRD of a standard bundle that only a person's kubectl wrote: the upgrade the rules allow
/// takes it over (SPEC §2 v2, Ownership), forcing, shown as an override in the plan.
pub fn person_takeover(ctx: &ItemContext) -> bool {
    ctx.other_owner.as_ref().is_some_and(Owner::is_person)
        && ctx.desired_bundle.class == crate::model::Class::Standard
        && ctx.desired_bundle.bundle.is_some()
}

// Row 7: change would drop a version still in status.storedVersions → blocked (or migrate).
// When the stored versions are unknown, removing any version is blocked: nothing says it
// holds no data, and a migration cannot be planned from a file.
fn stored_version_removed(ctx: &ItemContext, _intent: &Decision) -> Option<Decision> {
    if !ctx.removed_versions_of_unknown_storage.is_empty() {
        return Decision::new(
            Action::Blocked,
            Code::StoredVersionsUnknown,
            format!(
                "desired CRD drops {}, and the installed CRD's status.storedVersions is unknown \
                 (the snapshot has no status), so objects may still be stored in it; plan \
                 against the live cluster, or a snapshot with status (`crdguard snapshot`, or \
                 `kubectl get crd -o yaml`)",
                ctx.removed_versions_of_unknown_storage.join(", ")
            ),
        );
    }
    if ctx.removed_stored_versions.is_empty() || ctx.migrate {
        return None;
    }
    Decision::new(
        Action::Blocked,
        Code::StoredVersionRemoved,
        format!(
            "desired CRD drops {} still listed in status.storedVersions; objects must be \
             migrated first (use --migrate)",
            ctx.removed_stored_versions.join(", ")
        ),
    )
}

/// Findings that block an upgrade. With `--migrate`, version removals are handled by the
/// migration, not by the schema gate.
pub fn blocking_findings(findings: &[Finding], migrate: bool) -> impl Iterator<Item = &Finding> {
    findings.iter().filter(move |f| {
        f.severity == Severity::Error
            && !(migrate
                && matches!(
                    f.check,
                    Check::StoredVersionRemoved | Check::ServedVersionRemoved
                ))
    })
}

// Row 8: change has breaking schema findings → blocked (breaking-change).
fn breaking_change(ctx: &ItemContext, _intent: &Decision) -> Option<Decision> {
    if ctx.allow_breaking {
        return None;
    }
    let errors = blocking_findings(ctx.findings, ctx.migrate).count();
    if errors == 0 {
        return None;
    }
    Decision::new(
        Action::Blocked,
        Code::BreakingChange,
        format!(
            "{errors} breaking schema change(s) (see findings); use --allow-breaking to apply anyway"
        ),
    )
}

// Row 9: an admission policy in the cluster would deny the write → blocked (admission-denied).
fn admission_denied(ctx: &ItemContext, _intent: &Decision) -> Option<Decision> {
    let message = ctx.admission_denial.as_ref()?;
    Decision::new(Action::Blocked, Code::AdmissionDenied, message.clone())
}

/// The first recorded requirement of another product that writing `ctx.desired` breaks.
fn broken_requirement(ctx: &ItemContext) -> Option<String> {
    if !is_standard(ctx) {
        return None;
    }
    let served: Vec<&str> = ctx.desired.served_versions().collect();
    let served_before: Vec<&str> = ctx
        .installed
        .map(|i| i.served_versions().collect())
        .unwrap_or_default();
    ctx.other_requirements.iter().find_map(|entry| {
        entry
            .broken_by(
                desired_version(ctx),
                ctx.desired_bundle.channel,
                &ctx.desired.kind,
                &served,
                &served_before,
            )
            .map(|why| {
                let bundle = ctx.desired_bundle.bundle.as_deref().unwrap_or("the bundle");
                format!(
                    "breaks the requirement {} recorded on {bundle}: {why} (`crdguard status` \
                     lists the recorded requirements; `crdguard requirements remove {}` drops \
                     one for a product that was uninstalled)",
                    entry.who(),
                    entry.product
                )
            })
    })
}

// Gate after row 9 (SPEC §12): a write that would break what another product recorded on the
// bundle (its minimum, hard maximum, channel, served versions) → blocked (breaks-other-product).
fn breaks_other_product(ctx: &ItemContext, _intent: &Decision) -> Option<Decision> {
    ctx.installed?;
    if let Some(message) = above_own_maximum(ctx) {
        return Decision::new(Action::Blocked, Code::AboveMaximum, message);
    }
    if let Some(why) = ctx.requirements_unreadable.filter(|_| is_standard(ctx)) {
        return Decision::new(Action::Blocked, Code::RequirementsUnreadable, why);
    }
    let message = broken_requirement(ctx)?;
    Decision::new(Action::Blocked, Code::BreaksOtherProduct, message)
}

/// The policy's own hard maximum (SPEC §4 v2): crdguard never writes the bundle above it.
fn above_own_maximum(ctx: &ItemContext) -> Option<String> {
    let maximum = ctx.policy.maximum.as_ref()?;
    let version = desired_version(ctx)?;
    (is_standard(ctx) && version > maximum).then(|| {
        format!(
            "the policy's maximum for {} is {maximum}; this would write {version} (give sources \
             of a release within it)",
            ctx.desired_bundle.bundle.as_deref().unwrap_or("the bundle")
        )
    })
}

// Row 10: installed standard, desired experimental, installed same or older →
// upgrade if the policy's channel is experimental, else keep + warning.
fn channel_widening(ctx: &ItemContext) -> Option<Decision> {
    let (installed, desired) = (installed_version(ctx)?, desired_version(ctx)?);
    if !(is_standard(ctx)
        && installed_channel(ctx) == Some(Channel::Standard)
        && ctx.desired_bundle.channel == Some(Channel::Experimental)
        && installed <= desired)
    {
        return None;
    }
    // SPEC §2 v2: only a policy (or `--for`) whose channel is experimental widens. Charts
    // vendor the experimental channel as the superset; that alone is no reason to widen a
    // standard install that other products share.
    if ctx.policy.channel == Some(Channel::Experimental) {
        Decision::new(
            Action::Upgrade,
            Code::ChannelWidening,
            format!("widening {} to {}", installed_text(ctx), desired_text(ctx)),
        )
    } else {
        let why = match ctx.policy.channel {
            Some(_) => "the policy's channel is standard".to_string(),
            None => "no policy asks for the experimental channel".to_string(),
        };
        Decision::new(
            Action::Keep,
            Code::ChannelMismatch,
            format!(
                "desired {} is experimental but {why}; keeping {} (set `channel: experimental` \
                 for {} in the policy's spec.bundles to widen)",
                desired_text(ctx),
                installed_text(ctx),
                ctx.desired_bundle.bundle.as_deref().unwrap_or("the bundle"),
            ),
        )
    }
}

// Row 11: installed experimental, desired standard of a newer version → upgrade to the
// experimental release of that version if available, else keep.
fn channel_preserved(ctx: &ItemContext) -> Option<Decision> {
    let (installed, desired) = (installed_version(ctx)?, desired_version(ctx)?);
    if !(is_standard(ctx)
        && installed_channel(ctx) == Some(Channel::Experimental)
        && ctx.desired_bundle.channel == Some(Channel::Standard)
        && desired > installed)
    {
        return None;
    }
    if ctx.experimental_counterpart_available {
        Decision::new(
            Action::Upgrade,
            Code::ChannelPreserved,
            format!(
                "upgrading to the experimental release of {desired} to keep the installed channel"
            ),
        )
    } else {
        Decision::new(
            Action::Keep,
            Code::WiderChannelInstalled,
            format!(
                "installed {} is experimental; desired {} is standard and no experimental \
                 release of {desired} is available, so the channel is not narrowed",
                installed_text(ctx),
                desired_text(ctx)
            ),
        )
    }
}

// Row 12: standard bundle, installed older and the policy says upgrade → upgrade.
fn older_installed(ctx: &ItemContext) -> Option<Decision> {
    let (installed, desired) = (installed_version(ctx)?, desired_version(ctx)?);
    if !(is_standard(ctx) && installed < desired) {
        return None;
    }
    let below_minimum = ctx.policy.minimum.as_ref().is_some_and(|m| installed < m);
    let wanted = match ctx.policy.upgrade {
        UpgradeMode::Never => false,
        UpgradeMode::IfBelowMinimum => below_minimum,
        UpgradeMode::ToRecommended => {
            below_minimum
                || ctx
                    .policy
                    .recommended
                    .as_ref()
                    .is_none_or(|r| installed < r)
        }
    };
    if !wanted {
        return None;
    }
    let (code, why) = if below_minimum {
        (Code::BelowMinimum, "below the policy minimum")
    } else {
        (Code::OlderInstalled, "older")
    };
    Decision::new(
        Action::Upgrade,
        code,
        format!(
            "installed {} is {why}; upgrading to {}",
            installed_text(ctx),
            desired_text(ctx)
        ),
    )
}

// Row 13: standard bundle, installed version within policy range → keep.
fn compatible_installed(ctx: &ItemContext) -> Option<Decision> {
    let installed = installed_version(ctx)?;
    if !is_standard(ctx) {
        return None;
    }
    let message = if Some(installed) == desired_version(ctx)
        && installed_channel(ctx) == ctx.desired_bundle.channel
    {
        format!(
            "installed {} is the desired version but its content differs (changed in the \
             cluster?); kept",
            installed_text(ctx)
        )
    } else {
        format!(
            "installed {} is compatible with the policy; kept",
            installed_text(ctx)
        )
    };
    Decision::new(Action::Keep, Code::CompatibleInstalled, message)
}

// Row 14: extension CRD differs → upgrade.
fn extension_update(ctx: &ItemContext) -> Option<Decision> {
    ctx.installed?;
    Decision::new(
        Action::Upgrade,
        Code::ExtensionUpdate,
        "installed CRD differs from the desired one; updating",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;
    use crate::policy::BundlePolicy;

    fn crd(version: &str, channel: &str) -> (Crd, BundleMembership) {
        let object = serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": { "name": "httproutes.gateway.networking.k8s.io", "annotations": {
                "gateway.networking.k8s.io/bundle-version": version,
                "gateway.networking.k8s.io/channel": channel } },
            "spec": { "group": "gateway.networking.k8s.io", "scope": "Namespaced",
                "names": { "kind": "HTTPRoute", "plural": "httproutes" },
                "versions": [{ "name": "v1", "served": true, "storage": true }] }
        });
        let origin = Origin {
            source: "test".into(),
            document: 1,
            item: None,
        };
        let crd = crate::load::crd_from_value(origin, object).unwrap();
        let membership =
            crate::bundle::Classifier::new(&crate::Policy::default_policy()).classify(&crd);
        (crd, membership)
    }

    fn context<'a>(
        installed: &'a (Crd, BundleMembership),
        desired: &'a (Crd, BundleMembership),
        policy: &'a BundlePolicy,
    ) -> ItemContext<'a> {
        ItemContext {
            desired: &desired.0,
            desired_bundle: &desired.1,
            installed: Some(&installed.0),
            installed_bundle: Some(&installed.1),
            bundle_installed: None,
            policy,
            required_kind: false,
            identical: false,
            other_owner: None,
            take_ownership: false,
            allow_breaking: false,
            migrate: false,
            removed_stored_versions: Vec::new(),
            removed_versions_of_unknown_storage: Vec::new(),
            findings: &[],
            admission_denial: None,
            experimental_counterpart_available: false,
            other_requirements: &[],
            requirements_unreadable: None,
        }
    }

    /// SPEC §2's fourteen rows, and §12's gate after row 9.
    #[test]
    fn the_table_has_its_rows_in_spec_order() {
        let codes: Vec<Code> = FACTS
            .iter()
            .map(|(code, _)| *code)
            .chain(GATES.iter().map(|(code, _)| *code))
            .chain(INTENTS.iter().map(|(code, _)| *code))
            .collect();
        assert_eq!((FACTS.len(), GATES.len(), INTENTS.len()), (5, 5, 5));
        assert_eq!(codes.first(), Some(&Code::Absent));
        assert_eq!(codes.last(), Some(&Code::ExtensionUpdate));
        let position = |c: Code| codes.iter().position(|x| *x == c).unwrap();
        assert!(position(Code::OwnedByOther) < position(Code::StoredVersionRemoved));
        assert!(position(Code::AdmissionDenied) < position(Code::ChannelWidening));
        assert_eq!(
            position(Code::BreaksOtherProduct),
            position(Code::AdmissionDenied) + 1
        );
        // `trace` numbers the rows as the table does and names each by its code; an upgrade
        // is decided by its intent row (13), the gates having let it through.
        let installed = crd("v1.4.0", "standard");
        let desired = crd("v1.5.0", "standard");
        let policy = BundlePolicy::default_for("gateway-api");
        let rows = trace(&context(&installed, &desired, &policy));
        assert_eq!(
            rows.iter().map(|r| r.rule).collect::<Vec<_>>(),
            codes,
            "trace lists every row once, in table order"
        );
        let deciding: Vec<(usize, Code)> = rows
            .iter()
            .filter(|r| r.outcome == RowOutcome::Decides)
            .map(|r| (r.row, r.rule))
            .collect();
        assert_eq!(deciding, vec![(13, Code::OlderInstalled)]);
    }

    // SPEC §12: a write above another product's recorded hard maximum → blocked, naming it;
    // nothing is blocked when nothing is written.
    #[test]
    fn another_products_requirement_blocks_a_write_that_breaks_it() {
        let policy = BundlePolicy::default_for("gateway-api");
        let istio = crate::requirements::Requirement {
            product: "istio".into(),
            version: Some("1.28.0".into()),
            minimum: None,
            maximum: "v1.5.1".parse().ok(),
            tested_maximum: None,
            channel: None,
            kinds: Vec::new(),
            served_versions: Default::default(),
        };
        let others = [istio];
        let (installed, desired) = (crd("v1.5.1", "standard"), crd("v1.6.1", "standard"));
        let mut ctx = context(&installed, &desired, &policy);
        ctx.other_requirements = &others;
        let decision = decide(&ctx);
        assert_eq!(decision.action, Action::Blocked);
        assert_eq!(decision.reasons[0].code, Code::BreaksOtherProduct);
        assert!(
            decision.reasons[0].message.contains("istio 1.28.0")
                && decision.reasons[0].message.contains("at most v1.5.1"),
            "{}",
            decision.reasons[0].message
        );
        let (installed, desired) = (crd("v1.6.1", "standard"), crd("v1.5.1", "standard"));
        let mut ctx = context(&installed, &desired, &policy);
        ctx.other_requirements = &others;
        assert_eq!(decide(&ctx).action, Action::Keep);

        // An absent CRD that is not added (an older experimental-only kind next to an
        // installed v1.6.1 standard bundle) writes nothing, so it breaks no requirement.
        let envoy = crate::requirements::Requirement {
            product: "envoy-gateway".into(),
            version: Some("v1.9".into()),
            minimum: "v1.6.0".parse().ok(),
            maximum: None,
            tested_maximum: None,
            channel: None,
            kinds: Vec::new(),
            served_versions: Default::default(),
        };
        let others = [envoy];
        let desired = crd("v1.5.1", "experimental");
        let mut ctx = context(&installed, &desired, &policy);
        ctx.installed = None;
        ctx.installed_bundle = None;
        ctx.bundle_installed = Some(("v1.6.1".parse().ok(), Some(Channel::Standard)));
        ctx.other_requirements = &others;
        let decision = decide(&ctx);
        assert_eq!(decision.action, Action::Keep, "{decision:?}");
        assert_eq!(decision.reasons[0].code, Code::Absent);
    }

    // SPEC §4 v2: the policy's own hard maximum is never crossed.
    #[test]
    fn the_policys_own_maximum_blocks_a_write_above_it() {
        let mut policy = BundlePolicy::default_for("gateway-api");
        policy.maximum = "v1.6.0".parse().ok();
        let (installed, desired) = (crd("v1.5.1", "standard"), crd("v1.6.1", "standard"));
        let decision = decide(&context(&installed, &desired, &policy));
        assert_eq!(decision.action, Action::Blocked);
        assert_eq!(decision.reasons[0].code, Code::AboveMaximum);
        let (installed, desired) = (crd("v1.5.0", "standard"), crd("v1.5.1", "standard"));
        assert_eq!(
            decide(&context(&installed, &desired, &policy)).action,
            Action::Upgrade
        );
    }

    // Row 9: an admission policy would deny the write → blocked (admission-denied).
    #[test]
    fn admission_denial_blocks_a_write() {
        let policy = BundlePolicy::default_for("gateway-api");
        let (installed, desired) = (crd("v1.5.1", "standard"), crd("v1.6.1", "standard"));
        let mut ctx = context(&installed, &desired, &policy);
        ctx.admission_denial = Some("safe-upgrades: downgrades are not allowed".into());
        let decision = decide(&ctx);
        assert_eq!(decision.action, Action::Blocked);
        assert_eq!(decision.reasons[0].code, Code::AdmissionDenied);
        assert_eq!(
            decision.reasons[0].message,
            "safe-upgrades: downgrades are not allowed"
        );
    }

    #[test]
    fn admission_denial_is_irrelevant_when_nothing_is_written() {
        let policy = BundlePolicy::default_for("gateway-api");
        let (installed, desired) = (crd("v1.6.1", "standard"), crd("v1.5.1", "standard"));
        let mut ctx = context(&installed, &desired, &policy);
        ctx.admission_denial = Some("denied".into());
        assert_eq!(decide(&ctx).reasons[0].code, Code::NewerInstalled);
    }

    // Row 11 with a catalog: the experimental release of the desired version is used.
    #[test]
    fn channel_is_preserved_when_the_experimental_release_is_available() {
        let policy = BundlePolicy::default_for("gateway-api");
        let (installed, desired) = (crd("v1.4.1", "experimental"), crd("v1.5.1", "standard"));
        let mut ctx = context(&installed, &desired, &policy);
        assert_eq!(decide(&ctx).reasons[0].code, Code::WiderChannelInstalled);
        ctx.experimental_counterpart_available = true;
        let decision = decide(&ctx);
        assert_eq!(
            (decision.action, decision.reasons[0].code),
            (Action::Upgrade, Code::ChannelPreserved)
        );
    }

    #[test]
    fn gates_only_fire_when_a_change_is_needed() {
        let policy = BundlePolicy::default_for("gateway-api");
        let (installed, desired) = (crd("v1.6.1", "experimental"), crd("v1.6.1", "standard"));
        let mut ctx = context(&installed, &desired, &policy);
        ctx.removed_stored_versions = vec!["v1alpha2".into()];
        ctx.other_owner = Some(Owner::Crdguard);
        assert_eq!(decide(&ctx).reasons[0].code, Code::WiderChannelInstalled);
    }
}
