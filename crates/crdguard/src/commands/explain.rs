//! `crdguard explain CRD`: the plan's decision for one item, in full (SPEC §3).

use crdguard_app::{CommandError, Exit};

use crate::cli::ExplainArgs;
use crate::render;

use super::TerminalProgress;

pub fn run(args: &ExplainArgs) -> Result<Exit, CommandError> {
    let progress = TerminalProgress::new(args.plan.output);
    let (plan, index) = crdguard_app::explain::run(&args.settings(), &progress)?;
    render::explain(&plan, index, args.plan.output)?;
    Ok(if plan.items[index].action.stops() {
        Exit::Blocked
    } else {
        Exit::Ok
    })
}
