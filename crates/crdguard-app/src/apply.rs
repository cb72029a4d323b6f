//! `crdguard apply`: plan live, then migrate, server-side apply and wait for Established.
//! Nothing is written when the plan is blocked or a preflight check fails.

use std::collections::{BTreeMap, BTreeSet};

use crdguard_core::companion::CompanionObject;
use crdguard_core::owner::Identity;
use crdguard_core::plan::{
    Action, ApplyFailure, ApplyResult, Code, ItemPlan, Plan, PlanInputs, PlanOptions, Reason,
    Summary, Verdict, plan,
};
use crdguard_core::{DesiredState, ObservedState};
use crdguard_kube::{ApplyOptions, Cluster, PlannedWrite, Precondition, Progress, WriteResult};

use crate::error::{CommandError, Exit};
use crate::inputs::{Inputs, RenderAs, load_inputs};
use crate::saved_plan;
use crate::settings::{DesiredSettings, LiveSettings, RenderSettings, WriteSettings};

/// What `apply` needs: the inputs (or a saved plan), the release it acts as, the cluster and
/// how to write.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    pub desired: DesiredSettings,
    pub identity: Identity,
    /// `apply --plan FILE`: the reviewed plan, applied only if the cluster still matches it.
    pub saved_plan: Option<std::path::PathBuf>,
    /// With a saved plan: plan again on what is there now instead of refusing a stale plan.
    pub replan: bool,
    pub live: LiveSettings,
    pub write: WriteSettings,
}

/// What `apply` did: the plan with its `apply` result, and the exit it maps to (SPEC §3).
pub struct Applied {
    pub plan: Plan,
    pub exit: Exit,
}

pub fn run(args: &ApplySettings, progress: &dyn Progress) -> Result<Applied, CommandError> {
    let saved = args
        .saved_plan
        .as_deref()
        .map(saved_plan::open)
        .transpose()?;
    let inputs = match &saved {
        Some(saved) => Inputs {
            desired: saved.desired.clone(),
            policy: saved.policy.clone(),
        },
        None => load_inputs(&args.desired, &RenderAs::acting_as(&args.identity))?,
    };
    // A saved plan brings its own options: it is applied as it was reviewed.
    let write = match &saved {
        Some(saved) => WriteSettings {
            take_ownership: saved.take_ownership,
            allow_breaking: saved.allow_breaking,
            migrate: saved.migrate,
            ..args.write.clone()
        },
        None => args.write.clone(),
    };
    // A saved plan acts as the release it was made for.
    let identity = match &saved {
        Some(saved) => saved.identity.clone(),
        None => args.identity.clone(),
    };
    let connect = crate::session::live_options(&args.live);
    crate::session::runtime()?.block_on(async {
        let cluster = crate::session::connect_for_writes(&connect).await?;
        let observed = cluster.observe().await?;
        if let Some(saved) = &saved {
            let here = observed.cluster_id.as_deref().unwrap_or("unknown");
            if here != saved.cluster_id {
                return Err(CommandError::usage(format!(
                    "{}: the plan was made for cluster {}, this is {here}; nothing was written",
                    args.saved_plan
                        .as_deref()
                        .unwrap_or(std::path::Path::new("plan"))
                        .display(),
                    saved.cluster_id
                )));
            }
        }
        let execution = Execution {
            write: &write,
            live: &args.live,
            render: &args.desired.render,
            preflight: Vec::new(),
            saved: saved.as_ref().filter(|_| !args.replan).map(|s| &s.items),
            on_written: None,
        };
        let (plan, exit) =
            apply(&cluster, &inputs, &observed, &execution, identity, progress).await?;
        Ok(Applied { plan, exit })
    })
}

/// How a plan is carried out, for either action that applies (apply, install).
pub struct Execution<'a> {
    pub write: &'a WriteSettings,
    pub live: &'a LiveSettings,
    pub render: &'a RenderSettings,
    /// Checks the calling action made itself (install: `helm-would-delete`); one that fails
    /// blocks the plan like any other preflight failure, before anything is written.
    pub preflight: Vec<crdguard_core::plan::PreflightCheck>,
    /// `apply --plan` (without `--replan`): the saved plan's items; the plan made now must
    /// match them, object for object and decision for decision, or nothing is written.
    pub saved: Option<&'a BTreeMap<String, saved_plan::SavedItem>>,
    /// Runs once every CRD write has succeeded, right before the wait for Established, and
    /// only if nothing failed, conflicted or was blocked (install: phase 2 starts there when it
    /// may, see `install::alongside`).
    pub on_written: Option<&'a (dyn Fn() + Sync)>,
}

