//! `crdguard catalog list|show`: what crdguard knows about upstream releases and products.

use crdguard_catalog::Catalog;
use crdguard_core::Policy;

use crate::cli::{CatalogArgs, CatalogCommand, Output};
use crate::exit::{CliError, Exit};

fn catalog() -> Result<&'static Catalog, CliError> {
    Catalog::builtin().map_err(|e| CliError::usage(format!("the built-in catalog is broken: {e}")))
}

/// A built-in product policy for `check --for envoy-gateway@v1.9`.
pub fn builtin_policy(reference: &str) -> Result<Policy, CliError> {
    let (product, version) = reference.split_once('@').ok_or_else(|| {
        CliError::usage(format!(
            "--for {reference:?}: expected PRODUCT@VERSION, e.g. envoy-gateway@v1.9"
        ))
    })?;
    catalog()?.policy(product, version).ok_or_else(|| {
        let known: Vec<String> = catalog()
            .map(|c| {
                c.policies()
                    .iter()
                    .map(|p| format!("{}@{}", p.product, p.version_label()))
                    .collect()
            })
            .unwrap_or_default();
        CliError::usage(format!(
            "--for {reference}: no built-in policy; known: {}",
            known.join(", ")
        ))
    })
}

pub fn run(args: &CatalogArgs) -> Result<Exit, CliError> {
    let catalog = catalog()?;
    let value = match &args.command {
        CatalogCommand::List => serde_json::to_value(catalog.list()),
        CatalogCommand::Show { reference } => {
            let shown = catalog
                .show(reference)
                .map_err(|e| CliError::usage(format!("{reference}: {e}")))?;
            serde_json::to_value(shown)
        }
    }
    .map_err(|e| CliError::usage(e.to_string()))?;
    let text = match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&value).map_err(|e| CliError::usage(e.to_string()))? + "\n"
        }
        Output::Table | Output::Markdown => {
            crdguard_core::yaml::to_string(&value).map_err(CliError::usage)?
        }
    };
    crate::render::emit_text(&text)?;
    Ok(Exit::Ok)
}
