//! Identification by content: which release(s) a CRD, or a set of CRDs, came from, whatever its
//! annotations say, and whether its annotations tell the truth.
//!
//! Several releases can hold the same content (v1.2.0/v1.2.1 differ only in annotations; a CRD
//! unchanged between two releases; a CRD identical in the standard and experimental channel;
//! monthly-2026.06 equals v1.6.x experimental). All of them are returned, and one is chosen as
//! `best`, in this order of preference:
//! 1. the release the CRD's own annotations name, if its content is that release's (exact
//!    version first, then the value upstream shipped: v0.8.1's CRDs say v0.8.0);
//! 2. a tagged release before a monthly build (releases are what policies talk about);
//! 3. the lowest version, the first release that shipped this content: deterministic, and it
//!    errs on the harmless side (a version check against it can at worst ask for an upgrade to
//!    identical content, which the planner's `identical` rule turns into `unchanged`; it never
//!    skips an upgrade because the CRD looked newer than its content proves);
//! 4. standard before experimental: the narrowest channel that holds this exact content. A
//!    single CRD often cannot tell the channel; [`BundleCatalog::identify_bundle`] looks at the whole
//!    set, where experimental-only kinds and fields settle it.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;

use crdguard_core::registry::MarkerKey;
use crdguard_core::{BundleVersion, Channel};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::bundle::{BundleCatalog, Release, ReleaseKind};
use crate::digest::digest;

/// A release named in a report: bundle, tag, version and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseRef {
    pub bundle: String,
    pub tag: String,
    pub version: BundleVersion,
    pub channel: Channel,
    #[serde(skip)]
    pub channelled: bool,
}

impl From<&Release> for ReleaseRef {
    fn from(r: &Release) -> Self {
        ReleaseRef {
            bundle: r.bundle.clone(),
            tag: r.tag.clone(),
            version: r.version.clone(),
            channel: r.channel,
            channelled: r.channelled,
        }
    }
}

/// `gateway-api v1.5.1 (standard)`, `gateway-api monthly-2026.04 (v1.4.1, experimental)`,
/// `prometheus-operator v0.93.0`.
impl fmt::Display for ReleaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.bundle, self.tag)?;
        let version = (self.tag != self.version.to_string()).then(|| self.version.to_string());
        let channel = self.channelled.then(|| self.channel.to_string());
        let details: Vec<String> = version.into_iter().chain(channel).collect();
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// The version and channel markers a CRD carries, raw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnnotatedMarkers {
    pub version: Option<String>,
    pub channel: Option<String>,
}

impl AnnotatedMarkers {
    /// The markers of `bundle` that `crd` carries.
    pub fn of(crd: &Value, bundle: &BundleCatalog) -> AnnotatedMarkers {
        AnnotatedMarkers {
            version: bundle
                .version_marker()
                .and_then(|m| m.read_object(crd))
                .map(str::to_string),
            channel: bundle
                .channel_marker()
                .and_then(|m| m.read_object(crd))
                .map(str::to_string),
        }
    }

    fn is_empty(&self) -> bool {
        self.version.is_none() && self.channel.is_none()
    }

    /// How well the markers fit a release holding the CRD's content: higher is better.
    /// Version: 2 = the release's version, 1 = the value upstream shipped, 0 = absent or other.
    fn fit(&self, release: &Release) -> (u8, u8) {
        let version = match self.version.as_deref().map(str::parse::<BundleVersion>) {
            Some(Ok(v)) if v == release.version && release.kind == ReleaseKind::Release => 2,
            Some(Ok(v)) if v == release.bundle_version_annotation => 1,
            _ => 0,
        };
        let channel =
            u8::from(self.channel.as_deref().and_then(Channel::parse) == Some(release.channel));
        (version, channel)
    }

    /// Whether every marker present is consistent with `release`.
    fn consistent_with(&self, release: &Release) -> bool {
        let (version, channel) = self.fit(release);
        (self.version.is_none() || version > 0) && (self.channel.is_none() || channel > 0)
    }
}

