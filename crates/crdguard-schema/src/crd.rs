//! CRD-level checks: scope, kind, versions (stored, served, storage), conversion strategy and
//! subresources. These findings carry the path `.` (they are about the whole version or CRD)
//! and the version they concern, or `""` for CRD-wide ones.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::{Finding, Severity};
use crate::json::{flag, str_of};

/// One entry of `spec.versions`, read tolerantly (missing flags are `false`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version<'a> {
    pub(crate) name: &'a str,
    pub(crate) served: bool,
    pub(crate) storage: bool,
    raw: &'a Map<String, Value>,
}

impl<'a> Version<'a> {
    /// The version's `schema.openAPIV3Schema`, if any.
    pub(crate) fn schema(&self) -> Option<&'a Value> {
        self.raw.get("schema")?.get("openAPIV3Schema")
    }

    fn deprecated(&self) -> bool {
        flag(self.raw, "deprecated")
    }

    fn subresource(&self, name: &str) -> Option<&'a Value> {
        self.raw.get("subresources")?.get(name)
    }
}

/// The versions of a CRD in document order; entries without a string `name` are skipped.
pub(crate) fn versions(crd: &Value) -> Vec<Version<'_>> {
    let Some(Value::Array(entries)) = crd.pointer("/spec/versions") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let raw = entry.as_object()?;
            Some(Version {
                name: str_of(raw, "name")?,
                served: flag(raw, "served"),
                storage: flag(raw, "storage"),
                raw,
            })
        })
        .collect()
}

pub(crate) fn find<'a, 'b>(versions: &'b [Version<'a>], name: &str) -> Option<&'b Version<'a>> {
    versions.iter().find(|v| v.name == name)
}

/// The conversion strategy, `None` when absent (the API server's default).
pub(crate) fn conversion_strategy(crd: &Value) -> &str {
    crd.pointer("/spec/conversion/strategy")
        .and_then(Value::as_str)
        .unwrap_or("None")
}

/// Runs every CRD-level check.
pub(crate) fn check(installed: &Value, desired: &Value, out: &mut Vec<Finding>) {
    let old = versions(installed);
    let new = versions(desired);
    scope_and_kind(installed, desired, out);
    stored_and_served(installed, &old, &new, out);
    storage(&old, &new, out);
    conversion(installed, desired, out);
    for version in &new {
        if let Some(before) = find(&old, version.name) {
            per_version(before, version, out);
        }
    }
}

fn crd_finding(severity: Severity, check: Check, version: &str, message: String) -> Finding {
    Finding::new(severity, check, version, ".", message)
}

