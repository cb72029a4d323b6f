//! Chart CRD extraction and the post-renderer, with the real helm 4 (from
//! `../shared/tools/install-helm.sh`) on the real Envoy Gateway charts of the corpus.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn crdguard(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args(args)
        .env("HELM_BIN", helm_bin())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn helm_template(chart: &str, sets: &[String]) -> String {
    let mut command = Command::new(helm_bin());
    command.args(["template", "crdguard-plan", chart, "--include-crds"]);
    for set in sets {
        command.args(["--set", set]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "helm template {chart}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Documents of a rendered stream, parsed independently of crdguard.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| <Value as serde::Deserialize>::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn crd_names(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("crdguard-helm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const EMPTY_SNAPSHOT: &str = "apiVersion: v1\nkind: List\nitems: []\n";

/// Every gateway-crds-helm chart, every combination of its three values: the CRDs crdguard
/// finds are exactly those helm renders (names, and content: a snapshot of helm's output
/// plans as all `unchanged`), and the Gateway API bundle matches the corpus README's table.
#[test]
fn gateway_crds_helm_charts_yield_what_helm_renders() {
    let bundled = [
        ("v1.4.6", "v1.3.0"),
        ("v1.5.9", "v1.3.0"),
        ("v1.6.7", "v1.4.1"),
        ("v1.7.5", "v1.4.1"),
        ("v1.8.3", "v1.5.1"),
        ("v1.9.0", "v1.6.1"),
    ];
    let empty = temp_file("empty.yaml", EMPTY_SNAPSHOT);
    let mut combinations = 0;
    for (tag, gateway_api) in bundled {
        let chart = corpus(&format!("envoy-gateway/{tag}/charts/gateway-crds-helm"));
        for gw_enabled in [true, false] {
            for channel in ["standard", "experimental"] {
                for eg_enabled in [true, false] {
                    let sets = vec![
                        format!("crds.gatewayAPI.enabled={gw_enabled}"),
                        format!("crds.gatewayAPI.channel={channel}"),
                        format!("crds.envoyGateway.enabled={eg_enabled}"),
                    ];
                    let label = format!("{tag} {sets:?}");
                    let rendered = helm_template(&chart, &sets);
                    let expected = crd_names(&documents(&rendered));
                    let mut args = vec![
                        "plan",
                        "--chart",
                        &chart,
                        "--snapshot",
                        &empty,
                        "-o",
                        "json",
                    ];
                    for set in &sets {
                        args.extend(["--set", set]);
                    }
                    let out = crdguard(&args, None);
                    if expected.is_empty() {
                        assert_eq!(
                            out.status.code(),
                            Some(2),
                            "{label}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        continue;
                    }
                    assert_eq!(
                        out.status.code(),
                        Some(0),
                        "{label}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
                    let found = crd_items(&plan);
                    assert_eq!(found, expected, "{label}");
                    assert_companions_follow_the_bundle(&plan, &label);
                    if gw_enabled {
                        let bundle = plan["bundles"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|b| b["name"] == "gateway-api")
                            .unwrap();
                        assert_eq!(bundle["desired"]["version"], gateway_api, "{label}");
                        assert_eq!(bundle["desired"]["channel"], channel, "{label}");
                    }
                    // Same content: against a cluster holding exactly helm's output, nothing changes.
                    let snapshot = temp_file(
                        &format!("{tag}-{gw_enabled}-{channel}-{eg_enabled}.yaml"),
                        &rendered,
                    );
                    let mut args = vec![
                        "plan",
                        "--chart",
                        &chart,
                        "--snapshot",
                        &snapshot,
                        "-o",
                        "json",
                    ];
                    for set in &sets {
                        args.extend(["--set", set]);
                    }
                    let out = crdguard(&args, None);
                    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert!(
                        plan["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .all(|i| i["action"] == "unchanged"),
                        "{label}: {}",
                        plan["summary"]
                    );
                    combinations += 1;
                }
            }
        }
    }
    assert_eq!(combinations, 6 * 6);
}

/// The whole Envoy Gateway chart: CRDs live in the `crds` subchart, behind `crds.enabled`.
#[test]
fn gateway_helm_chart_crds_follow_the_subchart_condition() {
    let empty = temp_file("empty2.yaml", EMPTY_SNAPSHOT);
    for (tag, gateway_api) in [("v1.8.3", "v1.5.1"), ("v1.9.0", "v1.6.1")] {
        let chart = corpus(&format!("envoy-gateway/{tag}/charts/gateway-helm"));
        let expected = crd_names(&documents(&helm_template(&chart, &[])));
        assert!(expected.len() >= 20, "{tag}: {expected:?}");
        let out = crdguard(
            &[
                "plan",
                "--chart",
                &chart,
                "--snapshot",
                &empty,
                "-o",
                "json",
            ],
            None,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = crd_items(&plan);
        assert_eq!(found, expected, "{tag}");
        assert_companions_follow_the_bundle(&plan, tag);
        assert_eq!(plan["bundles"][0]["desired"]["version"], gateway_api);
        let off = crdguard(
            &[
                "plan",
                "--chart",
                &chart,
                "--set",
                "crds.enabled=false",
                "--snapshot",
                &empty,
            ],
            None,
        );
        assert_eq!(
            off.status.code(),
            Some(2),
            "crds.enabled=false leaves no CRD: {}",
            String::from_utf8_lossy(&off.stderr)
        );
    }
}

/// The names of a plan's CRD items (companion items have their own kind).
fn crd_items(plan: &Value) -> BTreeSet<String> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "CustomResourceDefinition")
        .map(|i| i["crd"].as_str().unwrap().to_string())
        .collect()
}

/// A Gateway API bundle the plan creates gets its release's companions (v1.5+), as items of
/// the bundle with upstream's content; older releases have none.
fn assert_companions_follow_the_bundle(plan: &Value, label: &str) {
    let Some(bundle) = plan["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "gateway-api")
    else {
        return;
    };
    let version: semver::Version = bundle["desired"]["version"].as_str().unwrap()[1..]
        .parse()
        .unwrap();
    let companions: Vec<&Value> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "CustomResourceDefinition")
        .collect();
    let expected = if version >= semver::Version::new(1, 5, 0) {
        2
    } else {
        0
    };
    assert_eq!(companions.len(), expected, "{label}: {companions:?}");
    assert_eq!(
        bundle["companions"].as_array().unwrap().len(),
        expected,
        "{label}"
    );
    for item in companions {
        assert_eq!(item["bundle"], "gateway-api", "{label}");
        assert_eq!(item["action"], "create", "{label}");
        assert_eq!(item["desired"], bundle["desired"], "{label}");
    }
}

/// Gateway API's companions, by kind, as post-render recognizes them.
fn is_gateway_companion(document: &Value) -> bool {
    matches!(
        document["kind"].as_str(),
        Some("ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding")
    ) && document["metadata"]["name"] == "safe-upgrades.gateway.networking.k8s.io"
}

/// `crdguard post-render` on helm's output of the v1.9.0 chart (templates and CRDs) removes
/// exactly the CRD documents and Gateway API's companions (which phase 1 owns), and leaves
/// every other document as it was.
#[test]
fn post_render_removes_exactly_the_crds_and_companions() {
    let chart = corpus("envoy-gateway/v1.9.0/charts/gateway-helm");
    let rendered = helm_template(&chart, &[]);
    let before = documents(&rendered);
    let out = crdguard(&["post-render"], Some(&rendered));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let after = documents(&text);
    let expected: Vec<&Value> = before
        .iter()
        .filter(|d| d["kind"] != "CustomResourceDefinition" && !is_gateway_companion(d))
        .collect();
    assert!(before.len() - expected.len() > 20, "the chart renders CRDs");
    assert_eq!(
        before.iter().filter(|d| is_gateway_companion(d)).count(),
        2,
        "the chart renders the safe-upgrades policy and binding"
    );
    assert_eq!(after.iter().collect::<Vec<_>>(), expected);
    // Byte-faithful: every kept document's text appears unchanged in the output.
    for segment in rendered.split("\n---\n").filter(|s| {
        !s.contains("kind: CustomResourceDefinition")
            && !s.contains("name: \"safe-upgrades.gateway.networking.k8s.io\"")
            && !s.contains("name: safe-upgrades.gateway.networking.k8s.io")
    }) {
        assert!(
            text.contains(segment.trim_start_matches("---\n")),
            "changed: {}",
            &segment[..segment.len().min(200)]
        );
    }
}

#[test]
fn missing_chart_broken_chart_and_missing_helm_are_bad_input() {
    let empty = temp_file("empty3.yaml", EMPTY_SNAPSHOT);
    let out = crdguard(
        &[
            "plan",
            "--chart",
            "/nonexistent/chart",
            "--snapshot",
            &empty,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/chart"), "{err}");

    let broken = std::env::temp_dir().join(format!("crdguard-broken-chart-{}", std::process::id()));
    std::fs::create_dir_all(broken.join("crds")).unwrap();
    std::fs::write(broken.join("Chart.yaml"), "apiVersion: v2\nname: [broken\n").unwrap();
    let out = crdguard(
        &["plan", &broken.display().to_string(), "--snapshot", &empty],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("helm") && err.contains("Chart.yaml"), "{err}");
    std::fs::remove_dir_all(&broken).unwrap();

    let out = crdguard(
        &[
            "plan",
            "--chart",
            &corpus("envoy-gateway/v1.9.0/charts/gateway-crds-helm"),
            "--set",
            "crds.envoyGateway.enabled=true",
            "--helm",
            "/nonexistent/helm",
            "--snapshot",
            &empty,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("helm not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two different copies of one CRD in a rendered chart: the error names both templates,
/// subchart included (helm's `# Source:` comments), not only document numbers.
#[test]
fn duplicate_crds_in_a_rendered_chart_name_the_subchart_templates() {
    let crd = |size_type: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {{kind: Widget, plural: widgets}}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          size: {{type: {size_type}}}\n"
        )
    };
    temp_file(
        "dupchart/Chart.yaml",
        "apiVersion: v2\nname: dupchart\nversion: 0.1.0\n",
    );
    temp_file("dupchart/templates/widgets.yaml", &crd("integer"));
    temp_file(
        "dupchart/charts/sub/Chart.yaml",
        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    );
    temp_file("dupchart/charts/sub/templates/widgets.yaml", &crd("string"));
    let chart = temp_file("dupchart/values.yaml", "{}\n");
    let chart = chart.trim_end_matches("/values.yaml");
    let empty = temp_file("empty-dup.yaml", EMPTY_SNAPSHOT);
    let out = crdguard(&["plan", "--chart", chart, "--snapshot", &empty], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("defined twice"), "{err}");
    assert!(
        err.contains("dupchart/charts/sub/templates/widgets.yaml"),
        "{err}"
    );
    assert!(err.contains("dupchart/templates/widgets.yaml"), "{err}");
}
