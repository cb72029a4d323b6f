//! `crdguard snapshot`: the live cluster's observed state as a file for offline use; with
//! `--objects`, also every custom resource, for data-aware checks offline (SPEC §5 v2).

use std::io::Write as _;

use serde_json::Value;

use crdguard_core::state::{ObservedState, snapshot_document, snapshot_document_with_objects};
use crdguard_kube::Cluster;

use crate::cli::{SnapshotArgs, SnapshotFormat};
use crate::exit::{CliError, Exit};

pub fn run(args: &SnapshotArgs) -> Result<Exit, CliError> {
    let options = super::live_options(&args.live);
    let document = super::runtime()?.block_on(async {
        let cluster = super::connect_live(&options).await?;
        let observed = cluster.observe().await?;
        Ok::<_, CliError>(if args.objects {
            let objects = custom_resources(&cluster, &observed).await?;
            snapshot_document_with_objects(&observed, objects)
        } else {
            snapshot_document(&observed)
        })
    })?;
    let text = match args.output {
        SnapshotFormat::Yaml => {
            crdguard_core::yaml::to_string(&document).map_err(CliError::internal)?
        }
        SnapshotFormat::Json => {
            let mut text = serde_json::to_string_pretty(&document)
                .map_err(|e| CliError::internal(e.to_string()))?;
            text.push('\n');
            text
        }
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

/// Every object of every CRD at each version it serves (the API converts to the version
/// asked for, so each served version's view is what a plan for that version checks), without
/// `managedFields`, which are large and say nothing about validity.
async fn custom_resources(
    cluster: &Cluster,
    observed: &ObservedState,
) -> Result<Vec<Value>, CliError> {
    let mut objects = Vec::new();
    for crd in observed.crds.values() {
        for version in crd.served_versions() {
            cluster
                .for_each_object(crd, version, |object| {
                    let mut object = object.clone();
                    if let Some(metadata) =
                        object.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        metadata.remove("managedFields");
                    }
                    objects.push(object);
                })
                .await?;
        }
    }
    Ok(objects)
}

/// Creates (or truncates) `path` readable by its owner only, then writes `text`.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    let failed =
        |e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", path.display()));
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
