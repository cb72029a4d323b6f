//! Flags resolved into the application layer's settings, once per run (uv's `settings.rs`):
//! every command hands its action plain values, and no action sees a clap type.

use crdguard_app::CommandError;
use crdguard_app::settings::{
    ClusterSettings, DesiredSettings, LiveSettings, PolicyChoice, RenderSettings, WriteSettings,
};

use crate::cli::{
    ApplyArgs, CheckArgs, ClusterArgs, DesiredArgs, DiffArgs, ExplainArgs, GuardBundles,
    InstallArgs, LiveArgs, PlanArgs, RbacArgs, SnapshotArgs, SourceArgs, StatusArgs, WriteArgs,
};

impl ClusterArgs {
    pub fn settings(&self) -> ClusterSettings {
        ClusterSettings {
            snapshot: self.snapshot.clone(),
            server_version: self.server_version.clone(),
            kubeconfig: self.kube.kubeconfig.clone(),
            context: self.kube.context.clone(),
        }
    }
}

impl SourceArgs {
    pub fn settings(&self) -> RenderSettings {
        RenderSettings {
            catalog_url: self.catalog_url.clone(),
            offline: self.offline,
            values: self.values.clone(),
            set: self.set.clone(),
            helm: self.helm.clone(),
        }
    }
}

impl DesiredArgs {
    pub fn settings(&self) -> DesiredSettings {
        DesiredSettings {
            sources: self.sources.clone(),
            charts: self.chart.clone(),
            render: self.render.settings(),
            policy: PolicyChoice::from_flags(self.policy.clone(), self.product.clone()),
        }
    }
}

impl LiveArgs {
    pub fn settings(&self) -> LiveSettings {
        LiveSettings {
            kubeconfig: self.kube.kubeconfig.clone(),
            context: self.kube.context.clone(),
            timeout: self.timeout,
            request_timeout: self.request_timeout,
        }
    }
}

impl WriteArgs {
    pub fn settings(&self) -> WriteSettings {
        WriteSettings {
            dry_run: self.dry_run.is_some(),
            migrate: self.overrides.migrate,
            take_ownership: self.overrides.take_ownership,
            allow_breaking: self.overrides.allow_breaking,
            concurrency: self.concurrency,
        }
    }
}

impl PlanArgs {
    pub fn settings(&self) -> crdguard_app::plan::PlanSettings {
        crdguard_app::plan::PlanSettings {
            desired: self.desired.settings(),
            cluster: self.cluster.settings(),
            identity: self.release.identity(),
            take_ownership: self.overrides.take_ownership,
            allow_breaking: self.overrides.allow_breaking,
            migrate: self.overrides.migrate,
        }
    }
}

impl ExplainArgs {
    pub fn settings(&self) -> crdguard_app::explain::ExplainSettings {
        crdguard_app::explain::ExplainSettings {
            item: self.item.clone(),
            plan: self.plan.settings(),
        }
    }
}

impl ApplyArgs {
    pub fn settings(&self) -> crdguard_app::apply::ApplySettings {
        crdguard_app::apply::ApplySettings {
            desired: self.desired.settings(),
            identity: self.release.identity(),
            saved_plan: self.plan.clone(),
            replan: self.replan,
            live: self.live.settings(),
            write: self.write.settings(),
        }
    }
}

impl InstallArgs {
    pub fn settings(&self) -> crdguard_app::install::InstallSettings {
        crdguard_app::install::InstallSettings {
            release: self.release.clone(),
            chart: self.chart.clone(),
            namespace: self.namespace.clone(),
            render: self.render.settings(),
            policy: PolicyChoice::from_flags(self.policy.clone(), self.product.clone()),
            live: self.live.settings(),
            write: self.write.settings(),
            helm_args: self.helm_args.clone(),
        }
    }
}

impl CheckArgs {
    pub fn settings(&self) -> crdguard_app::check::CheckSettings {
        crdguard_app::check::CheckSettings {
            policy: PolicyChoice::from_flags(self.policy.clone(), self.product.clone()),
            sources: self.sources.clone(),
            cluster: self.cluster.settings(),
        }
    }
}

impl DiffArgs {
    pub fn settings(&self) -> crdguard_app::diff::DiffSettings {
        crdguard_app::diff::DiffSettings {
            old: self.old.clone(),
            new: self.new.clone(),
            server_version: self.server_version.clone(),
        }
    }
}

impl StatusArgs {
    pub fn settings(&self) -> crdguard_app::status::StatusSettings {
        crdguard_app::status::StatusSettings {
            policy: self.policy.clone(),
            cluster: self.cluster.settings(),
        }
    }
}

impl SnapshotArgs {
    pub fn settings(&self) -> crdguard_app::snapshot::SnapshotSettings {
        crdguard_app::snapshot::SnapshotSettings {
            live: self.live.settings(),
            objects: self.objects,
        }
    }
}

impl GuardBundles {
    pub fn settings(&self) -> crdguard_app::guard::GuardBundles {
        crdguard_app::guard::GuardBundles {
            bundles: self.bundles.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl RbacArgs {
    pub fn settings(&self) -> crdguard_app::rbac::RbacSettings {
        crdguard_app::rbac::RbacSettings {
            guard: self.guard,
            migrate_crds: self.migrate_crds.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// Input limits from the environment, for unusually large inputs: `CRDGUARD_MAX_INPUT_BYTES`
/// (a file or chart archive) and `CRDGUARD_MAX_DOCUMENT_BYTES` (one YAML document).
pub fn input_limits() -> Result<crdguard_app::InputLimits, CommandError> {
    let mut limits = crdguard_app::InputLimits::default();
    if let Some(bytes) = env_bytes("CRDGUARD_MAX_INPUT_BYTES")? {
        limits.read.max_file_bytes = bytes;
        limits.read.max_archive_bytes = bytes;
    }
    if let Some(bytes) = env_bytes("CRDGUARD_MAX_DOCUMENT_BYTES")? {
        limits.parse.max_document_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    Ok(limits)
}

fn env_bytes(name: &str) -> Result<Option<u64>, CommandError> {
    match std::env::var(name) {
        Ok(value) => {
            value.trim().parse().map(Some).map_err(|_| {
                CommandError::usage(format!("{name}={value:?} is not a number of bytes"))
            })
        }
        Err(_) => Ok(None),
    }
}
