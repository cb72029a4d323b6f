//! `crdguard diff OLD NEW`: schema compatibility of two CRD sets, offline.

use crdguard_schema::{OldSet, SetDiff, diff_sets};

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
    let sources = |arg: &String| crate::session::sources(std::slice::from_ref(arg), &[]);
    let load = |arg: &String| crdguard_sources::load_desired(&sources(arg), options);
    let server: Option<crdguard_core::KubeVersion> = args
        .server_version
        .as_deref()
        .map(|text| text.parse())
        .transpose()
        .map_err(|e: String| CommandError::usage(format!("--server-version: {e}")))?;
    let old = load(&args.old)?;
    let old_set = OldSet::new(old.crds.iter().map(|c| &c.object));
    // The new set is diffed as it is read, each CRD dropped once diffed: only the old set is
    // held whole. A name read twice (which `load_desired` checks for content) or no CRD at all
    // (an error) goes the way of the whole set instead, which reads the files again: standard
    // input and pipes, which cannot be read twice, go that way from the start.
    let new_path = std::path::Path::new(&args.new);
    let rereadable = args.new != "-" && (new_path.is_dir() || new_path.is_file());
    let streamed = if rereadable {
        crdguard_sources::visit_crds(&sources(&args.new), options, |crd| {
            old_set.diff_one(&crd.object)
        })?
    } else {
        Vec::new()
    };
    let mut names = std::collections::HashSet::new();
    let distinct = streamed
        .iter()
        .all(|item| item.as_ref().is_none_or(|i| names.insert(i.crd.clone())));
    let mut diff = if distinct && !names.is_empty() {
        old_set.finish(streamed.into_iter().flatten().collect())
    } else {
        let new = load(&args.new)?;
        let diff = diff_sets(
            old.crds.iter().map(|c| &c.object),
            new.crds.iter().map(|c| &c.object),
        );
        crate::session::free_at_exit(new);
        diff
    };
    diff.ratchet(crdguard_schema::Ratcheting::for_server(
        server.map(|v| (v.major, v.minor)),
    ));
    drop(old_set);
    crate::session::free_at_exit(old);
    Ok(diff)
}
