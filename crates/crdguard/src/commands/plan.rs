//! `crdguard plan`: decisions per CRD and per bundle, against a snapshot or a live cluster.

use std::path::Path;

use std::collections::BTreeSet;

use crdguard_core::plan::channel;
use crdguard_core::state::InputWarning;
use crdguard_helm::{ChartArgs, Helm, KubeArgs};
use crdguard_sources::{Gathered, Source};

use crdguard_core::plan::{PlanOptions, Verdict, plan};
use crdguard_core::{DesiredState, ObservedState, Policy};

use crate::cli::{PlanArgs, PolicyChoice, SourceArgs};
use crate::exit::{CliError, Exit};
use crate::render;

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

pub fn load_inputs(
    sources: &[String],
    charts: &[String],
    render: &SourceArgs,
    render_as: &RenderAs,
    policy: PolicyChoice,
) -> Result<Inputs, CliError> {
    load_inputs_or_empty(sources, charts, render, render_as, policy, false)
}

/// `load_inputs`; `allow_empty` accepts sources that hold no CRD (install's charts).
pub fn load_inputs_or_empty(
    sources: &[String],
    charts: &[String],
    render: &SourceArgs,
    render_as: &RenderAs,
    policy: PolicyChoice,
    allow_empty: bool,
) -> Result<Inputs, CliError> {
    if sources.is_empty() && charts.is_empty() {
        return Err(CliError::usage(
            "nothing to plan: give CRD sources (files, directories, charts, `-`) or --chart",
        ));
    }
    let options = super::input_options()?;
    let explicit_policy = match policy {
        PolicyChoice::File(path) => super::policy_file(Some(path), options)?,
        PolicyChoice::Product(reference) => Some(super::catalog::builtin_policy(reference)?),
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
        return Err(CliError::usage(
            "--values and --set apply to charts; no chart was given",
        ));
    }
    let described: Vec<&str> = file_args
        .iter()
        .chain(&chart_args)
        .map(|s| s.as_str())
        .chain(charts.iter().map(String::as_str))
        .collect();
    let desired = gathered.into_desired_or_empty(&described.join(", "), allow_empty)?;
    let policy_source = match (policy, &desired.chart_policy) {
        (PolicyChoice::File(path), _) => Some(path.display().to_string()),
        (PolicyChoice::Product(reference), _) => Some(format!("--for {reference}")),
        (PolicyChoice::Default, Some(_)) => {
            Some(format!("{} (crdguard.yaml)", described.join(", ")))
        }
        (PolicyChoice::Default, None) => None,
    };
    let policy = explicit_policy
        .or(desired.chart_policy)
        .unwrap_or_else(Policy::default_policy);
    if let Some(source) = policy_source {
        check_required_kinds(&policy, &source, &desired.state)?;
    }
    Ok(Inputs {
        policy,
        desired: desired.state,
    })
}

