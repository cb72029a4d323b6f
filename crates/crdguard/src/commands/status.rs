//! `crdguard status`: inventory of the observed cluster.

use crdguard_core::Policy;
use crdguard_core::status::status;

use crate::cli::StatusArgs;
use crate::exit::{CliError, Exit};
use crate::render;

pub fn run(args: &StatusArgs) -> Result<Exit, CliError> {
    let options = super::input_options()?;
    let policy =
        super::policy_file(args.policy.as_deref(), options)?.unwrap_or_else(Policy::default_policy);
    let observed = super::observed_state(&args.cluster, options)?;
    render::status(
        &status(&observed, &policy, Some(super::catalog_identifier()?)),
        args.output,
    )?;
    Ok(Exit::Ok)
}
