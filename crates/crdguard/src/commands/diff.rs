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
    let server: Option<crdguard_core::KubeVersion> = args
        .server_version
        .as_deref()
        .map(|text| text.parse())
        .transpose()
        .map_err(|e: String| CliError::usage(format!("--server-version: {e}")))?;
    let mut diff = diff_sets(
        old.crds.iter().map(|c| &c.object),
        new.crds.iter().map(|c| &c.object),
    );
    diff.ratchet(crdguard_schema::Ratcheting::for_server(
        server.map(|v| (v.major, v.minor)),
    ));
    super::free_at_exit((old, new));
    render::diff(&diff, args.no_info, args.output)?;
    Ok(if diff.summary.error > 0 {
        Exit::Blocked
    } else {
        Exit::Ok
    })
}
