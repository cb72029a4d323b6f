//! `crdguard plan`: decisions per CRD and per bundle, against a snapshot or a live cluster.

use crdguard_core::ObservedState;
use crdguard_core::owner::Identity;
use crdguard_core::plan::{Plan, PlanInputs, PlanOptions, plan};

use crate::error::CommandError;
use crate::inputs::{RenderAs, load_inputs, preserve_channel};
use crate::settings::{ClusterSettings, DesiredSettings};

/// What `plan` (and `explain`, which shows one item of it) needs.
#[derive(Debug, Clone, Default)]
pub struct PlanSettings {
    pub desired: DesiredSettings,
    pub cluster: ClusterSettings,
    /// The Helm release the plan acts as (its own CRDs are not someone else's).
    pub identity: Identity,
    pub take_ownership: bool,
    pub allow_breaking: bool,
    pub migrate: bool,
}

/// The plan of `settings`: inputs resolved, the cluster observed, the plan made, stored objects
/// read when they decide findings (and the plan made again with them), and sealed for `apply
/// --plan`.
pub fn run(
    settings: &PlanSettings,
    progress: &dyn crdguard_kube::Progress,
) -> Result<Plan, CommandError> {
    let options = crate::session::input_options();
    let load = || load_inputs(&settings.desired, &RenderAs::acting_as(&settings.identity));
    let (mut inputs, mut observed) = if settings.cluster.snapshot.is_some() {
        // Reading the sources (helm template, or thousands of files) and a snapshot (~100 MB
        // for a large cluster) are independent: do both at once. A bad input still wins over
        // a bad snapshot, as when they ran one after the other.
        let (inputs, observed) = std::thread::scope(|scope| {
            let observing =
                scope.spawn(|| crate::session::observed_state(&settings.cluster, options));
            let inputs = load();
            let observed = observing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (inputs, observed)
        });
        (inputs?, observed?)
    } else {
        // A live cluster is contacted only once the inputs are known to be good.
        let inputs = load()?;
        (
            inputs,
            crate::session::observed_state(&settings.cluster, options)?,
        )
    };
    let started = std::time::Instant::now();
    tracing::debug!(crds = inputs.desired.crds.len(), "sources and cluster read");
    let plan_options = PlanOptions {
        take_ownership: settings.take_ownership,
        allow_breaking: settings.allow_breaking,
        migrate: settings.migrate,
        identity: settings.identity.clone(),
    };
    let evaluator = crate::session::admission_predictor(&observed);
    let preserved = preserve_channel(
        &mut inputs.desired,
        &observed,
        &inputs.policy,
        &settings.desired.render,
    )?;
    let identifier = crate::session::catalog_identifier()?;
    let planner = |observed: &ObservedState| {
        plan(&PlanInputs {
            desired: &inputs.desired,
            observed,
            policy: &inputs.policy,
            options: &plan_options,
            identifier: Some(identifier),
            admission: evaluator
                .as_ref()
                .map(|e| e as &dyn crdguard_core::admission::AdmissionPredictor),
            preserved_channel: Some(&preserved),
        })
    };
    let mut plan = planner(&observed);
    tracing::debug!(elapsed = ?started.elapsed(), "planned");
    // Errors the stored objects can decide: read them and plan again with what they show.
    let reads = plan.object_reads();
    if !reads.is_empty() {
        observed.objects = crate::objects::observe_objects(
            &settings.cluster,
            &observed,
            &inputs.desired,
            &reads,
            progress,
        )?;
        plan = planner(&observed);
    }
    // A live plan is also a saved plan: `apply --plan` applies exactly it (SPEC §11).
    crate::saved_plan::seal(&mut plan, &inputs.desired, &inputs.policy)?;
    tracing::debug!(elapsed = ?started.elapsed(), "sealed");
    crate::session::free_at_exit((inputs, observed));
    Ok(plan)
}
