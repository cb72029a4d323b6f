//! `crdguard install`: the staged Helm install (SPEC §6): the chart's CRDs by crdguard, then
//! the rest by `helm upgrade --install --skip-crds` with crdguard's post-renderer.

use crdguard_app::{CommandError, Exit};

use crate::cli::InstallArgs;
use crate::render;

use super::TerminalProgress;

pub fn run(args: &InstallArgs) -> Result<Exit, CommandError> {
    let installed =
        crdguard_app::install::run(&args.settings(), &TerminalProgress::new(args.output))?;
    render::plan(
        &installed.plan,
        args.output,
        render::View::new(args.details),
    )?;
    Ok(installed.exit)
}