/// `requiredKinds` must name kinds the bundle has: the catalog's (every release) and the
/// sources' CRDs of that bundle. A typo is bad input (exit 2), not a blocked plan.
fn check_required_kinds(
    policy: &Policy,
    source: &str,
    desired: &DesiredState,
) -> Result<(), CliError> {
    let classifier = crdguard_core::bundle::Classifier::new(policy);
    let catalog = super::catalog::catalog()?;
    for bundle in &policy.spec.bundles {
        let mut known: BTreeSet<String> = desired
            .crds
            .iter()
            .filter(|c| classifier.classify(c).bundle.as_deref() == Some(bundle.name.as_str()))
            .map(|c| c.kind.clone())
            .collect();
        if bundle.name == catalog.bundle() {
            known.extend(
                catalog
                    .releases()
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
    render: &SourceArgs,
) -> Result<BTreeSet<String>, CliError> {
    if let Some(version) = channel::standard_release_needed(desired, observed, policy) {
        let reference = format!("gateway-api@{version}/standard");
        return match fetch_catalog_reference(&reference, render, super::input_options()?) {
            Ok(gathered) => {
                let standard = DesiredState::from_loaded(gathered.loaded)?;
                Ok(channel::substitute_standard(
                    desired, observed, policy, &standard,
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
    let Some(version) = channel::experimental_release_needed(desired, observed, policy) else {
        return Ok(BTreeSet::new());
    };
    let reference = format!("gateway-api@{version}/experimental");
    match fetch_catalog_reference(&reference, render, super::input_options()?) {
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
    render: &SourceArgs,
    options: crdguard_sources::Options,
) -> Result<Gathered, CliError> {
    let mut fetch_options = crdguard_fetch::FetchOptions {
        offline: render.offline,
        parse_limits: options.parse,
        ..crdguard_fetch::FetchOptions::default()
    };
    if let Some(url) = &render.catalog_url {
        fetch_options.base_url = url.clone();
    }
    let parsed = crdguard_fetch::parse_reference(reference)?;
    let fetched = crdguard_fetch::fetch_in(super::catalog::catalog()?, &parsed, &fetch_options)?;
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
    render: &SourceArgs,
    render_as: &RenderAs,
    options: crdguard_sources::Options,
) -> Result<Gathered, CliError> {
    // A path that is not there is a missing chart, whatever helm could do with a reference.
    for chart in charts {
        let looks_local = chart.starts_with('/')
            || chart.starts_with("./")
            || chart.starts_with("../")
            || chart.ends_with(".tgz");
        if looks_local && !Path::new(chart.as_str()).exists() {
            return Err(CliError::usage(format!(
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

pub fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    let plan = make_plan(args)?;
    render::plan(&plan, args.output, render::View::new(args.details))?;
    Ok(match plan.verdict {
        Verdict::Ok => Exit::Ok,
        Verdict::Blocked => Exit::Blocked,
    })
}

/// The plan of `args`: inputs resolved, the cluster observed, the plan made, stored objects
/// read when they decide findings (and the plan made again with them), and sealed for `apply
/// --plan`. `plan` renders it; `explain` shows one of its items.
pub fn make_plan(args: &PlanArgs) -> Result<crdguard_core::plan::Plan, CliError> {
    let options = super::input_options()?;
    let load = || {
        load_inputs(
            &args.desired.sources,
            &args.desired.chart,
            &args.desired.render,
            &PLAN_RELEASE,
            args.desired.policy_choice(),
        )
    };
    let (mut inputs, mut observed) = if args.cluster.snapshot.is_some() {
        // Reading the sources (helm template, or thousands of files) and a snapshot (~100 MB
        // for a large cluster) are independent: do both at once. A bad input still wins over
        // a bad snapshot, as when they ran one after the other.
        let (inputs, observed) = std::thread::scope(|scope| {
            let observing = scope.spawn(|| super::observed_state(&args.cluster, options));
            let inputs = load();
            let observed = observing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (inputs, observed)
        });
        (inputs?, observed?)
    } else {
        // A live cluster is contacted only once the inputs are known to be good.
        let inputs = load()?;
        (inputs, super::observed_state(&args.cluster, options)?)
    };
    let started = std::time::Instant::now();
    tracing::debug!(crds = inputs.desired.crds.len(), "sources and cluster read");
    let plan_options = PlanOptions {
        take_ownership: args.take_ownership,
        allow_breaking: args.allow_breaking,
        migrate: args.migrate,
        identity: args.release.identity(),
    };
    let evaluator = super::admission_predictor(&observed);
    let preserved = preserve_channel(
        &mut inputs.desired,
        &observed,
        &inputs.policy,
        &args.desired.render,
    )?;
    let identifier = super::catalog_identifier()?;
    let planner = |observed: &ObservedState| {
        plan(&crdguard_core::plan::PlanInputs {
            desired: &inputs.desired,
            observed,
            policy: &inputs.policy,
            options: &plan_options,
            identifier: Some(identifier),
            admission: evaluator
                .as_ref()
                .map(|e| e as &dyn crdguard_core::admission::AdmissionPredictor),
            preserved_channel: Some(&preserved),
        })
    };
    let mut plan = planner(&observed);
    tracing::debug!(elapsed = ?started.elapsed(), "planned");
    // Errors the stored objects can decide: read them and plan again with what they show.
    let reads = crdguard_core::objects::reads_needed(&plan);
    if !reads.is_empty() {
        observed.objects = super::objects::observe_objects(
            &args.cluster,
            &observed,
            &inputs.desired,
            &reads,
            &super::TerminalProgress::new(args.output),
        )?;
        plan = planner(&observed);
    }
    // A live plan is also a saved plan: `apply --plan` applies exactly it (SPEC §11).
    super::saved_plan::seal(&mut plan, &inputs.desired, &inputs.policy)?;
    tracing::debug!(elapsed = ?started.elapsed(), "sealed");
    super::free_at_exit((inputs, observed));
    Ok(plan)
}
