//! `crdguard migrate CRD [--to VERSION]`: rewrite every object in the storage version and trim
//! `status.storedVersions` to what still holds data.

use crdguard_kube::ApplyOptions;

use crate::cli::{MigrateArgs, Output};
use crate::exit::{CliError, Exit};

use super::TerminalProgress;

pub fn run(args: &MigrateArgs) -> Result<Exit, CliError> {
    let connect = super::live_options(&args.live);
    let progress = TerminalProgress::new(args.output);
    super::runtime()?.block_on(async {
        let cluster = super::connect_for_writes(&connect).await?;
        let observed = cluster.observe().await?;
        let installed = observed.crds.get(&args.crd).ok_or_else(|| {
            CliError::usage(format!("CustomResourceDefinition {} is not installed", args.crd))
        })?;
        let storage = installed.storage_version().unwrap_or_default().to_string();
        let target = args.to.clone().unwrap_or_else(|| storage.clone());
        if target != storage {
            return Err(CliError::usage(format!(
                "--to {target}: the storage version of {} is {storage}; apply a CRD whose storage \
                 version is {target} first (crdguard apply does this with --migrate)",
                args.crd
            )));
        }
        let dropped: Vec<String> = installed
            .stored_versions
            .iter()
            .filter(|v| **v != target)
            .cloned()
            .collect();
        let options = ApplyOptions { dry_run: false, force: false, concurrency: 1 };
        let report = cluster
            .migrate_storage(installed, installed, &dropped, options, args.live.timeout, &progress)
            .await?
            .report;
        let text = match args.output {
            Output::Json => serde_json::to_string_pretty(&report).map_err(|e| CliError::internal(e.to_string()))? + "\n",
            Output::Yaml => crate::render::to_yaml(&report)?,
            _ => format!(
                "{}: {} object(s) rewritten in {}; removed from status.storedVersions: {}; objects before {}, after {}\n",
                report.crd,
                report.rewritten,
                report.storage_version,
                if report.removed_stored_versions.is_empty() { "nothing".to_string() } else { report.removed_stored_versions.join(", ") },
                report.objects_before,
                report.objects_after
            ),
        };
        crate::render::emit_text(&text)?;
        Ok(Exit::Ok)
    })
}