/// What the annotations say compared with what the content is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum AnnotationCheck {
    /// The annotations name a release that has exactly this content.
    Agrees,
    /// The annotations are exactly what upstream shipped with this content, but that label does
    /// not name the release: v0.8.1's CRDs say v0.8.0; monthly builds say the last release or
    /// v0.0.0-dev. Nobody edited them; `identified` is what the content is.
    UpstreamLabel {
        annotated: String,
        identified: ReleaseRef,
    },
    /// One or both annotations are absent (stripped by a tool, or never set by a vendoring
    /// chart); `missing` lists the annotation keys.
    Missing {
        missing: Vec<String>,
        identified: ReleaseRef,
    },
    /// The annotations name a version or channel that does not have this content: the
    /// annotations were edited, or the spec was.
    Mismatch {
        annotated: AnnotatedMarkers,
        identified: ReleaseRef,
    },
}

impl AnnotationCheck {
    /// The plan reason code this outcome calls for: `identified-by-digest` when the content
    /// tells more than the annotations, `annotation-mismatch` when they contradict it, nothing
    /// when they agree.
    pub fn reason_code(&self) -> Option<&'static str> {
        match self {
            AnnotationCheck::Agrees => None,
            AnnotationCheck::UpstreamLabel { .. } | AnnotationCheck::Missing { .. } => {
                Some("identified-by-digest")
            }
            AnnotationCheck::Mismatch { .. } => Some("annotation-mismatch"),
        }
    }
}

impl fmt::Display for AnnotationCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationCheck::Agrees => f.write_str("annotations agree with the content"),
            AnnotationCheck::UpstreamLabel {
                annotated,
                identified,
            } => write!(
                f,
                "content is {identified}; its version marker says {annotated}, as upstream \
                 shipped it"
            ),
            AnnotationCheck::Missing {
                missing,
                identified,
            } => write!(
                f,
                "content identified by digest as {identified}; {} missing",
                missing.join(" and ")
            ),
            AnnotationCheck::Mismatch {
                annotated,
                identified,
            } => write!(
                f,
                "markers say {}/{} but the content is {identified}",
                annotated.version.as_deref().unwrap_or("(no version)"),
                annotated.channel.as_deref().unwrap_or("(no channel)"),
            ),
        }
    }
}

/// The release(s) one CRD's content belongs to.
#[derive(Debug, Clone)]
pub struct Identification<'c> {
    /// `metadata.name` of the CRD as given.
    pub crd: String,
    pub digest: String,
    /// Every release and channel holding this exact content, in catalog order.
    pub matches: Vec<&'c Release>,
    /// The single answer (see the module documentation for how it is chosen).
    pub best: &'c Release,
    pub annotated: AnnotatedMarkers,
    /// Where the bundle writes its markers, to name the missing ones.
    pub(crate) version_marker: Option<&'c MarkerKey>,
    pub(crate) channel_marker: Option<&'c MarkerKey>,
}

impl Identification<'_> {
    /// The channels holding this content: two when standard and experimental copies are equal.
    pub fn channels(&self) -> BTreeSet<Channel> {
        self.matches.iter().map(|r| r.channel).collect()
    }

    pub fn annotation_check(&self) -> AnnotationCheck {
        let identified = ReleaseRef::from(self.best);
        let describe = |marker: Option<&MarkerKey>| marker.map(MarkerKey::describe);
        if self.annotated.is_empty() {
            let missing: Vec<String> = describe(self.version_marker)
                .into_iter()
                .chain(describe(self.channel_marker))
                .collect();
            // A bundle that writes no markers at all (a policy bundle with no version key)
            // has nothing to agree or disagree with.
            if missing.is_empty() {
                return AnnotationCheck::Agrees;
            }
            return AnnotationCheck::Missing {
                missing,
                identified,
            };
        }
        // `best` prefers a release the annotations are consistent with: if it is not, none is.
        if !self.annotated.consistent_with(self.best) {
            return AnnotationCheck::Mismatch {
                annotated: self.annotated.clone(),
                identified,
            };
        }
        let mut missing = Vec::new();
        if self.annotated.version.is_none() {
            missing.extend(describe(self.version_marker));
        }
        if self.annotated.channel.is_none() {
            missing.extend(describe(self.channel_marker));
        }
        if !missing.is_empty() {
            return AnnotationCheck::Missing {
                missing,
                identified,
            };
        }
        if self.annotated.fit(self.best).0 == 1 {
            return AnnotationCheck::UpstreamLabel {
                annotated: self.annotated.version.clone().unwrap_or_default(),
                identified,
            };
        }
        AnnotationCheck::Agrees
    }
}

