//! The generator of `data/<bundle>.json`: reads the release files of the corpus and writes
//! the facts, deterministically (same corpus → same bytes; a test regenerates and compares).
//! Run it with `cargo run -p crdguard-catalog --example generate-catalog`.
//!
//! This is the one place in the crate that reads files, and only the generator and tests call
//! it: at run time the catalog uses the embedded data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crdguard_core::load::{Loaded, load_text};
use crdguard_core::registry::{KnownBundle, Registry};
use crdguard_core::yaml::Limits;
use crdguard_core::{BundleVersion, Channel};
use serde_json::Value;

use crate::bundle::{ReleaseKind, short_kube};
use crate::data::{
    AddedRelease, CatalogFile, CompanionEntry, CrdEntry, ExtraEntry, IdenticalGroup, ReleaseEntry,
    SCHEMA_VERSION, StorageHistoryEntry, StorageRun,
};
use crate::digest::{companion_digest, digest};
use crate::requirements;

/// What the generator knows of a bundle's upstream beyond its registry entry (the markers).
#[derive(Debug, Clone, Copy)]
pub struct Upstream {
    pub bundle: &'static str,
    pub repository: &'static str,
    /// How the corpus holds the bundle's releases.
    pub layout: CorpusLayout,
    /// Where upstream publishes a release's install file for a channel, when it publishes one
    /// file that holds exactly the CRDs (`fetch` downloads it and checks every digest).
    pub asset_url: Option<fn(&str, Channel) -> String>,
}

/// How the corpus (`../shared/corpus`) holds a bundle's releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorpusLayout {
    /// `<bundle>/<tag>/<channel>-install.yaml` with `extras-*.yaml` beside it, and
    /// `<bundle>/monthly/monthly-*/` (upstream's release assets): see [`read_corpus`].
    InstallFiles,
    /// `<dir>/<tag>/<crd_dir>/*.yaml`, one CRD per file, no channels: see [`read_crd_files`].
    CrdFiles {
        dir: &'static str,
        crd_dir: &'static str,
        /// Directories beside `crd_dir` with other copies of the same CRDs.
        variant_dirs: &'static [&'static str],
    },
}

pub const GATEWAY_API: Upstream = Upstream {
    bundle: crdguard_core::registry::GATEWAY_API,
    repository: "kubernetes-sigs/gateway-api",
    layout: CorpusLayout::InstallFiles,
    asset_url: Some(|tag, channel| {
        format!(
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/{tag}/{channel}-install.yaml"
        )
    }),
};

/// The corpus has the CRDs of `example/prometheus-operator-crd/`, one file per CRD. Upstream's
/// release assets bundle them with the operator (`bundle.yaml`) and no asset was checked
/// against these digests here, so the catalog names none: `fetch` says so, and `-f` takes the
/// files.
pub const PROMETHEUS_OPERATOR: Upstream = Upstream {
    bundle: crdguard_core::registry::PROMETHEUS_OPERATOR,
    repository: "prometheus-operator/prometheus-operator",
    layout: CorpusLayout::CrdFiles {
        dir: "large/prometheus-operator",
        crd_dir: "example/prometheus-operator-crd",
        variant_dirs: &["example/prometheus-operator-crd-full"],
    },
    asset_url: None,
};

/// Every bundle the generator writes a data file for.
pub const UPSTREAMS: [Upstream; 2] = [GATEWAY_API, PROMETHEUS_OPERATOR];

impl Upstream {
    fn known(&self) -> Result<&'static KnownBundle, GenerateError> {
        Registry::builtin().bundle(self.bundle).ok_or_else(|| {
            GenerateError::Input(format!("bundle {} is not in the registry", self.bundle))
        })
    }
}

