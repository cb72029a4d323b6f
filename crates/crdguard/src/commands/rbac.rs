//! `crdguard rbac`: the ClusterRole crdguard needs, and a binding template.

use crdguard_app::{CommandError, Exit};

use crate::cli::RbacArgs;

pub fn run(args: &RbacArgs) -> Result<Exit, CommandError> {
    let documents = crdguard_app::rbac::documents(&args.settings())?;
    crate::render::documents(&documents, args.output)?;
    Ok(Exit::Ok)
}
