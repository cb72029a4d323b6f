//! `crdguard snapshot`: the live cluster's observed state as a file for offline use; with
//! `--objects`, also every custom resource, for data-aware checks offline (SPEC §5 v2).

use std::io::Write as _;

use crdguard_app::{CommandError, Exit};

use crate::cli::{SnapshotArgs, SnapshotFormat};

pub fn run(args: &SnapshotArgs) -> Result<Exit, CommandError> {
    let document = crdguard_app::snapshot::run(&args.settings())?;
    let text = match args.output {
        SnapshotFormat::Yaml => {
            crdguard_core::yaml::to_string(&document).map_err(CommandError::internal)?
        }
        SnapshotFormat::Json => crate::render::to_json(&document)?,
    };
    match &args.file {
        Some(path) => {
            write_private(path, &text)?;
            if args.objects {
                eprintln!(
                    "note: {} holds the cluster's custom resources and may hold sensitive data; it was written with mode 0600",
                    path.display()
                );
            }
        }
        None => {
            if args.objects {
                eprintln!(
                    "note: this snapshot holds the cluster's custom resources and may hold sensitive data; keep it private (--file writes it with mode 0600)"
                );
            }
            crate::render::emit_text(&text)?;
        }
    }
    Ok(Exit::Ok)
}

/// Creates (or truncates) `path` readable by its owner only, then writes `text`.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), CommandError> {
    let failed =
        |e: std::io::Error| CommandError::usage(format!("cannot write {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // An existing file keeps its mode on open: tighten it too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    file.write_all(text.as_bytes()).map_err(failed)?;
    Ok(())
}
