//! Trials against a real, current Kubernetes control plane: upstream kube-apiserver and
//! kube-controller-manager v1.36.3 started by `scripts/test-cluster/start.sh` (built once from
//! Go modules and cached under ~/.cache). Unlike the CRD-only server of `live.rs`, this one
//! serves admission policies, so Gateway API's safe-upgrades companions are really created
//! and really enforced. Checks use real kubectl (from `../shared/tools/install-helm.sh`).
//!
//! Trials share cluster-scoped names and run one at a time; each starts from a cluster without
//! Gateway API CRDs and companions.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

const SAFE_UPGRADES: &str = "safe-upgrades.gateway.networking.k8s.io";
const HTTP_ROUTES_CRD: &str = "httproutes.gateway.networking.k8s.io";

/// The control plane, stopped when dropped.
struct Cluster {
    kubeconfig: PathBuf,
    kubectl: String,
}

impl Cluster {
    fn start() -> Cluster {
        let script = repo().join("scripts/test-cluster/start.sh");
        let out = Command::new(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(out.status.success(), "{} failed", script.display());
        let kubeconfig = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(
            kubeconfig.is_file(),
            "start.sh printed {}",
            kubeconfig.display()
        );
        let helm = helm_bin();
        let kubectl = Path::new(&helm)
            .with_file_name("kubectl")
            .display()
            .to_string();
        Cluster {
            kubeconfig,
            kubectl,
        }
    }

    fn kubeconfig(&self) -> String {
        self.kubeconfig.display().to_string()
    }

    fn crdguard(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = args.to_vec();
        let kubeconfig = self.kubeconfig();
        full.extend(["--kubeconfig", &kubeconfig]);
        Command::new(env!("CARGO_BIN_EXE_crdguard"))
            .args(&full)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let out = self.crdguard(args);
        let code = out.status.code().unwrap_or(-1);
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), exit {code}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, value)
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .output()
            .unwrap()
    }

    /// `kubectl get <what> -o json`, `None` when it does not exist.
    fn get(&self, what: &[&str]) -> Option<Value> {
        let mut args = vec!["get"];
        args.extend(what);
        args.extend(["-o", "json"]);
        let out = self.kubectl(&args);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Deletes every Gateway API CRD and the safe-upgrades companions (the binding first: with
    /// the policy bound, nothing would stop a delete, but order keeps the server's view simple).
    fn reset(&self) {
        let mut deleted = false;
        for kind in [
            "validatingadmissionpolicybinding",
            "validatingadmissionpolicy",
        ] {
            let out = self.kubectl(&[
                "delete",
                kind,
                SAFE_UPGRADES,
                "--ignore-not-found",
                "--wait",
            ]);
            deleted |= String::from_utf8_lossy(&out.stdout).contains("deleted");
        }
        // Observed on 1.36: while the policy is still in the admission plugin's cache, the CRD
        // finalizer's own updates during a CRD's deletion are held up for minutes. The cache
        // follows the delete within a moment; give it that moment before deleting the CRDs.
        if deleted {
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        let crds = self.get(&["crd"]).unwrap();
        let names: Vec<String> = crds["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["metadata"]["name"].as_str().unwrap().to_string())
            .filter(|n| n.contains(".gateway.networking."))
            .collect();
        self.delete_crds(&names);
    }

    /// Deletes CRDs and waits until they are gone. The server's cleanup finalizer sometimes
    /// stalls right after a CRD was written ("could not list instances: storage is
    /// (re)initializing"), then retries with a growing backoff for minutes; after 20 s the
    /// test drops the finalizer itself (the CRDs hold no objects to clean up by then), as the
    /// live suite does.
    fn delete_crds(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let mut args = vec!["delete", "crd", "--wait=false", "--ignore-not-found"];
        args.extend(names.iter().map(String::as_str));
        let out = self.kubectl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let started = std::time::Instant::now();
        let mut finalizers_dropped = false;
        loop {
            let left: Vec<&String> = names
                .iter()
                .filter(|name| self.get(&["crd", name.as_str()]).is_some())
                .collect();
            if left.is_empty() {
                return;
            }
            if !finalizers_dropped && started.elapsed() > std::time::Duration::from_secs(20) {
                for name in &left {
                    let _ = self.kubectl(&[
                        "patch",
                        "crd",
                        name.as_str(),
                        "--type=merge",
                        "-p",
                        r#"{"metadata":{"finalizers":null}}"#,
                    ]);
                }
                finalizers_dropped = true;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "CRDs not deleted after 120 s: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    /// resourceVersions of the Gateway API CRDs and the companions: equal before and after
    /// proves nothing was written.
    fn versions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for what in [
            vec!["crd"],
            vec!["validatingadmissionpolicy"],
            vec!["validatingadmissionpolicybinding"],
        ] {
            for item in self.get(&what).unwrap()["items"].as_array().unwrap() {
                out.push((
                    item["metadata"]["name"].as_str().unwrap().to_string(),
                    item["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                ));
            }
        }
        out.sort();
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/test-cluster/stop.sh"))
            .arg(&self.kubeconfig)
            .output();
    }
}

fn check(condition: bool, message: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn as_released(release: &str, channel: &str) -> String {
    corpus(&format!(
        "gateway-api/{release}/as-released/{channel}-install.yaml"
    ))
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("crdguard-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The companion items of a plan, by kind.
fn companions(plan: &Value) -> Vec<(String, String)> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "CustomResourceDefinition")
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The items that stop a plan, with their reasons, for failure messages.
fn stopping_items(plan: &Value) -> Vec<String> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "blocked" || i["action"] == "conflict")
        .map(|i| format!("{}: {}", i["crd"], i["reasons"]))
        .collect()
}

type TestFn = fn(&Cluster) -> Result<(), Failed>;

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let tests: Vec<(&str, TestFn)> = vec![
        (
            "published_install_file_creates_its_companions_and_a_rerun_writes_nothing",
            published_install_file_creates_its_companions,
        ),
        (
            "companions_are_upgraded_with_the_bundle_and_status_says_whose_they_are",
            companions_follow_the_bundle,
        ),
        (
            "safe_upgrades_denial_is_predicted_as_the_server_enforces_it",
            safe_upgrades_denial_is_predicted,
        ),
        (
            "eight_concurrent_writers_never_lower_a_version_and_end_at_the_newest",
            concurrent_writers_never_lower_a_version,
        ),
        (
            "crdguard_racing_an_older_kubectl_apply_never_writes_the_lower_version",
            crdguard_racing_kubectl_never_writes_lower,
        ),
        (
            "saved_plan_is_applied_as_reviewed_and_refused_when_stale_edited_or_foreign",
            saved_plans,
        ),
        (
            "a_write_the_server_refuses_in_the_dry_run_stops_the_plan_before_any_write",
            dry_run_refusal_writes_nothing,
        ),
        (
            "stored_objects_decide_a_newly_required_field_live_and_from_snapshot_objects",
            stored_objects_decide_live,
        ),
        (
            "envoy_gateway_chart_installs_beside_a_kubectl_installed_gateway_api",
            envoy_gateway_over_kubectl_installed_gateway_api,
        ),
        (
            "the_server_enforces_the_guard_on_every_group_of_the_bundle",
            guard_enforced_by_the_server,
        ),
        (
            "admission_predictions_agree_with_the_server_on_every_release_pair",
            admission_prediction_matrix,
        ),
        (
            "envoy_gateway_upgrade_takes_a_kubectl_installed_gateway_api_forward",
            envoy_gateway_upgrade_path,
        ),
        (
            "a_companion_another_manager_owns_stops_the_plan_before_any_write",
            companion_conflict_writes_nothing,
        ),
        (
            "a_crds_chart_too_big_for_helm_installs_and_upgrades_with_crdguard_keeping_every_object",
            crds_chart_too_big_for_helm,
        ),
        (
            "progress_bars_with_counts_on_a_terminal_and_none_when_piped",
            progress_on_a_terminal_only,
        ),
        (
            "a_products_requirement_is_recorded_honoured_by_others_and_removed",
            requirements_recorded_honoured_removed,
        ),
        (
            "a_third_product_cannot_stop_serving_a_version_another_product_reads",
            three_products_share_the_bundle,
        ),
    ];
    if args.list {
        let trials = tests
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }
    let cluster = std::sync::Arc::new(Cluster::start());
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let cluster = cluster.clone();
            Trial::test(name, move || {
                cluster.reset();
                test(&cluster)
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(cluster);
    conclusion.exit();
}

// ---------------------------------------------------------------- trials

/// Gateway API's own v1.6.1 `standard-install.yaml` on Kubernetes 1.36: every CRD created and
/// Established, the safe-upgrades policy and binding created with upstream's content after
/// them; the same command again writes nothing.
fn published_install_file_creates_its_companions(cluster: &Cluster) -> Result<(), Failed> {
    let source = as_released("v1.6.1", "standard");
    let (code, report) = cluster.json(&["apply", &source, "-o", "json"]);
    check(code == 0, format!("apply exit {code}: {}", report["apply"]))?;
    let applied = report["apply"]["applied"].to_string();
    for kind in [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        check(
            applied.contains(&format!("{kind}/{SAFE_UPGRADES}")),
            format!("{kind} not applied: {applied}"),
        )?;
    }
    let policy = cluster
        .get(&[
            "validatingadmissionpolicy",
            SAFE_UPGRADES,
            "--show-managed-fields",
        ])
        .ok_or("the policy is not on the server")?;
    let upstream = std::fs::read_to_string(corpus("gateway-api/v1.6.1/extras-standard.yaml"))?;
    let expression = policy["spec"]["validations"][0]["expression"]
        .as_str()
        .unwrap_or_default();
    check(
        !expression.is_empty() && upstream.contains(&expression[..expression.len().min(40)]),
        "the server's policy is not upstream's",
    )?;
    let managers = policy["metadata"]["managedFields"].to_string();
    check(
        managers.contains("crdguard"),
        format!("managers: {managers}"),
    )?;
    check(
        cluster
            .get(&["validatingadmissionpolicybinding", SAFE_UPGRADES])
            .is_some(),
        "the binding is not on the server",
    )?;

    let before = cluster.versions();
    let (code, report) = cluster.json(&["apply", &source, "-o", "json"]);
    check(code == 0, format!("second apply exit {code}"))?;
    check(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] == "unchanged"),
        format!("second apply: {}", report["summary"]),
    )?;
    check(cluster.versions() == before, "the second apply wrote")?;
    Ok(())
}

/// v1.5.1 as released, then v1.6.1 as released: the CRDs and the policy are upgraded (v1.6
/// changed the policy's rules), the binding, identical in both, is left as it is; `status`
/// reports the companions as upstream's for v1.6.1. A product's modified copy is reported as
/// such and left alone.
fn companions_follow_the_bundle(cluster: &Cluster) -> Result<(), Failed> {
    let (code, _) = cluster.json(&["apply", &as_released("v1.5.1", "standard"), "-o", "json"]);
    check(code == 0, format!("v1.5.1 apply exit {code}"))?;
    // v1.6.1 makes ReferenceGrant's `spec` required (a breaking finding), hence --allow-breaking.
    let (code, report) = cluster.json(&[
        "apply",
        &as_released("v1.6.1", "standard"),
        "--allow-breaking",
        "-o",
        "json",
    ]);
    check(
        code == 0,
        format!(
            "v1.6.1 apply exit {code}: {} {:?} {}",
            report["apply"],
            stopping_items(&report),
            report["preflight"]
        ),
    )?;
    let planned = companions(&report);
    check(
        planned.contains(&("ValidatingAdmissionPolicy".into(), "upgrade".into()))
            && planned.contains(&(
                "ValidatingAdmissionPolicyBinding".into(),
                "unchanged".into(),
            )),
        format!("companions: {planned:?}"),
    )?;
    let (code, status) = cluster.json(&["status", "-o", "json"]);
    check(code == 0, "status")?;
    let bundle = &status["bundles"][0];
    let listed = bundle["companions"].to_string();
    check(
        bundle["companions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "upstream"),
        format!("companions: {listed}"),
    )?;
    check(
        listed.contains("v1.6.1/standard"),
        format!("companions: {listed}"),
    )?;

    // A modified copy (failurePolicy Ignore) under upstream's name: kept and named.
    let out = cluster.kubectl(&[
        "patch",
        "validatingadmissionpolicy",
        SAFE_UPGRADES,
        "--type=merge",
        "-p",
        r#"{"spec":{"failurePolicy":"Ignore"}}"#,
    ]);
    check(
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )?;
    let (_, status) = cluster.json(&["status", "-o", "json"]);
    check(
        status["bundles"][0]["companions"]
            .to_string()
            .contains("modified"),
        format!("{}", status["bundles"][0]["companions"]),
    )?;
    let (code, plan) = cluster.json(&["plan", &as_released("v1.6.1", "standard"), "-o", "json"]);
    check(code == 0, format!("plan exit {code}"))?;
    check(
        plan["items"].as_array().unwrap().iter().any(|i| {
            i["kind"] == "ValidatingAdmissionPolicy"
                && i["action"] == "keep"
                && i["reasons"][0]["code"] == "companion-modified"
        }),
        format!("{}", plan["items"]),
    )?;
    Ok(())
}

/// With upstream's safe-upgrades policy bound, writing experimental CRDs over the standard
/// channel is denied by the server; crdguard's plan (with a policy that asks for the
/// experimental channel) predicts exactly that, and a server-side dry run of the same CRD is
/// denied with the policy's message. Writing the standard CRDs again is allowed by both.
fn safe_upgrades_denial_is_predicted(cluster: &Cluster) -> Result<(), Failed> {
    let (code, _) = cluster.json(&["apply", &as_released("v1.6.1", "standard"), "-o", "json"]);
    check(code == 0, format!("setup exit {code}"))?;
    let widening = temp_file(
        "widening.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: widen}\nspec:\n  bundles:\n  - name: gateway-api\n    channel: experimental\n",
    );
    let experimental = corpus("gateway-api/v1.6.1/experimental-install.yaml");
    let (code, plan) = cluster.json(&[
        "plan",
        &experimental,
        "--policy",
        &widening,
        "--allow-breaking",
        "-o",
        "json",
    ]);
    let http = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["crd"] == "httproutes.gateway.networking.k8s.io")
        .cloned()
        .ok_or("no httproutes item")?;
    check(
        code == 1
            && http["action"] == "blocked"
            && http["reasons"][0]["code"] == "admission-denied",
        format!("predicted: exit {code}, {http}"),
    )?;

    // The server's own answer for the same object.
    let text = std::fs::read_to_string(&experimental)?;
    let http_crd = text
        .split("\n---\n")
        .find(|doc| doc.contains("name: httproutes.gateway.networking.k8s.io"))
        .ok_or("httproutes not in the experimental file")?;
    let file = temp_file("httproutes-experimental.yaml", http_crd);
    // A policy just created is enforced once the server's admission plugin has loaded and
    // compiled it, a moment later: ask until it answers with the policy (at most ~15 s).
    let mut answer = String::new();
    for _ in 0..30 {
        let out = cluster.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            &file,
        ]);
        answer = String::from_utf8_lossy(&out.stderr).to_string();
        if !out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    check(
        answer.contains(SAFE_UPGRADES),
        format!(
            "the server did not deny the experimental CRD with the safe-upgrades policy: {answer}"
        ),
    )?;

    // The standard CRD again: allowed by the server and not predicted as denied.
    let (code, plan) = cluster.json(&["plan", &as_released("v1.6.1", "standard"), "-o", "json"]);
    check(
        code == 0 && !plan.to_string().contains("admission-denied"),
        format!("standard plan: exit {code}"),
    )?;
    Ok(())
}

// ---------------------------------------------------------------- concurrent writers (SPEC §11)

const BUNDLE_VERSION: &str = "gateway.networking.k8s.io/bundle-version";

/// The published install file of a release: as released where the corpus has it (with its
/// companions), else the CRD-only copy.
fn install_file(release: &str) -> String {
    let released = as_released(release, "standard");
    if Path::new(&released).is_file() {
        released
    } else {
        corpus(&format!("gateway-api/{release}/standard-install.yaml"))
    }
}

fn release_key(version: &str) -> Vec<u64> {
    version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// A CRD whose bundle version went down: (CRD, from, to).
type VersionDrop = (String, String, String);
/// The last bundle version the watch saw, by CRD.
type LastVersions = std::collections::BTreeMap<String, String>;

/// `kubectl get crd --watch`, recording every version each CRD takes.
struct VersionWatch {
    child: std::process::Child,
    path: PathBuf,
}

impl VersionWatch {
    fn start(cluster: &Cluster, name: &str) -> VersionWatch {
        let path = PathBuf::from(temp_file(name, ""));
        let child = Command::new(&cluster.kubectl)
            .args([
                "get",
                "crd",
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ])
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .stdout(std::fs::File::create(&path).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The watch lists what is there first: wait until it has.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        VersionWatch { child, path }
    }

    /// Stops the watch; every (CRD, from, to) where the bundle version went down, and the last
    /// version of each CRD.
    fn finish(mut self) -> (Vec<VersionDrop>, LastVersions) {
        // Let the last writes reach the watch before stopping it.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.path).unwrap();
        let mut last: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        let mut drops = Vec::new();
        for event in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            let Ok(event) = event else { break }; // the kill may cut the last one
            let object = &event["object"];
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !name.contains(".gateway.networking.") {
                continue;
            }
            if event["type"] == "DELETED" {
                last.remove(&name);
                continue;
            }
            let version = object["metadata"]["annotations"][BUNDLE_VERSION]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(previous) = last.get(&name)
                && release_key(&version) < release_key(previous)
            {
                drops.push((name.clone(), previous.clone(), version.clone()));
            }
            last.insert(name, version);
        }
        (drops, last)
    }
}

/// Starts `crdguard apply` of each release at once; waits for all; (release, exit, report).
fn apply_concurrently(cluster: &Cluster, releases: &[&str]) -> Vec<(String, i32, Value)> {
    let kubeconfig = cluster.kubeconfig();
    let children: Vec<_> = releases
        .iter()
        .map(|release| {
            let child = Command::new(env!("CARGO_BIN_EXE_crdguard"))
                .args(["apply", &install_file(release), "-o", "json"])
                // v1.2 -> v1.6 adds required fields the schema gate stops on (issue 17); the
                // race, not the gate, is under test here.
                .arg("--allow-breaking")
                .args(["--kubeconfig", &kubeconfig])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (release.to_string(), child)
        })
        .collect();
    children
        .into_iter()
        .map(|(release, child)| {
            let out = child.wait_with_output().unwrap();
            let code = out.status.code().unwrap_or(-1);
            let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                Value::String(format!(
                    "not JSON ({e}); stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            });
            (release, code, report)
        })
        .collect()
}

/// CRDs where crdguard's create (its `Update` entry in managedFields) outlived a later write:
/// crdguard hands a create to server-side apply at its first apply over it, so an `Update`
/// entry is only left on a CRD nobody wrote since (generation 1) and never beside crdguard's
/// `Apply` entry; otherwise crdguard would conflict with itself.
fn crdguard_creates_not_handed_over(cluster: &Cluster) -> Vec<String> {
    let crds = cluster.get(&["crd", "--show-managed-fields"]).unwrap();
    let mut found = Vec::new();
    for crd in crds["items"].as_array().unwrap() {
        let entries: Vec<&Value> = crd["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["manager"] == "crdguard" && entry.get("subresource").is_none())
            .collect();
        let created = entries.iter().any(|entry| entry["operation"] == "Update");
        let applied = entries.iter().any(|entry| entry["operation"] == "Apply");
        let rewritten = crd["metadata"]["generation"].as_i64().unwrap_or(0) > 1;
        if created && (applied || rewritten) {
            found.push(crd["metadata"]["name"].to_string());
        }
    }
    found
}

/// SPEC §11 and issue 15: eight `crdguard apply` processes started together over a v1.2.1
/// bundle, each with another release (v1.2.1 ... v1.6.1), four rounds, each on a fresh server,
/// a watch recording every version each CRD takes. No CRD ever goes down; every CRD ends at
/// v1.6.1 with its companions; every process exits 0 or 1 with a report; crdguard's creates
/// are handed to server-side apply by its later writes.
fn concurrent_writers_never_lower_a_version(_shared: &Cluster) -> Result<(), Failed> {
    let releases = [
        "v1.2.1", "v1.3.0", "v1.4.0", "v1.4.1", "v1.5.0", "v1.5.1", "v1.6.0", "v1.6.1",
    ];
    let mut decided_again = 0;
    for round in 1..=4 {
        let cluster = Cluster::start();
        let (code, _) = cluster.json(&["apply", &install_file("v1.2.1"), "-o", "json"]);
        check(
            code == 0,
            format!("round {round}: the v1.2.1 base apply exit {code}"),
        )?;
        let watch = VersionWatch::start(&cluster, &format!("watch-{round}.json"));
        let results = apply_concurrently(&cluster, &releases);
        let (drops, last) = watch.finish();
        check(
            drops.is_empty(),
            format!("round {round}: versions went down: {drops:?}"),
        )?;
        for (release, code, report) in &results {
            check(
                matches!(code, 0 | 1) && report.is_object(),
                format!("round {round}: {release} exit {code}: {report}"),
            )?;
            decided_again += report["apply"]["decidedAgain"]
                .as_array()
                .map_or(0, Vec::len);
        }
        // The end state as the server has it (the watch may lose its very last event when it
        // is stopped); what the v1.6.1 writer reported explains a CRD left behind.
        let on_server: std::collections::BTreeMap<String, String> = cluster.get(&["crd"]).unwrap()
            ["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                let name = c["metadata"]["name"].as_str()?;
                let version = c["metadata"]["annotations"][BUNDLE_VERSION].as_str()?;
                name.contains(".gateway.networking.")
                    .then(|| (name.to_string(), version.to_string()))
            })
            .collect();
        let newest = results
            .iter()
            .find(|(release, _, _)| *release == "v1.6.1")
            .map(|(_, code, report)| {
                format!(
                    "v1.6.1 writer exit {code}, conflicts {}, decided again {}, stopped {}",
                    report["apply"]["conflicts"],
                    report["apply"]["decidedAgain"],
                    report["apply"]["stopped"]
                )
            })
            .unwrap_or_default();
        check(
            on_server.len() >= 10 && on_server.values().all(|v| v == "v1.6.1"),
            format!(
                "round {round}: not every CRD ended at v1.6.1: {on_server:?} (last watched: {last:?}); {newest}"
            ),
        )?;
        let status = cluster.crdguard(&["status", "-o", "json"]);
        let status: Value = serde_json::from_slice(&status.stdout)?;
        let companions = status.to_string();
        check(
            companions.contains(SAFE_UPGRADES),
            format!("round {round}: the safe-upgrades companions are missing: {companions}"),
        )?;
        let left = crdguard_creates_not_handed_over(&cluster);
        check(
            left.is_empty(),
            format!("round {round}: crdguard's create not handed to server-side apply on {left:?}"),
        )?;
    }
    eprintln!("  concurrent writers: {decided_again} item(s) decided again over 4 rounds");
    Ok(())
}

/// Four crdguard writers (v1.4.0 ... v1.6.1) racing a `kubectl apply --server-side
/// --force-conflicts` of v1.2.1: kubectl's lower version is not crdguard's to stop (the guard
/// is), but crdguard itself never writes a version lower than the one it replaces: every drop
/// the watch sees is to kubectl's v1.2.1.
fn crdguard_racing_kubectl_never_writes_lower(cluster: &Cluster) -> Result<(), Failed> {
    let (code, _) = cluster.json(&["apply", &install_file("v1.3.0"), "-o", "json"]);
    check(code == 0, format!("the v1.3.0 base apply exit {code}"))?;
    let watch = VersionWatch::start(cluster, "watch-kubectl.json");
    let older = install_file("v1.2.1");
    let kubectl = Command::new(&cluster.kubectl)
        .args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "other-installer",
            "-f",
            &older,
        ])
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let results = apply_concurrently(cluster, &["v1.4.0", "v1.5.0", "v1.5.1", "v1.6.1"]);
    let kubectl = kubectl.wait_with_output()?;
    check(
        kubectl.status.success(),
        format!("kubectl: {}", String::from_utf8_lossy(&kubectl.stderr)),
    )?;
    let (drops, _) = watch.finish();
    let by_crdguard: Vec<_> = drops.iter().filter(|(_, _, to)| to != "v1.2.1").collect();
    check(
        by_crdguard.is_empty(),
        format!("crdguard lowered versions: {by_crdguard:?}"),
    )?;
    for (release, code, report) in &results {
        check(
            matches!(code, 0 | 1) && report.is_object(),
            format!("{release} exit {code}: {report}"),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- saved plans (SPEC §11)

fn exit_of(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A CRD's Gateway API bundle-version annotation as the server has it.
fn bundle_version(cluster: &Cluster, crd: &str) -> Value {
    cluster.get(&["crd", crd]).unwrap()["metadata"]["annotations"][BUNDLE_VERSION].clone()
}

/// `plan -o json` saved to a file.
fn save_plan(cluster: &Cluster, source: &str, extra: &[&str], name: &str) -> String {
    let mut args = vec!["plan", source, "--allow-breaking", "-o", "json"];
    args.extend(extra);
    let out = cluster.crdguard(&args);
    assert_eq!(exit_of(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    temp_file(name, &String::from_utf8(out.stdout).unwrap())
}

fn edited(path: &str, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut plan);
    temp_file(name, &plan.to_string())
}

/// A plan of v1.5.1 saved over v1.4.0 is applied as reviewed, and refused when applied again;
/// a plan of v1.6.1 saved, then another writer changes one CRD: refused (exit 1, plan-stale naming it, nothing written) until `--replan`. Edited by
/// hand (an action, an object), cut short, of another kind or a future format: exit 2. Made for
/// another cluster: exit 2, nothing written there.
fn saved_plans(cluster: &Cluster) -> Result<(), Failed> {
    let (code, _) = cluster.json(&["apply", &install_file("v1.4.0"), "-o", "json"]);
    check(code == 0, format!("v1.4.0 apply exit {code}"))?;
    let saved = save_plan(
        cluster,
        &as_released("v1.5.1", "standard"),
        &[],
        "reviewed.json",
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&saved)?)?;
    check(
        plan["cluster"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("uid:")),
        format!("cluster.id: {}", plan["cluster"]),
    )?;

    // Bad plan files: exit 2, nothing written.
    let before = cluster.versions();
    let text = std::fs::read_to_string(&saved)?;
    let bad_files = [
        (
            "truncated",
            temp_file("truncated.json", &text[..text.len() / 2]),
        ),
        (
            "another kind",
            edited(&saved, "kind.json", |p| p["kind"] = "Status".into()),
        ),
        (
            "a future apiVersion",
            edited(&saved, "future.json", |p| {
                p["apiVersion"] = "crdguard.dev/v9".into()
            }),
        ),
        (
            "an action changed by hand",
            edited(&saved, "action.json", |p| {
                let item = p["items"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|i| i["action"] == "upgrade")
                    .unwrap();
                item["action"] = "keep".into();
            }),
        ),
        (
            "a desired object changed by hand",
            edited(&saved, "object.json", |p| {
                p["desiredObjects"][0]["object"]["metadata"]["annotations"]["edited"] =
                    "yes".into();
            }),
        ),
    ];
    for (what, path) in &bad_files {
        let out = cluster.crdguard(&["apply", "--plan", path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        check(
            exit_of(&out) == 2 && stderr.contains(path.as_str()) && stderr.lines().count() <= 5,
            format!("{what}: exit {}, stderr: {stderr}", exit_of(&out)),
        )?;
    }
    check(cluster.versions() == before, "a bad plan file wrote")?;

    // Another cluster: exit 2, nothing written there.
    let other = Cluster::start();
    let out = other.crdguard(&["apply", "--plan", &saved]);
    check(
        exit_of(&out) == 2 && String::from_utf8_lossy(&out.stderr).contains("made for cluster"),
        format!(
            "another cluster: exit {}: {}",
            exit_of(&out),
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    check(
        other.get(&["crd"]).unwrap()["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the plan for another cluster wrote there",
    )?;
    drop(other);

    // As reviewed.
    let (code, report) = cluster.json(&["apply", "--plan", &saved, "-o", "json"]);
    check(
        code == 0,
        format!("apply --plan exit {code}: {}", report["apply"]),
    )?;
    let annotation = bundle_version(cluster, "httproutes.gateway.networking.k8s.io");
    check(
        annotation == "v1.5.1",
        format!("httproutes at {annotation}"),
    )?;

    // Stale: the same plan again (everything it wrote moved on), and a plan saved now that
    // another writer overtakes.
    let (code, report) = cluster.json(&["apply", "--plan", &saved, "-o", "json"]);
    check(code == 1, format!("a plan already applied: exit {code}"))?;
    check(
        report["apply"]["stopped"]
            .as_str()
            .unwrap_or_default()
            .contains("stale"),
        format!("{}", report["apply"]),
    )?;
    let fresh = save_plan(
        cluster,
        &as_released("v1.6.1", "standard"),
        &[],
        "fresh.json",
    );
    let out = cluster.kubectl(&[
        "annotate",
        "crd",
        "grpcroutes.gateway.networking.k8s.io",
        "example.com/touched=yes",
    ]);
    check(out.status.success(), "kubectl annotate")?;
    let before = cluster.versions();
    let (code, report) = cluster.json(&["apply", "--plan", &fresh, "-o", "json"]);
    check(code == 1, format!("stale plan: exit {code}"))?;
    let stale: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reasons"][0]["code"] == "plan-stale")
        .map(|i| i["crd"].as_str().unwrap())
        .collect();
    check(
        stale == ["grpcroutes.gateway.networking.k8s.io"],
        format!("stale items: {stale:?}"),
    )?;
    check(cluster.versions() == before, "a stale plan wrote")?;
    let (code, report) = cluster.json(&["apply", "--plan", &fresh, "--replan", "-o", "json"]);
    check(
        code == 0,
        format!("--replan exit {code}: {}", report["apply"]),
    )?;
    let annotation = bundle_version(cluster, "httproutes.gateway.networking.k8s.io");
    check(
        annotation == "v1.6.1",
        format!("after --replan: httproutes at {annotation}"),
    )?;
    Ok(())
}

/// SPEC §11: every write is sent as a server-side dry run first. Three CRDs, the third with a
/// CEL rule that does not compile (crdguard does not compile CEL; the server does): exit 1,
/// the third named, nothing written, not even the first two.
fn dry_run_refusal_writes_nothing(cluster: &Cluster) -> Result<(), Failed> {
    let crd = |plural: &str, rule: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {plural}.dryrun.example.com\nspec:\n  group: dryrun.example.com\n  scope: Namespaced\n  names: {{kind: K{plural}, plural: {plural}}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-validations:\n        - rule: \"{rule}\"\n"
        )
    };
    let file = temp_file(
        "dry-run-refused.yaml",
        &[
            crd("alphas", "true"),
            crd("betas", "true"),
            crd("gammas", "self.spec.replicas >"),
        ]
        .join("---\n"),
    );
    let (code, report) = cluster.json(&["apply", &file, "-o", "json"]);
    let failed = report["apply"]["failed"].to_string();
    check(code == 1, format!("exit {code}: {}", report["apply"]))?;
    check(
        failed.contains("gammas.dryrun.example.com") && !failed.contains("alphas"),
        format!("failed: {failed}"),
    )?;
    let written: Vec<String> = cluster.get(&["crd"]).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .filter(|n| n.ends_with(".dryrun.example.com"))
        .map(str::to_string)
        .collect();
    check(
        written.is_empty(),
        format!("written although the dry run was refused: {written:?}"),
    )?;
    Ok(())
}

// ------------------------------------------------------- data-aware checks (SPEC §5 v2)

const REFERENCE_GRANTS: &str = "referencegrants.gateway.networking.k8s.io";

fn reference_grants(names: &[String], with_spec: bool) -> String {
    let items: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut grant = serde_json::json!({
                "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": name, "namespace": "apps"}});
            if with_spec {
                grant["spec"] = serde_json::json!({
                    "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "web"}],
                    "to": [{"group": "", "kind": "Service"}]});
            }
            grant
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn grants_item(plan: &Value) -> Value {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["crd"] == REFERENCE_GRANTS)
        .cloned()
        .unwrap_or(Value::Null)
}

/// v1.5.1 → v1.6.1 standard makes ReferenceGrant `spec` required. Live, crdguard reads the
/// 200 stored grants (paged) and upgrades; a `snapshot --objects` (mode 0600) gives the same
/// plan offline; one grant without `spec` blocks, named; a user who may not list grants gets
/// a blocked plan that says which permission would decide it.
fn stored_objects_decide_live(cluster: &Cluster) -> Result<(), Failed> {
    let install = |args: &[&str]| {
        let out = cluster.kubectl(args);
        check(
            out.status.success(),
            format!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr)),
        )
    };
    install(&[
        "apply",
        "--server-side",
        "-f",
        &corpus("gateway-api/v1.5.1/standard-install.yaml"),
    ])?;
    install(&[
        "wait",
        "--for",
        "condition=established",
        "crd",
        REFERENCE_GRANTS,
        "--timeout",
        "60s",
    ])?;
    let _ = cluster.kubectl(&["create", "namespace", "apps"]);
    let names: Vec<String> = (0..200).map(|i| format!("grant-{i}")).collect();
    install(&[
        "apply",
        "--server-side",
        "-f",
        &temp_file("grants.json", &reference_grants(&names, true)),
    ])?;
    let desired = corpus("gateway-api/v1.6.1/standard-install.yaml");

    let (code, live) = cluster.json(&["plan", &desired, "-o", "json"]);
    let grants = grants_item(&live);
    check(code == 0, format!("live plan exit {code}: {grants}"))?;
    check(grants["action"] == "upgrade", format!("{grants}"))?;
    check(
        grants["objects"]["checked"] == 200,
        format!("objects: {}", grants["objects"]),
    )?;

    let snapshot = std::env::temp_dir()
        .join(format!(
            "crdguard-cluster-objects-{}.yaml",
            std::process::id()
        ))
        .display()
        .to_string();
    let out = cluster.crdguard(&["snapshot", "--objects", "--file", &snapshot]);
    check(
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )?;
    check(
        String::from_utf8_lossy(&out.stderr).contains("sensitive data"),
        "snapshot --objects says the file may hold sensitive data",
    )?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&snapshot).unwrap().permissions().mode() & 0o777;
        check(mode == 0o600, format!("snapshot mode {mode:o}"))?;
    }
    let text = std::fs::read_to_string(&snapshot).unwrap();
    check(
        !text.contains("managedFields:\n  - apiVersion: gateway"),
        "objects are written without managedFields",
    )?;
    let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args(["plan", &desired, "--snapshot", &snapshot, "-o", "json"])
        .output()
        .unwrap();
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = |plan: &Value| -> Vec<(String, String)> {
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["crd"].as_str().unwrap().to_string(),
                    i["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    check(
        out.status.code() == Some(0),
        format!("offline exit {:?}", out.status.code()),
    )?;
    check(
        actions(&offline) == actions(&live),
        format!(
            "offline {:?} vs live {:?}",
            actions(&offline),
            actions(&live)
        ),
    )?;
    check(
        grants_item(&offline)["objects"] == grants["objects"],
        "same objects offline",
    )?;

    install(&[
        "apply",
        "--server-side",
        "-f",
        &temp_file(
            "bare.json",
            &reference_grants(&["no-spec".to_string()], false),
        ),
    ])?;
    let (code, blocked) = cluster.json(&["plan", &desired, "-o", "json"]);
    let grants = grants_item(&blocked);
    check(
        code == 1 && grants["action"] == "blocked",
        format!("exit {code}: {grants}"),
    )?;
    let violations = grants["objects"]["violations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    check(
        !violations.is_empty()
            && violations
                .iter()
                .all(|v| v["object"] == "apps/no-spec" && v["path"] == ".spec"),
        format!("violations: {violations:?}"),
    )?;
    check(
        grants["objects"]["checked"] == 201,
        format!("{}", grants["objects"]),
    )?;

    // A user who may read CRDs but not list the grants: undecided, so blocked, saying why.
    let limited = cluster.kubeconfig.with_file_name("unprivileged.kubeconfig");
    install(&[
        "create",
        "clusterrole",
        "crdguard-crd-reader",
        "--verb=get,list",
        "--resource=customresourcedefinitions.apiextensions.k8s.io,validatingadmissionpolicies.admissionregistration.k8s.io,validatingadmissionpolicybindings.admissionregistration.k8s.io",
    ])?;
    install(&[
        "create",
        "clusterrolebinding",
        "crdguard-crd-reader",
        "--clusterrole=crdguard-crd-reader",
        "--user=crdguard-unprivileged",
    ])?;
    let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args(["plan", &desired, "-o", "json", "--kubeconfig"])
        .arg(&limited)
        .output()
        .unwrap();
    let _ = cluster.kubectl(&["delete", "clusterrolebinding", "crdguard-crd-reader"]);
    let _ = cluster.kubectl(&["delete", "clusterrole", "crdguard-crd-reader"]);
    let _ = cluster.kubectl(&["delete", "namespace", "apps", "--wait=false"]);
    let _ = std::fs::remove_file(&snapshot);
    let forbidden: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    let grants = grants_item(&forbidden);
    check(
        out.status.code() == Some(1) && grants["action"] == "blocked",
        format!("{grants}"),
    )?;
    let messages = grants["findings"].to_string();
    check(
        messages.contains("could not be read") && messages.contains("grant `list`"),
        messages,
    )?;
    Ok(())
}

const ENVOY_GATEWAY_NAMESPACE: &str = "envoy-gateway-system";

/// `kubectl apply --server-side --field-manager=MANAGER -f FILE`, as another installer would.
fn kubectl_apply(cluster: &Cluster, file: &str, manager: &str) -> Result<(), Failed> {
    let out = cluster.kubectl(&[
        "apply",
        "--server-side",
        &format!("--field-manager={manager}"),
        "-f",
        file,
    ]);
    check(
        out.status.success(),
        format!(
            "kubectl apply {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `helm status RELEASE -o json` in the Envoy Gateway namespace (`Null` when helm fails).
fn release_status(cluster: &Cluster, release: &str) -> Value {
    let out = Command::new(helm_bin())
        .args([
            "status",
            release,
            "-n",
            ENVOY_GATEWAY_NAMESPACE,
            "-o",
            "json",
        ])
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The Gateway API CRDs and companions with their generation and field managers: equal before
/// and after proves that nothing of the shared bundle was written (resourceVersions would also
/// move with the controllers' status writes after kubectl's apply).
fn gateway_api_writes(cluster: &Cluster) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for kind in [
        "crd",
        "validatingadmissionpolicy",
        "validatingadmissionpolicybinding",
    ] {
        let list = cluster
            .get(&[kind, "--show-managed-fields"])
            .unwrap_or(Value::Null);
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            if !name.contains(".gateway.networking.") {
                continue;
            }
            let mut managers: Vec<String> = item["metadata"]["managedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["subresource"].is_null())
                .map(|m| format!("{}/{}", m["manager"], m["operation"]))
                .collect();
            managers.sort();
            out.push((
                format!("{kind}/{name}"),
                item["metadata"]["generation"].to_string(),
                managers,
            ));
        }
    }
    out.sort();
    out
}

/// The mission (issue 16, e2e 1): another installer put Gateway API v1.6.1 standard in the
/// cluster with `kubectl apply --server-side` (safe-upgrades policy included); then the real
/// Envoy Gateway v1.9.0 `gateway-helm` chart, which vendors the *experimental* v1.6.1 CRDs, is
/// installed with `crdguard install` and real helm 4. `--no-hooks`: the control plane has no
/// nodes, so the chart's certgen hook Job could never finish.
fn envoy_gateway_over_kubectl_installed_gateway_api(cluster: &Cluster) -> Result<(), Failed> {
    kubectl_apply(cluster, &as_released("v1.6.1", "standard"), "kubectl")?;
    let before = gateway_api_writes(cluster);
    let chart = corpus("envoy-gateway/v1.9.0/charts/gateway-helm");
    let helm = helm_bin();
    let kubeconfig = cluster.kubeconfig();
    let (code, report) = install_envoy_gateway(cluster, &chart, &[], &["--create-namespace"]);
    let result = (|| {
        check(
            code == 0 && report["install"]["phase2"] == "succeeded",
            format!(
                "install exit {code}: {} stopping: {:?}",
                report["install"],
                stopping_items(&report)
            ),
        )?;
        // A first install of a chart whose templates read nothing of the cluster: helm started
        // once the CRDs were written, while the server established them (checked below).
        check(
            report["install"]["phase2Started"] == "crds-written",
            format!("phase 2 started {}", report["install"]["phase2Started"]),
        )?;
        // The shared bundle is the other installer's and stays as it was: v1.6.1 standard, no
        // experimental-only CRD added, nothing written (SPEC §2 v2: no silent widening).
        check(
            gateway_api_writes(cluster) == before,
            format!(
                "a Gateway API CRD or companion was written: {:?}",
                gateway_api_writes(cluster)
            ),
        )?;
        let crds = cluster.get(&["crd"]).unwrap();
        let crds = crds["items"].as_array().unwrap();
        for crd in crds.iter().filter(|c| {
            c["spec"]["group"]
                .as_str()
                .is_some_and(|g| g.starts_with("gateway.networking."))
        }) {
            let annotations = &crd["metadata"]["annotations"];
            check(
                annotations["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
                    && annotations["gateway.networking.k8s.io/channel"] == "standard",
                format!("{} is {annotations}", crd["metadata"]["name"]),
            )?;
        }
        check(
            !crds
                .iter()
                .any(|c| c["spec"]["group"] == "gateway.networking.x-k8s.io"),
            "an experimental-only Gateway API CRD was added",
        )?;
        // Envoy Gateway's own 8 CRDs, created by crdguard and Established.
        let envoy: Vec<&Value> = crds
            .iter()
            .filter(|c| c["spec"]["group"] == "gateway.envoyproxy.io")
            .collect();
        check(
            envoy.len() == 8,
            format!("{} Envoy Gateway CRDs", envoy.len()),
        )?;
        for crd in &envoy {
            let established = crd["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
            check(
                established,
                format!("{} not Established", crd["metadata"]["name"]),
            )?;
        }
        // The release is deployed, and Helm owns no CRD and no safe-upgrades policy.
        let helm_out = |args: &[&str]| {
            Command::new(&helm)
                .args(args)
                .args(["-n", ENVOY_GATEWAY_NAMESPACE, "--kubeconfig", &kubeconfig])
                .output()
                .unwrap()
        };
        let status = release_status(cluster, "eg");
        check(
            status["info"]["status"] == "deployed",
            format!("release status {}", status["info"]["status"]),
        )?;
        let manifest = helm_out(&["get", "manifest", "eg"]);
        let manifest = String::from_utf8_lossy(&manifest.stdout);
        check(
            manifest.contains("kind: Deployment")
                && !manifest.contains("kind: CustomResourceDefinition")
                && !manifest.contains(SAFE_UPGRADES),
            "the release manifest holds a CRD or the safe-upgrades policy",
        )?;
        // The release Secret stays far below Kubernetes' 1 MiB object limit.
        let secret = cluster
            .get(&[
                "secret",
                "-n",
                ENVOY_GATEWAY_NAMESPACE,
                "sh.helm.release.v1.eg.v1",
            ])
            .ok_or("no release Secret")?;
        let size = secret["data"]["release"].as_str().map_or(0, str::len);
        eprintln!("  release Secret of crdguard install eg: {size} bytes of release data");
        check(
            size > 0 && size < 900 * 1024,
            format!("release Secret holds {size} bytes"),
        )?;
        // install reports that size itself (SPEC §6 v2): the decoded bytes of the same data.
        let encoded = secret["data"]["release"].as_str().unwrap_or_default();
        let padding = encoded.bytes().rev().take_while(|b| *b == b'=').count();
        let decoded = encoded.len() / 4 * 3 - padding;
        check(
            report["install"]["releaseSecretBytes"] == decoded,
            format!(
                "install reported {} bytes, the Secret holds {decoded}",
                report["install"]["releaseSecretBytes"]
            ),
        )?;
        // The same command again writes nothing to the cluster's CRDs.
        let crd_versions = cluster.versions();
        let (code, again) = cluster.json(&["plan", "--chart", &chart, "-o", "json"]);
        check(
            code == 0 && again["summary"]["create"] == 0 && again["summary"]["upgrade"] == 0,
            format!("re-plan exit {code}: {}", again["summary"]),
        )?;
        check(cluster.versions() == crd_versions, "the re-plan wrote")?;
        Ok(())
    })();
    // Leave the cluster as the other trials expect it: no release, no Envoy Gateway CRDs, no
    // namespace. Gone, not terminating: the next trial's helm may run within a second.
    remove_envoy_gateway(cluster);
    let _ = cluster.kubectl(&[
        "delete",
        "namespace",
        ENVOY_GATEWAY_NAMESPACE,
        "--ignore-not-found",
        "--wait",
        "--timeout=120s",
    ]);
    result
}

const GUARD: &str = "crdguard-guard";

/// What a server-side dry run of `kubectl apply` of `file` answered: the CRD names it would
/// have written, and its error output.
fn kubectl_apply_dry_run(cluster: &Cluster, file: &str) -> (Vec<String>, String) {
    let out = cluster.kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        file,
    ]);
    let written = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("serverside-applied"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|l| l.rsplit('/').next())
        .map(str::to_string)
        .collect();
    (written, String::from_utf8_lossy(&out.stderr).to_string())
}

/// Issue 16, e2e 4: `crdguard guard apply` on Kubernetes 1.36, then the server itself refuses
/// what the guard forbids for a crdguard-managed Gateway API (lowering the version, experimental
/// → standard, deleting a CRD, in both API groups), with crdguard's message; the documented
/// override lets a delete through, and an upgrade passes. CRD-only release files are used so that
/// Gateway API's own safe-upgrades policy is not in the way: every denial here is the guard's.
fn guard_enforced_by_the_server(cluster: &Cluster) -> Result<(), Failed> {
    let installed = corpus("gateway-api/v1.5.1/experimental-install.yaml");
    let (code, report) = cluster.json(&["apply", &installed, "-o", "json"]);
    check(code == 0, format!("apply exit {code}: {}", report["apply"]))?;
    let result = (|| {
        let out = cluster.crdguard(&["guard", "apply"]);
        check(
            out.status.success(),
            format!("guard apply: {}", String::from_utf8_lossy(&out.stderr)),
        )?;
        // Bound only once the server type-checked the policy without a warning (SPEC §9 v2).
        let policy = cluster
            .get(&["validatingadmissionpolicy", GUARD])
            .ok_or("no guard policy")?;
        let type_checking = &policy["status"]["typeChecking"];
        check(
            !type_checking.is_null()
                && type_checking["expressionWarnings"]
                    .as_array()
                    .is_none_or(Vec::is_empty),
            format!("type checking: {type_checking}"),
        )?;
        check(
            cluster
                .get(&["validatingadmissionpolicybinding", GUARD])
                .is_some(),
            "no guard binding",
        )?;
        let crds: Vec<String> = cluster.get(&["crd"]).unwrap()["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        let experimental_group = crds
            .iter()
            .find(|n| n.ends_with(".gateway.networking.x-k8s.io"))
            .ok_or("no gateway.networking.x-k8s.io CRD installed")?
            .clone();
        // The admission plugin loads a new policy a moment after it is bound; guard apply
        // returns only once the server denies its probe, so the very next write is guarded.
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        check(
            stdout.contains("Guard enforced: a server-side dry run deleting"),
            format!("guard apply did not see enforcement: {stdout}"),
        )?;
        let delete_refused = |name: &str| -> String {
            let out = cluster.kubectl(&["delete", "crd", name, "--dry-run=server"]);
            if out.status.success() {
                String::new()
            } else {
                String::from_utf8_lossy(&out.stderr).to_string()
            }
        };
        let refusal = delete_refused(HTTP_ROUTES_CRD);
        check(
            refusal.contains("crdguard guard")
                && refusal.contains("(rule no-delete)")
                && refusal.contains("allow-delete"),
            format!("delete of {HTTP_ROUTES_CRD} not refused by the guard: {refusal}"),
        )?;
        let refusal = delete_refused(&experimental_group);
        check(
            refusal.contains("crdguard guard"),
            format!("delete of {experimental_group} not refused by the guard: {refusal}"),
        )?;
        // Lowering the bundle (v1.4.1) and narrowing it (v1.5.1 standard): every CRD already
        // installed is refused; only kinds the cluster lacks could be created.
        for (file, rule) in [
            (
                "gateway-api/v1.4.1/experimental-install.yaml",
                "no-downgrade",
            ),
            (
                "gateway-api/v1.5.1/standard-install.yaml",
                "no-channel-narrowing",
            ),
        ] {
            let (written, stderr) = kubectl_apply_dry_run(cluster, &corpus(file));
            let overwritten: Vec<&String> = written.iter().filter(|n| crds.contains(n)).collect();
            check(
                overwritten.is_empty()
                    && stderr.contains("crdguard guard")
                    && stderr.contains(&format!("(rule {rule})")),
                format!("{file}: written {overwritten:?}; {stderr}"),
            )?;
        }
        // An upgrade passes.
        let (written, stderr) = kubectl_apply_dry_run(
            cluster,
            &corpus("gateway-api/v1.6.1/experimental-install.yaml"),
        );
        check(
            stderr.trim().is_empty() && written.contains(&HTTP_ROUTES_CRD.to_string()),
            format!("upgrade refused: {stderr}"),
        )?;
        // The documented override: label the stored CRD, then the delete goes through.
        let out = cluster.kubectl(&[
            "label",
            "crd",
            &experimental_group,
            "crdguard.dev/allow-delete=true",
        ]);
        check(
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )?;
        let refusal = delete_refused(&experimental_group);
        check(
            refusal.is_empty(),
            format!("labelled delete still refused: {refusal}"),
        )?;
        broken_policy_is_reported_unsound(cluster)
    })();
    for kind in [
        "validatingadmissionpolicybinding",
        "validatingadmissionpolicy",
    ] {
        let _ = cluster.kubectl(&["delete", kind, GUARD, "--ignore-not-found", "--wait"]);
    }
    // The admission plugin's cache follows the delete a moment later (see `reset`).
    std::thread::sleep(std::time::Duration::from_secs(2));
    result
}

/// The check `guard apply` makes before binding, against a policy that does not type-check:
/// the server accepts it (it parses) and reports the type error in `status.typeChecking`,
/// and crdguard's adapter reads that as a reason not to bind. Never bound here.
fn broken_policy_is_reported_unsound(cluster: &Cluster) -> Result<(), Failed> {
    const PROBE: &str = "crdguard-type-check-probe";
    let policy = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": PROBE },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [{
                "apiGroups": ["apiextensions.k8s.io"], "apiVersions": ["v1"],
                "operations": ["UPDATE"], "resources": ["customresourcedefinitions"] }] },
            "validations": [{ "expression": "object.spec.noSuchField == 'x'" }]
        }
    });
    kubectl_apply(
        cluster,
        &temp_file("probe.json", &policy.to_string()),
        "kubectl",
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let verdict = runtime.block_on(async {
        let options = crdguard_kube::ConnectOptions {
            kubeconfig: Some(cluster.kubeconfig.clone()),
            ..Default::default()
        };
        let connected = crdguard_kube::Cluster::connect(&options).await?;
        connected
            .wait_type_checked(PROBE, std::time::Duration::from_secs(60))
            .await
    });
    let _ = cluster.kubectl(&["delete", "validatingadmissionpolicy", PROBE]);
    match verdict {
        Ok(crdguard_kube::TypeCheck::Checked { warnings }) => check(
            warnings
                .iter()
                .any(|w| w.field.contains("validations[0]") && w.warning.contains("noSuchField")),
            format!("warnings: {warnings:?}"),
        ),
        other => Err(format!("type checking of the broken policy: {other:?}").into()),
    }
}

/// The CRD names a server-side dry run of `kubectl apply` was refused for by the safe-upgrades
/// policy, from kubectl's error lines.
fn denied_by_safe_upgrades(stderr: &str) -> std::collections::BTreeSet<String> {
    stderr
        .lines()
        .filter(|l| l.contains(&format!("ValidatingAdmissionPolicy '{SAFE_UPGRADES}'")))
        .filter_map(|l| l.split('"').nth(1))
        .map(str::to_string)
        .collect()
}

/// Issue 16, e2e 3: for every (installed, desired) pair of Gateway API v1.5.0…v1.6.1 in both
/// channels (installed with the release's own install file by kubectl, so with that release's
/// safe-upgrades policy), `plan` predicts `admission-denied` for exactly the CRD writes that
/// the real server refuses when `kubectl apply --server-side --dry-run=server` sends the same
/// objects. A widening policy makes crdguard plan every upgrade and widening the files ask for;
/// items it does not write (kept, unchanged) have nothing to predict and are counted apart.
fn admission_prediction_matrix(cluster: &Cluster) -> Result<(), Failed> {
    const RELEASES: [&str; 4] = ["v1.5.0", "v1.5.1", "v1.6.0", "v1.6.1"];
    const CHANNELS: [&str; 2] = ["standard", "experimental"];
    let widening = temp_file(
        "matrix-widening.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: widen}\nspec:\n  bundles:\n  - name: gateway-api\n    channel: experimental\n",
    );
    let probe = corpus("gateway-api/v1.4.1/standard-install.yaml");
    let (mut pairs, mut compared, mut denied, mut not_written) = (0, 0, 0, 0);
    let mut disagreements = Vec::new();
    for installed in RELEASES {
        for installed_channel in CHANNELS {
            cluster.reset();
            kubectl_apply(
                cluster,
                &as_released(installed, installed_channel),
                "kubectl",
            )?;
            // The admission plugin enforces a new policy a moment after it is created: wait
            // until an older release (denied by every safe-upgrades policy) is refused.
            let mut loaded = false;
            for _ in 0..60 {
                let (_, stderr) = kubectl_apply_dry_run(cluster, &probe);
                if !denied_by_safe_upgrades(&stderr).is_empty() {
                    loaded = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            check(
                loaded,
                format!("{installed}/{installed_channel}: policy never enforced"),
            )?;
            for desired in RELEASES {
                for desired_channel in CHANNELS {
                    if (desired, desired_channel) == (installed, installed_channel) {
                        continue;
                    }
                    pairs += 1;
                    let file = corpus(&format!(
                        "gateway-api/{desired}/{desired_channel}-install.yaml"
                    ));
                    let (code, plan) =
                        cluster.json(&["plan", &file, "--policy", &widening, "-o", "json"]);
                    check(code == 0 || code == 1, format!("plan exit {code}"))?;
                    let (_, stderr) = kubectl_apply_dry_run(cluster, &file);
                    let server = denied_by_safe_upgrades(&stderr);
                    for item in plan["items"].as_array().unwrap() {
                        if item["kind"] != "CustomResourceDefinition" {
                            continue;
                        }
                        let crd = item["crd"].as_str().unwrap_or_default();
                        let predicted = item["reasons"]
                            .as_array()
                            .is_some_and(|r| r.iter().any(|r| r["code"] == "admission-denied"));
                        let writes = predicted
                            || matches!(item["action"].as_str(), Some("create" | "upgrade"));
                        if !writes {
                            not_written += 1;
                            continue;
                        }
                        compared += 1;
                        denied += usize::from(server.contains(crd));
                        if predicted != server.contains(crd) {
                            disagreements.push(format!(
                                "{installed}/{installed_channel} -> {desired}/{desired_channel} {crd}: predicted {predicted}, server {}",
                                server.contains(crd)
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "  admission matrix: {pairs} release pairs, {compared} CRD writes compared ({denied} denied by the server), {} disagreement(s); {not_written} items not written",
        disagreements.len()
    );
    check(
        compared >= 40 && denied > 0 && compared > denied,
        format!("too few comparisons: {compared} writes, {denied} denied"),
    )?;
    check(disagreements.is_empty(), disagreements.join("\n"))
}

/// `crdguard install eg CHART -n envoy-gateway-system [extra] -- --no-hooks [helm extra]`
/// with real helm; the catalog is the corpus served on loopback, cached in a private directory.
fn install_envoy_gateway(
    cluster: &Cluster,
    chart: &str,
    extra: &[&str],
    helm_extra: &[&str],
) -> (i32, Value) {
    let kubeconfig = cluster.kubeconfig();
    let cache = std::env::temp_dir().join(format!("crdguard-cluster-cache-{}", std::process::id()));
    let mut args = vec![
        "install",
        "eg",
        chart,
        "-n",
        ENVOY_GATEWAY_NAMESPACE,
        "--kubeconfig",
        &kubeconfig,
        "-o",
        "json",
    ];
    args.extend(extra);
    args.extend(["--", "--no-hooks"]);
    args.extend(helm_extra);
    let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args(&args)
        .env("HELM_BIN", helm_bin())
        .env("CRDGUARD_CATALOG_URL", serve_corpus(100))
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "install: not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, report)
}

/// The names of every CRD on the cluster.
fn crd_names(cluster: &Cluster) -> Vec<String> {
    cluster.get(&["crd"]).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// Removes the Envoy Gateway release and CRDs the Envoy Gateway trials leave.
fn remove_envoy_gateway(cluster: &Cluster) {
    let _ = Command::new(helm_bin())
        .args([
            "uninstall",
            "eg",
            "-n",
            ENVOY_GATEWAY_NAMESPACE,
            "--no-hooks",
        ])
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .output();
    // The Envoy Gateway chart renders its namespace: uninstalling deletes it. The next trial's
    // `--create-namespace` must not meet it terminating.
    for _ in 0..120 {
        let terminating = cluster
            .get(&["namespace", ENVOY_GATEWAY_NAMESPACE])
            .is_some_and(|ns| ns["status"]["phase"] == "Terminating");
        if !terminating {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let names: Vec<String> = crd_names(cluster)
        .into_iter()
        .filter(|n| n.ends_with(".gateway.envoyproxy.io"))
        .collect();
    cluster.delete_crds(&names);
}

/// Issue 16, e2e 2: Gateway API v1.5.1 standard applied by a person with `kubectl apply
/// --server-side` (safe-upgrades policy included), Envoy Gateway v1.8.3 installed with
/// crdguard, then v1.9.0 with `--for envoy-gateway@v1.9` (needs Gateway API v1.6.0+). The
/// chart vendors the experimental channel; the plan takes the bundle to v1.6.1 *standard*
/// (from the catalog, SPEC §2 v2), taking the CRDs and the policy over from kubectl (a
/// person, SPEC §2 Ownership), and helm upgrades the release.
fn envoy_gateway_upgrade_path(cluster: &Cluster) -> Result<(), Failed> {
    kubectl_apply(cluster, &as_released("v1.5.1", "standard"), "kubectl")?;
    let result = (|| {
        let (code, report) = install_envoy_gateway(
            cluster,
            &corpus("envoy-gateway/v1.8.3/charts/gateway-helm"),
            &[],
            &["--create-namespace"],
        );
        check(
            code == 0
                && report["install"]["phase2"] == "succeeded"
                && report["install"]["phase2Started"] == "crds-written",
            format!("v1.8.3: exit {code}: {}", report["install"]),
        )?;
        let (code, report) = install_envoy_gateway(
            cluster,
            &corpus("envoy-gateway/v1.9.0/charts/gateway-helm"),
            &["--for", "envoy-gateway@v1.9"],
            &[],
        );
        // An upgrade: helm starts only after phase 1 has ended.
        check(
            code == 0
                && report["install"]["phase2"] == "succeeded"
                && report["install"]["phase2Started"] == "after-phase-1",
            format!(
                "v1.9.0: exit {code}: {} stopping: {:?}",
                report["install"],
                stopping_items(&report)
            ),
        )?;
        let crds = cluster.get(&["crd"]).unwrap();
        for crd in crds["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["spec"]["group"] == "gateway.networking.k8s.io")
        {
            let annotations = &crd["metadata"]["annotations"];
            check(
                annotations["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
                    && annotations["gateway.networking.k8s.io/channel"] == "standard",
                format!("{} is {annotations}", crd["metadata"]["name"]),
            )?;
        }
        // The policy is upstream's v1.6.1 one, written by crdguard over kubectl's.
        let policy = cluster
            .get(&[
                "validatingadmissionpolicy",
                SAFE_UPGRADES,
                "--show-managed-fields",
            ])
            .ok_or("no safe-upgrades policy")?;
        check(
            policy["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"]
                == "v1.6.1"
                && policy["metadata"]["managedFields"]
                    .to_string()
                    .contains("\"crdguard\""),
            format!("policy: {}", policy["metadata"]),
        )?;
        let taken = report["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                i["reasons"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["code"] == "ownership-taken"))
            })
            .count();
        check(taken > 0, "no item shows the takeover from kubectl")?;
        let status = release_status(cluster, "eg");
        check(
            status["info"]["status"] == "deployed" && status["version"] == 2,
            format!(
                "release: {} revision {}",
                status["info"]["status"], status["version"]
            ),
        )
    })();
    remove_envoy_gateway(cluster);
    result
}

/// SPEC §11: the dry run before the first write covers companions too. Gateway API v1.5.1's
/// CRDs applied by a person, its safe-upgrades policy by a GitOps controller (another field
/// manager, not a person): the upgrade to v1.6.1 would take the CRDs over but meets the
/// controller's claim on the policy, so nothing at all is written.
fn companion_conflict_writes_nothing(cluster: &Cluster) -> Result<(), Failed> {
    for (file, manager) in [
        ("gateway-api/v1.5.1/standard-install.yaml", "kubectl"),
        (
            "gateway-api/v1.5.1/extras-standard.yaml",
            "gitops-controller",
        ),
    ] {
        kubectl_apply(cluster, &corpus(file), manager)?;
    }
    let before = gateway_api_writes(cluster);
    let (code, report) = cluster.json(&["apply", &as_released("v1.6.1", "standard"), "-o", "json"]);
    let policy_item = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "ValidatingAdmissionPolicy")
        .cloned()
        .unwrap_or(Value::Null);
    check(
        code == 1 && policy_item["action"] == "conflict",
        format!("exit {code}: {policy_item}"),
    )?;
    check(
        report["apply"]["applied"]
            .as_array()
            .is_some_and(Vec::is_empty),
        format!("applied: {}", report["apply"]["applied"]),
    )?;
    check(
        gateway_api_writes(cluster) == before,
        "a CRD or companion was written although the dry run refused the policy",
    )
}

/// Issue 16, e2e 7 and 8 (SPEC §6 v2): Envoy Gateway's `gateway-crds-helm` chart holds 5 MB of
/// CRD templates. Plain `helm install` cannot install it on a real cluster: Helm stores the
/// chart in the release Secret, which is refused above 1 MiB. `crdguard install` applies the
/// CRDs itself and runs helm on a copy without them, so the release is small; custom
/// resources are created, and a second `crdguard install` (revision 2) keeps every CRD and
/// every object (Helm's manifests never held a CRD it could delete).
fn crds_chart_too_big_for_helm(cluster: &Cluster) -> Result<(), Failed> {
    const RELEASE: &str = "eg-crds";
    let chart = corpus("envoy-gateway/v1.9.0/charts/gateway-crds-helm");
    let values = [
        "--set",
        "crds.gatewayAPI.enabled=true",
        "--set",
        "crds.gatewayAPI.channel=standard",
        "--set",
        "crds.envoyGateway.enabled=true",
    ];
    let helm = helm_bin();
    let kubeconfig = cluster.kubeconfig();
    let helm_run = |args: &[&str]| {
        Command::new(&helm)
            .args(args)
            .args(["-n", ENVOY_GATEWAY_NAMESPACE, "--kubeconfig", &kubeconfig])
            .output()
            .unwrap()
    };
    let crdguard_install = || {
        let mut args = vec![
            "install",
            RELEASE,
            chart.as_str(),
            "-n",
            ENVOY_GATEWAY_NAMESPACE,
            "--kubeconfig",
            &kubeconfig,
            "-o",
            "json",
        ];
        args.extend(values);
        args.extend(["--", "--create-namespace"]);
        let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
            .args(&args)
            .env("HELM_BIN", &helm)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "install: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), report)
    };
    let result = (|| {
        let mut install = vec!["install", RELEASE, chart.as_str(), "--create-namespace"];
        install.extend(values);
        let out = helm_run(&install);
        check(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Too long"),
            format!(
                "plain helm install was expected to exceed the Secret limit: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        )?;
        let _ = helm_run(&["uninstall", RELEASE]);

        let (code, report) = crdguard_install();
        check(
            code == 0 && report["install"]["phase2"] == "succeeded",
            format!(
                "crdguard install exit {code}: {} stopping: {:?}",
                report["install"],
                stopping_items(&report)
            ),
        )?;
        check(
            report["warnings"].to_string().contains("copy of the chart"),
            format!("warnings: {}", report["warnings"]),
        )?;
        let secret = cluster
            .get(&[
                "secret",
                "-n",
                ENVOY_GATEWAY_NAMESPACE,
                &format!("sh.helm.release.v1.{RELEASE}.v1"),
            ])
            .ok_or("no release Secret")?;
        let size = secret["data"]["release"].as_str().map_or(0, str::len) * 3 / 4;
        eprintln!("  release Secret of crdguard install {RELEASE}: {size} bytes (limit 1,048,576)");
        check(size > 0 && size < 1024 * 1024, format!("{size} bytes"))?;
        let crds = crd_names(cluster);
        check(crds.len() == 18, format!("{} CRDs: {crds:?}", crds.len()))?;

        let objects = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
             "metadata": {"name": "eg"}, "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}},
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "shop", "namespace": ENVOY_GATEWAY_NAMESPACE},
             "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "svc", "port": 8080}]}]}},
            {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyProxy",
             "metadata": {"name": "proxy", "namespace": ENVOY_GATEWAY_NAMESPACE}, "spec": {}}
        ]});
        let out = cluster.kubectl(&[
            "apply",
            "-f",
            &temp_file("eg-objects.json", &objects.to_string()),
        ]);
        check(
            out.status.success(),
            format!("objects: {}", String::from_utf8_lossy(&out.stderr)),
        )?;

        // Revision 2: nothing deleted, nothing of phase 1 in Helm's manifest.
        let (code, report) = crdguard_install();
        check(
            code == 0 && report["install"]["phase2"] == "succeeded",
            format!("second install exit {code}: {}", report["install"]),
        )?;
        check(crd_names(cluster) == crds, "a CRD was deleted")?;
        for what in [
            vec!["gatewayclass", "eg"],
            vec!["httproute", "shop", "-n", ENVOY_GATEWAY_NAMESPACE],
            vec!["envoyproxy", "proxy", "-n", ENVOY_GATEWAY_NAMESPACE],
        ] {
            check(
                cluster.get(&what).is_some(),
                format!("{what:?} was deleted"),
            )?;
        }
        let status = release_status(cluster, RELEASE);
        check(
            status["info"]["status"] == "deployed" && status["version"] == 2,
            format!(
                "release {} revision {}",
                status["info"]["status"], status["version"]
            ),
        )?;
        let manifest = helm_run(&["get", "manifest", RELEASE]);
        check(
            !String::from_utf8_lossy(&manifest.stdout).contains("kind: CustomResourceDefinition"),
            "the release manifest holds CRDs",
        )
    })();
    let _ = helm_run(&["uninstall", RELEASE]);
    // The objects first: a CRD deleted with objects still in it was seen to take minutes on
    // 1.36 (its finalizer's clean-up), which would only slow the suite.
    for what in [
        vec!["envoyproxy", "proxy", "-n", ENVOY_GATEWAY_NAMESPACE],
        vec!["httproute", "shop", "-n", ENVOY_GATEWAY_NAMESPACE],
        vec!["gatewayclass", "eg"],
    ] {
        let mut args = vec!["delete", "--ignore-not-found", "--wait"];
        args.extend(what);
        let _ = cluster.kubectl(&args);
    }
    remove_envoy_gateway(cluster);
    result
}

/// Runs crdguard with `args` on a pseudo-terminal (util-linux `script`, on every Debian
/// system) and returns what the terminal received, colour and redraws included.
fn on_terminal(cluster: &Cluster, args: &[&str]) -> String {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let mut line = format!(
        "stty cols 120 rows 40; {}",
        quote(env!("CARGO_BIN_EXE_crdguard"))
    );
    for arg in args
        .iter()
        .copied()
        .chain(["--kubeconfig", &cluster.kubeconfig()])
    {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// SPEC §3 v2: long work shows progress bars with counts on a terminal and stays quiet in
/// JSON and when not on a terminal. A piped apply of v1.5.0 and an apply of v1.5.1 with
/// `-o json` on a terminal print no bar; an apply of v1.6.1 on a terminal draws the CRD bar up
/// to its full count and the Established bar.
fn progress_on_a_terminal_only(cluster: &Cluster) -> Result<(), Failed> {
    let piped = cluster.crdguard(&["apply", &as_released("v1.5.0", "standard")]);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    check(piped.status.success(), format!("piped apply: {stderr}"))?;
    check(
        !stderr.contains("applying CRDs") && !stderr.contains("ETA"),
        format!("progress on a pipe: {stderr}"),
    )?;
    let before = cluster.versions();
    let json_screen = on_terminal(
        cluster,
        &["apply", &as_released("v1.5.1", "standard"), "-o", "json"],
    );
    check(
        cluster.versions() != before,
        format!("the JSON apply on a terminal wrote nothing:\n{json_screen}"),
    )?;
    check(
        !json_screen.contains("applying CRDs") && !json_screen.contains("ETA"),
        format!("progress with -o json:\n{json_screen}"),
    )?;
    let source = as_released("v1.6.1", "standard");
    let (_, plan) = cluster.json(&["plan", &source, "-o", "json"]);
    let writes = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "CustomResourceDefinition" && i["step"] != "none")
        .count();
    check(writes > 0, format!("nothing to write: {}", plan["summary"]))?;
    let screen = on_terminal(cluster, &["apply", &source]);
    let visible = screen.replace('\r', "\n");
    check(
        visible.contains("applying CRDs [") && visible.contains(&format!("{writes}/{writes}")),
        format!("no CRD bar reaching {writes}/{writes}:\n{visible}"),
    )?;
    check(
        visible.contains("waiting for Established"),
        format!("no Established bar:\n{visible}"),
    )?;
    check(
        visible.contains("Verdict: ok"),
        format!("the apply on a terminal did not finish:\n{visible}"),
    )?;
    Ok(())
}

fn requirement_entries(cluster: &Cluster, crd: &str) -> Value {
    let object = cluster.get(&["crd", crd]).unwrap_or(Value::Null);
    object["metadata"]["annotations"]["crdguard.dev/requirements"]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap())
        .unwrap_or(Value::Null)
}

fn breaks_other_product(plan: &Value) -> Vec<String> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reasons"][0]["code"] == "breaks-other-product")
        .map(|i| i["crd"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// SPEC §12 on the real server. An apply for Istio (a policy with a hard maximum of v1.5.1)
/// records Istio's entry on every Gateway API CRD, with a field manager of its own that owns
/// nothing else; the same apply again writes nothing. Another product's apply of v1.6.1 is
/// refused (`breaks-other-product`) with nothing written. `requirements remove istio` drops
/// the entry, and the plan to v1.6.1 no longer trips on it.
fn requirements_recorded_honoured_removed(cluster: &Cluster) -> Result<(), Failed> {
    let policy = temp_file(
        "istio-policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: istio, version: 1.28.0}\n\
         spec:\n  bundles:\n  - name: gateway-api\n    minimum: v1.5.0\n    maximum: v1.5.1\n    \
         requiredKinds: [Gateway, HTTPRoute]\n",
    );
    let v151 = as_released("v1.5.1", "standard");
    let (code, report) = cluster.json(&["apply", &v151, "--policy", &policy, "-o", "json"]);
    check(
        code == 0,
        format!("apply for istio: exit {code}: {}", report["apply"]),
    )?;
    let recorded = report["apply"]["requirementsRecorded"]
        .as_array()
        .map_or(0, Vec::len);
    let crds = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "CustomResourceDefinition")
        .count();
    check(
        recorded == crds && crds > 0,
        format!("recorded on {recorded} of {crds} CRDs"),
    )?;
    let entries = requirement_entries(cluster, HTTP_ROUTES_CRD);
    check(
        entries[0]["product"] == "istio" && entries[0]["maximum"] == "v1.5.1",
        format!("annotation: {entries}"),
    )?;
    let routes = cluster
        .get(&["crd", HTTP_ROUTES_CRD, "--show-managed-fields"])
        .ok_or("no HTTPRoute CRD")?;
    let managers = routes["metadata"]["managedFields"].as_array().unwrap();
    let record = managers
        .iter()
        .find(|m| m["manager"] == "crdguard-requirements")
        .ok_or("no crdguard-requirements manager")?;
    check(
        !record["fieldsV1"].to_string().contains("f:spec"),
        format!("the requirements manager owns more than the annotation: {record}"),
    )?;

    let before = cluster.versions();
    let (code, report) = cluster.json(&["apply", &v151, "--policy", &policy, "-o", "json"]);
    check(
        code == 0 && report["apply"]["requirementsRecorded"].is_null(),
        format!("second apply: exit {code}: {}", report["apply"]),
    )?;
    check(cluster.versions() == before, "the second apply wrote")?;

    let v161 = as_released("v1.6.1", "standard");
    let (code, report) = cluster.json(&["apply", &v161, "-o", "json"]);
    let blocked = breaks_other_product(&report);
    check(
        code == 1 && blocked.iter().any(|c| c == HTTP_ROUTES_CRD),
        format!("apply of v1.6.1 over istio's maximum: exit {code}, blocked {blocked:?}"),
    )?;
    check(cluster.versions() == before, "a refused apply wrote")?;

    // A typo removes nothing, and says which recorded product was meant.
    let out = cluster.crdguard(&["requirements", "remove", "itsio"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    check(
        out.status.success() && said.contains("nothing was written. Did you mean istio?"),
        format!("requirements remove itsio: {said}"),
    )?;
    let out = cluster.crdguard(&["requirements", "remove", "istio", "-o", "json"]);
    let removal: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "requirements remove: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    check(
        out.status.success() && removal["crds"].as_array().map_or(0, Vec::len) == crds,
        format!("removal: {removal}"),
    )?;
    check(
        requirement_entries(cluster, HTTP_ROUTES_CRD) == serde_json::json!([]),
        "istio's entry is still there",
    )?;
    let (_, plan) = cluster.json(&["plan", &v161, "-o", "json"]);
    let blocked = breaks_other_product(&plan);
    check(
        blocked.is_empty(),
        format!("still blocked by a removed entry: {blocked:?}"),
    )?;
    Ok(())
}

/// A product's policy on the Gateway API, as a file.
fn product_policy(name: &str, bundle: &str) -> String {
    temp_file(
        &format!("{name}-policy.yaml"),
        &format!(
            "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{name: {name}, version: 1.0.0}}\n\
             spec:\n  bundles:\n  - name: gateway-api\n{bundle}"
        ),
    )
}

/// SPEC §12 with three products on one cluster's Gateway API (v1.1.1 experimental). The first
/// reads GRPCRoute v1alpha2 (its policy's `servedVersions`), the second needs the experimental
/// channel and HTTPRoute; both record their entries, and each keeps the other's. A third
/// product's apply of v1.2.0, which stops serving GRPCRoute v1alpha2, is refused on GRPCRoute
/// (`breaks-other-product`, naming the first product, the kind and the version) and leaves the
/// GRPCRoute CRD as it was, even with `--allow-breaking`. Once the first product's entry is
/// removed (it was uninstalled), the same apply goes through and records the third's entry.
fn three_products_share_the_bundle(cluster: &Cluster) -> Result<(), Failed> {
    const GRPC_ROUTES: &str = "grpcroutes.gateway.networking.k8s.io";
    let v111 = corpus("gateway-api/v1.1.1/experimental-install.yaml");
    let v120 = corpus("gateway-api/v1.2.0/experimental-install.yaml");
    let first = product_policy(
        "gateway-one",
        "    minimum: v1.1.0\n    servedVersions: {GRPCRoute: [v1alpha2, v1]}\n",
    );
    let second = product_policy(
        "gateway-two",
        "    minimum: v1.0.0\n    channel: experimental\n    requiredKinds: [HTTPRoute]\n",
    );
    let third = product_policy("gateway-three", "    minimum: v1.2.0\n");
    for policy in [&first, &second] {
        let (code, report) = cluster.json(&["apply", &v111, "--policy", policy, "-o", "json"]);
        check(
            code == 0,
            format!("apply for {policy}: exit {code}: {}", report["apply"]),
        )?;
    }
    let products = |crd: &str| -> Vec<String> {
        requirement_entries(cluster, crd)
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["product"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let recorded = products(GRPC_ROUTES);
    check(
        recorded == ["gateway-one", "gateway-two"],
        format!("entries after two products: {recorded:?}"),
    )?;
    let entries = requirement_entries(cluster, GRPC_ROUTES);
    check(
        entries[0]["servedVersions"]["GRPCRoute"] == serde_json::json!(["v1alpha2", "v1"]),
        format!("the first product's served versions: {entries}"),
    )?;

    let apply_for_third = || {
        cluster.json(&[
            "apply",
            &v120,
            "--policy",
            &third,
            "--allow-breaking",
            "-o",
            "json",
        ])
    };
    let grpc_before = cluster
        .get(&["crd", GRPC_ROUTES])
        .ok_or("no GRPCRoute CRD")?;
    let (code, report) = apply_for_third();
    let blocked = breaks_other_product(&report);
    check(
        code == 1 && blocked == [GRPC_ROUTES],
        format!("the third product's apply: exit {code}, blocked {blocked:?}"),
    )?;
    let message = plan_item(&report, GRPC_ROUTES)["reasons"][0]["message"].to_string();
    check(
        message.contains("gateway-one 1.0.0") && message.contains("reads GRPCRoute v1alpha2"),
        format!("the refusal: {message}"),
    )?;
    let grpc_after = cluster
        .get(&["crd", GRPC_ROUTES])
        .ok_or("no GRPCRoute CRD")?;
    check(
        grpc_after["metadata"]["resourceVersion"] == grpc_before["metadata"]["resourceVersion"],
        "the refused GRPCRoute CRD was written",
    )?;

    let out = cluster.crdguard(&["requirements", "remove", "gateway-one", "-o", "json"]);
    check(
        out.status.success(),
        format!(
            "requirements remove: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    let (code, report) = apply_for_third();
    check(
        code == 0 && breaks_other_product(&report).is_empty(),
        format!("after the removal: exit {code}: {}", report["apply"]),
    )?;
    let served: Vec<String> = cluster
        .get(&["crd", GRPC_ROUTES])
        .ok_or("no GRPCRoute CRD")?["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["served"] == true)
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect();
    check(served == ["v1"], format!("GRPCRoute serves {served:?}"))?;
    let recorded = products(GRPC_ROUTES);
    check(
        recorded == ["gateway-three", "gateway-two"],
        format!("entries at the end: {recorded:?}"),
    )?;
    Ok(())
}
