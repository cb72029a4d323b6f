//! Server-aware and data-aware severity (SPEC §5 v2), offline, on real release files: the
//! server's validation ratcheting, stored objects from a snapshot made with `--objects`, and
//! the policy's `schemaChecks`. The same cases run live on the real control plane in
//! `cluster.rs`.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use common::corpus;
use serde::Deserialize;
use serde_json::{Value, json};

fn crdguard(args: &[&str]) -> Output {
    Command::cargo_bin("crdguard")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!("crdguard-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CRDs of YAML files (Helm template guards, `{{ ... }}` lines, dropped), each given the
/// status a cluster would have: its storage version stored.
fn installed_crds(files: &[String]) -> Vec<Value> {
    files
        .iter()
        .flat_map(|file| {
            let text: String = std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("{{"))
                .map(|l| format!("{l}\n"))
                .collect();
            serde_yaml_ng::Deserializer::from_str(&text)
                .filter_map(|d| Value::deserialize(d).ok())
                .filter(|d| d["kind"] == "CustomResourceDefinition")
                .collect::<Vec<_>>()
        })
        .map(common::with_stored_versions)
        .collect()
}

/// A multi-document file of `crds` (JSON documents are YAML).
fn crd_file(temp: &Temp, name: &str, crds: &[Value]) -> String {
    let docs: Vec<String> = crds.iter().map(Value::to_string).collect();
    temp.write(name, &docs.join("\n---\n"))
}

/// A snapshot List of `crds` and, when given, `objects` (marked as a `snapshot --objects`).
fn snapshot(temp: &Temp, name: &str, crds: Vec<Value>, objects: Option<Vec<Value>>) -> String {
    let mut annotations = json!({});
    let mut items = crds;
    if let Some(objects) = objects {
        annotations["crdguard.dev/objects"] = "included".into();
        items.extend(objects);
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"annotations": annotations}, "items": items});
    temp.write(name, &list.to_string())
}

/// `obj` at every served version of the installed CRD named `crd` (a snapshot lists objects
/// at each served version).
fn at_served_versions(crds: &[Value], crd: &str, obj: &Value) -> Vec<Value> {
    let crd = crds.iter().find(|c| c["metadata"]["name"] == crd).unwrap();
    let group = crd["spec"]["group"].as_str().unwrap();
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["served"] == true)
        .map(|v| {
            let mut o = obj.clone();
            o["apiVersion"] = format!("{group}/{}", v["name"].as_str().unwrap()).into();
            o["kind"] = crd["spec"]["names"]["kind"].clone();
            o
        })
        .collect()
}

fn plan_json(args: &[&str]) -> (i32, Value) {
    let out = crdguard(&[&["plan", "-o", "json"], args].concat());
    let code = out.status.code().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let plan = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    (code, plan)
}

fn item<'p>(plan: &'p Value, crd: &str) -> &'p Value {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["crd"] == crd)
        .unwrap_or_else(|| panic!("no item {crd} in {plan}"))
}

fn findings<'p>(item: &'p Value, check: &str) -> Vec<&'p Value> {
    item["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

const REFERENCE_GRANTS: &str = "referencegrants.gateway.networking.k8s.io";

fn gateway(release: &str) -> String {
    corpus(&format!("gateway-api/{release}/standard-install.yaml"))
}

fn reference_grant(name: &str, with_spec: bool) -> Value {
    let mut grant = json!({"metadata": {"name": name, "namespace": "apps"}});
    if with_spec {
        grant["spec"] = json!({
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "web"}],
            "to": [{"group": "", "kind": "Service"}]
        });
    }
    grant
}

