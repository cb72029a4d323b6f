//! When phase 2 may start before phase 1's CRDs are Established.
//!
//! The server establishes new CRDs one at a time: its naming and establishing controllers each
//! write every CRD's status in turn, 20 to 50 ms a write for large CRDs on a busy server (0.9 s
//! for Envoy Gateway's 21 CRDs on two cores), and `helm install` does not wait for that at all.
//! Phase 2 may then start once every CRD of phase 1 is written and run while the wait for
//! Established, the companions and the requirements go on; `install` still ends only when all
//! of them have, and reports a CRD that was not established as before.
//!
//! That is safe only where helm cannot tell the difference, so every condition below must hold,
//! else phase 2 starts after phase 1 as before:
//! - a first install (no release yet): nothing to keep from Helm's pruning, and a chart renders
//!   as `helm template` rendered it (`.Release.IsInstall`);
//! - not a dry run;
//! - a local chart directory, subcharts unpacked, so every template can be read;
//! - no template mentions `Capabilities`, `lookup` or `tpl` (which renders text from values,
//!   where either could hide): a new CRD's group is in the server's discovery only once it is
//!   Established, and helm reads discovery before it renders;
//! - helm is not told to fetch subcharts (`--dependency-update`), whose templates this would
//!   not have read;
//! - nothing helm creates is in the API group of a phase-1 CRD (the items of a `List` included):
//!   helm maps each object's kind through discovery too;
//! - the chart has no hooks, or helm runs with `--no-hooks`: a hook's Job may create objects
//!   of a phase-1 CRD, which this cannot see;
//! - no CRD claims a name another CRD of its group claims (`crdguard_core::names`), the one
//!   reason the server would never establish a CRD it accepted; checked against the cluster
//!   once observed, so not here.

use std::collections::BTreeSet;
use std::path::Path;

/// What tells whether phase 2 may start once phase 1's CRDs are written (the conditions above
/// that do not need the cluster).
pub(super) struct Early<'a> {
    pub dry_run: bool,
    /// The release has no stored manifest: a first install.
    pub first_install: bool,
    /// The chart as phase 2 gets it (the trimmed copy, else what the user gave).
    pub chart: &'a str,
    /// `helm template --include-crds` of the chart with the install's values.
    pub rendered: Option<&'a str>,
    /// The API groups of the CRDs phase 1 applies.
    pub crd_groups: BTreeSet<&'a str>,
    /// What is given to helm after `--`.
    pub helm_args: &'a [String],
}

impl Early<'_> {
    /// Why phase 2 waits for phase 1 to end; `None` when it need not.
    pub(super) fn why_not(&self) -> Option<String> {
        if self.dry_run {
            return Some("a dry run".into());
        }
        if !self.first_install {
            return Some("an upgrade of an existing release".into());
        }
        let Some(rendered) = self.rendered else {
            return Some("the chart's render failed".into());
        };
        let chart = Path::new(self.chart);
        if !chart.join("Chart.yaml").is_file() {
            return Some("not a local chart directory".into());
        }
        if self
            .helm_args
            .iter()
            .any(|a| a.starts_with("--dependency-update"))
        {
            return Some("helm fetches subcharts (--dependency-update)".into());
        }
        if let Some(reason) = templates_consult_the_cluster(chart) {
            return Some(reason);
        }
        let Some(kept) = crdguard_core::post_render::kept_objects(rendered) else {
            return Some("a rendered document does not parse".into());
        };
        let runs_hooks = !self.helm_args.iter().any(|a| a == "--no-hooks");
        if runs_hooks && let Some(hook) = kept.iter().find(|o| o.hook) {
            return Some(format!(
                "the chart has hooks (a {}) and helm runs them",
                hook.kind
            ));
        }
        kept.iter()
            .find(|o| {
                o.api_version
                    .split_once('/')
                    .is_some_and(|(group, _)| self.crd_groups.contains(group))
            })
            .map(|o| {
                format!(
                    "helm creates a {} ({}), served by a phase-1 CRD",
                    o.kind, o.api_version
                )
            })
    }
}

/// Words in a template that read the cluster's discovery or objects while helm renders, or
/// render text that may (`tpl`).
const CLUSTER_READS: [&str; 3] = ["Capabilities", "lookup", "tpl"];

