//! `crdguard check`: the preflight alone, against the cluster (or the state a plan would leave).

use crdguard_core::DesiredState;
use crdguard_core::plan::{CheckStatus, PlanInputs, PlanOptions, plan};

use crdguard_core::plan::Plan;

use crate::error::CommandError;
use crate::settings::{ClusterSettings, PolicyChoice};

#[derive(Debug, Clone, Default)]
pub struct CheckSettings {
    /// The product's policy whose checks run (required: the default policy checks nothing).
    pub policy: PolicyChoice,
    /// CRD sources to check as if applied (else the cluster as it is).
    pub sources: Vec<String>,
    pub cluster: ClusterSettings,
}

/// The plan whose `preflight` is the answer; it failed when any check has status `fail`.
pub fn run(args: &CheckSettings) -> Result<Plan, CommandError> {
    let options = crate::session::input_options();
    let policy = match &args.policy {
        PolicyChoice::File(path) => crdguard_sources::load_policy(path, options)?,
        PolicyChoice::Product(reference) => crate::catalog::builtin_policy(reference)?,
        PolicyChoice::Default => {
            return Err(CommandError::usage(
                "give --policy FILE or --for PRODUCT@VERSION",
            ));
        }
    };
    let desired = if args.sources.is_empty() {
        DesiredState::default()
    } else {
        crdguard_sources::load_desired(&crate::session::sources(&args.sources, &[]), options)?
    };
    let observed = crate::session::observed_state(&args.cluster, options)?;
    let evaluator = crate::session::admission_predictor(&observed);
    let plan = plan(&PlanInputs {
        desired: &desired,
        observed: &observed,
        policy: &policy,
        options: &PlanOptions::default(),
        identifier: Some(crate::session::catalog_identifier()?),
        admission: evaluator
            .as_ref()
            .map(|e| e as &dyn crdguard_core::admission::AdmissionPredictor),
        preserved_channel: None,
    });
    Ok(plan)
}

/// Whether a check of the plan failed (exit 1).
pub fn failed(plan: &Plan) -> bool {
    plan.preflight.iter().any(|c| c.status == CheckStatus::Fail)
}
