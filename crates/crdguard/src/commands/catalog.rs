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
        Output::Table => match &args.command {
            CatalogCommand::List => list_table(&value, false),
            CatalogCommand::Show { .. } => show_table(&value),
        },
        Output::Markdown => match &args.command {
            CatalogCommand::List => list_table(&value, true),
            CatalogCommand::Show { .. } => format!(
                "```yaml\n{}```\n",
                crdguard_core::yaml::to_string(&value).map_err(CliError::usage)?
            ),
        },
    };
    crate::render::emit_text(&text)?;
    Ok(Exit::Ok)
}

/// One line per release: tag, kind, and per channel its CRD count and minimum Kubernetes.
fn list_table(list: &serde_json::Value, markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("| bundle | release | kind | channels |\n|---|---|---|---|\n");
    }
    let empty = Vec::new();
    for bundle in list["bundles"].as_array().unwrap_or(&empty) {
        let name = bundle["name"].as_str().unwrap_or("");
        if !markdown {
            out.push_str(&format!(
                "{name} ({})\n",
                bundle["repository"].as_str().unwrap_or("")
            ));
        }
        for release in bundle["releases"].as_array().unwrap_or(&empty) {
            let channels: Vec<String> = release["channels"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} CRDs, Kubernetes >= {}",
                        c["channel"].as_str().unwrap_or(""),
                        c["crds"],
                        c["minKubernetes"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let tag = release["tag"].as_str().unwrap_or("");
            let kind = release["kind"].as_str().unwrap_or("");
            if markdown {
                out.push_str(&format!(
                    "| `{name}` | `{tag}` | {kind} | {} |\n",
                    channels.join("; ")
                ));
            } else {
                out.push_str(&format!("  {tag:<22} {kind:<8} {}\n", channels.join("; ")));
            }
        }
    }
    out
}

/// A release's facts, per channel.
fn show_table(release: &serde_json::Value) -> String {
    let empty = Vec::new();
    let mut out = format!(
        "{} {} ({})\n",
        release["bundle"].as_str().unwrap_or(""),
        release["tag"].as_str().unwrap_or(""),
        release["releaseKind"].as_str().unwrap_or("")
    );
    for channel in release["channels"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "  {}: Kubernetes >= {}, {} CRDs, {}\n",
            channel["channel"].as_str().unwrap_or(""),
            channel["minKubernetes"].as_str().unwrap_or("?"),
            channel["crds"].as_array().map_or(0, Vec::len),
            channel["assetUrl"].as_str().unwrap_or("")
        ));
        for extra in channel["extras"].as_array().unwrap_or(&empty) {
            out.push_str(&format!(
                "    with {}/{}\n",
                extra["kind"].as_str().unwrap_or(""),
                extra["name"].as_str().unwrap_or("")
            ));
        }
    }
    out
}
