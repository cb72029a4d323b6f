//! `crdguard check`: the preflight alone, against the cluster (or the state a plan would leave).

use crdguard_core::DesiredState;
use crdguard_core::plan::{CheckStatus, PlanInputs, PlanOptions, plan};

use crate::cli::CheckArgs;
use crate::exit::{CliError, Exit};
use crate::render;

pub fn run(args: &CheckArgs) -> Result<Exit, CliError> {
    let options = super::input_options()?;
    let policy = match (&args.policy, &args.product) {
        (Some(path), _) => crdguard_sources::load_policy(path, options)?,
        (None, Some(reference)) => super::catalog::builtin_policy(reference)?,
        (None, None) => {
            return Err(CliError::usage(
                "give --policy FILE or --for PRODUCT@VERSION",
            ));
        }
    };
    let desired = if args.sources.is_empty() {
        DesiredState::default()
    } else {
        crdguard_sources::load_desired(&super::sources(&args.sources, &[]), options)?.state
    };
    let observed = super::observed_state(&args.cluster, options)?;
    let evaluator = super::admission_predictor(&observed);
    let plan = plan(&PlanInputs {
        desired: &desired,
        observed: &observed,
        policy: &policy,
        options: &PlanOptions::default(),
        identifier: Some(super::catalog_identifier()?),
        admission: evaluator
            .as_ref()
            .map(|e| e as &dyn crdguard_core::admission::AdmissionPredictor),
        preserved_channel: None,
    });
    render::check(&plan, args.output)?;
    let failed = plan.preflight.iter().any(|c| c.status == CheckStatus::Fail);
    Ok(if failed { Exit::Blocked } else { Exit::Ok })
}