/// The release(s) a set of CRDs (an installed bundle) belongs to.
#[derive(Debug, Clone)]
pub struct BundleIdentification<'c> {
    /// Releases holding every identified CRD of the set with the same content.
    pub candidates: Vec<&'c Release>,
    /// The single answer: a release with exactly these CRDs first, then as for one CRD.
    pub best: Option<&'c Release>,
    /// `best` has exactly the given CRDs, no more, no fewer, and every CRD was identified.
    pub complete: bool,
    /// CRDs of the set whose content no release has (edited, or from an unknown release).
    pub unidentified: Vec<String>,
}

impl BundleCatalog {
    /// Identifies one CRD by its content digest. `None` when no release has this content.
    pub fn identify(&self, crd: &Value) -> Option<Identification<'_>> {
        let digest = digest(crd);
        let mut matches: Vec<&Release> = self.releases_with_digest(&digest).collect();
        if matches.is_empty() {
            return None;
        }
        let annotated = AnnotatedMarkers::of(crd, self);
        matches.sort_by_key(|r| catalog_position(self, r));
        let best = matches
            .iter()
            .copied()
            .min_by_key(|r| preference(r, &[&annotated]))?;
        Some(Identification {
            crd: crd_name(crd),
            digest,
            matches,
            best,
            annotated,
            version_marker: self.version_marker(),
            channel_marker: self.channel_marker(),
        })
    }

    /// Identifies a set of CRDs together, which settles what single CRDs cannot (the channel,
    /// when a CRD is identical in both). CRDs whose content is unknown are listed and otherwise
    /// ignored, so one edited CRD does not hide what the rest is.
    pub fn identify_bundle(&self, crds: &[Value]) -> BundleIdentification<'_> {
        let mut unidentified = Vec::new();
        let mut identified = Vec::new();
        for crd in crds {
            match self.identify(crd) {
                Some(identification) => identified.push(identification),
                None => unidentified.push(crd_name(crd)),
            }
        }
        let Some((first, rest)) = identified.split_first() else {
            return BundleIdentification {
                candidates: Vec::new(),
                best: None,
                complete: false,
                unidentified,
            };
        };
        let candidates: Vec<&Release> = first
            .matches
            .iter()
            .copied()
            .filter(|r| {
                rest.iter()
                    .all(|i| i.matches.iter().any(|m| std::ptr::eq(*m, *r)))
            })
            .collect();
        let names: BTreeSet<&str> = identified.iter().map(|i| i.crd.as_str()).collect();
        let exact = |r: &Release| {
            r.crds.len() == names.len() && r.crds.iter().all(|c| names.contains(c.name.as_str()))
        };
        let markers: Vec<&AnnotatedMarkers> = identified.iter().map(|i| &i.annotated).collect();
        let best = candidates
            .iter()
            .copied()
            .min_by_key(|r| (Reverse(exact(r)), preference(r, &markers)));
        BundleIdentification {
            complete: unidentified.is_empty() && best.is_some_and(exact),
            candidates,
            best,
            unidentified,
        }
    }
}

/// Sort key: smaller is preferred (see the module documentation). Releases every marker is
/// consistent with come first, so that `annotation_check` can judge by `best` alone; then the
/// closer fit (exact version over the value upstream shipped, matching channel).
fn preference(release: &Release, markers: &[&AnnotatedMarkers]) -> PreferenceKey {
    let mut consistent = 0u32;
    let (mut version_fit, mut channel_fit) = (0u32, 0u32);
    for marker in markers {
        consistent += u32::from(marker.consistent_with(release));
        let (v, c) = marker.fit(release);
        version_fit += u32::from(v);
        channel_fit += u32::from(c);
    }
    (
        Reverse((consistent, version_fit, channel_fit)),
        release.kind,
        release.version.clone(),
        release.channel,
        release.tag.clone(),
    )
}

