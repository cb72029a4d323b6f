//! `crdguard install`: the staged Helm install (SPEC §6). Phase 1: the chart's CRDs, rendered
//! by the real helm, planned and applied by crdguard. Phase 2: `helm upgrade --install
//! --skip-crds` with crdguard's post-renderer, only when phase 1 finished cleanly, or, on a
//! first install that cannot tell the difference, once every CRD is written, while the server
//! establishes them (`alongside`).

use std::sync::{Mutex, PoisonError};

use crdguard_core::owner::Identity;
use crdguard_core::plan::{InstallResult, Phase2Start};
use crdguard_helm::{ChartArgs, Helm, HelmError, KubeArgs, RunningHelm, write_post_render_plugin};

use crate::apply::{Applied, Execution, apply};
use crate::error::{CommandError, Exit};
use crate::inputs::{RenderAs, load_inputs_or_empty};
use crate::settings::{DesiredSettings, LiveSettings, PolicyChoice, RenderSettings, WriteSettings};

mod alongside;
mod protect;
mod trim;
use protect::Protection;
use trim::TrimmedChart;

/// What `install` needs: the release, the chart and how to render it, the policy, the cluster,
/// how to write, and the arguments passed on to `helm upgrade --install`.
#[derive(Debug, Clone)]
pub struct InstallSettings {
    pub release: String,
    pub chart: String,
    pub namespace: Option<String>,
    pub render: RenderSettings,
    pub policy: PolicyChoice,
    pub live: LiveSettings,
    pub write: WriteSettings,
    /// After `--`: given to helm as they are (phase 2).
    pub helm_args: Vec<String>,
}