/// Plans against the observed cluster and carries the plan out.
pub async fn apply(
    cluster: &Cluster,
    inputs: &Inputs,
    observed: &ObservedState,
    args: &Execution<'_>,
    identity: Identity,
    progress: &dyn Progress,
) -> Result<(Plan, Exit), CommandError> {
    let dry_run = args.write.dry_run;
    let options = PlanOptions {
        take_ownership: args.write.take_ownership,
        allow_breaking: args.write.allow_breaking,
        migrate: args.write.migrate,
        identity,
    };
    let mut desired = inputs.desired.clone();
    let preserved =
        crate::inputs::preserve_channel(&mut desired, observed, &inputs.policy, args.render)?;
    let desired = &desired;
    let evaluator = crate::session::admission_predictor(observed);
    let identifier = crate::session::catalog_identifier()?;
    // What the stored objects showed (read once, after the first plan); every later plan,
    // including those made again after a conflict, judges findings with it.
    let objects: std::cell::OnceCell<crdguard_core::objects::ObjectsObserved> =
        std::cell::OnceCell::new();
    let plan_observed = |observed: &ObservedState| {
        plan(&PlanInputs {
            desired,
            observed,
            policy: &inputs.policy,
            options: &options,
            identifier: Some(identifier),
            admission: evaluator
                .as_ref()
                .map(|e| e as &dyn crdguard_core::admission::AdmissionPredictor),
            preserved_channel: Some(&preserved),
        })
    };
    let planner = |observed: &ObservedState| match objects.get() {
        Some(read) if observed.objects.is_empty() && !read.is_empty() => {
            let mut with_objects = observed.clone();
            with_objects.objects = read.clone();
            plan_observed(&with_objects)
        }
        _ => plan_observed(observed),
    };
    let mut plan = planner(observed);
    let reads = plan.object_reads();
    if !reads.is_empty() {
        let read = match observed.source {
            crdguard_core::ClusterSource::Live => {
                crate::objects::read_live(cluster, observed, desired, &reads, progress).await?
            }
            crdguard_core::ClusterSource::Snapshot => {
                crdguard_core::objects::evidence_from_snapshot(
                    &reads,
                    desired,
                    &observed.crds,
                    &observed.snapshot_objects,
                )
            }
        };
        let _ = objects.set(read);
        plan = planner(observed);
    }
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
    if let Some(saved) = args.saved {
        let differences = saved_plan::differences(saved, &plan);
        if !differences.is_empty() {
            for (name, why) in &differences {
                mark(&mut plan, name, Action::Conflict, Code::PlanStale, why);
                if !plan.items.iter().any(|i| &i.crd == name) {
                    plan.warnings.push(crdguard_core::plan::PlanWarning {
                        source: name.clone(),
                        message: format!("plan-stale: {why}"),
                    });
                }
            }
            plan.summary = Summary::of(&plan.items);
            plan.verdict = Verdict::Blocked;
            result.stopped = Some(format!(
                "the saved plan is stale: {} item(s) differ from the cluster now ({}); nothing \
                 was written. Plan again, or apply with --replan",
                differences.len(),
                differences
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            plan.apply = Some(result);
            return Ok((plan, Exit::Blocked));
        }
    }
    if plan.verdict == Verdict::Blocked {
        result.stopped = Some("the plan is blocked; nothing was written".into());
        plan.apply = Some(result);
        return Ok((plan, Exit::Blocked));
    }
    let apply_options = |force| ApplyOptions {
        dry_run,
        force,
        concurrency: usize::from(args.write.concurrency),
    };
    // Every write is conditioned on the object as it was read (SPEC §11).
    let mut preconditions: BTreeMap<String, Precondition> = plan
        .items
        .iter()
        .filter(|i| i.action.writes())
        .map(|i| (i.crd.clone(), precondition_for(observed, i)))
        .collect();

    // A server-side dry run of every write before the first real one: a webhook, quota or
    // validation error then stops the whole plan, not half of a bundle.
    if !dry_run
        && let Some(exit) = rehearse(
            cluster,
            &mut plan,
            &mut result,
            desired,
            &preconditions,
            &apply_options,
            progress,
        )
        .await
    {
        plan.summary = Summary::of(&plan.items);
        plan.apply = Some(result);
        plan.verdict = Verdict::Blocked;
        return Ok((plan, exit));
    }

    // Storage migrations first: the new CRDs cannot drop a version that still holds objects.
    let migrating: Vec<(String, Vec<String>, bool)> = plan
        .items
        .iter()
        .filter_map(|i| Some((i.crd.clone(), i.step.migrates()?.to_vec(), i.step.forces())))
        .collect();
    let mut stale_migrations = Vec::new();
    for (name, dropped, force) in migrating {
        let (Some(installed), Some(desired_crd)) = (observed.crds.get(&name), desired.get(&name))
        else {
            continue;
        };
        if dry_run {
            progress.message(&format!(
                "{name}: dry run, objects in {} would be migrated",
                dropped.join(", ")
            ));
            continue;
        }
        let migrated = cluster
            .migrate_storage(
                installed,
                desired_crd,
                &dropped,
                apply_options(force),
                args.live.timeout,
                progress,
            )
            .await;
        match migrated {
            Ok(migrated) => {
                if let Some(metadata) = migrated.metadata {
                    preconditions.insert(name.clone(), Precondition::Seen(metadata));
                }
                result.migrations.push(migrated.report);
            }
            Err(crdguard_kube::ClusterError::Stale { message, .. }) => {
                stale_migrations.push((name.clone(), message));
            }
            Err(e @ crdguard_kube::ClusterError::Interrupted { .. }) => {
                result.stopped = Some(format!("{e}; no CRD was applied"));
                plan.apply = Some(result);
                plan.verdict = Verdict::Blocked;
                return Ok((plan, Exit::Blocked));
            }
            Err(e) => {
                result.stopped = Some(format!(
                    "migration of {name} failed: {e}; no CRD was applied"
                ));
                result.failed.push(ApplyFailure {
                    crd: name.clone(),
                    message: e.to_string(),
                });
                plan.apply = Some(result);
                return Ok((plan, Exit::Cluster));
            }
        }
    }

    let mut pending: Vec<String> = plan
        .items
        .iter()
        .filter(|i| i.action.writes() && i.companion.is_none())
        .filter(|i| !stale_migrations.iter().any(|(name, _)| *name == i.crd))
        .map(|i| i.crd.clone())
        .collect();
    progress.message(&format!(
        "{} {} CRD(s){}",
        if dry_run {
            "dry-run applying"
        } else {
            "applying"
        },
        pending.len(),
        if dry_run {
            " (server-side dry run)"
        } else {
            ""
        }
    ));
    let mut stale = stale_migrations;
    // The wait for Established watches from here: every change the writes cause comes after
    // this version. Unreadable, the wait lists the CRDs instead.
    let wait_from = if dry_run || pending.is_empty() {
        None
    } else {
        cluster.crd_collection_version().await.ok()
    };
    let mut answered_ready = BTreeSet::new();
    for round in 0..=STALE_ROUNDS {
        let outcomes = write_crds(
            cluster,
            &plan,
            desired,
            &pending,
            &preconditions,
            &apply_options,
            progress,
        )
        .await;
        for outcome in outcomes {
            match outcome.result {
                WriteResult::Applied => {
                    if outcome.ready {
                        answered_ready.insert(outcome.crd.clone());
                    }
                    result.applied.push(outcome.crd)
                }
                WriteResult::Stale(message) => stale.push((outcome.crd, message)),
                WriteResult::Conflict(message) => {
                    record_conflict(
                        &mut plan,
                        &mut result,
                        outcome.crd,
                        Code::OwnedByOther,
                        message,
                    );
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
        pending.clear();
        if stale.is_empty() {
            break;
        }
        let last_round = round == STALE_ROUNDS || cluster.stop_signal().requested().is_some();
        if last_round {
            for (name, message) in stale.drain(..) {
                let message = format!(
                    "{message}; still changing after {STALE_ROUNDS} new decisions, not written"
                );
                record_conflict(&mut plan, &mut result, name, Code::PlanStale, message);
            }
            break;
        }
        progress.message(&format!(
            "{} CRD(s) changed after they were read; observing again and deciding again",
            stale.len()
        ));
        if back_off(cluster, round).await.is_err() {
            // Stopped while waiting: the CRDs that changed are not sent again.
            result
                .not_sent
                .extend(stale.drain(..).map(|(name, _)| name));
            break;
        }
        let fresh = cluster.observe().await?;
        let again = decide_again(
            &mut plan,
            &mut result,
            &mut preconditions,
            &fresh,
            &planner(&fresh),
            std::mem::take(&mut stale),
        );
        pending.extend(
            again
                .into_iter()
                .filter(|i| i.companion.is_none())
                .map(|i| i.crd),
        );
    }
    result.applied.sort();
    result.not_sent.sort();
    let interrupted = cluster.stop_signal().requested();

    if !dry_run && !result.applied.is_empty() && interrupted.is_none() {
        let names: BTreeSet<String> = result.applied.iter().cloned().collect();
        progress.start("waiting for Established", names.len() as u64);
        let start = match wait_from {
            Some(version) => crdguard_kube::WaitStart::After {
                version,
                ready: answered_ready,
            },
            None => crdguard_kube::WaitStart::List,
        };
        let clean_so_far = plan.verdict == Verdict::Ok
            && result.failed.is_empty()
            && result.conflicts.is_empty()
            && result.not_sent.is_empty()
            && !plan.items.iter().any(|i| i.action.stops());
        if clean_so_far && let Some(written) = args.on_written {
            written();
        }
        let waited = cluster
            .wait_established_from(&names, start, args.live.timeout, |name| {
                progress.message(&format!("established {name}"));
                progress.advance(1);
            })
            .await;
        progress.finish();
        let waited = waited?;
        result.not_established = waited.pending.into_iter().collect();
    }

    if interrupted.is_some() {
        // Stopped before the companions: they are not sent either, and the report says so.
        result.not_sent.extend(
            plan.items
                .iter()
                .filter(|i| i.action.writes() && i.companion.is_some())
                .map(|i| i.crd.clone()),
        );
        result.not_sent.sort();
    } else if result.failed.is_empty() && result.not_established.is_empty() {
        apply_companions(
            cluster,
            &mut plan,
            &mut result,
            apply_options(false),
            &mut preconditions,
            &planner,
            progress,
        )
        .await;
    }

    // A stop during the companions' writes counts as well.
    let interrupted = interrupted.or_else(|| cluster.stop_signal().requested());
    if plan.verdict == Verdict::Ok
        && result.failed.is_empty()
        && result.not_established.is_empty()
        && cluster.stop_signal().requested().is_none()
    {
        crate::requirements::record(cluster, &mut plan, &mut result, &inputs.policy, dry_run).await;
    }

    plan.summary = Summary::of(&plan.items);
    let exit = if !result.failed.is_empty() {
        result.stopped = Some(format!("{} write(s) failed", result.failed.len()));
        Exit::Cluster
    } else if let Some(reason) = interrupted {
        result.stopped = Some(format!(
            "{reason}: {} object(s) written (not waited for Established), {} not sent; run \
             the same command again to resume",
            result.applied.len(),
            result.not_sent.len()
        ));
        Exit::Blocked
    } else if !result.conflicts.is_empty()
        || !result.not_established.is_empty()
        || plan.items.iter().any(|i| i.action.stops())
    {
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
    preconditions: &mut BTreeMap<String, Precondition>,
    planner: &dyn Fn(&ObservedState) -> Plan,
    progress: &dyn Progress,
) {
    let mut pending: Vec<CompanionObject> = plan
        .items
        .iter()
        .filter(|i| i.action.writes())
        .filter_map(|i| i.companion.clone())
        .collect();
    for round in 0..=STALE_ROUNDS {
        let stale = write_companions(
            cluster,
            plan,
            result,
            options,
            preconditions,
            &pending,
            progress,
        )
        .await;
        pending.clear();
        if stale.is_empty() {
            break;
        }
        if round == STALE_ROUNDS || cluster.stop_signal().requested().is_some() {
            for (reference, message) in stale {
                record_conflict(plan, result, reference, Code::PlanStale, message);
            }
            break;
        }
        if back_off(cluster, round).await.is_err() {
            result
                .not_sent
                .extend(stale.into_iter().map(|(reference, _)| reference));
            break;
        }
        let fresh = match cluster.observe().await {
            Ok(fresh) => fresh,
            Err(e) => {
                for (reference, _) in stale {
                    result.failed.push(ApplyFailure {
                        crd: reference,
                        message: e.to_string(),
                    });
                }
                break;
            }
        };
        let again = decide_again(plan, result, preconditions, &fresh, &planner(&fresh), stale);
        pending.extend(again.into_iter().filter_map(|i| i.companion));
    }
}

/// Decides again, on the cluster as `fresh` holds it, the items whose objects changed between
/// crdguard's read and its write (`stale`: name and what changed). Each one's item in `plan`
/// becomes its new decision, with reason `plan-stale`; returns the items that still write,
/// their preconditions now on `fresh`. An item now `unchanged` holds what crdguard meant to
/// write (its own write landed although the answer was lost, or another writer wrote the
/// same): it is done.
fn decide_again(
    plan: &mut Plan,
    result: &mut ApplyResult,
    preconditions: &mut BTreeMap<String, Precondition>,
    fresh: &ObservedState,
    replanned: &Plan,
    stale: Vec<(String, String)>,
) -> Vec<ItemPlan> {
    let mut again = Vec::new();
    for (name, message) in stale {
        let Some(mut item) = replanned.items.iter().find(|i| i.crd == name).cloned() else {
            // The plan made now has no item for it: a companion whose bundle needs no write
            // any more (this run wrote its CRDs). Done when what is there is what crdguard
            // meant to write (its own write landed, the answer lost); otherwise it changed
            // under crdguard: a conflict, never dropped from the report.
            let wanted = plan
                .items
                .iter()
                .find(|i| i.crd == name)
                .and_then(|i| i.companion.as_ref());
            if wanted.is_some_and(|companion| companion_landed(fresh, companion)) {
                result.applied.push(name);
            } else {
                let message = format!("{message}; the plan made now no longer writes it");
                record_conflict(plan, result, name, Code::PlanStale, message);
            }
            continue;
        };
        if item.action == Action::Unchanged {
            result.applied.push(name);
            continue;
        }
        item.reasons.insert(
            0,
            Reason::new(
                Code::PlanStale,
                format!("{message}; decided again on what is there now"),
            ),
        );
        if !result.decided_again.contains(&name) {
            result.decided_again.push(name.clone());
        }
        if item.action.writes() {
            preconditions.insert(name.clone(), precondition_for(fresh, &item));
            again.push(item.clone());
        }
        if let Some(slot) = plan.items.iter_mut().find(|i| i.crd == name) {
            *slot = item;
        }
    }
    again
}

/// Whether `fresh` holds `companion` with the content crdguard writes (spec and kind, server
/// defaults aside).
fn companion_landed(fresh: &ObservedState, companion: &CompanionObject) -> bool {
    fresh
        .admission
        .iter()
        .find(|o| o.kind == companion.kind && o.name == companion.name)
        .is_some_and(|installed| {
            crdguard_core::companion::canonical_content(&installed.object)
                == crdguard_core::companion::canonical_content(&companion.apply_body())
        })
}

/// Writes companions in order; returns those that changed after crdguard read them.
async fn write_companions(
    cluster: &Cluster,
    plan: &mut Plan,
    result: &mut ApplyResult,
    options: ApplyOptions,
    preconditions: &BTreeMap<String, Precondition>,
    companions: &[CompanionObject],
    progress: &dyn Progress,
) -> Vec<(String, String)> {
    let mut stale = Vec::new();
    for companion in companions {
        let reference = companion.reference();
        let Some(kind) = crdguard_core::companion::kind_named(&companion.kind) else {
            continue;
        };
        if cluster.stop_signal().requested().is_some() {
            result.not_sent.push(reference);
            continue;
        }
        let options = ApplyOptions {
            force: forced(plan, &reference),
            ..options
        };
        match cluster
            .apply_object(
                kind.collection,
                &companion.name,
                &companion.apply_body(),
                options,
                preconditions
                    .get(&reference)
                    .unwrap_or(&Precondition::Absent),
            )
            .await
        {
            Ok(_) => {
                progress.message(&format!("applied {reference}"));
                result.applied.push(reference);
            }
            // Another writer wrote it after crdguard read it: decided again by the caller.
            Err(crdguard_kube::ClusterError::Stale { message, .. }) => {
                stale.push((reference, message));
            }
            Err(e) if e.code() == Some(409) => {
                let message = e.to_string();
                record_conflict(plan, result, reference, Code::OwnedByOther, message);
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
    stale
}

/// Rounds of deciding again for objects that changed between read and write (SPEC §11). Each
/// round re-observes the cluster; with N writers racing, each round settles at least one, so
/// the bound must exceed the writers one expects: eight pipelines or GitOps apps at once (the
/// race trial) ran out of 5 rounds about once in 16, leaving a CRD at an older release.
const STALE_ROUNDS: usize = 10;

/// A growing pause before observing again, spread by process so that writers that collided
/// do not all read and write again at the same instant. `Err` when a stop was requested
/// meanwhile: nothing more is sent.
async fn back_off(cluster: &Cluster, round: usize) -> Result<(), String> {
    let spread = u64::from(std::process::id() % 97);
    let millis = 100 * (round as u64 + 1) + spread * (round as u64 + 1);
    cluster
        .stop_signal()
        .pause(std::time::Duration::from_millis(millis))
        .await
}

/// The precondition of an item's write: the object as `observed` had it.
fn precondition_for(observed: &ObservedState, item: &ItemPlan) -> Precondition {
    match &item.companion {
        Some(companion) => Precondition::for_object(
            observed
                .admission
                .iter()
                .find(|o| o.kind == companion.kind && o.name == companion.name)
                .map(|o| &o.object),
        ),
        None => Precondition::for_object(observed.crds.get(&item.crd).map(|c| &c.object)),
    }
}

/// Whether the plan takes this item over from another field manager.
fn forced(plan: &Plan, name: &str) -> bool {
    plan.items
        .iter()
        .find(|i| i.crd == name)
        .is_some_and(|i| i.step.forces())
}

/// Writes the named CRDs (those taking ownership in their own pass, with `force`).
async fn write_crds(
    cluster: &Cluster,
    plan: &Plan,
    desired: &DesiredState,
    names: &[String],
    preconditions: &BTreeMap<String, Precondition>,
    apply_options: &dyn Fn(bool) -> ApplyOptions,
    progress: &dyn Progress,
) -> Vec<crdguard_kube::WriteOutcome> {
    let mut outcomes = Vec::new();
    progress.start("applying CRDs", names.len() as u64);
    for force in [false, true] {
        let group: Vec<PlannedWrite> = names
            .iter()
            .filter(|name| forced(plan, name) == force)
            .filter_map(|name| {
                Some(PlannedWrite {
                    crd: desired.get(name)?,
                    precondition: preconditions
                        .get(name)
                        .cloned()
                        .unwrap_or(Precondition::Absent),
                })
            })
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
                    progress.advance(1);
                })
                .await,
        );
    }
    progress.finish();
    outcomes
}

/// The server-side dry run of every write of the plan (SPEC §11). `Some(exit)` when one was
/// refused: nothing has been written, and the refused writes are named in the plan. Items that
/// migrate storage are left out: their final write is only valid after the migration.
async fn rehearse(
    cluster: &Cluster,
    plan: &mut Plan,
    result: &mut ApplyResult,
    desired: &DesiredState,
    preconditions: &BTreeMap<String, Precondition>,
    apply_options: &dyn Fn(bool) -> ApplyOptions,
    progress: &dyn Progress,
) -> Option<Exit> {
    let names: Vec<String> = plan
        .items
        .iter()
        .filter(|i| i.action.writes() && i.companion.is_none())
        .filter(|i| i.step.migrates().is_none())
        .map(|i| i.crd.clone())
        .collect();
    let companions: Vec<CompanionObject> = plan
        .items
        .iter()
        .filter(|i| i.action.writes())
        .filter_map(|i| i.companion.clone())
        .collect();
    if names.is_empty() && companions.is_empty() {
        return None;
    }
    progress.message(&format!(
        "checking {} write(s) with a server-side dry run",
        names.len() + companions.len()
    ));
    let rehearsal = |force| ApplyOptions {
        dry_run: true,
        ..apply_options(force)
    };
    let mut outcomes = write_crds(
        cluster,
        plan,
        desired,
        &names,
        preconditions,
        &rehearsal,
        progress,
    )
    .await;
    outcomes
        .extend(rehearse_companions(cluster, plan, preconditions, &companions, &rehearsal).await);
    let mut exit = None;
    for outcome in outcomes {
        match outcome.result {
            // Applied in the rehearsal; a stale object is decided again by the real pass.
            WriteResult::Applied | WriteResult::Stale(_) => {}
            WriteResult::Conflict(message) => {
                record_conflict(plan, result, outcome.crd, Code::OwnedByOther, message);
                exit.get_or_insert(Exit::Blocked);
            }
            WriteResult::Failed(message) | WriteResult::NotAttempted(message) => {
                let unreachable = message.contains("cannot reach");
                mark(
                    plan,
                    &outcome.crd,
                    Action::Blocked,
                    Code::DryRunRefused,
                    &message,
                );
                result.failed.push(ApplyFailure {
                    crd: outcome.crd,
                    message,
                });
                if unreachable {
                    exit = Some(Exit::Cluster);
                } else {
                    exit.get_or_insert(Exit::Blocked);
                }
            }
            WriteResult::Interrupted(_) => {
                result.not_sent.push(outcome.crd);
                exit.get_or_insert(Exit::Blocked);
            }
        }
    }
    if exit.is_some() {
        result.stopped = Some(
            "the server refused a write in the dry run sent before any real write; nothing was written"
                .into(),
        );
    }
    exit
}

/// The dry run of the companion writes, in the shape of the CRDs' outcomes. Their CRDs are
/// not written yet, so a companion the server cannot serve (404) is left to the real pass, which
/// reports it as a warning; everything else the server refuses stops the plan like a CRD would.
async fn rehearse_companions(
    cluster: &Cluster,
    plan: &Plan,
    preconditions: &BTreeMap<String, Precondition>,
    companions: &[CompanionObject],
    rehearsal: &dyn Fn(bool) -> ApplyOptions,
) -> Vec<crdguard_kube::WriteOutcome> {
    let mut outcomes = Vec::new();
    for companion in companions {
        let reference = companion.reference();
        let Some(kind) = crdguard_core::companion::kind_named(&companion.kind) else {
            continue;
        };
        let answer = cluster
            .apply_object(
                kind.collection,
                &companion.name,
                &companion.apply_body(),
                rehearsal(forced(plan, &reference)),
                preconditions
                    .get(&reference)
                    .unwrap_or(&Precondition::Absent),
            )
            .await;
        let result = match answer {
            Ok(_) => WriteResult::Applied,
            Err(crdguard_kube::ClusterError::Stale { message, .. }) => WriteResult::Stale(message),
            Err(e) if e.code() == Some(404) => WriteResult::Applied,
            Err(e) if e.code() == Some(409) => WriteResult::Conflict(e.to_string()),
            Err(e) => WriteResult::Failed(e.to_string()),
        };
        outcomes.push(crdguard_kube::WriteOutcome {
            crd: reference,
            result,
            ready: false,
        });
    }
    outcomes
}

/// Records an item the plan meant to write as a `conflict` (in the items and in the apply
/// report), with `code` and the server's or crdguard's words.
fn record_conflict(
    plan: &mut Plan,
    result: &mut ApplyResult,
    crd: String,
    code: Code,
    message: String,
) {
    mark(plan, &crd, Action::Conflict, code, &message);
    result.conflicts.push(ApplyFailure { crd, message });
}

/// Records what the server said about an item the plan expected to write.
fn mark(plan: &mut Plan, crd: &str, action: Action, code: Code, message: &str) {
    if let Some(item) = plan.items.iter_mut().find(|i| i.crd == crd) {
        item.action = action;
        item.reasons.insert(0, Reason::new(code, message));
        // The server's answer replaced the write: nothing more is run for this item.
        item.step = crdguard_core::plan::Step::None;
    }
}
