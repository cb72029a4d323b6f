//! `crdguard plan`: decisions per CRD and per bundle, against a snapshot or a live cluster.

use crdguard_app::{CommandError, Exit};
use crdguard_core::plan::Verdict;

use crate::cli::PlanArgs;
use crate::render;

use super::TerminalProgress;

pub fn run(args: &PlanArgs) -> Result<Exit, CommandError> {
    let plan = crdguard_app::plan::run(&args.settings(), &TerminalProgress::new(args.output))?;
    render::plan(&plan, args.output, render::View::new(args.details))?;
    Ok(match plan.verdict {
        Verdict::Ok => Exit::Ok,
        Verdict::Blocked => Exit::Blocked,
    })
}
