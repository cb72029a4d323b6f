//! Switching a plain-helm release to `crdguard install` (SPEC §6 v2), on the real kube-apiserver
//! with the real helm: Helm's upgrade deletes every object of the last manifest that the new
//! manifest lacks, and phase 2's manifest never holds a CRD. Without protection, the CRDs a chart
//! renders from `templates/` (its own and its subcharts') would be deleted with every custom
//! resource. These tests assert on the cluster's real state after each step.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use serde_json::{Value, json};

use super::{Ctx, check, helm_bin, impersonating_kubeconfig, is_established};

const CRD_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// A CRD of kind Widget in `group`, as a template would render it.
fn widget_crd(group: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Widget, plural: widgets}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
"#
    )
}

/// A chart `name` at `dir`: a ConfigMap; a CRD in `templates/` when `template_crd`; a subchart
/// with its own CRD in `templates/` when `subchart_crd`; a CRD in `crds/` when `crds_dir_crd`.
fn chart(dir: &Path, group: &str, template_crd: bool, subchart_crd: bool, crds_dir_crd: bool) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: adopt\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  a: b\n",
    )
    .unwrap();
    if template_crd {
        std::fs::write(dir.join("templates/crd.yaml"), widget_crd(group)).unwrap();
    }
    if subchart_crd {
        let sub = dir.join("charts/sub");
        std::fs::create_dir_all(sub.join("templates")).unwrap();
        std::fs::write(
            sub.join("Chart.yaml"),
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(
            sub.join("templates/crd.yaml"),
            widget_crd(&format!("sub.{group}")),
        )
        .unwrap();
    }
    if crds_dir_crd {
        std::fs::create_dir_all(dir.join("crds")).unwrap();
        std::fs::write(
            dir.join("crds/crd.yaml"),
            widget_crd(&format!("crds.{group}")),
        )
        .unwrap();
    }
}

fn temp_chart(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("crdguard-adopt-{}-{name}", std::process::id()))
}