/// The plan with its `apply` and `install` results, and the exit it maps to.
pub fn run(
    args: &InstallSettings,
    progress: &dyn crdguard_kube::Progress,
) -> Result<Applied, CommandError> {
    // Phase 2 needs helm whatever happens: fail before writing anything if it is missing.
    let helm = Helm::locate(args.render.helm.as_deref())?;
    let render_as = RenderAs {
        release: &args.release,
        namespace: args.namespace.as_deref(),
    };
    // A chart without CRDs is fine here: phase 2 still runs, and Helm must still not prune the
    // CRDs an earlier version of the chart rendered.
    let desired = DesiredSettings {
        sources: Vec::new(),
        charts: vec![args.chart.clone()],
        render: args.render.clone(),
        policy: args.policy.clone(),
    };
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let identity = Identity {
        helm_release: Some((args.release.clone(), namespace.clone())),
    };
    let connect = crate::session::live_options(&args.live);
    let kube = KubeArgs {
        kubeconfig: args.live.kubeconfig.clone(),
        context: args.live.context.clone(),
    };
    let dry_run = args.write.dry_run;
    let chart = ChartArgs {
        release: args.release.clone(),
        chart: args.chart.clone(),
        namespace: args.namespace.clone(),
        values: args.render.values.clone(),
        set: args.render.set.clone(),
        extra: args.helm_args.clone(),
    };
    let plugins = PluginDir::create()?;
    // Helm runs that need nothing of each other, side by side (each is a process of its own,
    // most of it helm starting): the chart's CRDs for phase 1; what Helm would delete on this
    // upgrade (the CRDs of the release's last manifest); and the render phase 2's trimmed copy
    // of the chart is made from (wasted only when phase 1 stops the install).
    let (inputs, last_manifest, rendered) = std::thread::scope(|scope| {
        let last_manifest =
            scope.spawn(|| helm.get_manifest(&args.release, Some(&namespace), &kube));
        let rendered = scope.spawn(|| helm.template(&chart, &kube));
        let inputs = load_inputs_or_empty(&desired, &render_as, true);
        (inputs, joined(last_manifest), joined(rendered))
    });
    let inputs = inputs?;
    // The plugin path phase 2 runs with may take a helm run of its own (`helm env`), needed
    // only when phase 2 starts: worked out while phase 1 talks to the cluster, not beside the
    // renders above, which already share the machine.
    let plugin_path = Later::start({
        let (helm, ours) = (helm.clone(), plugins.path.clone());
        move || helm.plugin_path(&ours)
    });
    // Helm keeps the chart in the release Secret: phase 2 gets a copy without what phase 1
    // applies. Rendering for that is best effort; without it, helm gets the chart as given.
    let rendered = rendered.ok();
    let trimmed = rendered
        .as_deref()
        .and_then(|rendered| TrimmedChart::of(&args.chart, rendered).ok().flatten());
    let phase2_chart = match &trimmed {
        Some(copy) => ChartArgs {
            chart: copy.chart.display().to_string(),
            ..chart
        },
        None => chart,
    };
    let early = alongside::Early {
        dry_run,
        first_install: matches!(last_manifest, Ok(None)),
        chart: &phase2_chart.chart,
        rendered: rendered.as_deref(),
        crd_groups: inputs
            .desired
            .crds
            .iter()
            .map(|c| c.group.as_str())
            .collect(),
        helm_args: &args.helm_args,
    };
    let not_early = early.why_not();
    // Phase 2 started once phase 1's CRDs are written, alongside the wait for Established,
    // when it may (see `alongside`).
    let started: Mutex<Option<Result<RunningHelm, HelmError>>> = Mutex::new(None);
    let start_phase2 = || {
        let mut slot = started.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            tracing::debug!("every CRD written: phase 2 starts while the server establishes them");
            *slot = Some(helm.start_upgrade_install(&phase2_chart, &kube, plugin_path.get()));
        }
    };
    let runtime = crate::session::runtime()?;
    let phase1 = runtime.block_on(async {
        let cluster = crate::session::connect_for_writes(&connect).await?;
        let mut protection =
            Protection::check(&cluster, &args.release, last_manifest, &inputs.desired).await;
        let observed = cluster.observe().await?;
        // A CRD whose names the server could refuse is never Established: then helm waits.
        let not_early = not_early.or_else(|| {
            crdguard_core::names::first_clash(&inputs.desired.crds, &observed.crds)
                .map(|clash| format!("the server could refuse a name: {clash}"))
        });
        if let Some(reason) = &not_early {
            tracing::debug!(%reason, "phase 2 starts once phase 1 has ended");
        }
        let execution = Execution {
            write: &args.write,
            live: &args.live,
            render: &args.render,
            preflight: vec![protection.preflight()],
            saved: None,
            on_written: match not_early {
                None => Some(&start_phase2),
                Some(_) => None,
            },
        };
        let (plan, mut exit) =
            apply(&cluster, &inputs, &observed, &execution, identity, progress).await?;
        // Right before helm runs, never before phase 1 succeeded, never in a dry run. (A first
        // install, the only kind phase 2 starts early for, has nothing to protect.)
        if exit == Exit::Ok && !dry_run && protection.carry_out(&cluster).await.is_err() {
            exit = Exit::Blocked;
        }
        Ok::<_, CommandError>((plan, exit, protection, cluster))
    });
    let started_early = started.into_inner().unwrap_or_else(PoisonError::into_inner);
    let (mut plan, phase1, protection, cluster) = match phase1 {
        Ok(phase1) => phase1,
        Err(e) => {
            // Phase 1 failed after helm had started (the wait for Established broke, say):
            // helm is waited for all the same, so that it never runs on without crdguard, on
            // a chart copy and a post-renderer that are removed when crdguard returns.
            if let Some(running) = started_early {
                match running.and_then(RunningHelm::finish) {
                    Ok(()) => tracing::error!(
                        "helm upgrade --install, started once the CRDs were written, succeeded"
                    ),
                    Err(helm) => tracing::error!(
                        error = %helm,
                        "helm upgrade --install, started once the CRDs were written, failed"
                    ),
                }
            }
            return Err(e);
        }
    };

    let mut result = InstallResult {
        release: args.release.clone(),
        namespace: namespace.clone(),
        phase2: "skipped".into(),
        phase2_started: None,
        message: String::new(),
        protected: protection.report.clone(),
        release_secret_bytes: None,
    };
    let mut exit = phase1;
    let outcome = if let Some(running) = started_early {
        result.phase2_started = Some(Phase2Start::CrdsWritten);
        Some(
            running
                .and_then(RunningHelm::finish)
                .map(|()| String::new()),
        )
    } else if let Some(blocker) = &protection.blocker {
        result.message = format!("{}: {blocker}", protect::CHECK);
        plan.verdict = crdguard_core::plan::Verdict::Blocked;
        exit = Exit::Blocked;
        None
    } else if phase1 != Exit::Ok {
        result.message = "phase 1 did not finish cleanly; helm was not run".into();
        None
    } else {
        result.phase2_started = Some(Phase2Start::AfterPhase1);
        Some(if dry_run {
            helm.template_post_rendered(&phase2_chart, &kube, plugin_path.get())
                .map(|text| {
                    let documents =
                        text.matches("\n---").count() + usize::from(text.starts_with("---"));
                    format!(
                        "helm template with the post-renderer rendered {documents} document(s), no CRD"
                    )
                })
        } else {
            helm.start_upgrade_install(&phase2_chart, &kube, plugin_path.get())
                .and_then(RunningHelm::finish)
                .map(|()| String::new())
        })
    };
    if let Some(outcome) = outcome {
        if let Some(copy) = &trimmed {
            plan.warnings.push(crdguard_core::plan::PlanWarning {
                source: args.chart.clone(),
                message: format!(
                    "helm ran on a copy of the chart without what crdguard applied ({} left out: {}); \
                     Helm stores the chart in the release Secret, which holds at most 1 MiB",
                    copy.left_out.len(),
                    summarize(&copy.left_out)
                ),
            });
        }
        match outcome {
            Ok(message) => {
                result.phase2 = if dry_run {
                    "dry-run".into()
                } else {
                    "succeeded".into()
                };
                result.message = message;
            }
            Err(e) => {
                result.phase2 = "failed".into();
                result.message = e.to_string();
                plan.verdict = crdguard_core::plan::Verdict::Blocked;
                // The CRDs of phase 1 stay applied (they are the newer, checked ones); the
                // report says so, and a re-run converges.
                exit = Exit::Cluster;
            }
        }
        if phase1 != Exit::Ok {
            // Helm started once every CRD was written; what failed after that (the wait for
            // Established, a companion, a requirement) is in the apply result. A helm that
            // failed too keeps its exit (3) and its words come first.
            let helm_words = match result.phase2.as_str() {
                "failed" => format!("{}; ", result.message),
                _ => String::new(),
            };
            let blocker = match &protection.blocker {
                Some(blocker) => format!(" ({}: {blocker})", protect::CHECK),
                None => String::new(),
            };
            result.message = format!(
                "{helm_words}phase 1 did not finish cleanly after helm had started alongside \
                 the wait for Established; see the apply result{blocker}"
            );
            if exit != Exit::Cluster {
                exit = phase1;
            }
        }
    }
    if result.phase2 == "succeeded" {
        release_size(&runtime, &cluster, &mut plan, &mut result, &namespace);
    }
    plan.install = Some(result);
    Ok(Applied { plan, exit })
}

