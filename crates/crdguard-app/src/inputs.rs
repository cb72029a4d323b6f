//! Resolving the desired state: CRD sources (files, charts rendered by helm, catalog releases
//! fetched and verified) and the policy that applies to them; and, once the cluster is known,
//! the catalog release that keeps its channel.

use std::path::Path;

use std::collections::BTreeSet;

use crdguard_core::plan::channel;
use crdguard_core::state::InputWarning;
use crdguard_helm::{ChartArgs, Helm, KubeArgs};
use crdguard_sources::{Gathered, Source};

use crdguard_core::{DesiredState, Policy};

use crate::error::CommandError;
use crate::settings::{DesiredSettings, PolicyChoice, RenderSettings};

/// The desired state and the policy that applies to it (`--policy`, else the chart's
/// `crdguard.yaml`, else the default).
pub struct Inputs {
    pub desired: DesiredState,
    pub policy: Policy,
}

/// Charts are rendered as this release (templates may use the name) into this namespace.
pub struct RenderAs<'a> {
    pub release: &'a str,
    pub namespace: Option<&'a str>,
}

pub const PLAN_RELEASE: RenderAs<'static> = RenderAs {
    release: "crdguard-plan",
    namespace: None,
};

impl<'a> RenderAs<'a> {
    /// Charts render as the release the command acts as (`--release NAME -n NS`): templates
    /// label their CRDs with the release name, and a plan rendered under another name would
    /// relabel the release's own CRDs. Without a release, as `crdguard-plan`.
    pub fn acting_as(identity: &'a crdguard_core::owner::Identity) -> RenderAs<'a> {
        match &identity.helm_release {
            Some((release, namespace)) => RenderAs {
                release,
                namespace: Some(namespace),
            },
            None => PLAN_RELEASE,
        }
    }
}

pub fn load_inputs(
    desired: &DesiredSettings,
    render_as: &RenderAs,
) -> Result<Inputs, CommandError> {
    load_inputs_or_empty(desired, render_as, false)
}

/// `load_inputs`; `allow_empty` accepts sources that hold no CRD (install's charts).
pub fn load_inputs_or_empty(
    desired_settings: &DesiredSettings,
    render_as: &RenderAs,
    allow_empty: bool,
) -> Result<Inputs, CommandError> {
    let DesiredSettings {
        sources,
        charts,
        render,
        policy,
    } = desired_settings;
    if sources.is_empty() && charts.is_empty() {
        return Err(CommandError::usage(
            "nothing to plan: give CRD sources (files, directories, charts, `-`) or --chart",
        ));
    }
    let options = crate::session::input_options();
    let explicit_policy = match policy {
        PolicyChoice::File(path) => crate::session::policy_file(Some(path), options)?,
        PolicyChoice::Product(reference) => Some(crate::catalog::builtin_policy(reference)?),
        PolicyChoice::Default => None,
    };
    let (catalog_refs, sources): (Vec<&String>, Vec<&String>) =
        sources.iter().partition(|s| is_catalog_reference(s));
    let (chart_args, file_args): (Vec<&String>, Vec<&String>) = sources
        .into_iter()
        .partition(|s| crdguard_sources::is_chart_reference(s));
    let chart_refs: Vec<&String> = charts.iter().chain(chart_args.iter().copied()).collect();
    let file_sources: Vec<Source> = file_args.iter().map(|a| Source::from_arg(a)).collect();
    let mut gathered = crdguard_sources::gather(&file_sources, options)?;
    for reference in catalog_refs {
        gathered.extend(fetch_catalog_reference(reference, render, options)?);
    }
    if !chart_refs.is_empty() {
        gathered.extend(gather_charts(&chart_refs, render, render_as, options)?);
    } else if !render.values.is_empty() || !render.set.is_empty() {
        return Err(CommandError::usage(
            "--values and --set apply to charts; no chart was given",
        ));
    }
    let described: Vec<&str> = file_args
        .iter()
        .chain(&chart_args)
        .map(|s| s.as_str())
        .chain(charts.iter().map(String::as_str))
        .collect();
    let chart_policy = gathered.chart_policy.take();
    let desired = gathered.into_desired_or_empty(&described.join(", "), allow_empty)?;
    let policy_source = match (policy, &chart_policy) {
        (PolicyChoice::File(path), _) => Some(path.display().to_string()),
        (PolicyChoice::Product(reference), _) => Some(format!("--for {reference}")),
        (PolicyChoice::Default, Some(_)) => {
            Some(format!("{} (crdguard.yaml)", described.join(", ")))
        }
        (PolicyChoice::Default, None) => None,
    };
    let policy = explicit_policy
        .or(chart_policy)
        .unwrap_or_else(Policy::default_policy);
    if let Some(source) = policy_source {
        check_required_kinds(&policy, &source, &desired)?;
    }
    Ok(Inputs { policy, desired })
}

/// `requiredKinds` must name kinds the bundle has: the catalog's (every release) and the
/// sources' CRDs of that bundle. A typo is bad input (exit 2), not a blocked plan.
fn check_required_kinds(
    policy: &Policy,
    source: &str,
    desired: &DesiredState,
) -> Result<(), CommandError> {
    let classifier = crdguard_core::bundle::Classifier::new(policy);
    let catalog = crate::catalog::catalog()?;
    for bundle in &policy.spec.bundles {
        let mut known: BTreeSet<String> = desired
            .crds
            .iter()
            .filter(|c| classifier.classify(c).bundle.as_deref() == Some(bundle.name.as_str()))
            .map(|c| c.kind.clone())
            .collect();
        if let Some(data) = catalog.bundle(&bundle.name) {
            known.extend(
                data.releases()
                    .iter()
                    .flat_map(|r| r.crds.iter().map(|c| c.kind.clone())),
            );
        }
        policy.check_required_kinds(source, &bundle.name, &known)?;
    }
    Ok(())
}

/// SPEC §2 row 11 with the catalog: when the cluster runs the experimental channel and the
/// sources carry a newer standard release, fetch that version's experimental release and plan
/// with it. Without it (offline, unreachable), the installed channel is kept and a warning says
/// why. Returns the CRDs that now come from the experimental release.
pub fn preserve_channel(
    desired: &mut DesiredState,
    observed: &crdguard_core::ObservedState,
    policy: &Policy,
    render: &RenderSettings,
) -> Result<BTreeSet<String>, CommandError> {
    // Only a bundle with channels and catalog data can have a release of the other channel
    // fetched; the channels of any other bundle are never swapped.
    let mut swapped = BTreeSet::new();
    for data in crate::catalog::catalog()?.bundles() {
        if data.channel_marker().is_some() {
            let bundle = data.bundle();
            swapped.extend(preserve_bundle_channel(
                desired, observed, policy, render, bundle,
            )?);
        }
    }
    Ok(swapped)
}

fn preserve_bundle_channel(
    desired: &mut DesiredState,
    observed: &crdguard_core::ObservedState,
    policy: &Policy,
    render: &RenderSettings,
    bundle: &str,
) -> Result<BTreeSet<String>, CommandError> {
    if let Some(version) = channel::standard_release_needed(desired, observed, policy, bundle) {
        let reference = format!("{bundle}@{version}/standard");
        return match fetch_catalog_reference(&reference, render, crate::session::input_options()) {
            Ok(gathered) => {
                let standard = DesiredState::from_loaded(gathered.loaded)?;
                Ok(channel::substitute_standard(
                    desired, observed, policy, bundle, &standard,
                ))
            }
            Err(e) => {
                desired.warnings.push(InputWarning {
                    origin: reference,
                    message: format!(
                        "the cluster runs the standard channel and no policy widens it; the \
                         standard release of {version} could not be had ({e}), so the installed \
                         release is kept"
                    ),
                });
                Ok(BTreeSet::new())
            }
        };
    }
    let Some(version) = channel::experimental_release_needed(desired, observed, policy, bundle)
    else {
        return Ok(BTreeSet::new());
    };
    let reference = format!("{bundle}@{version}/experimental");
    match fetch_catalog_reference(&reference, render, crate::session::input_options()) {
        Ok(gathered) => {
            let experimental = DesiredState::from_loaded(gathered.loaded)?;
            Ok(channel::substitute_experimental(
                desired,
                observed,
                &experimental,
            ))
        }
        Err(e) => {
            desired.warnings.push(InputWarning {
                origin: reference,
                message: format!(
                    "the cluster runs the experimental channel; its experimental release could not be had ({e}), so the installed channel is kept"
                ),
            });
            Ok(BTreeSet::new())
        }
    }
}

/// `gateway-api@v1.6.1/experimental`: a name, `@`, and not a file that exists.
fn is_catalog_reference(arg: &str) -> bool {
    arg.split_once('@').is_some_and(|(name, _)| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }) && !Path::new(arg).exists()
}

