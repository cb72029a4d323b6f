//! `crdguard apply`: plan live, then migrate, server-side apply and wait for Established.
//! Nothing is written when the plan is blocked or a preflight check fails.

use std::collections::BTreeSet;

use crdguard_core::companion::CompanionObject;
use crdguard_core::owner::Identity;
use crdguard_core::plan::{
    Action, ApplyFailure, ApplyResult, Code, Plan, PlanInputs, PlanOptions, Reason, Summary,
    Verdict, plan,
};
use crdguard_core::{Crd, ObservedState};
use crdguard_kube::{ApplyOptions, Cluster, Progress, WriteResult};

use crate::cli::{ApplyArgs, LiveArgs, SourceArgs, WriteArgs};
use crate::exit::{CliError, Exit};
use crate::render;

use super::TerminalProgress;
use super::plan::{Inputs, PLAN_RELEASE, load_inputs};

pub fn run(args: &ApplyArgs) -> Result<Exit, CliError> {
    let inputs = load_inputs(
        &args.desired.sources,
        &args.desired.chart,
        &args.desired.render,
        &PLAN_RELEASE,
        args.desired.policy.as_deref(),
    )?;
    let connect = super::live_options(&args.live);
    let progress = TerminalProgress::new(args.output);
    super::runtime()?.block_on(async {
        let cluster = super::connect_for_writes(&connect).await?;
        let observed = cluster.observe().await?;
        let settings = ApplySettings {
            write: &args.write,
            live: &args.live,
            render: &args.desired.render,
            preflight: Vec::new(),
        };
        let (plan, exit) = apply(
            &cluster,
            &inputs,
            &observed,
            &settings,
            Identity::default(),
            &progress,
        )
        .await?;
        render::plan(&plan, args.output)?;
        Ok(exit)
    })
}

/// The flags apply needs, from either command (apply, install).
pub struct ApplySettings<'a> {
    pub write: &'a WriteArgs,
    pub live: &'a LiveArgs,
    pub render: &'a SourceArgs,
    /// Checks the calling action made itself (install: `helm-would-delete`); one that fails
    /// blocks the plan like any other preflight failure, before anything is written.
    pub preflight: Vec<crdguard_core::plan::PreflightCheck>,
}

/// Plans against the observed cluster and carries the plan out.
pub async fn apply(
    cluster: &Cluster,
    inputs: &Inputs,
    observed: &ObservedState,
    args: &ApplySettings<'_>,
    identity: Identity,
    progress: &TerminalProgress,
) -> Result<(Plan, Exit), CliError> {
    let dry_run = args.write.dry_run.is_some();
    let options = PlanOptions {
        take_ownership: args.write.take_ownership,
        allow_breaking: args.write.allow_breaking,
        migrate: args.write.migrate,
        identity,
    };
    let mut desired = inputs.desired.clone();
    let preserved =
        super::plan::preserve_channel(&mut desired, observed, &inputs.policy, args.render)?;
    let desired = &desired;
    let evaluator = super::admission_predictor(observed);
    let mut plan = plan(&PlanInputs {
        desired,
        observed,
        policy: &inputs.policy,
        options: &options,
        identifier: Some(super::catalog_identifier()?),
        admission: evaluator
            .as_ref()
            .map(|e| e as &dyn crdguard_core::admission::AdmissionPredictor),
        preserved_channel: Some(&preserved),
    });
    let mut result = ApplyResult {
        dry_run,
        ..ApplyResult::default()
    };
    plan.preflight.extend(args.preflight.iter().cloned());
    if args
        .preflight
        .iter()
        .any(|c| c.status == crdguard_core::plan::CheckStatus::Fail)
    {
        plan.verdict = Verdict::Blocked;
    }
    if plan.verdict == Verdict::Blocked {
        result.stopped = Some("the plan is blocked; nothing was written".into());
        plan.apply = Some(result);
        return Ok((plan, Exit::Blocked));
    }
    let writes: Vec<(&Crd, bool)> = plan
        .items
        .iter()
        .filter(|i| i.action.writes())
        .filter_map(|i| {
            let force = i.reasons.iter().any(|r| r.code == Code::OwnershipTaken);
            desired.get(&i.crd).map(|crd| (crd, force))
        })
        .collect();
    let apply_options = |force| ApplyOptions {
        dry_run,
        force,
        concurrency: usize::from(args.write.concurrency),
    };

    // Storage migrations first: the new CRDs cannot drop a version that still holds objects.
    for item in plan
        .items
        .iter()
        .filter(|i| i.action.writes() && i.reasons.iter().any(|r| r.code == Code::MigrationPlanned))
    {
        let (Some(installed), Some(desired)) =
            (observed.crds.get(&item.crd), desired.get(&item.crd))
        else {
            continue;
        };
        let dropped: Vec<String> = installed
            .stored_versions
            .iter()
            .filter(|v| !desired.has_version(v))
            .cloned()
            .collect();
        if dry_run {
            progress.message(&format!(
                "{}: dry run, objects in {} would be migrated",
                item.crd,
                dropped.join(", ")
            ));
            continue;
        }
        let force = item.reasons.iter().any(|r| r.code == Code::OwnershipTaken);
        let report = cluster
            .migrate_storage(
                installed,
                desired,
                &dropped,
                apply_options(force),
                args.live.timeout,
                progress,
            )
            .await;
        match report {
            Ok(report) => result.migrations.push(report),
            Err(e @ crdguard_kube::ClusterError::Interrupted { .. }) => {
                result.stopped = Some(format!("{e}; no CRD was applied"));
                plan.apply = Some(result);
                plan.verdict = Verdict::Blocked;
                return Ok((plan, Exit::Blocked));
            }
            Err(e) => {
                result.stopped = Some(format!(
                    "migration of {} failed: {e}; no CRD was applied",
                    item.crd
                ));
                result.failed.push(ApplyFailure {
                    crd: item.crd.clone(),
                    message: e.to_string(),
                });
                plan.apply = Some(result);
                return Ok((plan, Exit::Cluster));
            }
        }
    }

    progress.message(&format!(
        "{} {} CRD(s){}",
        if dry_run {
            "dry-run applying"
        } else {
            "applying"
        },
        writes.len(),
        if dry_run {
            " (server-side dry run)"
        } else {
            ""
        }
    ));
    let mut outcomes = Vec::new();
    for force in [false, true] {
        let group: Vec<&Crd> = writes
            .iter()
            .filter(|(_, f)| *f == force)
            .map(|(c, _)| *c)
            .collect();
        if group.is_empty() {
            continue;
        }
        outcomes.extend(
            cluster
                .apply_crds(&group, apply_options(force), |outcome| {
                    if outcome.result == WriteResult::Applied {
                        progress.message(&format!("applied {}", outcome.crd));
                    }
                })
                .await,
        );
    }
    for outcome in outcomes {
        match outcome.result {
            WriteResult::Applied => result.applied.push(outcome.crd),
            WriteResult::Conflict(message) => {
                mark(
                    &mut plan,
                    &outcome.crd,
                    Action::Conflict,
                    Code::OwnedByOther,
                    &message,
                );
                result.conflicts.push(ApplyFailure {
                    crd: outcome.crd,
                    message,
                });
            }
            WriteResult::Failed(message) => result.failed.push(ApplyFailure {
                crd: outcome.crd,
                message,
            }),
            WriteResult::NotAttempted(reason) => result.failed.push(ApplyFailure {
                crd: outcome.crd,
                message: format!("not attempted: {reason}"),
            }),
            WriteResult::Interrupted(_) => result.not_sent.push(outcome.crd),
        }
    }
    result.applied.sort();
    result.not_sent.sort();
    let interrupted = cluster.stop_signal().requested();

    if !dry_run && !result.applied.is_empty() && interrupted.is_none() {
        let names: BTreeSet<String> = result.applied.iter().cloned().collect();
        let waited = cluster
            .wait_established(&names, args.live.timeout, |name| {
                progress.message(&format!("established {name}"))
            })
            .await?;
        result.not_established = waited.pending.into_iter().collect();
    }

    if result.failed.is_empty() && result.not_established.is_empty() && interrupted.is_none() {
        apply_companions(
            cluster,
            &mut plan,
            &mut result,
            apply_options(false),
            progress,
        )
        .await;
    }

    plan.summary = Summary::of(&plan.items);
    let exit = if !result.failed.is_empty() {
        result.stopped = Some(format!("{} write(s) failed", result.failed.len()));
        Exit::Cluster
    } else if let Some(reason) = interrupted {
        result.stopped = Some(format!(
            "{reason}: {} CRD(s) written (not waited for Established), {} not sent; run the \
             same command again to resume",
            result.applied.len(),
            result.not_sent.len()
        ));
        Exit::Blocked
    } else if !result.conflicts.is_empty() || !result.not_established.is_empty() {
        Exit::Blocked
    } else {
        Exit::Ok
    };
    if exit != Exit::Ok {
        plan.verdict = Verdict::Blocked;
    }
    plan.apply = Some(result);
    Ok((plan, exit))
}