/// A value worked out on a thread of its own, waited for where it is first needed.
struct Later<T> {
    worker: Mutex<Option<std::thread::JoinHandle<T>>>,
    value: std::sync::OnceLock<T>,
}

impl<T: Send + 'static> Later<T> {
    fn start(work: impl FnOnce() -> T + Send + 'static) -> Later<T> {
        Later {
            worker: Mutex::new(Some(std::thread::spawn(work))),
            value: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> &T {
        self.value.get_or_init(|| {
            let worker = self
                .worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            // `get_or_init` runs this once, so the worker is there; its panic goes on here.
            match worker.map(std::thread::JoinHandle::join) {
                Some(Ok(value)) => value,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => unreachable!("a Later's worker is joined once"),
            }
        })
    }
}

/// What a scoped thread returned; its panic, if it panicked, goes on in the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Helm refuses a release Secret above 1 MiB: warned about from here on (SPEC §6 v2).
const RELEASE_SECRET_WARNING_BYTES: u64 = 900 * 1024;

/// Reads the size of the release Secret phase 2 wrote, and warns when the next upgrade may not
/// fit. An unreadable Secret (no permission) leaves the size unknown; it fails nothing.
fn release_size(
    runtime: &tokio::runtime::Runtime,
    cluster: &crdguard_kube::Cluster,
    plan: &mut crdguard_core::plan::Plan,
    result: &mut InstallResult,
    namespace: &str,
) {
    let secret = runtime.block_on(async {
        cluster
            .helm_release_secret(&result.release, namespace)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the release Secret's size could not be read");
                None
            })
    });
    let Some(secret) = secret else {
        return;
    };
    result.release_secret_bytes = Some(secret.bytes);
    if secret.bytes > RELEASE_SECRET_WARNING_BYTES {
        plan.warnings.push(crdguard_core::plan::PlanWarning {
            source: format!("Secret {namespace}/{}", secret.name),
            message: format!(
                "the release Secret holds {} bytes, above 900 KiB: Kubernetes refuses Secrets \
                 above 1 MiB, so a later upgrade of this release may fail; trim the chart \
                 (large files, templates of CRDs)",
                secret.bytes
            ),
        });
    }
}

/// The first few of a list, and how many more.
fn summarize(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

/// A private plugin directory holding the post-renderer plugin, removed afterwards.
struct PluginDir {
    path: std::path::PathBuf,
}

impl PluginDir {
    fn create() -> Result<PluginDir, CommandError> {
        let path =
            std::env::temp_dir().join(format!("crdguard-helm-plugins-{}", std::process::id()));
        let exe = std::env::current_exe().map_err(|e| {
            CommandError::usage(format!("cannot find the crdguard executable: {e}"))
        })?;
        write_post_render_plugin(&path, &exe).map_err(|e| {
            CommandError::usage(format!(
                "cannot write the post-renderer plugin in {}: {e}",
                path.display()
            ))
        })?;
        Ok(PluginDir { path })
    }
}

impl Drop for PluginDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
