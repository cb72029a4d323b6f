//! `crdguard diff OLD NEW`: schema compatibility of two CRD sets, offline.

use crdguard_app::{CommandError, Exit};

use crate::cli::DiffArgs;
use crate::render;

pub fn run(args: &DiffArgs) -> Result<Exit, CommandError> {
    let diff = crdguard_app::diff::run(&args.settings())?;
    render::diff(&diff, args.no_info, args.output)?;
    Ok(if diff.summary.error > 0 {
        Exit::Blocked
    } else {
        Exit::Ok
    })
}
