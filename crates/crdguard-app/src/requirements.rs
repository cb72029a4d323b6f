//! Recorded requirements (SPEC §12): after a successful apply for a product (a policy file or
//! `--for`), its requirement on each bundle it names is recorded on the bundle's CRDs; and
//! `crdguard requirements remove PRODUCT` drops a product's entry.

use serde::Serialize;

use crate::error::CommandError;
use crate::settings::LiveSettings;

use crdguard_core::Policy;
use crdguard_core::plan::{ApplyResult, CRD_KIND, Plan, PlanWarning};
use crdguard_core::requirements::{self, ANNOTATION, FIELD_MANAGER, Requirement};

use crdguard_kube::Cluster;

/// Writes `policy`'s entry into the requirements annotation of every CRD of each bundle it
/// names that the plan covers and the cluster now has, keeping every other product's entry.
/// The default policy is no product and records nothing. A failure is a warning: the CRDs are
/// applied, only the record is missing, and the next apply writes it.
pub async fn record(
    cluster: &Cluster,
    plan: &mut Plan,
    result: &mut ApplyResult,
    policy: &Policy,
    dry_run: bool,
) {
    if policy.is_default() {
        return;
    }
    for bundle in &policy.spec.bundles {
        let own = Requirement::of(policy, bundle);
        let names: Vec<String> = plan
            .items
            .iter()
            .filter(|i| i.kind == CRD_KIND && i.bundle.as_deref() == Some(bundle.name.as_str()))
            .filter(|i| i.installed.is_some() || result.applied.contains(&i.crd))
            .map(|i| i.crd.clone())
            .collect();
        for name in names {
            let update = |current: Option<&str>| {
                requirements::rewritten(current, |entries| requirements::merged(entries, &own))
            };
            match cluster
                .update_crd_annotation(&name, ANNOTATION, FIELD_MANAGER, dry_run, update)
                .await
            {
                Ok(true) => result.requirements_recorded.push(name),
                Ok(false) => {}
                Err(e) => plan.warnings.push(PlanWarning {
                    source: name.clone(),
                    message: format!(
                        "{}'s requirement on {} was not recorded ({e}); the next apply records it",
                        own.who(),
                        bundle.name
                    ),
                }),
            }
        }
    }
}

/// What `requirements remove` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub product: String,
    pub dry_run: bool,
    /// CRDs whose annotation held the product's entry and no longer does.
    pub crds: Vec<String>,
    /// When no CRD records the product: the recorded product closest to its name (a typo).
    #[serde(skip)]
    pub closest_recorded: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RemoveSettings {
    /// The product whose recorded requirement goes (`istio`).
    pub product: String,
    pub live: LiveSettings,
    pub dry_run: bool,
}

/// Drops `product`'s entry from the requirements annotation of every CRD that records one.
pub fn remove(args: &RemoveSettings) -> Result<Removal, CommandError> {
    let RemoveSettings {
        product,
        live,
        dry_run,
    } = args;
    let dry_run = *dry_run;
    let connect = crate::session::live_options(live);
    crate::session::runtime()?.block_on(async {
        let cluster = crate::session::connect_for_writes(&connect).await?;
        let observed = cluster.observe().await?;
        let mut removal = Removal {
            api_version: crdguard_core::plan::PLAN_API_VERSION,
            kind: "RequirementsRemoval",
            product: product.clone(),
            dry_run,
            crds: Vec::new(),
            closest_recorded: None,
        };
        for crd in observed.crds.values() {
            let holds = requirements::recorded(crd)
                .map(|entries| entries.iter().any(|e| &e.product == product))
                .unwrap_or(false);
            if !holds {
                continue;
            }
            // Gone since it was read: nothing to remove.
            let update = |current: Option<&str>| {
                requirements::rewritten(Some(current?), |entries| {
                    requirements::without(entries, product)
                })
            };
            if cluster
                .update_crd_annotation(&crd.name, ANNOTATION, FIELD_MANAGER, dry_run, update)
                .await?
            {
                removal.crds.push(crd.name.clone());
            }
        }
        if removal.crds.is_empty() {
            let recorded: Vec<String> = observed
                .crds
                .values()
                .filter_map(|crd| requirements::recorded(crd).ok())
                .flatten()
                .map(|entry| entry.product)
                .collect();
            removal.closest_recorded =
                crdguard_core::policy::nearest_match(product, recorded.iter().map(String::as_str))
                    .map(str::to_string);
        }
        Ok(removal)
    })
}