/// One release and channel as found in the corpus: texts, not yet parsed.
#[derive(Debug, Clone)]
pub struct SourceRelease {
    pub tag: String,
    pub kind: ReleaseKind,
    pub channel: Channel,
    /// (path for messages, text) of `<channel>-install.yaml`.
    pub install: (String, String),
    /// (path, text) of the non-CRD files that belong to this channel.
    pub extras: Vec<(String, String)>,
    /// (path, text) of other published copies of the same CRDs (prometheus-operator's
    /// `-full` set): their digests identify the release too.
    pub variants: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum GenerateError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Input(String),
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenerateError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            GenerateError::Input(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for GenerateError {}

/// Reads, generates and renders: the complete text of `data/<bundle>.json` from the corpus.
pub fn generate_from_corpus(corpus: &Path, upstream: &Upstream) -> Result<String, GenerateError> {
    let sources = match upstream.layout {
        CorpusLayout::InstallFiles => read_corpus(&corpus.join(upstream.bundle))?,
        CorpusLayout::CrdFiles {
            dir,
            crd_dir,
            variant_dirs,
        } => read_crd_files(&corpus.join(dir), crd_dir, variant_dirs)?,
    };
    Ok(render(&generate(upstream, &sources)?))
}

/// `<root>/<tag>/<crd_dir>/*.yaml`: one release per tag, its CRDs one per file, read in name
/// order as one install text, in the one channel. The `variant_dirs` hold other published
/// copies of the same CRDs (prometheus-operator's `-full` set, with a served v1beta1 of
/// alertmanagerconfigs and longer descriptions): the catalog records the plain set and the
/// other copies' digests, so that either is identified as the release.
pub fn read_crd_files(
    root: &Path,
    crd_dir: &str,
    variant_dirs: &[&str],
) -> Result<Vec<SourceRelease>, GenerateError> {
    let read_dir = |dir: &Path| -> Result<String, GenerateError> {
        let mut text = String::new();
        for (name, path) in list_dir(dir)? {
            if name.ends_with(".yaml") {
                text.push_str("---\n");
                text.push_str(&read(&path)?);
                text.push('\n');
            }
        }
        Ok(text)
    };
    let mut sources = Vec::new();
    for (tag, dir) in list_dir(root)? {
        if !(tag.starts_with('v') && tag.parse::<BundleVersion>().is_ok()) {
            continue;
        }
        let crd_dir = dir.join(crd_dir);
        let text = read_dir(&crd_dir)?;
        let mut variants = Vec::new();
        for variant in variant_dirs {
            let variant = dir.join(variant);
            if variant.is_dir() {
                variants.push((relative(&variant), read_dir(&variant)?));
            }
        }
        sources.push(SourceRelease {
            tag,
            kind: ReleaseKind::Release,
            channel: Channel::Standard,
            install: (relative(&crd_dir), text),
            extras: Vec::new(),
            variants,
        });
    }
    Ok(sources)
}

/// Finds every release directory: `v*` tags, and `monthly/monthly-*` builds. For each channel
/// with an install file, the extras are `extras-<channel>.yaml`, plus the files that serve both
/// channels: other `extras-*.yaml` (the v0.5–v0.8 webhook) and v1.0.0's `webhook-install.yaml`.
pub fn read_corpus(gateway_api: &Path) -> Result<Vec<SourceRelease>, GenerateError> {
    let mut dirs: Vec<(String, ReleaseKind, PathBuf)> = Vec::new();
    for (name, path) in list_dir(gateway_api)? {
        if name.starts_with('v') && name.parse::<BundleVersion>().is_ok() {
            dirs.push((name, ReleaseKind::Release, path));
        }
    }
    let monthly = gateway_api.join("monthly");
    if monthly.is_dir() {
        for (name, path) in list_dir(&monthly)? {
            if name.starts_with("monthly-") {
                dirs.push((name, ReleaseKind::Monthly, path));
            }
        }
    }
    let mut sources = Vec::new();
    for (tag, kind, dir) in dirs {
        let files = list_dir(&dir)?;
        for channel in [Channel::Standard, Channel::Experimental] {
            let install = dir.join(format!("{channel}-install.yaml"));
            if !install.is_file() {
                continue;
            }
            let mut extras = Vec::new();
            for (name, path) in &files {
                let belongs = match name
                    .strip_prefix("extras-")
                    .and_then(|n| n.strip_suffix(".yaml"))
                {
                    Some(suffix) => Channel::parse(suffix).is_none_or(|c| c == channel),
                    None => name == "webhook-install.yaml",
                };
                if belongs {
                    extras.push((relative(path), read(path)?));
                }
            }
            sources.push(SourceRelease {
                tag: tag.clone(),
                kind,
                channel,
                install: (relative(&install), read(&install)?),
                extras,
                variants: Vec::new(),
            });
        }
    }
    Ok(sources)
}

/// The facts of the release one published install file holds (`catalog add`, SPEC §8 v2): its
/// tag and channel are what its CRDs' markers say; its companions are the bundle's objects in
/// the same file. Pure; `path` is for messages.
pub fn added_release(path: &str, text: &str) -> Result<AddedRelease, GenerateError> {
    let input = |message: String| GenerateError::Input(format!("{path}: {message}"));
    let loaded = parse(path, text)?;
    let first = loaded.crds.first().ok_or_else(|| {
        input("holds no CustomResourceDefinition; give a release's install file".into())
    })?;
    let registry = Registry::builtin();
    let upstream = registry
        .for_group(&first.group)
        .and_then(|known| UPSTREAMS.iter().find(|u| u.bundle == known.name))
        .ok_or_else(|| {
            input(format!(
                "{} (group {}) belongs to no bundle the catalog records ({})",
                first.name,
                first.group,
                UPSTREAMS.map(|u| u.bundle).join(", ")
            ))
        })?;
    let bundle = upstream.bundle;
    for crd in &loaded.crds {
        if registry.for_group(&crd.group).map(|b| b.name.as_str()) != Some(bundle) {
            return Err(input(format!(
                "{} (group {}) is not a {bundle} CRD, as {} is; give one release's install file",
                crd.name, crd.group, first.name
            )));
        }
    }
    let known = upstream.known()?;
    let version_marker = known.version.as_ref().ok_or_else(|| {
        input(format!(
            "{bundle} writes no version on its CRDs: which release is it?"
        ))
    })?;
    let tag = version_marker
        .read(first)
        .ok_or_else(|| {
            input(format!(
                "{} has no {}: which release is it?",
                first.name,
                version_marker.describe()
            ))
        })?
        .to_string();
    let version: BundleVersion = tag
        .parse()
        .map_err(|e| input(format!("{} {tag:?}: {e}", version_marker.describe())))?;
    // Upstream's tags carry a `v` even where the marker does not (prometheus-operator).
    let tag = version.to_string();
    if crdguard_core::identify::is_development_build(&version) {
        return Err(input(format!(
            "{tag} is a development build: it has no place among releases (SPEC §1); add tagged releases only"
        )));
    }
    let channel = match &known.channel {
        None => Channel::Standard,
        Some(marker) => marker
            .read(first)
            .and_then(Channel::parse)
            .ok_or_else(|| input(format!("{} has no valid {}", first.name, marker.describe())))?,
    };
    let companions: Vec<Value> = loaded
        .others
        .iter()
        .filter(|o| crdguard_core::companion::bundle_of(&o.api_version, &o.kind, &o.name).is_some())
        .map(|o| o.object.clone())
        .collect();
    let extras = if companions.is_empty() {
        Vec::new()
    } else {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": companions});
        vec![(path.to_string(), list.to_string())]
    };
    let source = SourceRelease {
        tag,
        kind: ReleaseKind::Release,
        channel,
        install: (path.to_string(), text.to_string()),
        extras,
        variants: Vec::new(),
    };
    Ok(AddedRelease {
        schema: crate::data::ADDED_SCHEMA_VERSION,
        bundle: bundle.to_string(),
        release: release_entry(upstream, &source)?,
        companions: companion_contents(std::slice::from_ref(&source))?,
    })
}

/// Builds the catalog file from the sources (pure).
pub fn generate(
    upstream: &Upstream,
    sources: &[SourceRelease],
) -> Result<CatalogFile, GenerateError> {
    let mut releases = sources
        .iter()
        .map(|source| release_entry(upstream, source))
        .collect::<Result<Vec<_>, _>>()?;
    releases.sort_by_key(release_order);
    let storage_history = storage_history(&releases)?;
    let identical_releases = identical_groups(&releases);
    let companions = companion_contents(sources)?;
    Ok(CatalogFile {
        schema: SCHEMA_VERSION,
        bundle: upstream.bundle.to_string(),
        repository: upstream.repository.to_string(),
        releases,
        storage_history,
        identical_releases,
        companions,
    })
}

/// One entry per distinct companion content (by digest), in digest order.
fn companion_contents(sources: &[SourceRelease]) -> Result<Vec<CompanionEntry>, GenerateError> {
    let mut by_digest: BTreeMap<String, Value> = BTreeMap::new();
    for source in sources {
        for (path, text) in &source.extras {
            for other in parse(path, text)?.others {
                if crdguard_core::companion::bundle_of(&other.api_version, &other.kind, &other.name)
                    .is_none()
                {
                    continue;
                }
                let mut object = serde_json::Map::new();
                for key in ["apiVersion", "kind", "spec"] {
                    if let Some(value) = other.object.get(key) {
                        object.insert(key.to_string(), value.clone());
                    }
                }
                by_digest
                    .entry(companion_digest(&other.object))
                    .or_insert(Value::Object(object));
            }
        }
    }
    Ok(by_digest
        .into_iter()
        .map(|(digest, object)| CompanionEntry { digest, object })
        .collect())
}

fn release_entry(
    upstream: &Upstream,
    source: &SourceRelease,
) -> Result<ReleaseEntry, GenerateError> {
    let label = format!("{} {}/{}", upstream.bundle, source.tag, source.channel);
    let input = |message: String| GenerateError::Input(format!("{label}: {message}"));
    let loaded = parse(&source.install.0, &source.install.1)?;
    if loaded.crds.is_empty() {
        return Err(input("the install file holds no CRD".into()));
    }
    // Every CRD of a release carries the same markers; the catalog records them once.
    let mut annotation: Option<&str> = None;
    let known = upstream.known()?;
    let version_marker = known
        .version
        .as_ref()
        .ok_or_else(|| input("the bundle writes no version on its CRDs".into()))?;
    let version_key = version_marker.describe();
    for crd in &loaded.crds {
        let version = version_marker
            .read(crd)
            .ok_or_else(|| input(format!("{} has no {version_key}", crd.name)))?;
        if annotation.is_some_and(|a| a != version) {
            return Err(input(format!(
                "CRDs disagree on {version_key}: {version} and {annotation:?}"
            )));
        }
        annotation = Some(version);
        if let Some(channel_marker) = &known.channel
            && channel_marker.read(crd) != Some(source.channel.as_str())
        {
            return Err(input(format!(
                "{} is in the {} file but its {} is {:?}",
                crd.name,
                source.channel,
                channel_marker.describe(),
                channel_marker.read(crd)
            )));
        }
    }
    let annotation: BundleVersion = annotation.unwrap_or_default().parse().map_err(&input)?;
    let version = match source.kind {
        ReleaseKind::Release => source.tag.parse().map_err(&input)?,
        // A monthly tag is not a version; what the build calls itself is the annotation.
        ReleaseKind::Monthly => annotation.clone(),
    };
    let minimum =
        requirements::crds_minimum(loaded.crds.iter().map(|c| (c.name.as_str(), &c.object)));
    let mut extras = Vec::new();
    for (path, text) in &source.extras {
        let extra = parse(path, text)?;
        if let Some(crd) = extra.crds.first() {
            return Err(input(format!(
                "{path} holds a CRD ({}): not an extra",
                crd.name
            )));
        }
        extras.extend(extra.others.into_iter().map(|o| {
            let companion =
                crdguard_core::companion::bundle_of(&o.api_version, &o.kind, &o.name).is_some();
            let annotations = o
                .object
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .filter(|_| companion)
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            ExtraEntry {
                digest: companion.then(|| companion_digest(&o.object)),
                annotations,
                api_version: o.api_version,
                kind: o.kind,
                name: o.name,
            }
        }));
    }
    // Recorded even when the CRDs need more (v1.5+: 1.31): `guard` and `plan` reason about
    // the policy object on its own.
    let extras_minimum = requirements::extras_minimum(
        extras
            .iter()
            .map(|e| (e.api_version.as_str(), e.kind.as_str())),
    );
    Ok(ReleaseEntry {
        tag: source.tag.clone(),
        kind: source.kind.as_str().to_string(),
        version: version.to_string(),
        bundle_version_annotation: annotation.to_string(),
        channel: source.channel.to_string(),
        asset_url: upstream
            .asset_url
            .map(|url| url(&source.tag, source.channel)),
        min_kubernetes: Some(short_kube(&minimum.kubernetes)),
        min_kubernetes_reason: Some(minimum.reason),
        extras,
        extras_min_kubernetes: extras_minimum.map(|r| short_kube(&r.kubernetes)),
        crds: alternates(
            source,
            &version_marker_values(&loaded.crds, version_marker),
            loaded.crds.iter().map(crd_entry).collect(),
            version_marker,
        )?,
    })
}

fn version_marker_values(
    crds: &[crdguard_core::Crd],
    marker: &crdguard_core::registry::MarkerKey,
) -> BTreeMap<String, Option<String>> {
    crds.iter()
        .map(|c| (c.name.clone(), marker.read(c).map(str::to_string)))
        .collect()
}

/// The digests of the release's other published copies of each CRD (`source.variants`), for
/// identification. A copy that says another version is not the release's: refused.
fn alternates(
    source: &SourceRelease,
    markers: &BTreeMap<String, Option<String>>,
    mut crds: Vec<CrdEntry>,
    version_marker: &crdguard_core::registry::MarkerKey,
) -> Result<Vec<CrdEntry>, GenerateError> {
    for (path, text) in &source.variants {
        for crd in parse(path, text)?.crds {
            let Some(entry) = crds.iter_mut().find(|c| c.name == crd.name) else {
                return Err(GenerateError::Input(format!(
                    "{path}: {} is not one of the release's CRDs",
                    crd.name
                )));
            };
            let said = version_marker.read(&crd).map(str::to_string);
            if markers.get(&crd.name) != Some(&said) {
                return Err(GenerateError::Input(format!(
                    "{path}: {} says {said:?}, the release's copy {:?}",
                    crd.name,
                    markers.get(&crd.name)
                )));
            }
            let digest = digest(&crd.object);
            if digest != entry.digest && !entry.alternate_digests.contains(&digest) {
                entry.alternate_digests.push(digest);
            }
        }
    }
    Ok(crds)
}

fn crd_entry(crd: &crdguard_core::Crd) -> CrdEntry {
    CrdEntry {
        name: crd.name.clone(),
        group: crd.group.clone(),
        kind: crd.kind.clone(),
        scope: crd.scope.clone(),
        versions: crd.versions.iter().map(|v| v.name.clone()).collect(),
        served: crd.served_versions().map(str::to_string).collect(),
        storage: crd.storage_version().unwrap_or_default().to_string(),
        digest: digest(&crd.object),
        alternate_digests: Vec::new(),
    }
}

/// Releases by version, then monthly builds by tag (chronological); standard first.
pub(crate) fn release_order(entry: &ReleaseEntry) -> (u8, Option<BundleVersion>, String, u8) {
    let monthly = entry.kind != ReleaseKind::Release.as_str();
    (
        u8::from(monthly),
        (!monthly).then(|| entry.version.parse().ok()).flatten(),
        entry.tag.clone(),
        u8::from(entry.channel != Channel::Standard.as_str()),
    )
}

/// One stable release in which a CRD appears, with its storage version there.
struct Sighting<'a> {
    version: BundleVersion,
    tag: &'a str,
    storage: &'a str,
}

/// For each CRD, the runs of stable releases with the same storage version. Storage versions
/// are a property of the release, not of the channel; the generator refuses data where the two
/// channels of one release disagree rather than guess.
pub(crate) fn storage_history(
    releases: &[ReleaseEntry],
) -> Result<Vec<StorageHistoryEntry>, GenerateError> {
    // crd name → (kind, sightings in release order).
    let mut per_crd: BTreeMap<&str, (&str, Vec<Sighting<'_>>)> = BTreeMap::new();
    for release in releases
        .iter()
        .filter(|r| r.kind == ReleaseKind::Release.as_str())
    {
        let version: BundleVersion = release.version.parse().map_err(GenerateError::Input)?;
        for crd in &release.crds {
            let (_, seen) = per_crd
                .entry(&crd.name)
                .or_insert_with(|| (&crd.kind, Vec::new()));
            match seen.iter().find(|s| s.tag == release.tag) {
                Some(s) if s.storage != crd.storage => {
                    return Err(GenerateError::Input(format!(
                        "{}: {} stores {} in one channel and {} in the other",
                        release.tag, crd.name, s.storage, crd.storage
                    )));
                }
                Some(_) => {}
                None => seen.push(Sighting {
                    version: version.clone(),
                    tag: &release.tag,
                    storage: &crd.storage,
                }),
            }
        }
    }
    Ok(per_crd
        .into_iter()
        .map(|(name, (kind, seen))| {
            let mut runs: Vec<StorageRun> = Vec::new();
            for sighting in seen {
                match runs.last_mut() {
                    Some(run) if run.version == sighting.storage => {
                        run.through = sighting.version.to_string();
                    }
                    _ => runs.push(StorageRun {
                        version: sighting.storage.to_string(),
                        from: sighting.version.to_string(),
                        through: sighting.version.to_string(),
                    }),
                }
            }
            StorageHistoryEntry {
                crd: name.to_string(),
                kind: kind.to_string(),
                storage: runs,
            }
        })
        .collect())
}

/// Releases of one channel with the same CRD content (names and digests).
struct ContentGroup<'a> {
    channel: Channel,
    content: BTreeSet<(&'a str, &'a str)>,
    tags: Vec<String>,
}

/// Per channel, the releases whose CRDs (names and digests) are all the same.
pub(crate) fn identical_groups(releases: &[ReleaseEntry]) -> Vec<IdenticalGroup> {
    let mut groups: Vec<ContentGroup<'_>> = Vec::new();
    for channel in [Channel::Standard, Channel::Experimental] {
        for release in releases.iter().filter(|r| r.channel == channel.as_str()) {
            let content: BTreeSet<(&str, &str)> = release
                .crds
                .iter()
                .map(|c| (c.name.as_str(), c.digest.as_str()))
                .collect();
            match groups
                .iter_mut()
                .find(|g| g.channel == channel && g.content == content)
            {
                Some(group) => group.tags.push(release.tag.clone()),
                None => groups.push(ContentGroup {
                    channel,
                    content,
                    tags: vec![release.tag.clone()],
                }),
            }
        }
    }
    groups
        .into_iter()
        .filter(|g| g.tags.len() > 1)
        .map(|g| IdenticalGroup {
            channel: g.channel.to_string(),
            tags: g.tags,
        })
        .collect()
}

/// Pretty JSON where every "flat" value (scalars, and arrays/objects of scalars or of arrays of
/// scalars) stays on one line: one line per CRD, reviewable diffs, a small file.
pub fn render(file: &CatalogFile) -> String {
    // Serializing plain data structs to a Value cannot fail.
    let value = serde_json::to_value(file).unwrap_or(Value::Null);
    let mut out = String::new();
    write_value(&value, 0, &mut out);
    out.push('\n');
    out
}

fn write_value(value: &Value, indent: usize, out: &mut String) {
    if is_flat(value) {
        out.push_str(&compact(value));
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match value {
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (key, child)) in map.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&compact(&Value::String(key.clone())));
                out.push_str(": ");
                write_value(child, indent + 1, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                write_value(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(indent));
            out.push(']');
        }
        scalar => out.push_str(&compact(scalar)),
    }
}

