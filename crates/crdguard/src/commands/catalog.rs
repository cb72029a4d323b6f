//! `crdguard catalog add|list|show`: what crdguard knows about upstream releases and products.

use crdguard_app::{CommandError, Exit};

use crate::cli::{CatalogArgs, CatalogCommand, Output};
use crate::render::catalog::{add_table, list_table, show_table};
use crate::render::{to_json, to_yaml};

pub fn run(args: &CatalogArgs) -> Result<Exit, CommandError> {
    let text = match (&args.command, args.output) {
        (CatalogCommand::Add { files, dry_run }, output) => {
            let outcomes = crdguard_app::catalog::add(files, *dry_run)?;
            match output {
                Output::Json => to_json(&outcomes)?,
                Output::Yaml => to_yaml(&outcomes)?,
                Output::Table | Output::Markdown => add_table(&outcomes),
            }
        }
        (CatalogCommand::List, output) => {
            let value = crdguard_app::catalog::list()?;
            match output {
                Output::Json => to_json(&value)?,
                Output::Yaml => to_yaml(&value)?,
                Output::Table => list_table(&value, false),
                Output::Markdown => list_table(&value, true),
            }
        }
        (CatalogCommand::Show { reference }, output) => {
            let value = crdguard_app::catalog::show(reference)?;
            match output {
                Output::Json => to_json(&value)?,
                Output::Yaml => to_yaml(&value)?,
                Output::Table => show_table(&value),
                Output::Markdown => format!("```yaml\n{}```\n", to_yaml(&value)?),
            }
        }
    };
    crate::render::emit_text(&text)?;
    Ok(Exit::Ok)
}