type PreferenceKey = (
    Reverse<(u32, u32, u32)>,
    ReleaseKind,
    BundleVersion,
    Channel,
    String,
);

fn catalog_position(catalog: &BundleCatalog, release: &Release) -> usize {
    catalog
        .releases()
        .iter()
        .position(|r| std::ptr::eq(r, release))
        .unwrap_or(usize::MAX)
}

fn crd_name(crd: &Value) -> String {
    crd.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// This bundle's answers to the planner's questions ([`crdguard_core::identify::Identifier`]):
/// [`crate::Catalog`] picks the bundle a question names and asks it here, so none of these take
/// a bundle name. Content wins over annotations, and the plan says so.
impl BundleCatalog {
    /// [`BundleCatalog::identify`] in the planner's terms: `None` when the content is unknown
    /// or the markers agree with it.
    pub fn identify_crd(
        &self,
        crd: &crdguard_core::Crd,
    ) -> Option<crdguard_core::identify::Identified> {
        let identification = BundleCatalog::identify(self, &crd.object)?;
        let check = identification.annotation_check();
        let code = match check.reason_code()? {
            "annotation-mismatch" => crdguard_core::Code::AnnotationMismatch,
            _ => crdguard_core::Code::IdentifiedByDigest,
        };
        Some(crdguard_core::identify::Identified {
            version: identification.best.version.clone(),
            channel: identification
                .best
                .channelled
                .then_some(identification.best.channel),
            range: None,
            code,
            message: check.to_string(),
        })
    }

    /// Identifies installed CRDs of this bundle together (SPEC §1): candidate releases per
    /// CRD, reconciled across the set. One answer per CRD, in the order given.
    pub fn identify_installed(
        &self,
        crds: &[&crdguard_core::Crd],
    ) -> Vec<Option<crdguard_core::identify::Identified>> {
        // Each CRD's content digest (a canonical copy of its spec, hashed) is independent:
        // side by side, as with a chart's 21 CRDs on the plan's critical path.
        let identifications: Vec<Option<Identification>> = crds
            .par_iter()
            .map(|crd| BundleCatalog::identify(self, &crd.object))
            .collect();
        reconcile(&identifications)
    }

    /// The newest release of this bundle that ships the CRD named `crd`, if the data knows the
    /// CRD. A CRD whose last release is older than a version can never be at that version:
    /// upstream removed its kind.
    pub fn last_release_with(&self, crd: &str) -> Option<crdguard_core::BundleVersion> {
        self.releases()
            .iter()
            .filter(|r| !r.is_monthly() && r.crd(crd).is_some())
            .map(|r| r.version.clone())
            .max()
    }

    /// The oldest Kubernetes that accepts `version` of this bundle in `channel`, and why (CEL
    /// functions, API versions), when the data knows that release.
    pub fn minimum_kubernetes(
        &self,
        version: &crdguard_core::BundleVersion,
        channel: crdguard_core::Channel,
    ) -> Option<(crdguard_core::KubeVersion, String)> {
        let release = self.release(&version.to_string(), channel)?;
        let minimum = release.min_kubernetes?;
        let why = release
            .min_kubernetes_reason
            .clone()
            .unwrap_or_else(|| "the catalog's facts for that release".to_string());
        Some((minimum, why))
    }

    /// Upstream's companion objects (SPEC §1) of `version` of this bundle in `channel`, when
    /// the data knows that release; empty otherwise.
    pub fn companions(
        &self,
        version: &crdguard_core::BundleVersion,
        channel: crdguard_core::Channel,
    ) -> Vec<crdguard_core::companion::CompanionObject> {
        self.release(&version.to_string(), channel)
            .map(|release| self.companion_objects(release))
            .unwrap_or_default()
    }

    /// The newest tagged release of this bundle the data knows.
    pub fn newest_known(&self) -> Option<crdguard_core::BundleVersion> {
        self.releases()
            .iter()
            .filter(|r| r.kind == ReleaseKind::Release)
            .map(|r| r.version.clone())
            .max()
    }

    /// The oldest Kubernetes that serves the companions of that release, if they need one.
    pub fn companions_minimum_kubernetes(
        &self,
        version: &crdguard_core::BundleVersion,
        channel: crdguard_core::Channel,
    ) -> Option<crdguard_core::KubeVersion> {
        self.release(&version.to_string(), channel)?
            .extras_min_kubernetes
    }

    /// [`BundleCatalog::companion_releases`] as the planner names releases: the version and
    /// channel of each release whose companion of this kind and name has exactly the content
    /// of `object` (an installed copy). Empty: not upstream's content.
    pub fn companion_release_versions(
        &self,
        kind: &str,
        name: &str,
        object: &Value,
    ) -> Vec<(crdguard_core::BundleVersion, crdguard_core::Channel)> {
        self.companion_releases(kind, name, object)
            .into_iter()
            .map(|r| (r.version.clone(), r.channel))
            .collect()
    }
}

/// Reconciles per-CRD candidate sets across an installed bundle (SPEC §1). The tagged releases
/// holding *every* identified CRD's content are the bundle's candidates; where no release holds
/// them all (a skewed install), each CRD keeps its own. Within the candidates, the channel is
/// the annotated one when it fits, else the narrowest; the version is the newest of the
/// content-identical range, so a plan against it never lowers what is installed.
fn reconcile(
    identifications: &[Option<Identification>],
) -> Vec<Option<crdguard_core::identify::Identified>> {
    let tagged = |i: &Identification<'_>| -> Vec<*const Release> {
        i.matches
            .iter()
            .filter(|r| r.kind == ReleaseKind::Release)
            .map(|r| *r as *const Release)
            .collect()
    };
    let known: Vec<&Identification> = identifications.iter().flatten().collect();
    let common: Vec<*const Release> = match known.split_first() {
        Some((first, rest)) => tagged(first)
            .into_iter()
            .filter(|r| rest.iter().all(|i| tagged(i).contains(r)))
            .collect(),
        None => Vec::new(),
    };
    identifications
        .iter()
        .map(|identification| {
            let identification = identification.as_ref()?;
            let check = identification.annotation_check();
            match check {
                // The label names a release with this content, but the bundle's other CRDs
                // prove a newer one that has it too (upstream's v0.8.1 CRDs say v0.8.0, and
                // only some changed): the bundle is the newest release consistent with every
                // CRD (SPEC §1), not a skew.
                AnnotationCheck::Agrees => {
                    return settled_by_the_bundle(identification, &common);
                }
                // Upstream's own label (v0.8.1 says v0.8.0): the content is one release.
                AnnotationCheck::UpstreamLabel { .. }
                    if identification.best.kind == ReleaseKind::Release =>
                {
                    return Some(identified(identification.best, None, &check));
                }
                // A monthly build's label (v0.0.0-dev, or the last release) places nothing:
                // the tagged releases with the same content do, if there are any.
                _ => {}
            }
            let own = tagged(identification);
            let pool: Vec<&Release> = identification
                .matches
                .iter()
                .copied()
                .filter(|r| {
                    let r = *r as *const Release;
                    if common.is_empty() {
                        own.contains(&r)
                    } else {
                        common.contains(&r)
                    }
                })
                .collect();
            // Only monthly builds hold this content: a development build, whose position
            // among releases is unknown (SPEC §1); the CRD stays unversioned.
            if pool.is_empty() {
                return None;
            }
            let annotated_channel = identification
                .annotated
                .channel
                .as_deref()
                .and_then(Channel::parse)
                .filter(|c| pool.iter().any(|r| r.channel == *c));
            let channel = annotated_channel
                .or_else(|| pool.iter().map(|r| r.channel).min())
                .unwrap_or(Channel::Standard);
            let in_channel: Vec<&Release> =
                pool.into_iter().filter(|r| r.channel == channel).collect();
            let oldest = in_channel.iter().min_by_key(|r| &r.version)?;
            let newest = in_channel.iter().max_by_key(|r| &r.version)?;
            let mut result = identified(
                newest,
                (oldest.version != newest.version)
                    .then(|| (oldest.version.clone(), newest.version.clone())),
                &check,
            );
            // Annotations that contradict the content: whichever says newer wins, so neither
            // a wrong label nor old content leads to a write that lowers the bundle.
            if let AnnotationCheck::Mismatch { annotated, .. } = &check
                && let Some(Ok(label)) = annotated
                    .version
                    .as_deref()
                    .map(str::parse::<BundleVersion>)
                && label > result.version
                && !crdguard_core::identify::is_development_build(&label)
            {
                result.message.push_str(&format!(
                    "; the plan reasons with the annotated {label}, the newer of the two"
                ));
                result.version = label;
                result.range = None;
            }
            Some(result)
        })
        .collect()
}

