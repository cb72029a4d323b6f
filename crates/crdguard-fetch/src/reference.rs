//! `gateway-api@v1.6.1/experimental` → one release of the catalog, or an error that names the
//! closest releases that do exist.

use crdguard_catalog::{BundleCatalog, Catalog, CatalogRef, Release, ReleaseKind};
use crdguard_core::{BundleVersion, Channel};

use crate::error::FetchError;

/// How many close matches an "unknown release" error lists.
const SUGGESTIONS: usize = 3;

/// Parses `NAME@VERSION[/CHANNEL]`.
pub fn parse_reference(text: &str) -> Result<CatalogRef, FetchError> {
    CatalogRef::parse(text).map_err(|message| FetchError::BadReference { message })
}

/// The catalog's release for `reference`. The channel defaults to `standard`; the version may be
/// given with or without `v`, or as a tag (`monthly-2026.06`).
///
/// A release that exists only in the other channel is an error with a hint, never a silent
/// switch: installing experimental CRDs where standard ones were asked for changes what the
/// cluster serves (and the `safe-upgrades` policy of v1.5+ refuses the reverse).
pub fn resolve<'c>(
    catalog: &'c Catalog,
    reference: &CatalogRef,
) -> Result<&'c Release, FetchError> {
    let Some(data) = catalog.bundle(&reference.name) else {
        let known: Vec<&str> = catalog.bundle_names().collect();
        let close = crdguard_core::policy::nearest_match(&reference.name, known.iter().copied())
            .map(|name| format!("; did you mean {name}?"))
            .unwrap_or_default();
        return Err(FetchError::NotInCatalog {
            reference: reference.to_string(),
            message: format!(
                "{:?} is not a bundle in the catalog{close} (known: {})",
                reference.name,
                known.join(", ")
            ),
            suggestions: known.iter().map(|b| b.to_string()).collect(),
        });
    };
    let bundle = data.bundle();
    if let Some(channel) = reference.channel
        && data.channel_marker().is_none()
    {
        return Err(FetchError::NotInCatalog {
            reference: reference.to_string(),
            message: format!("{reference}: {bundle} has no channels; leave out /{channel}"),
            suggestions: vec![format!(
                "{bundle}@{}",
                reference.version.as_deref().unwrap_or("")
            )],
        });
    }
    let channel = reference.channel.unwrap_or(Channel::Standard);
    let Some(version) = reference.version.as_deref() else {
        // No implicit "latest": what an install command installs must be spelled out.
        let latest = data.latest(channel).map(label);
        return Err(FetchError::NotInCatalog {
            reference: reference.to_string(),
            message: format!(
                "{reference}: a version is required{}",
                latest
                    .as_deref()
                    .map(|l| format!(", e.g. {l}"))
                    .unwrap_or_default()
            ),
            suggestions: latest.into_iter().collect(),
        });
    };
    if let Some(release) = data.release(version, channel) {
        return Ok(release);
    }
    let wanted = match data.channel_marker() {
        Some(_) => format!("{bundle}@{version}/{channel}"),
        None => format!("{bundle}@{version}"),
    };
    let other = match channel {
        Channel::Standard => Channel::Experimental,
        Channel::Experimental => Channel::Standard,
    };
    if let Some(release) = data.release(version, other) {
        let suggestion = label(release);
        return Err(FetchError::NotInCatalog {
            reference: reference.to_string(),
            message: format!(
                "{wanted} is not in the catalog: {} is published only in the {other} channel \
                 (use {suggestion})",
                release.tag
            ),
            suggestions: vec![suggestion],
        });
    }
    let suggestions: Vec<String> = closest(data, version, channel)
        .into_iter()
        .map(label)
        .collect();
    let message = if suggestions.is_empty() {
        format!("{wanted} is not in the catalog")
    } else {
        format!(
            "{wanted} is not in the catalog (closest: {})",
            suggestions.join(", ")
        )
    };
    Err(FetchError::NotInCatalog {
        reference: reference.to_string(),
        message,
        suggestions,
    })
}

