//! `crdguard catalog list|show`: what crdguard knows about upstream releases and products.

use std::path::PathBuf;
use std::sync::OnceLock;

use crdguard_catalog::Catalog;
use crdguard_catalog::data::{ADDED_SCHEMA_VERSION, AddedRelease};
use crdguard_core::{Channel, Policy};
use serde::Serialize;

use crate::cli::{CatalogArgs, CatalogCommand, Output};
use crate::exit::{CliError, Exit};

/// The catalog crdguard decides with: the built-in one, plus the releases `crdguard catalog
/// add` recorded in the user's cache (SPEC §8 v2). Read once per run.
pub fn catalog() -> Result<&'static Catalog, CliError> {
    static ADDED: OnceLock<Result<Option<Catalog>, String>> = OnceLock::new();
    let builtin = || {
        Catalog::builtin()
            .map_err(|e| CliError::internal(format!("the built-in catalog is broken: {e}")))
    };
    match ADDED.get_or_init(|| {
        let added = read_added()?;
        if added.is_empty() {
            return Ok(None);
        }
        Catalog::with_added(&added)
            .map(Some)
            .map_err(|e| format!("the catalog with your added releases is broken: {e}"))
    }) {
        Ok(Some(catalog)) => Ok(catalog),
        Ok(None) => builtin(),
        Err(message) => Err(CliError::usage(message.clone())),
    }
}

/// Where `catalog add` records releases: `<cache>/added/<tag>-<channel>.json`.
fn added_dir() -> Option<PathBuf> {
    crdguard_fetch::cache_root(None).map(|root| root.join("added"))
}

/// Every release `catalog add` recorded, in file-name order; a file that is not one is bad
/// input naming it (a hand-edited cache must not silently change identification).
fn read_added() -> Result<Vec<AddedRelease>, String> {
    let Some(dir) = added_dir() else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: cannot read it: {e}", dir.display())),
    };
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let bad = |why: String| {
                format!(
                    "{}: {why}; delete the file, or record the release again with `crdguard catalog add FILE`",
                    path.display()
                )
            };
            let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
            let added: AddedRelease = serde_json::from_str(&text)
                .map_err(|e| bad(format!("not a release recorded by `crdguard catalog add` ({e})")))?;
            if added.schema != ADDED_SCHEMA_VERSION {
                return Err(bad(format!(
                    "recorded in layout {}, this crdguard reads {ADDED_SCHEMA_VERSION}",
                    added.schema
                )));
            }
            Ok(added)
        })
        .collect()
}

/// What `catalog add` did with one file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AddOutcome {
    file: String,
    bundle: String,
    release: String,
    channel: String,
    /// `added`, `would-add` (--dry-run) or `already-known`.
    action: &'static str,
    crds: Vec<AddedCrd>,
    min_kubernetes: Option<String>,
    companions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

#[derive(Debug, Serialize)]
struct AddedCrd {
    name: String,
    served: Vec<String>,
    storage: String,
}

/// `crdguard catalog add FILE...`: reads each published install file, shows the facts of its
/// release, and records them in the cache so that identification and references know it.
fn add(files: &[PathBuf], dry_run: bool) -> Result<Vec<AddOutcome>, CliError> {
    let catalog = catalog()?;
    let mut outcomes = Vec::new();
    let mut recorded = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::usage(format!("{shown}: cannot read it: {e}")))?;
        let added = crdguard_catalog::generate::added_release(&shown, &text)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let entry = &added.release;
        let channel = Channel::parse(&entry.channel)
            .ok_or_else(|| CliError::usage(format!("{shown}: channel {:?}", entry.channel)))?;
        let action = match catalog.release(&entry.tag, channel) {
            Some(known) => {
                let differs = entry.crds.len() != known.crds.len()
                    || entry
                        .crds
                        .iter()
                        .find(|c| known.crd(&c.name).is_none_or(|k| k.digest != c.digest))
                        .is_some();
                if differs {
                    return Err(CliError::usage(format!(
                        "{shown}: the catalog already has {} {}/{} with other CRD content; its facts stand \
                         (a file that claims a known release but differs from it is not that release)",
                        added.bundle, entry.tag, entry.channel
                    )));
                }
                "already-known"
            }
            None if dry_run => "would-add",
            None => "added",
        };
        let path = (action == "added")
            .then(|| {
                added_dir().map(|dir| dir.join(format!("{}-{}.json", entry.tag, entry.channel)))
            })
            .flatten();
        if action == "added" {
            let path = path.as_ref().ok_or_else(|| {
                CliError::usage(
                    "no cache directory to record the release in: set XDG_CACHE_HOME or HOME",
                )
            })?;
            recorded.push((path.clone(), added.clone()));
        }
        outcomes.push(AddOutcome {
            file: shown,
            bundle: added.bundle.clone(),
            release: entry.tag.clone(),
            channel: entry.channel.clone(),
            action,
            crds: entry
                .crds
                .iter()
                .map(|c| AddedCrd {
                    name: c.name.clone(),
                    served: c.served.clone(),
                    storage: c.storage.clone(),
                })
                .collect(),
            min_kubernetes: entry.min_kubernetes.clone(),
            companions: entry
                .extras
                .iter()
                .filter(|e| e.digest.is_some())
                .map(|e| format!("{}/{}", e.kind, e.name))
                .collect(),
            path: path.map(|p| p.display().to_string()),
        });
    }
    // Written only once every file was read and checked: one bad file records nothing.
    for (path, added) in recorded {
        write_added(&path, &added)?;
    }
    Ok(outcomes)
}

