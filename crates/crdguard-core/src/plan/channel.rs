//! SPEC §2 rows 10–11 with a catalog. Row 11: the cluster runs a bundle's experimental channel and the
//! sources carry the standard channel of a newer version. Rather than keeping the old version
//! (never narrowing), crdguard installs the experimental release of the newer version. The
//! adapters fetch that release; this module decides when it is needed and swaps it in, so that
//! what is planned is exactly what `apply` writes. It works for any bundle the catalog has
//! releases of, named by the caller.

use std::collections::BTreeSet;

use crate::bundle::Classifier;
use crate::model::Channel;
use crate::policy::Policy;
use crate::state::{DesiredState, ObservedState};
use crate::version::BundleVersion;

/// The version whose experimental release is needed, if `bundle` is installed in the
/// experimental channel and the sources carry only the standard channel of a newer one; or of
/// the installed one, when the sources carry kinds the cluster lacks (SPEC §2: an absent CRD
/// of an installed bundle is created in the installed channel, with that release's content).
pub fn experimental_release_needed(
    desired: &DesiredState,
    observed: &ObservedState,
    policy: &Policy,
    bundle: &str,
) -> Option<BundleVersion> {
    let (installed, wanted) = bundle_sides(desired, observed, policy, bundle);
    if !installed
        .iter()
        .any(|m| m.channel == Some(Channel::Experimental))
    {
        return None;
    }
    if let Some(newer) = newer_single_release(&installed, &wanted, Channel::Standard) {
        return Some(newer);
    }
    let installed_newest = installed.iter().filter_map(|m| m.version.as_ref()).max()?;
    let classifier = Classifier::new(policy);
    let adds_kinds = desired.crds.iter().any(|crd| {
        !observed.crds.contains_key(&crd.name)
            && classifier.classify(crd).bundle.as_deref() == Some(bundle)
    });
    match wanted.iter().collect::<Vec<_>>().as_slice() {
        [(version, Channel::Standard)] if version == installed_newest && adds_kinds => {
            Some(version.clone())
        }
        _ => None,
    }
}

/// The memberships in `bundle` of the installed CRDs, and the (version, channel) pairs the
/// desired CRDs of `bundle` carry.
fn bundle_sides(
    desired: &DesiredState,
    observed: &ObservedState,
    policy: &Policy,
    bundle: &str,
) -> (
    Vec<crate::model::BundleMembership>,
    BTreeSet<(BundleVersion, Channel)>,
) {
    let classifier = Classifier::new(policy);
    let installed = observed
        .crds
        .values()
        .map(|c| classifier.classify(c))
        .filter(|m| m.bundle.as_deref() == Some(bundle))
        .collect();
    let wanted = desired
        .crds
        .iter()
        .map(|c| classifier.classify(c))
        .filter(|m| m.bundle.as_deref() == Some(bundle))
        .filter_map(|m| Some((m.version?, m.channel?)))
        .collect();
    (installed, wanted)
}

/// The desired version, when the sources carry exactly one release, in `channel`, newer than
/// every installed CRD.
fn newer_single_release(
    installed: &[crate::model::BundleMembership],
    wanted: &BTreeSet<(BundleVersion, Channel)>,
    channel: Channel,
) -> Option<BundleVersion> {
    let installed_newest = installed.iter().filter_map(|m| m.version.as_ref()).max()?;
    match wanted.iter().collect::<Vec<_>>().as_slice() {
        [(version, c)] if *c == channel && version > installed_newest => Some(version.clone()),
        _ => None,
    }
}

/// Replaces the desired standard CRDs by their experimental counterparts, and adds the
/// experimental-only CRDs that are installed, so the whole installed bundle moves together.
/// Returns the names of the CRDs that now come from the experimental release.
pub fn substitute_experimental(
    desired: &mut DesiredState,
    observed: &ObservedState,
    experimental: &DesiredState,
) -> BTreeSet<String> {
    let mut swapped = BTreeSet::new();
    for crd in &experimental.crds {
        let in_desired = desired.crds.iter().position(|c| c.name == crd.name);
        match in_desired {
            Some(index) => desired.crds[index] = crd.clone(),
            None if observed.crds.contains_key(&crd.name) => desired.crds.push(crd.clone()),
            None => continue,
        }
        swapped.insert(crd.name.clone());
    }
    desired.crds.sort_by(|a, b| a.name.cmp(&b.name));
    swapped
}

/// SPEC §2 row 10 v2: the version whose *standard* release is needed, if CRDs of `bundle` are
/// installed in the standard channel, the sources carry the experimental channel of
/// a newer version, and the policy does not ask for the experimental channel (only a policy
/// widens). Upgrading those CRDs to the standard release of that version keeps their channel;
/// on a cluster that mixes channels, the CRDs installed as experimental keep theirs.
pub fn standard_release_needed(
    desired: &DesiredState,
    observed: &ObservedState,
    policy: &Policy,
    bundle: &str,
) -> Option<BundleVersion> {
    if policy.bundle(bundle).and_then(|b| b.channel) == Some(Channel::Experimental) {
        return None;
    }
    let (installed, wanted) = bundle_sides(desired, observed, policy, bundle);
    if !installed
        .iter()
        .any(|m| m.channel == Some(Channel::Standard))
    {
        return None;
    }
    newer_single_release(&installed, &wanted, Channel::Experimental)
}

/// Replaces the desired experimental CRDs of the bundle by their standard counterparts, except
/// those installed as experimental (a cluster that mixes channels keeps each CRD's), and drops
/// the experimental-only kinds that are not installed (absent kinds are created only in the
/// standard channel: only a policy widens). Returns the names of the CRDs that now come from
/// the standard release.
pub fn substitute_standard(
    desired: &mut DesiredState,
    observed: &ObservedState,
    policy: &Policy,
    bundle: &str,
    standard: &DesiredState,
) -> BTreeSet<String> {
    let classifier = Classifier::new(policy);
    let installed_experimental = |name: &str| {
        observed
            .crds
            .get(name)
            .is_some_and(|c| classifier.classify(c).channel == Some(Channel::Experimental))
    };
    let mut swapped = BTreeSet::new();
    let in_bundle =
        |crd: &crate::model::Crd| classifier.classify(crd).bundle.as_deref() == Some(bundle);
    desired.crds.retain(|crd| {
        !in_bundle(crd)
            || installed_experimental(&crd.name)
            || standard.crds.iter().any(|s| s.name == crd.name)
    });
    for crd in desired.crds.iter_mut().filter(|c| in_bundle(c)) {
        if installed_experimental(&crd.name) {
            continue;
        }
        if let Some(replacement) = standard.crds.iter().find(|s| s.name == crd.name) {
            *crd = replacement.clone();
            swapped.insert(crd.name.clone());
        }
    }
    swapped
}