/// `gateway-api@v1.6.1/experimental`, `prometheus-operator@v0.93.0`: the name a fetched
/// release goes by as a source.
pub fn label(release: &Release) -> String {
    format!("{}@{}", release.bundle, release.label())
}

/// The releases of `channel` nearest to `wanted`: by version distance when `wanted` is a
/// version (v1.6.2 → v1.6.1, v1.6.0, …), by spelling otherwise (a mistyped monthly tag).
fn closest<'c>(data: &'c BundleCatalog, wanted: &str, channel: Channel) -> Vec<&'c Release> {
    let mut candidates: Vec<&Release> = data
        .releases()
        .iter()
        .filter(|r| r.channel == channel)
        .collect();
    match wanted.parse::<BundleVersion>() {
        Ok(version) => {
            candidates.retain(|r| r.kind == ReleaseKind::Release);
            // Newest first, so that among equal distances the newer release is suggested.
            candidates.sort_by(|a, b| b.version.cmp(&a.version));
            candidates.sort_by_key(|r| version_distance(&version, &r.version));
        }
        Err(_) => {
            candidates.reverse();
            candidates.sort_by_key(|r| edit_distance(wanted, &r.tag));
        }
    }
    candidates.truncate(SUGGESTIONS);
    candidates
}

/// Distance by component, most significant first: any release of the same minor is closer
/// than any release of another minor.
fn version_distance(a: &BundleVersion, b: &BundleVersion) -> (u64, u64, u64) {
    (
        a.0.major.abs_diff(b.0.major),
        a.0.minor.abs_diff(b.0.minor),
        a.0.patch.abs_diff(b.0.patch),
    )
}

/// Levenshtein distance over characters (two rows; every index is within `0..=b.len()`).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(text: &str) -> Result<&'static Release, FetchError> {
        let catalog = Catalog::builtin().unwrap();
        resolve(catalog, &parse_reference(text)?)
    }

    #[test]
    fn versions_with_and_without_v_and_default_channel() {
        let release = resolve_text("gateway-api@1.6.1").unwrap();
        assert_eq!(
            (release.tag.as_str(), release.channel),
            ("v1.6.1", Channel::Standard)
        );
        let release = resolve_text("gateway-api@v1.6.1/experimental").unwrap();
        assert_eq!(release.channel, Channel::Experimental);
        let release = resolve_text("gateway-api@monthly-2026.06/experimental").unwrap();
        assert_eq!(release.tag, "monthly-2026.06");
    }

    #[test]
    fn unknown_version_lists_nearest_releases() {
        let err = resolve_text("gateway-api@v1.6.2").unwrap_err();
        let FetchError::NotInCatalog { suggestions, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            suggestions,
            &[
                "gateway-api@v1.6.1/standard",
                "gateway-api@v1.6.0/standard",
                "gateway-api@v1.5.1/standard"
            ]
        );
        assert!(
            err.to_string()
                .contains("closest: gateway-api@v1.6.1/standard")
        );
    }

    #[test]
    fn monthly_builds_need_the_experimental_channel() {
        let err = resolve_text("gateway-api@monthly-2026.06").unwrap_err();
        assert!(
            err.to_string()
                .contains("use gateway-api@monthly-2026.06/experimental"),
            "{err}"
        );
    }

    #[test]
    fn mistyped_tag_is_matched_by_spelling() {
        let err = resolve_text("gateway-api@monthly-2026.6/experimental").unwrap_err();
        let FetchError::NotInCatalog { suggestions, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(suggestions[0], "gateway-api@monthly-2026.06/experimental");
    }

    #[test]
    fn missing_version_is_an_error_naming_the_latest() {
        let err = resolve_text("gateway-api/experimental").unwrap_err();
        assert!(
            err.to_string().contains("gateway-api@v1.6.1/experimental"),
            "{err}"
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
