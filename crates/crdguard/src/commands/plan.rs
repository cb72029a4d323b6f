//! `crdguard plan`: decisions per CRD and per bundle, offline against a snapshot.

use crdguard_core::Policy;
use crdguard_core::plan::{PlanInputs, PlanOptions, Verdict, plan};

use crate::cli::PlanArgs;
use crate::exit::{CliError, Exit};
use crate::render;

pub fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    if args.sources.is_empty() && args.chart.is_empty() {
        return Err(CliError::usage(
            "nothing to plan: give CRD sources (files, directories, charts, `-`) or --chart",
        ));
    }
    if !args.values.is_empty() {
        return Err(CliError::usage(
            "--values needs chart templates to be rendered with helm, which this build does not \
             do yet; the chart's crds/ directories are read without values",
        ));
    }
    let options = super::input_options()?;
    let explicit_policy = super::policy_file(args.policy.as_deref(), options)?;
    let desired =
        crdguard_sources::load_desired(&super::sources(&args.sources, &args.chart), options)?;
    let observed = super::observed_state(&args.cluster, options)?;
    let policy = explicit_policy
        .or(desired.chart_policy)
        .unwrap_or_else(Policy::default_policy);
    let plan_options = PlanOptions {
        take_ownership: args.take_ownership,
        allow_breaking: args.allow_breaking,
        migrate: args.migrate,
        ..PlanOptions::default()
    };
    let plan = plan(&PlanInputs {
        desired: &desired.state,
        observed: &observed,
        policy: &policy,
        options: &plan_options,
    });
    render::plan(&plan, args.output)?;
    Ok(match plan.verdict {
        Verdict::Ok => Exit::Ok,
        Verdict::Blocked => Exit::Blocked,
    })
}
