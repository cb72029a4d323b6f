//! `crdguard diff OLD NEW`: schema compatibility of two CRD sets, offline.

use crdguard_schema::diff_sets;

use crate::cli::DiffArgs;
use crate::exit::{CliError, Exit};
use crate::render;

pub fn run(args: &DiffArgs) -> Result<Exit, CliError> {
    if args.old == "-" && args.new == "-" {
        return Err(CliError::usage("OLD and NEW cannot both be `-` (stdin)"));
    }
    let options = super::input_options()?;
    let load = |arg: &String| {
        crdguard_sources::load_desired(&super::sources(std::slice::from_ref(arg), &[]), options)
    };
    let old = load(&args.old)?.state;
    let new = load(&args.new)?.state;
    let diff = diff_sets(
        old.crds.iter().map(|c| &c.object),
        new.crds.iter().map(|c| &c.object),
    );
    render::diff(&diff, args.no_info, args.output)?;
    Ok(if diff.summary.error > 0 {
        Exit::Blocked
    } else {
        Exit::Ok
    })
}