/// For a CRD whose label agrees with its content: the newer release the whole bundle is, when
/// every identified CRD shares releases, none of them is the labelled one, and they are newer.
fn settled_by_the_bundle(
    identification: &Identification<'_>,
    common: &[*const Release],
) -> Option<crdguard_core::identify::Identified> {
    let label = identification.annotated.version.as_deref()?;
    let shared: Vec<&Release> = identification
        .matches
        .iter()
        .copied()
        .filter(|r| r.kind == ReleaseKind::Release)
        .filter(|r| common.contains(&(*r as *const Release)))
        .collect();
    let labelled = label.parse::<BundleVersion>().ok();
    if shared.is_empty() || shared.iter().any(|r| Some(&r.version) == labelled.as_ref()) {
        return None;
    }
    let channel = identification
        .annotated
        .channel
        .as_deref()
        .and_then(Channel::parse)
        .filter(|c| shared.iter().any(|r| r.channel == *c))
        .or_else(|| shared.iter().map(|r| r.channel).min())?;
    let newest = shared
        .iter()
        .filter(|r| r.channel == channel)
        .max_by_key(|r| &r.version)?;
    // Only ever newer than the label: a label that says newer than the rest of the bundle
    // (edited, or mixed in by hand) is left to the mismatch rules, which never lower.
    let label_version = label.parse::<BundleVersion>().ok()?;
    if label_version >= newest.version {
        return None;
    }
    // Only upstream's own label of the newer release: any other older label on the same
    // content was written by someone, and the annotated cluster would rewrite it (SPEC §1),
    // so the plan must see it as the version it says.
    if newest.bundle_version_annotation != label_version {
        return None;
    }
    Some(crdguard_core::identify::Identified {
        version: newest.version.clone(),
        channel: newest.channelled.then_some(newest.channel),
        range: None,
        code: crdguard_core::Code::IdentifiedByDigest,
        message: format!(
            "content is also {}, which the bundle's other CRDs are; its version marker says \
             {label}, as upstream shipped it",
            ReleaseRef::from(*newest)
        ),
    })
}