fn is_flat(value: &Value) -> bool {
    let scalar_or_scalar_list = |v: &Value| match v {
        Value::Array(items) => items.iter().all(|i| !i.is_array() && !i.is_object()),
        Value::Object(_) => false,
        _ => true,
    };
    match value {
        Value::Object(map) => map.values().all(scalar_or_scalar_list),
        Value::Array(items) => items.iter().all(|i| !i.is_array() && !i.is_object()),
        _ => true,
    }
}

/// One-line JSON with `", "` and `": "` separators, keys in struct order.
fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", compact(&Value::String(k.clone())), compact(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(compact).collect();
            format!("[{}]", items.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

fn parse(path: &str, text: &str) -> Result<Loaded, GenerateError> {
    load_text(path, text, Limits::default()).map_err(|e| GenerateError::Input(e.to_string()))
}

fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, GenerateError> {
    let io = |error| GenerateError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            entries.push((name.to_string(), path.clone()));
        }
    }
    // Directory order is the file system's; sort so the output never depends on it.
    entries.sort();
    Ok(entries)
}

fn read(path: &Path) -> Result<String, GenerateError> {
    std::fs::read_to_string(path).map_err(|error| GenerateError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// `gateway-api/v1.6.1/standard-install.yaml`: the path from the bundle directory on, so
/// messages do not depend on where the corpus is.
fn relative(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts
        .iter()
        .rposition(|p| UPSTREAMS.iter().any(|u| u.bundle == p))
    {
        Some(start) => parts[start..].join("/"),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdguard_core::KubeVersion;

    #[test]
    fn flat_values_stay_on_one_line() {
        let value = serde_json::json!({ "a": [{ "x": 1, "y": ["p", "q"] }], "b": "s" });
        let mut out = String::new();
        write_value(&value, 0, &mut out);
        assert_eq!(
            out,
            "{\n  \"a\": [\n    {\"x\": 1, \"y\": [\"p\", \"q\"]}\n  ],\n  \"b\": \"s\"\n}"
        );
    }

    #[test]
    fn kube_versions_are_short() {
        assert_eq!(short_kube(&KubeVersion::new(1, 31, 0)), "1.31");
    }
}