/// Writes the companion objects the plan creates or upgrades (SPEC §1), after the bundle's CRDs
/// are established, one at a time in the release's order (the policy before its binding).
async fn apply_companions(
    cluster: &Cluster,
    plan: &mut Plan,
    result: &mut ApplyResult,
    options: ApplyOptions,
    progress: &TerminalProgress,
) {
    let companions: Vec<CompanionObject> = plan
        .items
        .iter()
        .filter(|i| i.action.writes())
        .filter_map(|i| i.companion.clone())
        .collect();
    for companion in companions {
        let reference = companion.reference();
        let Some(kind) = crdguard_core::companion::kind_named(&companion.kind) else {
            continue;
        };
        if cluster.stop_signal().requested().is_some() {
            result.not_sent.push(reference);
            continue;
        }
        match cluster
            .apply_object(
                kind.collection,
                &companion.name,
                &companion.apply_body(),
                options,
            )
            .await
        {
            Ok(_) => {
                progress.message(&format!("applied {reference}"));
                result.applied.push(reference);
            }
            Err(e) if e.code() == Some(409) => {
                let message = e.to_string();
                mark(
                    plan,
                    &reference,
                    Action::Conflict,
                    Code::OwnedByOther,
                    &message,
                );
                result.conflicts.push(ApplyFailure {
                    crd: reference,
                    message,
                });
            }
            // The server does not serve the API after all (the bare CRD server, a cluster
            // with the API disabled): the bundle's CRDs stand; say so, do not fail.
            Err(e) if e.code() == Some(404) => {
                plan.warnings.push(crdguard_core::plan::PlanWarning {
                    source: reference.clone(),
                    message: format!(
                        "not created: the server does not serve {} ({e})",
                        kind.api_version
                    ),
                });
                mark(
                    plan,
                    &reference,
                    Action::Keep,
                    Code::Absent,
                    "the server does not serve this API; not created",
                );
            }
            Err(e) => result.failed.push(ApplyFailure {
                crd: reference,
                message: e.to_string(),
            }),
        }
    }
}

/// Records what the server said about an item the plan expected to write.
fn mark(plan: &mut Plan, crd: &str, action: Action, code: Code, message: &str) {
    if let Some(item) = plan.items.iter_mut().find(|i| i.crd == crd) {
        item.action = action;
        item.reasons.insert(0, Reason::new(code, message));
    }
}