fn identified(
    release: &Release,
    range: Option<(BundleVersion, BundleVersion)>,
    check: &AnnotationCheck,
) -> crdguard_core::identify::Identified {
    let code = match check {
        AnnotationCheck::Mismatch { .. } => crdguard_core::Code::AnnotationMismatch,
        _ => crdguard_core::Code::IdentifiedByDigest,
    };
    let what = match &range {
        Some((from, to)) if release.channelled => {
            format!("{} {from}..{to} ({})", release.bundle, release.channel)
        }
        Some((from, to)) => format!("{} {from}..{to}", release.bundle),
        None => ReleaseRef::from(release).to_string(),
    };
    let message = match check {
        AnnotationCheck::Missing { missing, .. } => format!(
            "content identified by digest as {what}; {} missing",
            missing.join(" and ")
        ),
        AnnotationCheck::Mismatch { annotated, .. } => format!(
            "markers say {}/{} but the content is {what}",
            annotated.version.as_deref().unwrap_or("(no version)"),
            annotated.channel.as_deref().unwrap_or("(no channel)"),
        ),
        other => other.to_string(),
    };
    crdguard_core::identify::Identified {
        version: release.version.clone(),
        channel: release.channelled.then_some(release.channel),
        range,
        code,
        message,
    }
}
