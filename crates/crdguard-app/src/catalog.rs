//! The catalog crdguard decides with (built in, plus releases the user added), and `crdguard
//! catalog add|list|show`: what crdguard knows about upstream releases and products.

use std::path::PathBuf;
use std::sync::OnceLock;

use crdguard_catalog::Catalog;
use crdguard_catalog::data::{ADDED_SCHEMA_VERSION, AddedRelease};
use crdguard_core::{Channel, Policy};
use serde::Serialize;

use crate::error::CommandError;

/// The catalog crdguard decides with: the built-in one, plus the releases `crdguard catalog
/// add` recorded in the user's cache (SPEC §8 v2). Read once per run.
pub fn catalog() -> Result<&'static Catalog, CommandError> {
    static ADDED: OnceLock<Result<Option<Catalog>, String>> = OnceLock::new();
    let builtin = || {
        Catalog::builtin()
            .map_err(|e| CommandError::internal(format!("the built-in catalog is broken: {e}")))
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
        Err(message) => Err(CommandError::usage(message.clone())),
    }
}

/// Where `catalog add` records releases: `<cache>/added/<bundle>-<tag>-<channel>.json` (files
/// of earlier versions, `<tag>-<channel>.json`, are read as well: each names its bundle).
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

/// What `catalog add` did with one release (one file, or the files of one release).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddOutcome {
    pub file: String,
    pub bundle: String,
    pub release: String,
    /// `None` for a bundle without channels.
    pub channel: Option<String>,
    /// `added`, `would-add` (--dry-run) or `already-known`.
    pub action: &'static str,
    pub crds: Vec<AddedCrd>,
    pub min_kubernetes: Option<String>,
    pub companions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AddedCrd {
    pub name: String,
    pub served: Vec<String>,
    pub storage: String,
}

