//! `crdguard post-render`: the Helm post-renderer of phase 2 (SPEC §6). Reads the rendered
//! manifests on stdin and returns them without CustomResourceDefinitions and bundle
//! companions, every other byte unchanged.

use crate::error::CommandError;

/// What the post-renderer writes when every document was a CRD or a companion.
const EVERYTHING_REMOVED: &str = "# crdguard post-render: nothing but CRDs and bundle companions was rendered;\n# crdguard applied them before helm ran\n";

/// The manifests on stdin, filtered.
pub fn run() -> Result<String, CommandError> {
    let options = crate::session::input_options();
    let text = crdguard_sources::read_stdin(options)?;
    let filtered = crdguard_core::post_render::remove_crds(&text);
    for name in &filtered.removed {
        tracing::info!(
            crd = name.as_str(),
            "removed from the Helm manifest: crdguard manages it"
        );
    }
    // Helm refuses a post-renderer's empty output; a chart of CRDs only (Envoy Gateway's
    // `gateway-crds-helm`) leaves nothing else, and phase 2's trimmed copy of it renders
    // nothing at all. A comment is a manifest with no object.
    Ok(if filtered.text.trim().is_empty() {
        EVERYTHING_REMOVED.to_string()
    } else {
        filtered.text
    })
}