/// Writes one added release through a temporary file renamed into place.
fn write_added(path: &std::path::Path, added: &AddedRelease) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::usage(format!("{}: cannot write it: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let text = serde_json::to_string_pretty(added).map_err(|e| CliError::usage(e.to_string()))?;
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text + "\n").map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

fn add_table(outcomes: &[AddOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        out.push_str(&format!(
            "{} {}/{} from {}: {}\n",
            o.bundle,
            o.release,
            o.channel,
            o.file,
            match o.action {
                "added" => "recorded",
                "would-add" => "would be recorded (--dry-run)",
                _ => "already in the catalog; nothing recorded",
            }
        ));
        out.push_str(&format!(
            "  Kubernetes >= {}; {} CRDs\n",
            o.min_kubernetes.as_deref().unwrap_or("?"),
            o.crds.len()
        ));
        for crd in &o.crds {
            out.push_str(&format!(
                "    {:<52} served {:<24} storage {}\n",
                crd.name,
                crd.served.join(","),
                crd.storage
            ));
        }
        for companion in &o.companions {
            out.push_str(&format!("  with {companion}\n"));
        }
        if let Some(path) = &o.path {
            out.push_str(&format!("  in {path}\n"));
        }
    }
    out
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
    let text = match (&args.command, args.output) {
        (CatalogCommand::Add { files, dry_run }, output) => {
            let outcomes = add(files, *dry_run)?;
            match output {
                Output::Json => pretty_json(&outcomes)?,
                Output::Yaml => crate::render::to_yaml(&outcomes)?,
                Output::Table | Output::Markdown => add_table(&outcomes),
            }
        }
        (CatalogCommand::List, output) => {
            let value = to_value(&catalog()?.list())?;
            match output {
                Output::Json => pretty_json(&value)?,
                Output::Yaml => crate::render::to_yaml(&value)?,
                Output::Table => list_table(&value, false),
                Output::Markdown => list_table(&value, true),
            }
        }
        (CatalogCommand::Show { reference }, output) => {
            let shown = catalog()?
                .show(reference)
                .map_err(|e| CliError::usage(format!("{reference}: {e}")))?;
            let value = to_value(&shown)?;
            match output {
                Output::Json => pretty_json(&value)?,
                Output::Yaml => crate::render::to_yaml(&value)?,
                Output::Table => show_table(&value),
                Output::Markdown => format!(
                    "```yaml\n{}```\n",
                    crdguard_core::yaml::to_string(&value).map_err(CliError::usage)?
                ),
            }
        }
    };
    crate::render::emit_text(&text)?;
    Ok(Exit::Ok)
}

fn to_value(value: &impl Serialize) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::usage(e.to_string()))
}

/// Pretty JSON, as the command prints it.
fn pretty_json(value: &impl Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| CliError::usage(e.to_string()))
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
    let products = list["products"].as_array().unwrap_or(&empty);
    if !products.is_empty() {
        out.push_str(if markdown {
            "\n| product | policies (`--for PRODUCT@VERSION`) |\n|---|---|\n"
        } else {
            "\nBuilt-in product policies (--for PRODUCT@VERSION; `catalog show PRODUCT@VERSION` shows one)\n"
        });
        for product in products {
            let name = product["product"].as_str().unwrap_or("");
            let versions = strings(&product["versions"]);
            if markdown {
                out.push_str(&format!("| `{name}` | {} |\n", versions.join(", ")));
            } else {
                out.push_str(&format!("  {name:<22} {}\n", versions.join(", ")));
            }
        }
    }
    out
}

/// A release's facts, per channel.
/// `catalog show` for people: a release, a bundle's releases, a product's policies, or one
/// policy.
fn show_table(value: &serde_json::Value) -> String {
    match value["kind"].as_str() {
        Some("Policy") => policy_table(value),
        Some("Product") => {
            let empty = Vec::new();
            value["policies"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(policy_table)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Some("Bundle") => list_table(
            &serde_json::json!({ "bundles": [value], "products": [] }),
            false,
        ),
        _ => release_table(value),
    }
}

/// One product policy: Kubernetes minimum and, per bundle, the versions and kinds it needs.
fn policy_table(policy: &serde_json::Value) -> String {
    let empty = Vec::new();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let mut out = format!(
        "{} {} ({})\n",
        text(&policy["product"]),
        text(&policy["version"]),
        match policy["kubernetesMinimum"].as_str() {
            Some(minimum) => format!("Kubernetes >= {minimum}"),
            None => "no Kubernetes minimum".to_string(),
        }
    );
    for bundle in policy["bundles"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "  {}: minimum {}, recommended {}, tested maximum {}, channel {}; install {}, upgrade {}, on conflict {}\n",
            text(&bundle["name"]),
            text(&bundle["minimum"]),
            text(&bundle["recommended"]),
            text(&bundle["testedMaximum"]),
            text(&bundle["channel"]),
            text(&bundle["install"]),
            text(&bundle["upgrade"]),
            text(&bundle["onConflict"]),
        ));
        let kinds = strings(&bundle["requiredKinds"]);
        if !kinds.is_empty() {
            out.push_str(&format!("    required kinds: {}\n", kinds.join(", ")));
        }
        if let Some(served) = bundle["servedVersions"].as_object() {
            let reads: Vec<String> = served
                .iter()
                .map(|(kind, versions)| format!("{kind} {}", strings(versions).join("+")))
                .collect();
            out.push_str(&format!(
                "    reads (must stay served): {}\n",
                reads.join(", ")
            ));
        }
    }
    out
}

/// The strings of a JSON list (nothing for anything else).
fn strings(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect()
}

fn release_table(release: &serde_json::Value) -> String {
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