/// A catalog release fetched (or taken from the cache) and verified digest by digest.
fn fetch_catalog_reference(
    reference: &str,
    render: &RenderSettings,
    options: crdguard_sources::Options,
) -> Result<Gathered, CommandError> {
    let mut fetch_options = crdguard_fetch::FetchOptions {
        offline: render.offline,
        parse_limits: options.parse,
        ..crdguard_fetch::FetchOptions::default()
    };
    if let Some(url) = &render.catalog_url {
        fetch_options.base_url = url.clone();
    }
    let parsed = crdguard_fetch::parse_reference(reference)?;
    let fetched = crdguard_fetch::fetch_in(crate::catalog::catalog()?, &parsed, &fetch_options)?;
    let warnings = fetched
        .warnings
        .iter()
        .map(|w| InputWarning {
            origin: fetched.label.clone(),
            message: w.clone(),
        })
        .collect();
    Ok(Gathered {
        loaded: fetched.into_loaded(),
        chart_policy: None,
        warnings,
    })
}

/// Charts rendered by the real helm (all CRDs: crds/, subcharts, templates), or, without helm,
/// their crds/ directories read as files (with a warning).
fn gather_charts(
    charts: &[&String],
    render: &RenderSettings,
    render_as: &RenderAs,
    options: crdguard_sources::Options,
) -> Result<Gathered, CommandError> {
    // A path that is not there is a missing chart, whatever helm could do with a reference.
    for chart in charts {
        let looks_local = chart.starts_with('/')
            || chart.starts_with("./")
            || chart.starts_with("../")
            || chart.ends_with(".tgz");
        if looks_local && !Path::new(chart.as_str()).exists() {
            return Err(CommandError::usage(format!(
                "{chart}: no such chart (a directory or .tgz; `oci://...` and `repo/name` \
                 references are rendered by helm)"
            )));
        }
    }
    let helm = match Helm::locate(render.helm.as_deref()) {
        Ok(helm) => Some(helm),
        Err(e) => {
            let needs_helm = !render.values.is_empty()
                || !render.set.is_empty()
                || render.helm.is_some()
                || charts.iter().any(|c| !Path::new(c.as_str()).exists());
            if needs_helm {
                return Err(e.into());
            }
            None
        }
    };
    let mut gathered = Gathered::default();
    for chart in charts {
        let local = Path::new(chart.as_str());
        match &helm {
            Some(helm) => {
                let args = ChartArgs {
                    release: render_as.release.to_string(),
                    chart: chart.to_string(),
                    namespace: render_as.namespace.map(str::to_string),
                    values: render.values.clone(),
                    set: render.set.clone(),
                    extra: Vec::new(),
                };
                let text = helm.template(&args, &KubeArgs::default())?;
                gathered.extend(crdguard_sources::crds_from_rendered(
                    &format!("helm template {chart}"),
                    &text,
                    options,
                )?);
                if local.exists() {
                    gathered.chart_policy = gathered
                        .chart_policy
                        .take()
                        .or(crdguard_sources::chart_policy(local, options)?);
                }
            }
            None => {
                let mut static_read =
                    crdguard_sources::gather(&[Source::Chart(local.to_path_buf())], options)?;
                static_read.warnings.push(InputWarning {
                    origin: chart.to_string(),
                    message:
                        "helm not found: only crds/ directories were read; CRDs in templates/ \
                              are not seen (install helm or pass --helm)"
                            .to_string(),
                });
                gathered.extend(static_read);
            }
        }
    }
    Ok(gathered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_render_as_the_release_the_command_acts_as() {
        let release = crdguard_core::owner::Identity {
            helm_release: Some(("istio-base".into(), "istio-system".into())),
        };
        let render_as = RenderAs::acting_as(&release);
        assert_eq!(
            (render_as.release, render_as.namespace),
            ("istio-base", Some("istio-system"))
        );
        let nobody = crdguard_core::owner::Identity::default();
        assert_eq!(RenderAs::acting_as(&nobody).release, PLAN_RELEASE.release);
    }
}
