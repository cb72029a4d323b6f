//! `crdguard guard render|apply`: the admission policy that protects managed bundles.

use crdguard_app::{CommandError, Exit};

use crate::cli::{GuardArgs, GuardCommand};

pub fn run(args: &GuardArgs) -> Result<Exit, CommandError> {
    match &args.command {
        GuardCommand::Render(render) => {
            let documents = crdguard_app::guard::render(
                &render.bundles.settings(),
                render.server_version.as_deref(),
            )?;
            crate::render::documents(&documents, render.output)?;
            Ok(Exit::Ok)
        }
        GuardCommand::Apply(apply) => {
            let settings = crdguard_app::guard::GuardApplySettings {
                bundles: apply.bundles.settings(),
                live: apply.live.settings(),
                dry_run: apply.dry_run.is_some(),
            };
            let report = crdguard_app::guard::apply(&settings)?;
            let suffix = if report.dry_run {
                " (server dry run)"
            } else {
                ""
            };
            let mut text: String = report
                .applied
                .iter()
                .map(|object| format!("{object} applied{suffix}\n"))
                .collect();
            if let Some(enforcement) = &report.enforcement {
                text.push_str(&format!("Guard {enforcement}\n"));
            }
            crate::render::emit_text(&std::mem::take(&mut text))?;
            match report.refused {
                Some(why) => {
                    eprintln!("error: {why}");
                    Ok(Exit::Blocked)
                }
                None => Ok(Exit::Ok),
            }
        }
    }
}
