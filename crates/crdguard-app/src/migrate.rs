//! `crdguard migrate CRD [--to VERSION]`: rewrite every object in the storage version and trim
//! `status.storedVersions` to what still holds data.

use crdguard_kube::{ApplyOptions, MigrationReport, Progress};

use crate::error::CommandError;
use crate::settings::LiveSettings;

#[derive(Debug, Clone)]
pub struct MigrateSettings {
    /// The CRD's name (`httproutes.gateway.networking.k8s.io`).
    pub crd: String,
    /// The version to migrate to; it must be the storage version (the default).
    pub to: Option<String>,
    pub live: LiveSettings,
}

pub fn run(
    args: &MigrateSettings,
    progress: &dyn Progress,
) -> Result<MigrationReport, CommandError> {
    let connect = crate::session::live_options(&args.live);
    crate::session::runtime()?.block_on(async {
        let cluster = crate::session::connect_for_writes(&connect).await?;
        let observed = cluster.observe().await?;
        let installed = observed.crds.get(&args.crd).ok_or_else(|| {
            CommandError::usage(format!(
                "CustomResourceDefinition {} is not installed",
                args.crd
            ))
        })?;
        let storage = installed.storage_version().unwrap_or_default().to_string();
        let target = args.to.clone().unwrap_or_else(|| storage.clone());
        if target != storage {
            return Err(CommandError::usage(format!(
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
        let options = ApplyOptions {
            dry_run: false,
            force: false,
            concurrency: 1,
        };
        Ok(cluster
            .migrate_storage(
                installed,
                installed,
                &dropped,
                options,
                args.live.timeout,
                progress,
            )
            .await?
            .report)
    })
}
