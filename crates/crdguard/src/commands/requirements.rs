//! `crdguard requirements remove PRODUCT`: drops a product's recorded requirement (SPEC §12).

use crdguard_app::requirements::RemoveSettings;
use crdguard_app::{CommandError, Exit};

use crate::cli::{Output, RequirementsArgs, RequirementsCommand};

pub fn run(args: &RequirementsArgs) -> Result<Exit, CommandError> {
    let RequirementsCommand::Remove {
        product,
        live,
        dry_run,
        output,
    } = &args.command;
    let removal = crdguard_app::requirements::remove(&RemoveSettings {
        product: product.clone(),
        live: live.settings(),
        dry_run: dry_run.is_some(),
    })?;
    match output {
        Output::Json => crate::render::json(&removal)?,
        Output::Yaml => crate::render::yaml(&removal)?,
        Output::Table | Output::Markdown => {
            let text = if removal.crds.is_empty() {
                format!(
                    "No CRD records a requirement of {product}; nothing was written.{}\n",
                    removal
                        .closest_recorded
                        .as_ref()
                        .map(|p| format!(" Did you mean {p}?"))
                        .unwrap_or_default()
                )
            } else {
                format!(
                    "{} {product}'s requirement from {} CRD(s){}:\n{}",
                    if removal.dry_run {
                        "Would remove"
                    } else {
                        "Removed"
                    },
                    removal.crds.len(),
                    if removal.dry_run {
                        " (server dry run)"
                    } else {
                        ""
                    },
                    removal
                        .crds
                        .iter()
                        .map(|c| format!("  {c}\n"))
                        .collect::<String>()
                )
            };
            crate::render::emit_text(&text)?;
        }
    }
    Ok(Exit::Ok)
}
