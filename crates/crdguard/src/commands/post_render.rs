//! `crdguard post-render`: the Helm post-renderer (SPEC §6).

use crdguard_app::{CommandError, Exit};

pub fn run() -> Result<Exit, CommandError> {
    crate::render::emit_text(&crdguard_app::post_render::run()?)?;
    Ok(Exit::Ok)
}