/// The first template (of the chart or an unpacked subchart) that reads the cluster, or a
/// subchart archive, whose templates this does not read.
fn templates_consult_the_cluster(chart: &Path) -> Option<String> {
    let mut directories = vec![(chart.to_path_buf(), false)];
    while let Some((directory, in_templates)) = directories.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            return Some(format!("cannot read {}", directory.display()));
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                directories.push((path, in_templates || name == "templates"));
                continue;
            }
            let in_charts = directory.file_name().is_some_and(|n| n == "charts");
            if in_charts && !name.to_string_lossy().ends_with(".yaml") {
                return Some(format!("subchart archive {}", path.display()));
            }
            if !in_templates {
                continue;
            }
            let text = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            if let Some(word) = CLUSTER_READS.iter().find(|word| text.contains(**word)) {
                return Some(format!("{} uses {word}", path.display()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::trim::TrimmedChart;

    const EG: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/envoy-gateway/v1.9.0/charts/gateway-helm"
    );

    /// `helm template` output: the safe-upgrades policy from the template of Envoy Gateway's
    /// chart that renders it (with `lookup`, only when absent), then objects of `kinds`.
    fn rendered_of(kinds: &[(&str, &str)]) -> String {
        let mut text = String::from(
            "---\n# Source: gateway-helm/charts/crds/templates/gatewayapi-safe-upgrade-policy.yaml\n\
             apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n\
             metadata:\n  name: safe-upgrades.gateway.networking.k8s.io\n",
        );
        for (api_version, kind) in kinds {
            text.push_str(&format!(
                "---\n# Source: gateway-helm/templates/x.yaml\napiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: x\n"
            ));
        }
        text
    }

    fn early<'a>(chart: &'a str, rendered: &'a str) -> Early<'a> {
        Early {
            dry_run: false,
            first_install: true,
            chart,
            rendered: Some(rendered),
            crd_groups: ["gateway.envoyproxy.io", "gateway.networking.k8s.io"].into(),
            helm_args: &[],
        }
    }

    #[test]
    fn envoy_gateways_trimmed_chart_may_start_early_on_a_first_install() {
        let rendered = rendered_of(&[("apps/v1", "Deployment"), ("v1", "ConfigMap")]);
        // The chart as given renders the policy with `lookup`, which reads the cluster.
        let why = early(EG, &rendered).why_not();
        assert!(
            why.is_some_and(|r| r.ends_with("gatewayapi-safe-upgrade-policy.yaml uses lookup"))
        );
        // Phase 2's copy lacks that template (it renders only a companion) and the CRDs.
        let trimmed = TrimmedChart::of(EG, &rendered).unwrap().unwrap();
        let copy = trimmed.chart.display().to_string();
        assert_eq!(early(&copy, &rendered).why_not(), None);
        let upgrade = Early {
            first_install: false,
            ..early(&copy, &rendered)
        };
        assert!(upgrade.why_not().is_some_and(|r| r.contains("upgrade")));
        let dry = Early {
            dry_run: true,
            ..early(&copy, &rendered)
        };
        assert!(dry.why_not().is_some());
    }

    #[test]
    fn hooks_helm_runs_and_subcharts_it_fetches_wait_for_established() {
        let mut rendered = rendered_of(&[("apps/v1", "Deployment")]);
        rendered.push_str(
            "---\n# Source: gateway-helm/templates/certgen.yaml\napiVersion: batch/v1\nkind: Job\n\
             metadata:\n  name: certgen\n  annotations:\n    helm.sh/hook: pre-install\n",
        );
        let trimmed = TrimmedChart::of(EG, &rendered).unwrap().unwrap();
        let copy = trimmed.chart.display().to_string();
        let why = early(&copy, &rendered).why_not();
        assert!(why.is_some_and(|r| r.contains("hooks (a Job)")));
        let no_hooks = ["--create-namespace".to_string(), "--no-hooks".to_string()];
        let skipped = Early {
            helm_args: &no_hooks,
            ..early(&copy, &rendered)
        };
        assert_eq!(skipped.why_not(), None);
        let fetches = ["--dependency-update".to_string(), "--no-hooks".to_string()];
        let fetching = Early {
            helm_args: &fetches,
            ..early(&copy, &rendered)
        };
        assert!(
            fetching
                .why_not()
                .is_some_and(|r| r.contains("--dependency-update"))
        );
    }

    #[test]
    fn an_object_of_a_phase_one_group_waits_for_established() {
        let rendered = rendered_of(&[
            ("apps/v1", "Deployment"),
            ("gateway.networking.k8s.io/v1", "GatewayClass"),
        ]);
        let trimmed = TrimmedChart::of(EG, &rendered).unwrap().unwrap();
        let copy = trimmed.chart.display().to_string();
        let why = early(&copy, &rendered).why_not();
        assert!(why.is_some_and(|r| r.contains("GatewayClass")));
    }

    #[test]
    fn templates_that_read_the_cluster_wait_for_established() {
        let dir = std::env::temp_dir().join(format!("crdguard-alongside-{}", std::process::id()));
        let templates = dir.join("charts/sub/templates");
        std::fs::create_dir_all(&templates).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(templates.join("a.yaml"), "kind: ConfigMap\n").unwrap();
        let chart = dir.display().to_string();
        let rendered = rendered_of(&[("v1", "ConfigMap")]);
        assert_eq!(early(&chart, &rendered).why_not(), None);
        std::fs::write(
            templates.join("_helpers.tpl"),
            "{{- if .Capabilities.APIVersions.Has \"gateway.networking.k8s.io/v1\" }}x{{ end }}\n",
        )
        .unwrap();
        let why = early(&chart, &rendered).why_not();
        assert!(why.is_some_and(|r| r.contains("_helpers.tpl uses Capabilities")));
        // Values rendered as templates may hide either.
        std::fs::write(
            templates.join("_helpers.tpl"),
            "{{- tpl .Values.extraObjects . }}\n",
        )
        .unwrap();
        let why = early(&chart, &rendered).why_not();
        assert!(why.is_some_and(|r| r.ends_with("uses tpl")));
        std::fs::remove_file(templates.join("_helpers.tpl")).unwrap();
        std::fs::write(dir.join("charts/other-1.0.0.tgz"), b"\x1f\x8b").unwrap();
        let why = early(&chart, &rendered).why_not();
        assert!(why.is_some_and(|r| r.contains("subchart archive")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
