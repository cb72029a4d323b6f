//! `crdguard migrate CRD [--to VERSION]`: rewrite every object in the storage version and trim
//! `status.storedVersions` to what still holds data.

use crdguard_app::migrate::MigrateSettings;
use crdguard_app::{CommandError, Exit};

use crate::cli::{MigrateArgs, Output};

use super::TerminalProgress;

pub fn run(args: &MigrateArgs) -> Result<Exit, CommandError> {
    let settings = MigrateSettings {
        crd: args.crd.clone(),
        to: args.to.clone(),
        live: args.live.settings(),
    };
    let document = crdguard_app::migrate::run(&settings, &TerminalProgress::new(args.output))?;
    let report = &document.migration;
    let text = match args.output {
        Output::Json => crate::render::to_json(&document)?,
        Output::Yaml => crate::render::to_yaml(&document)?,
        Output::Table | Output::Markdown => format!(
            "{}: {} object(s) rewritten in {}; removed from status.storedVersions: {}; objects before {}, after {}\n",
            report.crd,
            report.rewritten,
            report.storage_version,
            if report.removed_stored_versions.is_empty() {
                "nothing".to_string()
            } else {
                report.removed_stored_versions.join(", ")
            },
            report.objects_before,
            report.objects_after
        ),
    };
    crate::render::emit_text(&text)?;
    Ok(Exit::Ok)
}