/// v1.6.1 makes ReferenceGrant `spec` required (not ratcheted: `required` changes never are).
/// Whether that breaks anything depends on the stored objects, and only they decide it.
#[test]
fn stored_objects_decide_a_newly_required_field() {
    let temp = Temp::new("required");
    let crds = installed_crds(&[gateway("v1.5.1")]);
    let desired = gateway("v1.6.1");

    // Without objects: blocked, and the finding says what would decide it.
    let bare = snapshot(&temp, "bare.json", crds.clone(), None);
    let (code, plan) = plan_json(&[&desired, "--snapshot", &bare, "--server-version", "v1.36.0"]);
    assert_eq!(code, 1, "{plan}");
    let grants = item(&plan, REFERENCE_GRANTS);
    assert_eq!(grants["action"], "blocked");
    let required = findings(grants, "required-field-added");
    assert!(!required.is_empty());
    for f in &required {
        assert_eq!(f["severity"], "error");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("snapshot --objects"),
            "{f}"
        );
    }
    assert!(grants.get("objects").is_none());

    // 200 valid grants: upgraded, each finding a warning with the count as proof.
    let valid: Vec<Value> = (0..200)
        .flat_map(|i| {
            at_served_versions(
                &crds,
                REFERENCE_GRANTS,
                &reference_grant(&format!("g{i}"), true),
            )
        })
        .collect();
    let good = snapshot(&temp, "good.json", crds.clone(), Some(valid.clone()));
    let (code, plan) = plan_json(&[&desired, "--snapshot", &good, "--server-version", "v1.36.0"]);
    assert_eq!(code, 0, "{plan}");
    let grants = item(&plan, REFERENCE_GRANTS);
    assert_eq!(grants["action"], "upgrade");
    assert_eq!(grants["objects"]["checked"], 200);
    assert_eq!(grants["objects"]["violations"], json!([]));
    for f in findings(grants, "required-field-added") {
        assert_eq!(f["severity"], "warning");
        assert_eq!(f["adjusted"][0]["by"], "objects");
        assert_eq!(f["adjusted"][0]["from"], "error");
        assert!(
            f["adjusted"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("200 stored objects checked")
        );
    }

    // One grant without spec: blocked, that object named at each version read.
    let mut with_bad = valid;
    with_bad.extend(at_served_versions(
        &crds,
        REFERENCE_GRANTS,
        &reference_grant("no-spec", false),
    ));
    let bad = snapshot(&temp, "bad.json", crds, Some(with_bad));
    let (code, plan) = plan_json(&[&desired, "--snapshot", &bad, "--server-version", "v1.36.0"]);
    assert_eq!(code, 1);
    let grants = item(&plan, REFERENCE_GRANTS);
    assert_eq!(grants["action"], "blocked");
    let violations = grants["objects"]["violations"].as_array().unwrap();
    assert!(!violations.is_empty());
    for v in violations {
        assert_eq!(v["object"], "apps/no-spec");
        assert_eq!(v["check"], "required-field-added");
        assert_eq!(v["path"], ".spec");
    }
    for f in findings(grants, "required-field-added") {
        assert_eq!(f["severity"], "error");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("1 of 201 stored objects violates it"),
            "{f}"
        );
    }
    // Human output names the object too.
    let out = crdguard(&[
        "plan",
        &desired,
        "--snapshot",
        &bad,
        "--server-version",
        "v1.36.0",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("apps/no-spec"), "{text}");
}

fn envoy_gateway(release: &str) -> Vec<String> {
    let dir = PathBuf::from(corpus(&format!(
        "envoy-gateway/{release}/charts/gateway-crds-helm/templates/generated"
    )));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    files
}

const BACKEND_TRAFFIC: &str = "backendtrafficpolicies.gateway.envoyproxy.io";

/// Envoy Gateway v1.9.0 tightens `maxLength`/`pattern`. Ratcheting (1.30+) covers those, so the
/// upgrade goes ahead on a current server and is blocked on 1.29; an object that violates the
/// new limit blocks it even on a ratcheting server, named.
#[test]
fn ratcheting_covers_tightenings_and_objects_overrule_it() {
    let temp = Temp::new("ratchet");
    let crds = installed_crds(&envoy_gateway("v1.8.3"));
    let mut release = installed_crds(&envoy_gateway("v1.9.0"));
    for crd in &mut release {
        crd.as_object_mut().unwrap().remove("status");
    }
    let desired = crd_file(&temp, "eg-v1.9.0.yaml", &release);
    let bare = snapshot(&temp, "bare.json", crds.clone(), None);

    let (code, old_server) =
        plan_json(&[&desired, "--snapshot", &bare, "--server-version", "v1.29.4"]);
    assert_eq!(code, 1);
    let traffic = item(&old_server, BACKEND_TRAFFIC);
    assert_eq!(traffic["action"], "blocked");
    let tightened = findings(traffic, "max-length-tightened");
    assert!(!tightened.is_empty());
    assert!(
        tightened
            .iter()
            .all(|f| f["severity"] == "error" && f.get("adjusted").is_none())
    );

    let (code, current) =
        plan_json(&[&desired, "--snapshot", &bare, "--server-version", "v1.36.0"]);
    assert_eq!(code, 0, "{current}");
    let traffic = item(&current, BACKEND_TRAFFIC);
    assert_eq!(traffic["action"], "upgrade");
    for f in findings(traffic, "max-length-tightened") {
        assert_eq!(f["severity"], "warning");
        assert_eq!(f["adjusted"][0]["by"], "ratcheting");
    }

    let method = |m: &str| {
        json!({"metadata": {"name": format!("btp-{}", m.len()), "namespace": "apps"},
               "spec": {"healthCheck": {"active": {"type": "HTTP", "http": {"path": "/healthz", "method": m}}}}})
    };
    let mut objects = at_served_versions(&crds, BACKEND_TRAFFIC, &method("GET"));
    let ok = snapshot(&temp, "ok.json", crds.clone(), Some(objects.clone()));
    let (code, plan) = plan_json(&[&desired, "--snapshot", &ok, "--server-version", "v1.36.0"]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(item(&plan, BACKEND_TRAFFIC)["objects"]["checked"], 1);

    objects.extend(at_served_versions(
        &crds,
        BACKEND_TRAFFIC,
        &method("A-METHOD-FAR-TOO-LONG"),
    ));
    let long = snapshot(&temp, "long.json", crds, Some(objects));
    let (code, plan) = plan_json(&[&desired, "--snapshot", &long, "--server-version", "v1.36.0"]);
    assert_eq!(code, 1, "{plan}");
    let traffic = item(&plan, BACKEND_TRAFFIC);
    assert_eq!(traffic["action"], "blocked");
    let named = traffic["objects"]["violations"].as_array().unwrap();
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0]["object"], "apps/btp-21");
    assert_eq!(named[0]["path"], ".spec.healthCheck.active.http.method");
    let method_finding = findings(traffic, "max-length-tightened")
        .into_iter()
        .find(|f| f["path"] == ".spec.healthCheck.active.http.method")
        .unwrap();
    assert_eq!(method_finding["severity"], "error");
    let by: Vec<&Value> = method_finding["adjusted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["by"])
        .collect();
    assert_eq!(by, [&json!("ratcheting"), &json!("objects")]);
}

