//! `crdguard check`: the preflight alone, against the cluster (or the state a plan would leave).

use crdguard_app::{CommandError, Exit};

use crate::cli::CheckArgs;
use crate::render;

pub fn run(args: &CheckArgs) -> Result<Exit, CommandError> {
    let plan = crdguard_app::check::run(&args.settings())?;
    render::check(&plan, args.output)?;
    Ok(if crdguard_app::check::failed(&plan) {
        Exit::Blocked
    } else {
        Exit::Ok
    })
}
