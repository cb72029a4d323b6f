//! `crdguard post-render`: the Helm post-renderer. Reads the rendered manifests on stdin and
//! writes them to stdout without CustomResourceDefinitions, every other byte unchanged.

use crdguard_core::post_render::remove_crds;

use crdguard_app::{CommandError, Exit};

/// What the post-renderer writes when every document was a CRD or a companion.
const EVERYTHING_REMOVED: &str = "# crdguard post-render: nothing but CRDs and bundle companions was rendered;\n# crdguard applied them before helm ran\n";

pub fn run() -> Result<Exit, CommandError> {
    let options = crdguard_app::session::input_options()?;
    let text = crdguard_sources::read_stdin(options)?;
    let filtered = remove_crds(&text);
    for name in &filtered.removed {
        tracing::info!(
            crd = name.as_str(),
            "removed from the Helm manifest: crdguard manages it"
        );
    }
    // Helm refuses a post-renderer's empty output; a chart of CRDs only (Envoy Gateway's
    // `gateway-crds-helm`) leaves nothing else, and phase 2's trimmed copy of it renders
    // nothing at all. A comment is a manifest with no object.
    if filtered.text.trim().is_empty() {
        crate::render::emit_text(EVERYTHING_REMOVED)?;
    } else {
        crate::render::emit_text(&filtered.text)?;
    }
    Ok(Exit::Ok)
}
