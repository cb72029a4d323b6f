//! `crdguard status`: inventory of the observed cluster.

use crdguard_app::{CommandError, Exit};

use crate::cli::StatusArgs;
use crate::render;

pub fn run(args: &StatusArgs) -> Result<Exit, CommandError> {
    let report = crdguard_app::status::run(&args.settings())?;
    render::status(&report, args.output)?;
    Ok(Exit::Ok)
}