/// `crdguard catalog add FILE|DIR...`: reads each published install file (a directory: its
/// YAML and JSON files), shows the facts of its release, and records them in the cache so that
/// identification and references know it. Files of one release and channel given together are
/// one release: prometheus-operator publishes one file per CRD.
pub fn add(inputs: &[PathBuf], dry_run: bool) -> Result<Vec<AddOutcome>, CommandError> {
    let catalog = catalog()?;
    let mut releases: Vec<(Vec<String>, AddedRelease)> = Vec::new();
    for file in expand_directories(inputs)? {
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(&file)
            .map_err(|e| CommandError::usage(format!("{shown}: cannot read it: {e}")))?;
        let added = crdguard_catalog::generate::added_release(&shown, &text)
            .map_err(|e| CommandError::usage(e.to_string()))?;
        let same_release = releases.iter_mut().find(|(_, r)| {
            r.bundle == added.bundle
                && r.release.tag == added.release.tag
                && r.release.channel == added.release.channel
        });
        match same_release {
            Some((files, release)) => {
                merge_release(release, added, &shown)?;
                files.push(shown);
            }
            None => releases.push((vec![shown], added)),
        }
    }
    let mut outcomes = Vec::new();
    let mut recorded = Vec::new();
    for (files, added) in releases {
        let shown = files.join(", ");
        let entry = &added.release;
        let channel = Channel::parse(&entry.channel)
            .ok_or_else(|| CommandError::usage(format!("{shown}: channel {:?}", entry.channel)))?;
        let known = catalog
            .bundle(&added.bundle)
            .and_then(|data| data.release(&entry.tag, channel));
        let action = match known {
            // Every CRD given is the known release's, digest for digest: nothing new, even
            // when only some of its files were given.
            Some(known) => {
                let differs = entry
                    .crds
                    .iter()
                    .find(|c| known.crd(&c.name).is_none_or(|k| !k.has_digest(&c.digest)));
                if let Some(crd) = differs {
                    return Err(CommandError::usage(format!(
                        "{shown}: the catalog already has {} {} with other CRD content ({} differs); \
                         its facts stand (a file that claims a known release but differs from it \
                         is not that release; give every file of a new release in one command)",
                        added.bundle,
                        known.label(),
                        crd.name
                    )));
                }
                "already-known"
            }
            None if dry_run => "would-add",
            None => "added",
        };
        // One file per bundle, release and channel: two bundles may share a tag.
        let path = (action == "added")
            .then(|| {
                added_dir().map(|dir| {
                    dir.join(format!(
                        "{}-{}-{}.json",
                        added.bundle, entry.tag, entry.channel
                    ))
                })
            })
            .flatten();
        if action == "added" {
            let path = path.as_ref().ok_or_else(|| {
                CommandError::usage(
                    "no cache directory to record the release in: set XDG_CACHE_HOME or HOME",
                )
            })?;
            recorded.push((path.clone(), added.clone()));
        }
        let channelled = catalog
            .bundle(&added.bundle)
            .is_some_and(|data| data.channel_marker().is_some());
        outcomes.push(AddOutcome {
            file: shown,
            bundle: added.bundle.clone(),
            release: entry.tag.clone(),
            channel: channelled.then(|| entry.channel.clone()),
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

/// The files to read: each file as given, and each directory's `.yaml`, `.yml` and `.json`
/// files in name order (not recursively).
fn expand_directories(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, CommandError> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let shown = input.display();
        let mut found: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| CommandError::usage(format!("{shown}: cannot read it: {e}")))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        if found.is_empty() {
            return Err(CommandError::usage(format!(
                "{shown}: holds no .yaml, .yml or .json file"
            )));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Adds the CRDs and companions of `more` (another file of the same release and channel) to
/// `release`. The same CRD twice with other content is bad input.
fn merge_release(
    release: &mut AddedRelease,
    more: AddedRelease,
    shown: &str,
) -> Result<(), CommandError> {
    let more_minimum = (
        more.release.min_kubernetes.clone(),
        more.release.min_kubernetes_reason.clone(),
        more.release.extras_min_kubernetes.clone(),
    );
    for crd in more.release.crds {
        match release.release.crds.iter().find(|c| c.name == crd.name) {
            Some(seen) if seen.digest != crd.digest => {
                return Err(CommandError::usage(format!(
                    "{shown}: {} is also in another file of {} {} with other content",
                    crd.name, release.bundle, release.release.tag
                )));
            }
            Some(_) => {}
            None => release.release.crds.push(crd),
        }
    }
    release.release.crds.sort_by(|a, b| a.name.cmp(&b.name));
    for extra in more.release.extras {
        if !release.release.extras.contains(&extra) {
            release.release.extras.push(extra);
        }
    }
    for companion in more.companions {
        if !release
            .companions
            .iter()
            .any(|c| c.digest == companion.digest)
        {
            release.companions.push(companion);
        }
    }
    // The release needs what its most demanding file needs.
    let version = |v: &Option<String>| {
        v.as_deref()
            .and_then(|v| v.parse::<crdguard_core::KubeVersion>().ok())
    };
    let (min_kubernetes, reason, extras_min_kubernetes) = more_minimum;
    if version(&min_kubernetes) > version(&release.release.min_kubernetes) {
        release.release.min_kubernetes = min_kubernetes;
        release.release.min_kubernetes_reason = reason;
    }
    if version(&extras_min_kubernetes) > version(&release.release.extras_min_kubernetes) {
        release.release.extras_min_kubernetes = extras_min_kubernetes;
    }
    Ok(())
}

/// Writes one added release through a temporary file renamed into place.
fn write_added(path: &std::path::Path, added: &AddedRelease) -> Result<(), CommandError> {
    let fail = |e: std::io::Error| {
        CommandError::usage(format!("{}: cannot write it: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let text =
        serde_json::to_string_pretty(added).map_err(|e| CommandError::usage(e.to_string()))?;
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text + "\n").map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

/// A built-in product policy for `check --for envoy-gateway@v1.9`.
pub fn builtin_policy(reference: &str) -> Result<Policy, CommandError> {
    let (product, version) = reference.split_once('@').ok_or_else(|| {
        CommandError::usage(format!(
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
        // A typo in the product (or a version the catalog lacks) names the closest first.
        let closest =
            crdguard_core::policy::nearest_match(reference, known.iter().map(String::as_str))
                .map(|k| format!(" Did you mean {k}?"))
                .unwrap_or_default();
        CommandError::usage(format!(
            "--for {reference}: no built-in policy.{closest} Known: {}",
            known.join(", ")
        ))
    })
}

/// `catalog list`: bundles and their releases, products and their policies.
pub fn list() -> Result<serde_json::Value, CommandError> {
    to_value(&catalog()?.list())
}

/// `catalog show REFERENCE`: a bundle, a release (`gateway-api@v1.6.1/experimental`) or a
/// product policy (`envoy-gateway@v1.9`).
pub fn show(reference: &str) -> Result<serde_json::Value, CommandError> {
    let shown = catalog()?.show(reference).map_err(|e| match e {
        // The others name the reference themselves.
        crdguard_catalog::ShowError::BadReference(_) => {
            CommandError::usage(format!("{reference}: {e}"))
        }
        _ => CommandError::usage(e.to_string()),
    })?;
    to_value(&shown)
}

fn to_value(value: &impl Serialize) -> Result<serde_json::Value, CommandError> {
    serde_json::to_value(value).map_err(|e| CommandError::internal(e.to_string()))
}