fn scope_and_kind(installed: &Value, desired: &Value, out: &mut Vec<Finding>) {
    let scope = |crd: &Value| {
        crd.pointer("/spec/scope")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (was, now) = (scope(installed), scope(desired));
    if was != now {
        out.push(crd_finding(
            Severity::Error,
            Check::ScopeChanged,
            "",
            format!(
                "scope changed from {} to {}; existing objects cannot be served under the new scope",
                was.as_deref().unwrap_or("none"),
                now.as_deref().unwrap_or("none")
            ),
        ));
    }
    for field in ["kind", "listKind"] {
        let pointer = format!("/spec/names/{field}");
        let get = |crd: &Value| {
            crd.pointer(&pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (was, now) = (get(installed), get(desired));
        // A missing listKind is defaulted by the API server; only compare spelled-out values.
        if was.is_some() && now.is_some() && was != now {
            out.push(crd_finding(
                Severity::Error,
                Check::KindChanged,
                "",
                format!(
                    "names.{field} changed from {} to {}; clients addressing the old kind break",
                    was.as_deref().unwrap_or_default(),
                    now.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
}

/// The versions objects may be stored in: `status.storedVersions` when the installed object
/// carries it, else (a CRD read from a file) its storage version, which is where objects are
/// written. The flag says whether the set was assumed.
fn stored_versions<'a>(installed: &'a Value, old: &[Version<'a>]) -> (Vec<&'a str>, bool) {
    match installed.pointer("/status/storedVersions") {
        Some(Value::Array(names)) => (names.iter().filter_map(Value::as_str).collect(), false),
        _ => (
            old.iter().filter(|v| v.storage).map(|v| v.name).collect(),
            true,
        ),
    }
}

fn stored_and_served(
    installed: &Value,
    old: &[Version<'_>],
    new: &[Version<'_>],
    out: &mut Vec<Finding>,
) {
    let (stored, assumed) = stored_versions(installed, old);
    let target = new
        .iter()
        .find(|v| v.storage)
        .map_or("the new storage version", |v| v.name);
    for name in &stored {
        if find(new, name).is_none() {
            let why = if assumed {
                format!(
                    "{name} is the installed storage version (no status.storedVersions given), so objects are stored as {name}"
                )
            } else {
                format!("{name} is listed in status.storedVersions")
            };
            out.push(crd_finding(
                Severity::Error,
                Check::StoredVersionRemoved,
                name,
                format!(
                    "version {name} is removed but {why}; migrate those objects to {target} and trim status.storedVersions first"
                ),
            ));
        }
    }
    for before in old.iter().filter(|v| v.served) {
        let is_stored = stored.contains(&before.name);
        let name = before.name;
        match find(new, name) {
            // Already reported as stored-version-removed: one finding per cause.
            None if is_stored => {}
            None => out.push(crd_finding(
                Severity::Warning,
                Check::ServedVersionRemoved,
                name,
                format!(
                    "version {name} is removed; clients that still use {name} break ({})",
                    unstored(assumed)
                ),
            )),
            Some(after) if !after.served => {
                let (severity, note) = if is_stored {
                    (
                        Severity::Error,
                        format!("objects are still stored as {name}"),
                    )
                } else {
                    (Severity::Warning, unstored(assumed).to_string())
                };
                out.push(crd_finding(
                    severity,
                    Check::ServedVersionRemoved,
                    name,
                    format!("version {name} is no longer served ({note}); clients that still use it break"),
                ));
            }
            Some(_) => {}
        }
    }
    for before in old.iter().filter(|v| !v.served) {
        if find(new, before.name).is_none() && !stored.contains(&before.name) {
            out.push(crd_finding(
                Severity::Info,
                Check::VersionRemoved,
                before.name,
                format!(
                    "version {} is removed; it was not served ({})",
                    before.name,
                    unstored(assumed)
                ),
            ));
        }
    }
    for after in new {
        if find(old, after.name).is_none() {
            out.push(crd_finding(
                Severity::Info,
                Check::VersionAdded,
                after.name,
                format!(
                    "version {} added (served: {}, storage: {})",
                    after.name, after.served, after.storage
                ),
            ));
        }
    }
}

/// Why a version counts as not stored, for messages.
fn unstored(assumed: bool) -> &'static str {
    if assumed {
        "it is not the installed storage version; no status.storedVersions given"
    } else {
        "it is not in status.storedVersions"
    }
}

fn storage(old: &[Version<'_>], new: &[Version<'_>], out: &mut Vec<Finding>) {
    let (Some(was), Some(now)) = (
        old.iter().find(|v| v.storage),
        new.iter().find(|v| v.storage),
    ) else {
        return;
    };
    if was.name == now.name {
        return;
    }
    let (severity, note) = match find(old, now.name) {
        Some(v) if v.served => (
            Severity::Info,
            "which the installed CRD already serves".to_string(),
        ),
        Some(_) => (
            Severity::Warning,
            "which the installed CRD defines but does not serve".to_string(),
        ),
        None => (
            Severity::Error,
            format!(
                "which the installed CRD does not have: objects written as {} cannot be read back if the CRD is rolled back",
                now.name
            ),
        ),
    };
    out.push(crd_finding(
        severity,
        Check::StorageVersionChanged,
        now.name,
        format!(
            "storage version moves from {} to {}, {note}",
            was.name, now.name
        ),
    ));
}

fn conversion(installed: &Value, desired: &Value, out: &mut Vec<Finding>) {
    let (was, now) = (conversion_strategy(installed), conversion_strategy(desired));
    if was != now {
        out.push(crd_finding(
            Severity::Warning,
            Check::ConversionChanged,
            "",
            format!(
                "conversion strategy changed from {was} to {now}; objects are converted differently between versions"
            ),
        ));
    }
}

/// Subresources and deprecation of a version both CRDs define.
fn per_version(before: &Version<'_>, after: &Version<'_>, out: &mut Vec<Finding>) {
    let name = after.name;
    if after.deprecated() && !before.deprecated() {
        out.push(crd_finding(
            Severity::Info,
            Check::VersionDeprecated,
            name,
            format!("version {name} is deprecated"),
        ));
    }
    for sub in ["status", "scale"] {
        match (before.subresource(sub), after.subresource(sub)) {
            (Some(_), None) => out.push(crd_finding(
                Severity::Error,
                Check::SubresourceRemoved,
                name,
                format!("the {sub} subresource is removed; clients writing /{sub} break"),
            )),
            (None, Some(_)) if sub == "status" => out.push(crd_finding(
                Severity::Warning,
                Check::SubresourceAdded,
                name,
                "the status subresource is added: updates through the main resource ignore status from now on".to_string(),
            )),
            (None, Some(_)) => out.push(crd_finding(
                Severity::Info,
                Check::SubresourceAdded,
                name,
                format!("the {sub} subresource is added"),
            )),
            (Some(a), Some(b)) if a != b => out.push(crd_finding(
                Severity::Warning,
                Check::SubresourceChanged,
                name,
                format!("the {sub} subresource changed from {a} to {b}"),
            )),
            _ => {}
        }
    }
}