fn policy(temp: &Temp, schema_checks: &str) -> String {
    temp.write(
        "policy.yaml",
        &format!(
            "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{ name: reviewed }}\nspec:\n  schemaChecks:\n{schema_checks}"
        ),
    )
}

/// `schemaChecks.enforcement` and `acknowledge` apply last; an acknowledgement that matches
/// nothing is a warning; a typo in a check name is bad input that names the field.
#[test]
fn policy_schema_checks_enforce_acknowledge_and_surface_stale_entries() {
    let temp = Temp::new("policy");
    let crds = installed_crds(&[gateway("v1.5.1")]);
    let bare = snapshot(&temp, "bare.json", crds, None);
    let desired = gateway("v1.6.1");

    let acknowledged = policy(
        &temp,
        "    acknowledge:\n    - { crd: referencegrants.gateway.networking.k8s.io, check: required-field-added, path: .spec }\n    - { crd: httproutes.gateway.networking.k8s.io, check: field-removed, path: .spec.gone }\n",
    );
    let (code, plan) = plan_json(&[
        &desired,
        "--snapshot",
        &bare,
        "--server-version",
        "v1.36.0",
        "--policy",
        &acknowledged,
    ]);
    assert_eq!(code, 0, "{plan}");
    let grants = item(&plan, REFERENCE_GRANTS);
    assert_eq!(grants["action"], "upgrade");
    for f in findings(grants, "required-field-added") {
        assert_eq!(f["severity"], "warning");
        assert_eq!(
            f["adjusted"].as_array().unwrap().last().unwrap()["by"],
            "acknowledged"
        );
    }
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("matches no finding") && warnings.contains(".spec.gone"),
        "{warnings}"
    );
    assert!(!warnings.contains("referencegrants"), "{warnings}");

    // Enforcement can raise too: descriptions as errors block the upgrade.
    let strict = policy(&temp, "    enforcement: { description-changed: error }\n");
    let (code, plan) = plan_json(&[
        &desired,
        "--snapshot",
        &bare,
        "--server-version",
        "v1.36.0",
        "--policy",
        &strict,
    ]);
    assert_eq!(code, 1);
    let described = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| findings(i, "description-changed"))
        .collect::<Vec<_>>();
    assert!(!described.is_empty());
    assert!(
        described
            .iter()
            .all(|f| f["severity"] == "error" && f["adjusted"][0]["by"] == "enforcement")
    );

    let typo = policy(&temp, "    enforcement: { required-field-add: warning }\n");
    let out = crdguard(&["plan", &desired, "--snapshot", &bare, "--policy", &typo]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.schemaChecks.enforcement.required-field-add"),
        "{err}"
    );
    assert!(
        err.contains("did you mean \"required-field-added\""),
        "{err}"
    );
}

/// `diff --server-version` judges the same findings as the planner would on that server.
#[test]
fn diff_with_a_server_version_applies_ratcheting() {
    let temp = Temp::new("diff");
    let old = crd_file(&temp, "old.yaml", &installed_crds(&envoy_gateway("v1.8.3")));
    let new = crd_file(&temp, "new.yaml", &installed_crds(&envoy_gateway("v1.9.0")));
    let summary = |args: &[&str]| {
        let out = crdguard(&[&["diff", &old, &new, "-o", "json"], args].concat());
        let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), diff["summary"].clone())
    };
    let (code, compared) = summary(&[]);
    assert_eq!(code, 1);
    assert!(compared["error"].as_u64().unwrap() > 0);
    let (code, ratcheted) = summary(&["--server-version", "v1.33.0"]);
    assert_eq!(code, 0, "{ratcheted}");
    assert_eq!(ratcheted["error"], 0);
    assert_eq!(
        ratcheted["warning"].as_u64().unwrap(),
        compared["warning"].as_u64().unwrap() + compared["error"].as_u64().unwrap()
    );
    let (_, old_server) = summary(&["--server-version", "v1.29.0"]);
    assert_eq!(old_server, compared);
}