impl Ctx {
    /// A request to the cluster as its admin.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.raw(method, path, body, "application/json")
            .map_err(|e| e.to_string())
    }

    /// Plain `helm ARGS` against the cluster.
    fn plain_helm(&self, args: &[&str]) -> Result<(), Failed> {
        let out = Command::new(helm_bin())
            .args(args)
            .args(["--kubeconfig", &self.kubeconfig()])
            .output()
            .unwrap();
        check(
            out.status.success(),
            format!(
                "helm {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )
    }

    /// Waits (bounded) until the CRD is Established, as any client must before using it.
    fn established(&self, name: &str) -> Result<(), Failed> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let crd = self.get_opt(&format!("{CRD_PATH}/{name}"));
            if crd.as_ref().is_some_and(is_established) {
                return Ok(());
            }
            check(
                Instant::now() < deadline,
                format!("{name} never Established"),
            )?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates `count` Widgets of `group` in namespace default.
    fn widgets(&self, group: &str, count: usize) -> Result<(), Failed> {
        self.established(&format!("widgets.{group}"))?;
        for i in 0..count {
            self.request(
                "POST",
                &format!("/apis/{group}/v1/namespaces/default/widgets"),
                Some(json!({
                    "apiVersion": format!("{group}/v1"), "kind": "Widget",
                    "metadata": {"name": format!("w{i}")}, "spec": {"size": i}
                })),
            )
            .map_err(|e| format!("create widget {i} of {group}: {e}"))?;
        }
        Ok(())
    }

    fn widget_count(&self, group: &str) -> usize {
        self.get_opt(&format!("/apis/{group}/v1/namespaces/default/widgets"))
            .and_then(|list| list["items"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    fn crd_keep_annotation(&self, name: &str) -> Option<String> {
        self.get_opt(&format!("{CRD_PATH}/{name}"))?["metadata"]["annotations"]
            ["helm.sh/resource-policy"]
            .as_str()
            .map(str::to_string)
    }
}

fn protected(report: &Value) -> Vec<(String, String, bool)> {
    report["install"]["protected"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .map(|o| {
                    (
                        o["object"].as_str().unwrap_or("").to_string(),
                        o["action"].as_str().unwrap_or("").to_string(),
                        o["done"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The reported issue: a chart whose CRDs come from `templates/` (its own and a subchart's),
/// plus one in `crds/`, installed with plain helm; custom resources created; then `crdguard
/// install` of the same release. Every CRD and every object survives, the release no longer
/// holds a CRD, and a second `crdguard install` writes nothing to the CRDs.
pub fn plain_helm_release_switched_to_crdguard(ctx: &Ctx) -> Result<(), Failed> {
    let group = "adopt.example.com";
    let sub = format!("sub.{group}");
    let in_crds = format!("crds.{group}");
    let dir = temp_chart("full");
    chart(&dir, group, true, true, true);
    let chart = dir.display().to_string();
    ctx.plain_helm(&["install", "adopt", &chart, "-n", "default"])?;
    ctx.widgets(group, 3)?;
    ctx.widgets(&sub, 2)?;
    ctx.widgets(&in_crds, 1)?;

    let (code, report) = ctx.install("adopt", &chart, "default", &[]);
    check(
        code == 0 && report["install"]["phase2"] == "succeeded",
        format!(
            "install exit {code}: {} {}",
            report["install"], report["preflight"]
        ),
    )?;
    let expected = vec![
        (
            format!("CustomResourceDefinition/widgets.{group}"),
            "annotate".to_string(),
            true,
        ),
        (
            format!("CustomResourceDefinition/widgets.{sub}"),
            "annotate".to_string(),
            true,
        ),
    ];
    check(
        protected(&report) == expected,
        format!("protected: {:?}, expected {expected:?}", protected(&report)),
    )?;
    for g in [group, sub.as_str(), in_crds.as_str()] {
        check(
            ctx.get_opt(&format!("{CRD_PATH}/widgets.{g}")).is_some(),
            format!("CRD widgets.{g} was deleted"),
        )?;
    }
    check(
        ctx.widget_count(group) == 3,
        format!("widgets of {group}: {}", ctx.widget_count(group)),
    )?;
    check(
        ctx.widget_count(&sub) == 2,
        format!("widgets of {sub}: {}", ctx.widget_count(&sub)),
    )?;
    check(
        ctx.widget_count(&in_crds) == 1,
        "the crds/ CRD's widget is gone",
    )?;
    check(
        ctx.crd_keep_annotation(&format!("widgets.{group}"))
            .as_deref()
            == Some("keep"),
        "no keep annotation",
    )?;
    let manifest = ctx
        .release_manifest("adopt", 2)
        .ok_or("release not upgraded to v2")?;
    check(
        manifest.contains("kind: ConfigMap") && !manifest.contains("CustomResourceDefinition"),
        "release v2 manifest holds a CRD, or lost the ConfigMap",
    )?;

    // A second run: nothing in the last manifest to protect, nothing written to any CRD.
    let versions = |ctx: &Ctx| -> Vec<Value> {
        [group, sub.as_str(), in_crds.as_str()]
            .iter()
            .map(|g| {
                ctx.get_opt(&format!("{CRD_PATH}/widgets.{g}"))
                    .map(|c| c["metadata"]["resourceVersion"].clone())
                    .unwrap_or(Value::Null)
            })
            .collect()
    };
    let before = versions(ctx);
    let (code, report) = ctx.install("adopt", &chart, "default", &[]);
    check(
        code == 0,
        format!("second install exit {code}: {}", report["install"]),
    )?;
    check(
        protected(&report).is_empty()
            && report["summary"]["upgrade"] == 0
            && report["summary"]["create"] == 0,
        format!(
            "second install is not a no-op: {} {:?}",
            report["summary"],
            protected(&report)
        ),
    )?;
    check(versions(ctx) == before, "the second install wrote to a CRD")?;
    check(
        ctx.widget_count(group) == 3 && ctx.widget_count(&sub) == 2,
        "objects lost on the second run",
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The chart's next version no longer ships the CRD at all: plain helm would delete it with its
/// objects; `crdguard install` keeps it and says so.
pub fn crd_dropped_by_the_new_chart_version_is_kept(ctx: &Ctx) -> Result<(), Failed> {
    let group = "dropped.example.com";
    let dir = temp_chart("dropped");
    chart(&dir, group, true, false, false);
    let chart_path = dir.display().to_string();
    ctx.plain_helm(&["install", "dropped", &chart_path, "-n", "default"])?;
    ctx.widgets(group, 2)?;
    chart(&dir, group, false, false, false);
    let (code, report) = ctx.install("dropped", &chart_path, "default", &[]);
    check(
        code == 0 && report["install"]["phase2"] == "succeeded",
        format!("install exit {code}: {}", report["install"]),
    )?;
    let objects = &report["install"]["protected"];
    check(
        objects[0]["object"] == format!("CustomResourceDefinition/widgets.{group}")
            && objects[0]["done"] == true
            && objects[0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("no longer in the chart"),
        format!("{objects}"),
    )?;
    check(
        ctx.get_opt(&format!("{CRD_PATH}/widgets.{group}"))
            .is_some()
            && ctx.widget_count(group) == 2,
        "the CRD the new chart dropped, or its objects, were deleted",
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A user who may read CRDs and the release but not patch CRDs: the annotation cannot be
/// written, so the install is blocked before anything is written and helm never runs.
pub fn missing_patch_permission_blocks_the_install(ctx: &Ctx) -> Result<(), Failed> {
    let group = "locked.example.com";
    let dir = temp_chart("locked");
    chart(&dir, group, true, false, false);
    let chart_path = dir.display().to_string();
    ctx.plain_helm(&["install", "locked", &chart_path, "-n", "default"])?;
    ctx.widgets(group, 2)?;
    let user = "crdguard-no-patch";
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": user},
        "rules": [
            {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}
        ]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    });
    // Already there on a re-run of the same server: fine.
    let _ = ctx.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        Some(role),
    );
    let _ = ctx.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        Some(binding),
    );
    let limited = impersonating_kubeconfig(ctx, user);
    let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args([
            "install",
            "locked",
            &chart_path,
            "-n",
            "default",
            "--kubeconfig",
            &limited,
            "-o",
            "json",
        ])
        .env("HELM_BIN", helm_bin())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))?;
    check(
        code == 1,
        format!("exit {code}: {} {}", report["install"], report["preflight"]),
    )?;
    let failed = report["preflight"]
        .as_array()
        .and_then(|p| p.iter().find(|c| c["check"] == "helm-would-delete"))
        .cloned()
        .unwrap_or(Value::Null);
    check(
        failed["status"] == "fail"
            && failed["message"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("widgets.{group}"))
            && failed["message"]
                .as_str()
                .unwrap_or("")
                .contains("kubectl annotate"),
        format!("preflight: {failed}"),
    )?;
    check(
        report["verdict"] == "blocked" && report["install"]["phase2"] == "skipped",
        format!("{} {}", report["verdict"], report["install"]),
    )?;
    check(
        ctx.get_opt(&format!("{CRD_PATH}/widgets.{group}"))
            .is_some()
            && ctx.widget_count(group) == 2,
        "CRD or objects deleted",
    )?;
    check(
        ctx.release_manifest("locked", 2).is_none(),
        "helm ran: revision 2 exists",
    )?;
    check(
        ctx.crd_keep_annotation(&format!("widgets.{group}"))
            .is_none(),
        "annotation written",
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
