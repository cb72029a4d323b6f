//! `crdguard diff OLD NEW`: schema compatibility of two CRD sets, offline.

use crdguard_schema::diff_sets;

use crdguard_schema::SetDiff;

use crate::error::CommandError;

#[derive(Debug, Clone, Default)]
pub struct DiffSettings {
    /// The old and new CRD sets: a file, a directory, or `-` for one of them.
    pub old: String,
    pub new: String,
    /// The server the new set goes to: ratcheting (1.30+) turns some errors into warnings.
    pub server_version: Option<String>,
}

/// The schema changes from `old` to `new`, ratcheted for the server version.
pub fn run(args: &DiffSettings) -> Result<SetDiff, CommandError> {
    if args.old == "-" && args.new == "-" {
        return Err(CommandError::usage(
            "OLD and NEW cannot both be `-` (stdin)",
        ));
    }
    let options = crate::session::input_options();
    let load = |arg: &String| {
        crdguard_sources::load_desired(
            &crate::session::sources(std::slice::from_ref(arg), &[]),
            options,
        )
    };
    let old = load(&args.old)?;
    let new = load(&args.new)?;
    let server: Option<crdguard_core::KubeVersion> = args
        .server_version
        .as_deref()
        .map(|text| text.parse())
        .transpose()
        .map_err(|e: String| CommandError::usage(format!("--server-version: {e}")))?;
    let mut diff = diff_sets(
        old.crds.iter().map(|c| &c.object),
        new.crds.iter().map(|c| &c.object),
    );
    diff.ratchet(crdguard_schema::Ratcheting::for_server(
        server.map(|v| (v.major, v.minor)),
    ));
    crate::session::free_at_exit((old, new));
    Ok(diff)
}
