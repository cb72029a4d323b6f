//! The post-renderer plugin (`postrenderer/v1`) that runs `crdguard post-render`.

use std::path::Path;

/// The plugin name passed to `helm --post-renderer`.
pub const POST_RENDER_PLUGIN: &str = "crdguard-post-render";

/// Writes `<plugins_dir>/crdguard-post-render/plugin.yaml` running `crdguard_exe post-render`.
pub fn write_post_render_plugin(plugins_dir: &Path, crdguard_exe: &Path) -> std::io::Result<()> {
    let dir = plugins_dir.join(POST_RENDER_PLUGIN);
    std::fs::create_dir_all(&dir)?;
    let exe = crdguard_exe.display().to_string();
    if exe.contains(['"', '\n', '\\']) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("cannot use {exe:?} as a plugin command"),
        ));
    }
    let manifest = format!(
        "apiVersion: v1\n\
         type: postrenderer/v1\n\
         name: {POST_RENDER_PLUGIN}\n\
         version: {version}\n\
         runtime: subprocess\n\
         runtimeConfig:\n\
         \x20 platformCommand:\n\
         \x20 - command: \"{exe}\"\n\
         \x20   args: [\"post-render\"]\n",
        version = env!("CARGO_PKG_VERSION"),
    );
    std::fs::write(dir.join("plugin.yaml"), manifest)
}
