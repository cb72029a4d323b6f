//! Helm adapter: finds the real `helm` (`--helm`, `$HELM_BIN`, `PATH`), renders charts with
//! `helm template --include-crds`, runs phase 2 of the staged install (`helm upgrade --install
//! --skip-crds` with crdguard's post-renderer), and writes the Helm 4 plugins crdguard needs.
//!
//! Helm 4 takes a post-renderer as the name of a `postrenderer/v1` plugin, not as a path: the
//! install writes that plugin into a private directory and puts it first on `HELM_PLUGINS` for
//! the one helm it runs, so nothing is installed into the user's Helm.

mod plugin;
mod run;

pub use plugin::{POST_RENDER_PLUGIN, write_post_render_plugin};
pub use run::{ChartArgs, Helm, HelmError, KubeArgs, PluginPath, RunningHelm};
