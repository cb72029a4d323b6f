//! `crdguard migrate CRD [--to VERSION]`: rewrite every object in the storage version and trim
//! `status.storedVersions` to what still holds data.

use crdguard_core::{Crd, ObservedState};
use crdguard_kube::{ApplyOptions, MigrationReport, Progress};
use serde::Serialize;

use crate::error::CommandError;
use crate::settings::LiveSettings;

#[derive(Debug, Clone)]
pub struct MigrateSettings {
    /// The CRD: its name (`httproutes.gateway.networking.k8s.io`), or, when one installed CRD
    /// alone has it, its plural (`httproutes`) or kind (`HTTPRoute`).
    pub crd: String,
    /// The version to migrate to; it must be the storage version (the default).
    pub to: Option<String>,
    pub live: LiveSettings,
}

/// What `migrate -o json` prints: the migration with the document's type.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    #[serde(flatten)]
    pub migration: MigrationReport,
}

pub fn run(args: &MigrateSettings, progress: &dyn Progress) -> Result<MigrateReport, CommandError> {
    let migration = migrate(args, progress)?;
    Ok(MigrateReport {
        api_version: crdguard_core::plan::PLAN_API_VERSION,
        kind: "Migration",
        migration,
    })
}

/// The installed CRD `wanted` names: by name, else by plural or kind when exactly one CRD has
/// it. Several, or none, is bad usage that lists the candidates or the closest name.
fn installed_crd<'o>(observed: &'o ObservedState, wanted: &str) -> Result<&'o Crd, CommandError> {
    if let Some(crd) = observed.crds.get(wanted) {
        return Ok(crd);
    }
    let matches: Vec<&Crd> = observed
        .crds
        .values()
        .filter(|c| c.plural == wanted || c.kind.eq_ignore_ascii_case(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let closest = crdguard_core::policy::nearest_match(
                wanted,
                observed.crds.keys().map(String::as_str),
            )
            .map(|name| format!("; did you mean {name}?"))
            .unwrap_or_default();
            Err(CommandError::usage(format!(
                "CustomResourceDefinition {wanted} is not installed{closest}"
            )))
        }
        several => Err(CommandError::usage(format!(
            "{wanted} names {} installed CRDs ({}); give the full name",
            several.len(),
            several
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn migrate(
    args: &MigrateSettings,
    progress: &dyn Progress,
) -> Result<MigrationReport, CommandError> {
    let connect = crate::session::live_options(&args.live);
    crate::session::runtime()?.block_on(async {
        let cluster = crate::session::connect_for_writes(&connect).await?;
        let observed = cluster.observe().await?;
        let installed = installed_crd(&observed, &args.crd)?;
        let storage = installed.storage_version().unwrap_or_default().to_string();
        let target = args.to.clone().unwrap_or_else(|| storage.clone());
        if target != storage {
            return Err(CommandError::usage(format!(
                "--to {target}: the storage version of {} is {storage}; apply a CRD whose storage \
                 version is {target} first (crdguard apply does this with --migrate)",
                installed.name
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
