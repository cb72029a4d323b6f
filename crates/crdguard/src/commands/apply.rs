//! `crdguard apply`: plan live, then migrate, server-side apply and wait for Established.

use crdguard_app::{CommandError, Exit};

use crate::cli::ApplyArgs;
use crate::render;

use super::TerminalProgress;

pub fn run(args: &ApplyArgs) -> Result<Exit, CommandError> {
    let applied = crdguard_app::apply::run(&args.settings(), &TerminalProgress::new(args.output))?;
    render::plan(&applied.plan, args.output, render::View::new(args.details))?;
    Ok(applied.exit)
}
