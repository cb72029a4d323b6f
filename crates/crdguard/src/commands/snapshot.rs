//! `crdguard snapshot`: the live cluster's observed state as a file for offline use.

use crdguard_core::state::snapshot_document;

use crate::cli::{SnapshotArgs, SnapshotFormat};
use crate::exit::{CliError, Exit};

pub fn run(args: &SnapshotArgs) -> Result<Exit, CliError> {
    let options = super::live_options(&args.live);
    let observed = super::runtime()?.block_on(async {
        let cluster = super::connect_live(&options).await?;
        Ok::<_, CliError>(cluster.observe().await?)
    })?;
    let document = snapshot_document(&observed);
    let text = match args.output {
        SnapshotFormat::Yaml => {
            crdguard_core::yaml::to_string(&document).map_err(CliError::usage)?
        }
        SnapshotFormat::Json => {
            let mut text = serde_json::to_string_pretty(&document)
                .map_err(|e| CliError::usage(e.to_string()))?;
            text.push('\n');
            text
        }
    };
    crate::render::emit_text(&text)?;
    Ok(Exit::Ok)
}
