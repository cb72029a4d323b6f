//! `crdguard post-render`: the Helm post-renderer. Reads the rendered manifests on stdin and
//! writes them to stdout without CustomResourceDefinitions, every other byte unchanged.

use crdguard_core::post_render::remove_crds;

use crate::exit::{CliError, Exit};

pub fn run() -> Result<Exit, CliError> {
    let options = super::input_options()?;
    let text = crdguard_sources::read_stdin(options)?;
    let filtered = remove_crds(&text);
    for name in &filtered.removed {
        tracing::info!(
            crd = name.as_str(),
            "removed from the Helm manifest: crdguard manages it"
        );
    }
    crate::render::emit_text(&filtered.text)?;
    Ok(Exit::Ok)
}
