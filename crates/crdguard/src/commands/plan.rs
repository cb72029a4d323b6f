//! `crdguard plan`: decisions per CRD and per bundle, against a snapshot or a live cluster.

use std::path::{Path, PathBuf};

use crdguard_core::plan::{PlanOptions, Verdict, plan};
use crdguard_core::{DesiredState, Policy};

use crate::cli::PlanArgs;
use crate::exit::{CliError, Exit};
use crate::render;

/// The desired state and the policy that applies to it (`--policy`, else the chart's
/// `crdguard.yaml`, else the default).
pub struct Inputs {
    pub desired: DesiredState,
    pub policy: Policy,
}

pub fn load_inputs(
    sources: &[String],
    charts: &[PathBuf],
    values: &[PathBuf],
    policy: Option<&Path>,
) -> Result<Inputs, CliError> {
    if sources.is_empty() && charts.is_empty() {
        return Err(CliError::usage(
            "nothing to plan: give CRD sources (files, directories, charts, `-`) or --chart",
        ));
    }
    if !values.is_empty() {
        return Err(CliError::usage(
            "--values needs chart templates to be rendered with helm, which this build does not \
             do yet; the chart's crds/ directories are read without values",
        ));
    }
    let options = super::input_options()?;
    let explicit_policy = super::policy_file(policy, options)?;
    let desired = crdguard_sources::load_desired(&super::sources(sources, charts), options)?;
    Ok(Inputs {
        policy: explicit_policy
            .or(desired.chart_policy)
            .unwrap_or_else(Policy::default_policy),
        desired: desired.state,
    })
}

pub fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    let inputs = load_inputs(
        &args.sources,
        &args.chart,
        &args.values,
        args.policy.as_deref(),
    )?;
    let observed = super::observed_state(&args.cluster, super::input_options()?)?;
    let plan_options = PlanOptions {
        take_ownership: args.take_ownership,
        allow_breaking: args.allow_breaking,
        migrate: args.migrate,
        ..PlanOptions::default()
    };
    let plan = plan(&crdguard_core::plan::PlanInputs {
        desired: &inputs.desired,
        observed: &observed,
        policy: &inputs.policy,
        options: &plan_options,
        identifier: Some(super::catalog_identifier()?),
        admission: None,
    });
    render::plan(&plan, args.output)?;
    Ok(match plan.verdict {
        Verdict::Ok => Exit::Ok,
        Verdict::Blocked => Exit::Blocked,
    })
}
