//! Live-cluster tests against a real Kubernetes v1.36.3 control plane on loopback
//! (kube-apiserver + kube-controller-manager from `scripts/test-cluster/start.sh`, built once
//! from Go modules and cached), started once for this test binary. Two trials also start a
//! server of their own: a 1.36 control plane with admission policies switched off, and the
//! v1.20 kube-apiserver of `../shared/kube` (old-server behaviour). Trials run one at a time
//! because CRD names are cluster-wide; each starts from a cluster without CRDs and policies.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;
#[path = "live/fault_proxy.rs"]
mod fault_proxy;
#[path = "live/faults.rs"]
mod faults;
#[path = "live/helm_adoption.rs"]
mod helm_adoption;

use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};

fn gateway(tag: &str, channel: &str) -> String {
    corpus(&format!("gateway-api/{tag}/{channel}-install.yaml"))
}

/// A test API server, stopped when dropped: a Kubernetes v1.36.3 control plane from
/// `scripts/test-cluster/start.sh`, or the v1.20 kube-apiserver from `../shared/kube`.
struct Server {
    kubeconfig: PathBuf,
    stop: PathBuf,
    /// The prefix of the keys in the run dir's `env` file.
    env_prefix: &'static str,
}

impl Server {
    /// kube-apiserver + kube-controller-manager v1.36.3, with `apiserver_args` added.
    fn cluster(apiserver_args: &str) -> Server {
        Server::run(
            &repo().join("scripts/test-cluster/start.sh"),
            &[("TEST_CLUSTER_APISERVER_ARGS", apiserver_args)],
            repo().join("scripts/test-cluster/stop.sh"),
            "TEST_CLUSTER_",
        )
    }

    /// The v1.20 kube-apiserver of `../shared/kube`, for old-server behaviour.
    fn v1_20() -> Server {
        Server::run(
            &shared().join("kube/start-test-apiserver.sh"),
            &[],
            shared().join("kube/stop-test-apiserver.sh"),
            "TEST_APISERVER_",
        )
    }

    fn run(script: &Path, env: &[(&str, &str)], stop: PathBuf, env_prefix: &'static str) -> Server {
        let out = Command::new(script)
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(out.status.success(), "{} failed", script.display());
        let kubeconfig = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(
            kubeconfig.is_file(),
            "{} printed {}",
            script.display(),
            kubeconfig.display()
        );
        Server {
            kubeconfig,
            stop,
            env_prefix,
        }
    }

    /// `KEY` of the run dir's env file (`TEST_CLUSTER_KEY` or `TEST_APISERVER_KEY`).
    fn env(&self, key: &str) -> String {
        let env = std::fs::read_to_string(self.kubeconfig.parent().unwrap().join("env")).unwrap();
        let prefix = format!("{}{key}=", self.env_prefix);
        env.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} not in env"))
            .to_string()
    }

    fn run_dir(&self) -> PathBuf {
        self.kubeconfig.parent().unwrap().to_path_buf()
    }

    fn kubeconfig(&self) -> String {
        self.kubeconfig.display().to_string()
    }

    fn client(&self, runtime: &tokio::runtime::Runtime) -> kube::Client {
        client_for(runtime, &self.kubeconfig)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(&self.stop).arg(&self.kubeconfig).output();
    }
}

fn client_for(runtime: &tokio::runtime::Runtime, kubeconfig: &Path) -> kube::Client {
    runtime.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    })
}

/// The API server arguments of a 1.36 control plane without admission policies: the API
/// group's two kinds switched off, and with them the admission plugin that waits for them.
const WITHOUT_ADMISSION_POLICIES: &str = "--runtime-config=admissionregistration.k8s.io/v1/validatingadmissionpolicies=false,admissionregistration.k8s.io/v1/validatingadmissionpolicybindings=false --disable-admission-plugins=ValidatingAdmissionPolicy";

/// Namespaces the trials create objects in (a real control plane refuses objects in a
/// namespace that does not exist).
const NAMESPACES: [&str; 3] = ["shop", "apps", "web"];

struct Ctx {
    /// Kubernetes v1.36.3: every trial runs here unless it needs an older or a narrower server.
    cluster: Server,
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    /// The fault-injecting proxy in front of the cluster, and a kubeconfig for it.
    proxy: fault_proxy::FaultProxy,
    proxy_kubeconfig: String,
}

type TestFn = fn(&Ctx) -> Result<(), Failed>;

fn main() {
    let mut args = Arguments::from_args();
    // Trials share cluster-scoped names: one at a time.
    args.test_threads = Some(1);
    let tests: Vec<(&str, TestFn)> = vec![
        (
            "fresh_install_is_established_and_a_second_apply_writes_nothing",
            fresh_install_then_noop,
        ),
        (
            "published_install_file_applies_its_crds_where_the_admission_api_is_absent",
            published_install_file_without_admission_api,
        ),
        (
            "older_desired_bundle_is_kept_and_nothing_is_written",
            older_desired_is_kept,
        ),
        (
            "widening_to_experimental_keeps_every_object",
            upgrade_keeps_objects,
        ),
        (
            "removed_stored_version_is_blocked_then_migrated",
            storage_migration,
        ),
        (
            "crd_owned_by_another_field_manager_is_a_conflict_until_taken_over",
            conflict_then_take_ownership,
        ),
        ("live_plan_equals_plan_of_its_snapshot", snapshot_round_trip),
        ("server_dry_run_writes_nothing", dry_run_writes_nothing),
        (
            "unreachable_server_and_wrong_ca_exit_3",
            unreachable_and_wrong_ca,
        ),
        ("invalid_token_exits_3_without_leaking_it", invalid_token),
        (
            "guard_apply_refuses_servers_without_admission_policies",
            guard_apply_needs_the_api,
        ),
        (
            "least_privilege_role_is_enough_and_nothing_less_is",
            least_privilege,
        ),
        (
            "server_killed_mid_apply_then_a_rerun_converges",
            killed_mid_apply,
        ),
        (
            "gateway_api_apply_survives_every_fault_and_a_rerun_converges",
            faults::gateway_api_under_faults,
        ),
        (
            "upjet_subset_apply_survives_every_fault_and_a_rerun_converges",
            faults::upjet_subset_under_faults,
        ),
        (
            "sigterm_during_apply_stops_cleanly_and_the_same_command_resumes",
            faults::sigterm_during_apply,
        ),
        (
            "sigint_during_migrate_stops_between_objects_and_resumes",
            faults::sigint_during_migrate,
        ),
        (
            "staged_helm_install_upgrades_crds_and_never_downgrades",
            staged_helm_install,
        ),
        ("helm_plugin_runs_the_staged_install", helm_plugin_install),
        (
            "failing_helm_phase_2_is_reported_after_phase_1",
            helm_phase_2_failure,
        ),
        (
            "plain_helm_release_switched_to_crdguard_install_keeps_every_crd_and_object",
            helm_adoption::plain_helm_release_switched_to_crdguard,
        ),
        (
            "crd_dropped_by_the_new_chart_version_is_kept",
            helm_adoption::crd_dropped_by_the_new_chart_version_is_kept,
        ),
        (
            "missing_patch_permission_blocks_the_install_and_deletes_nothing",
            helm_adoption::missing_patch_permission_blocks_the_install,
        ),
    ];
    if args.list {
        let trials = tests
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = Server::cluster("");
    let client = cluster.client(&runtime);
    let run_dir = cluster.run_dir();
    let proxy = fault_proxy::FaultProxy::start(
        &runtime,
        fault_proxy::Upstream {
            url: cluster.env("URL"),
            ca_pem: std::fs::read(cluster.env("CA")).unwrap(),
            cert_pem: std::fs::read(run_dir.join("pki/admin.crt")).unwrap(),
            key_pem: std::fs::read(run_dir.join("pki/admin.key")).unwrap(),
        },
    );
    let proxy_kubeconfig = write_temp("fault-proxy.kubeconfig", &proxy.kubeconfig());
    let ctx = Arc::new(Ctx {
        cluster,
        runtime,
        client,
        proxy,
        proxy_kubeconfig,
    });
    ctx.prepare();
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let ctx = ctx.clone();
            Trial::test(name, move || {
                ctx.reset();
                test(&ctx)
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(ctx); // stops the servers
    conclusion.exit();
}

// ---------------------------------------------------------------- helpers

impl Ctx {
    fn proxy(&self) -> &fault_proxy::FaultProxy {
        &self.proxy
    }

    fn kubeconfig(&self) -> String {
        self.cluster.kubeconfig()
    }

    fn crdguard(&self, args: &[&str]) -> Output {
        let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if !args.contains(&"--kubeconfig")
            && !args.contains(&"--snapshot")
            && !["diff", "rbac"].contains(&args[0])
        {
            full.push("--kubeconfig".into());
            full.push(self.kubeconfig());
        }
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

    fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        content_type: &str,
    ) -> Result<Value, kube::Error> {
        self.raw_on(&self.client, method, path, body, content_type)
    }

    fn raw_on(
        &self,
        client: &kube::Client,
        method: &str,
        path: &str,
        body: Option<Value>,
        content_type: &str,
    ) -> Result<Value, kube::Error> {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(
                body.map(|b| serde_json::to_vec(&b).unwrap())
                    .unwrap_or_default(),
            )
            .unwrap();
        self.runtime.block_on(client.request::<Value>(request))
    }

    fn get(&self, path: &str) -> Value {
        self.raw("GET", path, None, "application/json").unwrap()
    }

    fn crds(&self) -> Vec<Value> {
        self.crds_on(&self.client)
    }

    fn crds_on(&self, client: &kube::Client) -> Vec<Value> {
        self.raw_on(
            client,
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            None,
            "application/json",
        )
        .unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// resourceVersion of every CRD, to prove that nothing was written.
    fn versions(&self) -> Vec<(String, String)> {
        self.versions_on(&self.client)
    }

    fn versions_on(&self, client: &kube::Client) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .crds_on(client)
            .iter()
            .map(|c| {
                (
                    c["metadata"]["name"].as_str().unwrap().to_string(),
                    c["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Once, before the first trial: the namespaces trials create objects in, and the token
    /// user (group `crdguard:token-users`, not `system:masters`) bound to `cluster-admin`.
    fn prepare(&self) {
        for namespace in NAMESPACES {
            self.create(
                "/api/v1/namespaces",
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace } }),
            );
        }
        self.create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": { "name": "crdguard-token-users" },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
                "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "crdguard:token-users" }] }),
        );
    }

    /// Deletes every admission policy and binding, then every CRD (test cleanup; crdguard
    /// itself never deletes) and waits until they are gone.
    fn reset(&self) {
        // Observed on 1.36: while a policy on CRDs is in the admission plugin's cache, the CRD
        // finalizer's own updates during a CRD's deletion are held up for minutes. Policies go
        // first, and the cache gets a moment to follow.
        let mut policies = 0;
        for kind in [
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicies",
        ] {
            let path = format!("/apis/admissionregistration.k8s.io/v1/{kind}");
            let count = self.count(&path);
            if count > 0 {
                self.raw("DELETE", &path, None, "application/json")
                    .unwrap_or_else(|e| panic!("cleanup: DELETE {path}: {e}"));
            }
            policies += count;
        }
        if policies > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        for crd in self.crds() {
            let name = crd["metadata"]["name"].as_str().unwrap();
            match self.raw(
                "DELETE",
                &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
                None,
                "application/json",
            ) {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => panic!("cleanup: cannot delete {name}: {e}"),
            }
        }
        let started = Instant::now();
        let mut finalizers_dropped = false;
        while !self.crds().is_empty() {
            // The CRD server's cleanup finalizer sometimes stalls ("storage is (re)initializing")
            // right after an update; test cleanup then drops the finalizer itself.
            if !finalizers_dropped && started.elapsed() > Duration::from_secs(20) {
                for crd in self.crds() {
                    let name = crd["metadata"]["name"].as_str().unwrap();
                    let _ = self.raw(
                        "PATCH",
                        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
                        Some(json!({ "metadata": { "finalizers": null } })),
                        "application/merge-patch+json",
                    );
                }
                finalizers_dropped = true;
            }
            let left: Vec<String> = self
                .crds()
                .iter()
                .map(|c| format!("{} {}", c["metadata"]["name"], c["status"]["conditions"]))
                .collect();
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "CRDs not deleted: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Deletes Gateway API's safe-upgrades binding and policy, as the policy's own message says
    /// to do before experimental CRDs go over standard ones, and gives the server's admission
    /// cache a moment to follow.
    fn remove_safe_upgrades(&self) {
        for kind in [
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicies",
        ] {
            self.raw(
                "DELETE",
                &format!("/apis/admissionregistration.k8s.io/v1/{kind}/{SAFE_UPGRADES}"),
                None,
                "application/json",
            )
            .unwrap_or_else(|e| panic!("DELETE {kind}/{SAFE_UPGRADES}: {e}"));
        }
        std::thread::sleep(Duration::from_secs(2));
    }

    fn create(&self, path: &str, object: Value) {
        self.raw("POST", path, Some(object), "application/json")
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    }

    fn count(&self, path: &str) -> usize {
        self.get(path)["items"].as_array().unwrap().len()
    }
}

fn check(condition: bool, message: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn actions(plan: &Value) -> Vec<(String, String, String)> {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["crd"].as_str().unwrap().to_string(),
                i["action"].as_str().unwrap().to_string(),
                i["reasons"][0]["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

const HTTP_ROUTES: &str = "httproutes.gateway.networking.k8s.io";
const SAFE_UPGRADES: &str = "safe-upgrades.gateway.networking.k8s.io";

/// The plan item of `crd`, `Null` when the plan has none.
fn item(plan: &Value, crd: &str) -> Value {
    plan["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["crd"] == crd))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Whether the server reports `crd` Established.
fn is_established(crd: &Value) -> bool {
    crd["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    })
}

/// Every one of `crds` is Established; the first that is not is named.
fn all_established(crds: &[Value]) -> Result<(), Failed> {
    match crds.iter().find(|crd| !is_established(crd)) {
        Some(crd) => Err(format!("{} not Established", crd["metadata"]["name"]).into()),
        None => Ok(()),
    }
}

fn all_actions(plan: &Value, action: &str) -> bool {
    actions(plan).iter().all(|(_, a, _)| a == action)
}

fn write_temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("crdguard-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

// ---------------------------------------------------------------- trials

fn fresh_install_then_noop(ctx: &Ctx) -> Result<(), Failed> {
    let source = gateway("v1.6.1", "experimental");
    let (code, report) = ctx.json(&["apply", &source, "-o", "json"]);
    check(code == 0, format!("first apply exit {code}: {report}"))?;
    // The 13 CRDs, then the bundle's safe-upgrades policy and binding: the cluster serves
    // admission policies, so the release's companions follow the bundle (SPEC §9).
    let applied: Vec<&str> = report["apply"]["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    check(
        applied.len() == 15
            && applied[13..]
                == [
                    "ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io",
                    "ValidatingAdmissionPolicyBinding/safe-upgrades.gateway.networking.k8s.io",
                ],
        format!("applied {applied:?}"),
    )?;
    check(ctx.crds().len() == 13, "not 13 CRDs")?;
    check(
        report["apply"]["notEstablished"]
            .as_array()
            .unwrap()
            .is_empty(),
        "not established",
    )?;
    all_established(&ctx.crds())?;
    let before = ctx.versions();
    let (code, report) = ctx.json(&["apply", &source, "-o", "json"]);
    check(code == 0, format!("second apply exit {code}"))?;
    check(
        all_actions(&report, "unchanged"),
        format!("second apply: {:?}", actions(&report)),
    )?;
    check(
        report["apply"]["applied"].as_array().unwrap().is_empty(),
        "second apply wrote",
    )?;
    check(
        ctx.versions() == before,
        "resourceVersions changed: something was written",
    )?;
    Ok(())
}

/// Gateway API's own `standard-install.yaml` (CRDs + safe-upgrades policy and binding) on a
/// 1.36 control plane that does not serve admission policies (the API switched off): the
/// CRDs are applied and established, the companions are not created and a warning says why;
/// a second run writes nothing.
fn published_install_file_without_admission_api(ctx: &Ctx) -> Result<(), Failed> {
    let bare = Server::cluster(WITHOUT_ADMISSION_POLICIES);
    let client = bare.client(&ctx.runtime);
    let kubeconfig = bare.kubeconfig();
    let source = corpus("gateway-api/v1.6.1/as-released/standard-install.yaml");
    let apply = || ctx.json(&["apply", &source, "--kubeconfig", &kubeconfig, "-o", "json"]);
    let (code, report) = apply();
    check(code == 0, format!("apply exit {code}: {report}"))?;
    let applied: Vec<&str> = report["apply"]["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let crds = ctx.crds_on(&client);
    check(
        applied.len() == crds.len() && applied.iter().all(|a| a.ends_with(".k8s.io")),
        format!("applied {applied:?}"),
    )?;
    check(
        !applied.iter().any(|a| a.contains('/')),
        format!("a companion was reported applied: {applied:?}"),
    )?;
    all_established(&crds)?;
    let warnings = report["warnings"].to_string();
    check(
        warnings.contains("ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io")
            && warnings.contains("does not serve"),
        format!("no warning about the companion: {warnings}"),
    )?;
    let before = ctx.versions_on(&client);
    let (code, report) = apply();
    check(code == 0, format!("second apply exit {code}"))?;
    check(
        all_actions(&report, "unchanged"),
        format!("second apply: {:?}", actions(&report)),
    )?;
    check(ctx.versions_on(&client) == before, "second apply wrote")?;
    Ok(())
}

fn older_desired_is_kept(ctx: &Ctx) -> Result<(), Failed> {
    let (code, _) = ctx.json(&["apply", &gateway("v1.6.1", "experimental"), "-o", "json"]);
    check(code == 0, "setup apply")?;
    let before = ctx.versions();
    let (code, plan) = ctx.json(&["plan", &gateway("v1.5.1", "experimental"), "-o", "json"]);
    check(code == 0, format!("plan exit {code}"))?;
    check(
        actions(&plan)
            .iter()
            .all(|(_, a, c)| a == "keep" && c == "newer-installed"),
        format!("{:?}", actions(&plan)),
    )?;
    check(plan["cluster"]["source"] == "live", "source")?;
    let (code, report) = ctx.json(&["apply", &gateway("v1.5.1", "experimental"), "-o", "json"]);
    check(code == 0, format!("apply exit {code}"))?;
    check(
        report["apply"]["applied"].as_array().unwrap().is_empty(),
        "applied something",
    )?;
    check(ctx.versions() == before, "an older bundle was written")?;
    Ok(())
}

fn http_route(name: &str) -> Value {
    json!({ "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": name, "namespace": "shop" },
        "spec": { "parentRefs": [{ "name": "gw" }], "rules": [{ "backendRefs": [{ "name": "svc", "port": 8080 }] }] } })
}

fn upgrade_keeps_objects(ctx: &Ctx) -> Result<(), Failed> {
    let (code, _) = ctx.json(&["apply", &gateway("v1.5.1", "standard"), "-o", "json"]);
    check(code == 0, "install v1.5.1 standard")?;
    let routes = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes";
    for i in 0..20 {
        ctx.create(routes, http_route(&format!("route-{i}")));
    }
    let specs_before: Vec<Value> = ctx.get(routes)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["spec"].clone())
        .collect();
    let policy = write_temp(
        "experimental-policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  bundles:\n  - name: gateway-api\n    channel: experimental\n",
    );
    // v1.6 experimental adds a header-value pattern. The server ratchets it (1.36, KEP-4008), so
    // it is a warning, and crdguard reads the 20 stored routes to prove none breaks it (SPEC §5 v2).
    let plan_widening = || {
        ctx.json(&[
            "plan",
            &gateway("v1.6.1", "experimental"),
            "--policy",
            &policy,
            "-o",
            "json",
        ])
    };
    // The install created the release's safe-upgrades policy, and the server would refuse
    // experimental CRDs over standard ones: every such write is predicted `admission-denied`.
    let (code, plan) = plan_widening();
    let denied: Vec<&Value> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "CustomResourceDefinition" && i["installed"].is_object())
        .collect();
    check(
        code == 1
            && !denied.is_empty()
            && denied.iter().all(|i| {
                i["action"] == "blocked"
                    && i["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["code"] == "admission-denied")
            }),
        format!("plan exit {code}: {:?}", actions(&plan)),
    )?;
    ctx.remove_safe_upgrades();
    let (code, plan) = plan_widening();
    let http = item(&plan, HTTP_ROUTES);
    check(
        code == 0 && http["action"] == "upgrade" && http["objects"]["checked"] == 20,
        format!(
            "plan exit {code}: {} objects {}",
            http["action"], http["objects"]
        ),
    )?;
    let pattern_findings: Vec<&Value> = http["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "pattern-changed")
        .collect();
    check(
        !pattern_findings.is_empty() && pattern_findings.iter().all(|f| f["severity"] == "warning"),
        format!("pattern findings: {pattern_findings:?}"),
    )?;
    // One stored route whose header value the new pattern refuses (two spaces) blocks the item
    // and is named: ratcheting keeps it readable, but its next edit would be refused.
    let mut bad = http_route("route-bad-header");
    bad["spec"]["rules"][0]["filters"] = json!([{ "type": "RequestHeaderModifier",
        "requestHeaderModifier": { "set": [{ "name": "x-note", "value": "two  spaces" }] } }]);
    ctx.create(routes, bad);
    let (code, plan) = plan_widening();
    let http = item(&plan, HTTP_ROUTES);
    let violations = http["objects"]["violations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    check(
        code == 1
            && http["action"] == "blocked"
            && !violations.is_empty()
            && violations
                .iter()
                .all(|v| v["object"] == "shop/route-bad-header"),
        format!("exit {code}: {} violations {violations:?}", http["action"]),
    )?;
    ctx.raw(
        "DELETE",
        &format!("{routes}/route-bad-header"),
        None,
        "application/json",
    )
    .unwrap();
    // Without the bad route the widening goes through with no override.
    let (code, report) = ctx.json(&[
        "apply",
        &gateway("v1.6.1", "experimental"),
        "--policy",
        &policy,
        "-o",
        "json",
    ]);
    check(code == 0, format!("apply exit {code}: {}", report["apply"]))?;
    check(
        actions(&report).iter().any(|(c, a, r)| {
            c.starts_with("httproutes") && a == "upgrade" && r == "channel-widening"
        }),
        format!("{:?}", actions(&report)),
    )?;
    let http = ctx.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io");
    check(
        http["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.1",
        "not upgraded",
    )?;
    check(
        http["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] == "experimental",
        "not widened",
    )?;
    let specs_after: Vec<Value> = ctx.get(routes)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["spec"].clone())
        .collect();
    check(
        specs_after.len() == 20 && specs_after == specs_before,
        "objects changed or lost",
    )?;
    let (code, plan) = ctx.json(&[
        "plan",
        &gateway("v1.6.1", "experimental"),
        "--policy",
        &policy,
        "-o",
        "json",
    ]);
    check(
        code == 0 && all_actions(&plan, "unchanged"),
        format!("re-plan: {:?}", actions(&plan)),
    )?;
    Ok(())
}

/// The Gateway API history that leaves v1alpha2 in GRPCRoute's storedVersions: v1.0.0 stores
/// GRPCRoute as v1alpha2 (`routes` objects are created then, in namespace `apps`, with `also`
/// creating more objects at that point), v1.1.0 moves storage to v1 but still serves v1alpha2.
/// v1.1.0 itself drops BackendTLSPolicy v1alpha2 (stored, no objects): a migration too.
fn grpc_routes_stored_in_v1alpha2(
    ctx: &Ctx,
    routes: usize,
    also: impl Fn(&Ctx, usize),
) -> Result<(), Failed> {
    let (code, report) = ctx.json(&["apply", &gateway("v1.0.0", "experimental"), "-o", "json"]);
    check(code == 0, format!("install v1.0.0: {}", report["apply"]))?;
    let grpc_v1alpha2 = "/apis/gateway.networking.k8s.io/v1alpha2/namespaces/apps/grpcroutes";
    for i in 0..routes {
        ctx.create(grpc_v1alpha2, json!({ "apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "GRPCRoute",
            "metadata": { "name": format!("grpc-{i}"), "namespace": "apps" },
            "spec": { "hostnames": [format!("svc{i}.example.com")], "rules": [{ "backendRefs": [{ "name": "svc", "port": 9000 }] }] } }));
        also(ctx, i);
    }
    let (code, report) = ctx.json(&[
        "apply",
        &gateway("v1.1.0", "experimental"),
        "--allow-breaking",
        "--migrate",
        "-o",
        "json",
    ]);
    check(code == 0, format!("upgrade to v1.1.0: {}", report["apply"]))?;
    let stored = ctx.get(GRPC_CRD_PATH)["status"]["storedVersions"].clone();
    check(
        stored == json!(["v1alpha2", "v1"]),
        format!("storedVersions after v1.1.0: {stored}"),
    )
}

const GRPC_CRD_PATH: &str =
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/grpcroutes.gateway.networking.k8s.io";

/// Every object of the list at `path`, by name, with its spec, sorted by name.
fn specs_by_name(ctx: &Ctx, path: &str) -> Vec<Value> {
    let mut specs: Vec<Value> = ctx.get(path)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["metadata"]["name"], r["spec"]]))
        .collect();
    specs.sort_by_key(|v| v[0].as_str().unwrap().to_string());
    specs
}

/// Every GRPCRoute (read as v1), by name, with its spec.
fn grpc_specs(ctx: &Ctx) -> Vec<Value> {
    specs_by_name(ctx, "/apis/gateway.networking.k8s.io/v1/grpcroutes")
}

const HTTP_CRD_PATH: &str =
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io";

/// Every HTTPRoute of namespace `apps` (read as v1), by name, with its spec.
fn http_specs(ctx: &Ctx) -> Vec<Value> {
    specs_by_name(
        ctx,
        "/apis/gateway.networking.k8s.io/v1/namespaces/apps/httproutes",
    )
}

fn storage_migration(ctx: &Ctx) -> Result<(), Failed> {
    // v1.2.0 then drops v1alpha2. v1.0.0 also stores HTTPRoutes as v1beta1 (v1.1.0 moves
    // them to v1 and still serves v1beta1): those are migrated on request, by `migrate`.
    let grants_v1alpha2 =
        "/apis/gateway.networking.k8s.io/v1alpha2/namespaces/apps/referencegrants";
    let http_v1beta1 = "/apis/gateway.networking.k8s.io/v1beta1/namespaces/apps/httproutes";
    grpc_routes_stored_in_v1alpha2(ctx, 30, |ctx, i| {
        ctx.create(grants_v1alpha2, json!({ "apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "ReferenceGrant",
            "metadata": { "name": format!("grant-{i}"), "namespace": "apps" },
            "spec": { "from": [{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "web" }], "to": [{ "group": "", "kind": "Service" }] } }));
        ctx.create(http_v1beta1, json!({ "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "HTTPRoute",
            "metadata": { "name": format!("http-{i}"), "namespace": "apps" },
            "spec": { "hostnames": [format!("web{i}.example.com")], "parentRefs": [{ "name": "gw" }],
                "rules": [{ "backendRefs": [{ "name": "web", "port": 8080 }] }] } }));
    })?;
    let http_before = http_specs(ctx);
    let stored = ctx.get(HTTP_CRD_PATH)["status"]["storedVersions"].clone();
    check(
        http_before.len() == 30 && stored == json!(["v1beta1", "v1"]),
        format!("{} HTTPRoutes, storedVersions {stored}", http_before.len()),
    )?;
    let crd_path = GRPC_CRD_PATH;
    let before = grpc_specs(ctx);
    check(before.len() == 30, "objects missing before the migration")?;

    let (code, plan) = ctx.json(&[
        "plan",
        &gateway("v1.2.0", "experimental"),
        "--allow-breaking",
        "-o",
        "json",
    ]);
    check(code == 1, format!("plan v1.2.0 exit {code}"))?;
    let grpc = actions(&plan)
        .into_iter()
        .find(|(c, _, _)| c.starts_with("grpcroutes"))
        .unwrap();
    check(
        grpc.1 == "blocked" && grpc.2 == "stored-version-removed",
        format!("{grpc:?}"),
    )?;
    let before_versions = ctx.versions();
    let (code, report) = ctx.json(&[
        "apply",
        &gateway("v1.2.0", "experimental"),
        "--allow-breaking",
        "-o",
        "json",
    ]);
    check(
        code == 1 && ctx.versions() == before_versions,
        "a blocked apply wrote something",
    )?;
    check(
        report["apply"]["stopped"]
            .as_str()
            .unwrap_or("")
            .contains("nothing was written"),
        "stop reason",
    )?;

    let (code, report) = ctx.json(&[
        "apply",
        &gateway("v1.2.0", "experimental"),
        "--allow-breaking",
        "--migrate",
        "-o",
        "json",
    ]);
    check(
        code == 0,
        format!("apply --migrate exit {code}: {}", report["apply"]),
    )?;
    let migration = report["apply"]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["crd"] == "grpcroutes.gateway.networking.k8s.io")
        .cloned()
        .unwrap_or(Value::Null);
    check(
        migration["objectsBefore"] == 30 && migration["objectsAfter"] == 30,
        format!("{migration}"),
    )?;
    let stored = ctx.get(crd_path)["status"]["storedVersions"].clone();
    check(
        stored == json!(["v1"]),
        format!("storedVersions after migration: {stored}"),
    )?;
    let versions: Vec<Value> = ctx.get(crd_path)["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    check(
        versions == vec![json!("v1")],
        format!("v1.2.0 not applied: {versions:?}"),
    )?;
    check(grpc_specs(ctx) == before, "GRPCRoutes changed or lost")?;
    check(
        ctx.count("/apis/gateway.networking.k8s.io/v1beta1/namespaces/apps/referencegrants") == 30,
        "ReferenceGrants lost",
    )?;
    // HTTPRoute's v1beta1 is still served, so nothing forced its migration; `migrate` rewrites
    // the 30 routes in v1 and trims storedVersions, with the routes unchanged.
    let stored = ctx.get(HTTP_CRD_PATH)["status"]["storedVersions"].clone();
    check(
        stored == json!(["v1beta1", "v1"]),
        format!("HTTPRoute storedVersions before migrate: {stored}"),
    )?;
    // By its plural alone: one installed CRD has it.
    let (code, report) = ctx.json(&["migrate", "httproutes", "-o", "json"]);
    check(
        code == 0,
        format!("migrate httproutes exit {code}: {report}"),
    )?;
    check(
        report["kind"] == "Migration"
            && report["apiVersion"] == "crdguard.dev/v1alpha1"
            && report["crd"] == "httproutes.gateway.networking.k8s.io",
        format!("migrate report: {report}"),
    )?;
    let stored = ctx.get(HTTP_CRD_PATH)["status"]["storedVersions"].clone();
    check(
        stored == json!(["v1"]),
        format!("HTTPRoute storedVersions after migrate: {stored}"),
    )?;
    check(http_specs(ctx) == http_before, "HTTPRoutes changed or lost")?;
    Ok(())
}

const WIDGET_CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"widgets.example.com"},
 "spec":{"group":"example.com","scope":"Namespaced","names":{"kind":"Widget","plural":"widgets"},
  "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object",
   "properties":{"spec":{"type":"object","properties":{"size":{"type":"integer"}}}}}}}]}}"#;

fn conflict_then_take_ownership(ctx: &Ctx) -> Result<(), Failed> {
    let original: Value = serde_json::from_str(WIDGET_CRD).unwrap();
    ctx.raw("PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com?fieldManager=kubectl", Some(original.clone()), "application/apply-patch+yaml").unwrap();
    let mut changed = original.clone();
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["size"]["description"] = json!("How big.");
    let file = write_temp("widget.json", &changed.to_string());
    let (code, plan) = ctx.json(&["plan", &file, "-o", "json"]);
    check(code == 1, format!("plan exit {code}"))?;
    let item = &plan["items"][0];
    check(
        item["action"] == "conflict" && item["reasons"][0]["code"] == "owned-by-other",
        format!("{item}"),
    )?;
    check(
        item["installed"]["owner"] == "field manager kubectl",
        format!("{}", item["installed"]),
    )?;
    let before = ctx.versions();
    let (code, _) = ctx.json(&["apply", &file, "-o", "json"]);
    check(
        code == 1 && ctx.versions() == before,
        "conflicting apply wrote",
    )?;
    let (code, report) = ctx.json(&["apply", &file, "--take-ownership", "-o", "json"]);
    check(
        code == 0,
        format!("take-ownership exit {code}: {}", report["apply"]),
    )?;
    check(
        report["overrides"]["takeOwnership"] == true,
        "override not shown",
    )?;
    let crd =
        ctx.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com");
    check(
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["size"]["description"]
            == "How big.",
        "not applied",
    )?;
    let (code, plan) = ctx.json(&["plan", &file, "-o", "json"]);
    check(
        code == 0 && all_actions(&plan, "unchanged"),
        format!("after take-over: {:?}", actions(&plan)),
    )?;
    Ok(())
}

fn snapshot_round_trip(ctx: &Ctx) -> Result<(), Failed> {
    let (code, _) = ctx.json(&["apply", &gateway("v1.5.1", "standard"), "-o", "json"]);
    check(code == 0, "setup")?;
    // With its objects: the live plan reads the stored objects of CRDs with error findings
    // (SPEC §5 v2), so only a snapshot that holds them can give the same plan.
    let out = ctx.crdguard(&["snapshot", "--objects"]);
    check(
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )?;
    let snapshot = write_temp("snapshot.yaml", &String::from_utf8(out.stdout).unwrap());
    let text = std::fs::read_to_string(&snapshot).unwrap();
    check(
        text.contains("crdguard.dev/server-version"),
        "server version not recorded",
    )?;
    let desired = gateway("v1.6.1", "standard");
    let (live_code, mut live) = ctx.json(&["plan", &desired, "-o", "json"]);
    let (snap_code, mut offline) =
        ctx.json(&["plan", &desired, "--snapshot", &snapshot, "-o", "json"]);
    check(
        live_code == snap_code,
        format!("exit codes differ: live {live_code}, snapshot {snap_code}"),
    )?;
    check(
        live["cluster"]["source"] == "live" && offline["cluster"]["source"] == "snapshot",
        "sources",
    )?;
    check(
        live["cluster"]["serverVersion"] == offline["cluster"]["serverVersion"],
        "server versions differ",
    )?;
    live["cluster"] = Value::Null;
    offline["cluster"] = Value::Null;
    // A live plan is also a saved plan (SPEC §11); a snapshot plan names no cluster to apply to.
    for field in ["desiredObjects", "policy", "planDigest"] {
        check(
            live.get(field).is_some() && offline.get(field).is_none(),
            format!("{field}: only a live plan is a saved plan"),
        )?;
        live.as_object_mut().unwrap().remove(field);
    }
    check(live == offline, "live plan and snapshot plan differ")?;
    let (code, status) = ctx.json(&["status", "-o", "json"]);
    check(
        code == 0 && status["bundles"][0]["versions"] == json!(["v1.5.1"]),
        format!("{}", status["bundles"]),
    )?;
    check(
        status["crds"][0]["owner"] == "crdguard",
        format!("{}", status["crds"][0]),
    )?;
    Ok(())
}

fn dry_run_writes_nothing(ctx: &Ctx) -> Result<(), Failed> {
    let (code, report) = ctx.json(&[
        "apply",
        &gateway("v1.6.1", "standard"),
        "--dry-run=server",
        "-o",
        "json",
    ]);
    check(
        code == 0,
        format!("dry run exit {code}: {}", report["apply"]),
    )?;
    check(
        report["apply"]["dryRun"] == true
            && report["apply"]["applied"].as_array().unwrap().len() == 12,
        format!("{}", report["apply"]),
    )?;
    check(ctx.crds().is_empty(), "dry run created CRDs")?;
    check(
        ctx.count("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies") == 0,
        "dry run created the companion policy",
    )?;
    Ok(())
}

fn assert_exit_3(out: &Output, fragments: &[&str]) -> Result<(), Failed> {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    check(
        out.status.code() == Some(3),
        format!("exit {:?}: {err}", out.status.code()),
    )?;
    for fragment in fragments {
        check(
            err.contains(fragment),
            format!("missing {fragment:?} in {err}"),
        )?;
    }
    check(
        err.lines().count() <= 5 && !err.contains("panicked"),
        format!("messy error: {err}"),
    )
}

fn unreachable_and_wrong_ca(ctx: &Ctx) -> Result<(), Failed> {
    let kubeconfig = std::fs::read_to_string(&ctx.cluster.kubeconfig).unwrap();
    let url = ctx.cluster.env("URL");
    let closed = write_temp(
        "closed.kubeconfig",
        &kubeconfig.replace(&url, "https://127.0.0.1:1"),
    );
    let out = ctx.crdguard(&[
        "plan",
        &gateway("v1.6.1", "standard"),
        "--kubeconfig",
        &closed,
    ]);
    assert_exit_3(&out, &["cannot reach the cluster", "127.0.0.1:1"])?;
    // The cluster's front-proxy CA: a valid CA, but not the one that signed the server's
    // certificate.
    let other_ca = std::fs::read(ctx.cluster.run_dir().join("pki/front-proxy-ca.crt")).unwrap();
    let ours = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap()
        .to_string();
    let wrong = write_temp(
        "wrong-ca.kubeconfig",
        &kubeconfig.replace(&ours, &base64(&other_ca)),
    );
    let before = ctx.versions();
    let out = ctx.crdguard(&[
        "apply",
        &gateway("v1.6.1", "standard"),
        "--kubeconfig",
        &wrong,
    ]);
    assert_exit_3(&out, &["cannot reach the cluster"])?;
    check(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("certificate"),
        "no word about the certificate",
    )?;
    check(
        ctx.versions() == before,
        "wrote through a failed connection",
    )?;
    Ok(())
}

fn invalid_token(ctx: &Ctx) -> Result<(), Failed> {
    let token_kubeconfig = ctx.cluster.env("TOKEN_KUBECONFIG");
    let kubeconfig = std::fs::read_to_string(&token_kubeconfig).unwrap();
    let token = ctx.cluster.env("TOKEN");
    check(
        kubeconfig.contains(&token),
        "token not found in the token kubeconfig",
    )?;
    let forged = "crdguard-test-not-a-valid-token-0123456789";
    let bad = write_temp("bad-token.kubeconfig", &kubeconfig.replace(&token, forged));
    let out = ctx.crdguard(&["status", "--kubeconfig", &bad]);
    assert_exit_3(&out, &["401"])?;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    check(
        !all.contains(forged) && !all.contains(&token),
        "the token leaked into the output",
    )?;
    // The good token works on the same server.
    let out = ctx.crdguard(&["status", "--kubeconfig", &token_kubeconfig, "-o", "json"]);
    check(
        out.status.code() == Some(0),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------- Helm

/// A small chart: a versioned CRD bundle in crds/ (with a policy that makes it a standard
/// bundle), a ConfigMap and a Deployment in templates/.
fn shop_chart(
    group: &str,
    name: &str,
    bundle_version: &str,
    greeting: &str,
    with_new_field: bool,
) -> String {
    let dir = std::env::temp_dir().join(format!("crdguard-live-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("crds")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: shop\nversion: {}\n",
            bundle_version.trim_start_matches('v')
        ),
    )
    .unwrap();
    let extra = if with_new_field {
        "\n              discount: {type: integer, minimum: 0}"
    } else {
        ""
    };
    std::fs::write(
        dir.join("crds/carts.yaml"),
        format!(
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: carts.{group}
  annotations:
    example.com/bundle-version: {bundle_version}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Cart, plural: carts}}
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
              items: {{type: array, items: {{type: string}}}}{extra}
"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("crdguard.yaml"), format!("apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {{name: shop}}\nspec:\n  bundles:\n  - name: shop-crds\n    groups: [{group}]\n    versionAnnotation: example.com/bundle-version\n")).unwrap();
    std::fs::write(dir.join("templates/config.yaml"), format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-config\ndata:\n  greeting: {greeting}\n")).unwrap();
    std::fs::write(dir.join("templates/deployment.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n").unwrap();
    dir.display().to_string()
}

impl Ctx {
    /// GET `path` on the cluster, `None` when it fails (e.g. 404).
    fn get_opt(&self, path: &str) -> Option<Value> {
        self.raw("GET", path, None, "application/json").ok()
    }

    fn install(&self, release: &str, chart: &str, namespace: &str, extra: &[&str]) -> (i32, Value) {
        let kubeconfig = self.kubeconfig();
        let mut args = vec![
            "install",
            release,
            chart,
            "-n",
            namespace,
            "--kubeconfig",
            &kubeconfig,
            "-o",
            "json",
        ];
        args.extend(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
            .args(&args)
            .env("HELM_BIN", helm_bin())
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "install: not JSON ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, value)
    }

    /// The manifest Helm stored for a release revision (Secret: base64 → gzip → JSON).
    fn release_manifest(&self, release: &str, revision: u32) -> Option<String> {
        use std::io::Read;
        let secret = self.get_opt(&format!(
            "/api/v1/namespaces/default/secrets/sh.helm.release.v1.{release}.v{revision}"
        ))?;
        let once = decode_base64(secret["data"]["release"].as_str()?);
        let twice = decode_base64(std::str::from_utf8(&once).ok()?);
        let mut json = String::new();
        flate2::read::GzDecoder::new(&twice[..])
            .read_to_string(&mut json)
            .ok()?;
        let release: Value = serde_json::from_str(&json).ok()?;
        release["manifest"].as_str().map(str::to_string)
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (d << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

fn cart_crd(ctx: &Ctx, group: &str) -> Value {
    ctx.get_opt(&format!(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/carts.{group}"
    ))
    .unwrap_or(Value::Null)
}

fn staged_helm_install(ctx: &Ctx) -> Result<(), Failed> {
    // 1. First install: the CRD by crdguard, the rest by helm, no CRD in the release Secret.
    let (code, report) = ctx.install(
        "shop",
        &shop_chart("shop.example.com", "v1", "v1.0.0", "hello", false),
        "default",
        &[],
    );
    check(
        code == 0,
        format!(
            "install exit {code}: {} {}",
            report["apply"], report["install"]
        ),
    )?;
    check(
        report["install"]["phase2"] == "succeeded",
        format!("{}", report["install"]),
    )?;
    check(
        cart_crd(ctx, "shop.example.com")["metadata"]["annotations"]["example.com/bundle-version"]
            == "v1.0.0",
        "CRD not installed",
    )?;
    check(
        ctx.get_opt("/api/v1/namespaces/default/configmaps/shop-config")
            .is_some(),
        "ConfigMap not installed",
    )?;
    let manifest = ctx
        .release_manifest("shop", 1)
        .ok_or("no release secret v1")?;
    check(
        manifest.contains("kind: ConfigMap") && !manifest.contains("CustomResourceDefinition"),
        "release manifest holds a CRD",
    )?;
    // 2. A newer CRD in the chart: Helm alone would not upgrade it; crdguard does.
    let (code, report) = ctx.install(
        "shop",
        &shop_chart("shop.example.com", "v2", "v1.1.0", "hello again", true),
        "default",
        &[],
    );
    check(
        code == 0,
        format!("upgrade exit {code}: {}", report["install"]),
    )?;
    let crd = cart_crd(ctx, "shop.example.com");
    check(
        crd["metadata"]["annotations"]["example.com/bundle-version"] == "v1.1.0",
        "CRD not upgraded",
    )?;
    check(crd.to_string().contains("discount"), "new field missing")?;
    check(
        ctx.release_manifest("shop", 2).is_some(),
        "release not upgraded to v2",
    )?;
    // 3. A chart with an older copy: nothing downgraded, the release still upgraded.
    let (code, report) = ctx.install(
        "shop",
        &shop_chart("shop.example.com", "v3", "v1.0.0", "third", false),
        "default",
        &[],
    );
    check(
        code == 0,
        format!("third install exit {code}: {}", report["install"]),
    )?;
    let item = &report["items"][0];
    check(
        item["action"] == "keep" && item["reasons"][0]["code"] == "newer-installed",
        format!("{item}"),
    )?;
    let crd = cart_crd(ctx, "shop.example.com");
    check(
        crd["metadata"]["annotations"]["example.com/bundle-version"] == "v1.1.0"
            && crd.to_string().contains("discount"),
        "CRD downgraded",
    )?;
    let manifest = ctx
        .release_manifest("shop", 3)
        .ok_or("release not upgraded to v3")?;
    check(
        manifest.contains("third") && !manifest.contains("CustomResourceDefinition"),
        "release v3 manifest",
    )?;
    Ok(())
}

fn helm_plugin_install(ctx: &Ctx) -> Result<(), Failed> {
    let data = std::env::temp_dir().join(format!("crdguard-live-helm-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let helm = helm_bin();
    let out = Command::new(&helm)
        .args(["plugin", "install", &repo().display().to_string()])
        .env("XDG_DATA_HOME", &data)
        .output()
        .unwrap();
    check(
        out.status.success(),
        format!("plugin install: {}", String::from_utf8_lossy(&out.stderr)),
    )?;
    let chart = shop_chart(
        "plugin.example.com",
        "plugin",
        "v2.0.0",
        "via plugin",
        false,
    );
    let kubeconfig = ctx.kubeconfig();
    let out = Command::new(&helm)
        .args([
            "crdguard",
            "install",
            "viaplugin",
            &chart,
            "-n",
            "default",
            "--kubeconfig",
            &kubeconfig,
            "-o",
            "json",
        ])
        .env("XDG_DATA_HOME", &data)
        .env("CRDGUARD_BIN", env!("CARGO_BIN_EXE_crdguard"))
        .output()
        .unwrap();
    check(
        out.status.code() == Some(0),
        format!(
            "helm crdguard install: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    let report: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))?;
    check(
        report["install"]["phase2"] == "succeeded",
        format!("{}", report["install"]),
    )?;
    check(
        ctx.release_manifest("viaplugin", 1)
            .is_some_and(|m| !m.contains("CustomResourceDefinition")),
        "plugin release",
    )?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

fn helm_phase_2_failure(ctx: &Ctx) -> Result<(), Failed> {
    // The namespace does not exist and --create-namespace is not passed: helm fails in phase 2.
    let chart = shop_chart("fail.example.com", "fail", "v3.0.0", "never", false);
    let (code, report) = ctx.install("broken", &chart, "no-such-namespace", &[]);
    check(code == 3, format!("exit {code}: {}", report["install"]))?;
    check(
        report["install"]["phase2"] == "failed",
        format!("{}", report["install"]),
    )?;
    check(
        report["install"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-namespace"),
        format!("helm's error not surfaced: {}", report["install"]),
    )?;
    // Phase 1 is reported: the CRD was applied before helm ran.
    check(
        report["apply"]["applied"] == json!(["carts.fail.example.com"]),
        format!("{}", report["apply"]),
    )?;
    // For people, the verdict names the failed phase, not a blocked item (there is none).
    let kubeconfig = ctx.kubeconfig();
    let out = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args([
            "install",
            "broken",
            &chart,
            "-n",
            "no-such-namespace",
            "--kubeconfig",
            &kubeconfig,
        ])
        .env("HELM_BIN", helm_bin())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    check(
        out.status.code() == Some(3) && text.contains("Verdict: FAILED in phase 2 (helm)"),
        format!("table verdict: {text}"),
    )?;
    // --dry-run: phase 1 as a server-side dry run, phase 2 as `helm template` with the
    // post-renderer; the older CRD copy is kept.
    let (code, report) = ctx.install(
        "broken",
        &shop_chart("fail.example.com", "old", "v0.1.0", "x", false),
        "default",
        &["--dry-run"],
    );
    check(
        code == 0 && report["install"]["phase2"] == "dry-run",
        format!("dry run: {code} {}", report["install"]),
    )?;
    Ok(())
}

// ---------------------------------------------------------------- server restart mid-apply

/// The first `count` upjet-aws v2.6.0 CRD files, unpacked into a temp dir.
fn upjet_subset(count: usize) -> String {
    let dir = std::env::temp_dir().join(format!("crdguard-live-upjet-{}", std::process::id()));
    let subset = dir.join(format!("subset-{count}"));
    if subset.is_dir() {
        return subset.display().to_string();
    }
    let crds = dir.join("v2.6.0/package/crds");
    if !crds.is_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("tar")
            .args([
                "xJf",
                &corpus("large/upjet-aws-v2.6.0.tar.xz"),
                "-C",
                &dir.display().to_string(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&crds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    std::fs::create_dir_all(&subset).unwrap();
    for file in files.iter().take(count) {
        std::fs::copy(file, subset.join(file.file_name().unwrap())).unwrap();
    }
    subset.display().to_string()
}

impl Ctx {
    /// Starts `crdguard apply SOURCE -o json` against `kubeconfig` and returns once `written`
    /// CRDs exist.
    fn apply_in_background(
        &self,
        source: &str,
        kubeconfig: &str,
        written: usize,
    ) -> Result<std::process::Child, Failed> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crdguard"))
            .args(["apply", source, "--kubeconfig", kubeconfig, "-o", "json"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while self.crds().len() < written {
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("apply made no progress".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(child)
    }
}

fn killed_mid_apply(ctx: &Ctx) -> Result<(), Failed> {
    let source = upjet_subset(400);
    let run_dir = ctx.cluster.run_dir();
    let pid = std::fs::read_to_string(run_dir.join("kube-apiserver.pid"))
        .unwrap()
        .trim()
        .to_string();
    let cmdline: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).to_string())
        .collect();
    // Kill the API server (not etcd) once part of the set is written.
    let apply = ctx.apply_in_background(&source, &ctx.kubeconfig(), 40)?;
    Command::new("kill").args(["-9", &pid]).status().unwrap();
    let interrupted = apply.wait_with_output().unwrap();
    let first_code = interrupted.status.code();
    check(
        first_code == Some(3),
        format!(
            "interrupted apply exit {first_code:?}: {}",
            String::from_utf8_lossy(&interrupted.stderr)
        ),
    )?;
    // Restart on the same etcd with the same flags.
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(run_dir.join("kube-apiserver.log"))
        .unwrap();
    // The restarted server outlives this trial: stop.sh ends it through the pid file, as it
    // would the original.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(&cmdline[0])
        .args(&cmdline[1..])
        .current_dir(&run_dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    std::fs::write(run_dir.join("kube-apiserver.pid"), child.id().to_string()).unwrap();
    let started = Instant::now();
    loop {
        let ok = ctx
            .raw(
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?limit=1",
                None,
                "application/json",
            )
            .is_ok();
        if ok {
            break;
        }
        check(
            started.elapsed() < Duration::from_secs(90),
            "server did not come back",
        )?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let survivors = ctx.crds().len();
    check(
        survivors >= 40,
        format!("{survivors} CRDs after the restart: something was lost"),
    )?;
    // A re-run converges: everything applied, nothing deleted, then a no-op.
    let (code, report) = ctx.json(&["apply", &source, "-o", "json"]);
    check(
        code == 0,
        format!("re-run exit {code}: {}", report["apply"]["failed"]),
    )?;
    check(
        ctx.crds().len() == 400,
        format!("{} CRDs after the re-run", ctx.crds().len()),
    )?;
    let (code, plan) = ctx.json(&["plan", &source, "-o", "json"]);
    check(
        code == 0 && all_actions(&plan, "unchanged"),
        format!("third run: {}", plan["summary"]),
    )?;
    Ok(())
}

fn guard_apply_needs_the_api(ctx: &Ctx) -> Result<(), Failed> {
    // Neither server serves admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (v1.20 is
    // older; the 1.36 control plane runs with that API switched off): exit 1, said clearly.
    for server in [Server::v1_20(), Server::cluster(WITHOUT_ADMISSION_POLICIES)] {
        let out = ctx.crdguard(&["guard", "apply", "--kubeconfig", &server.kubeconfig()]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        check(
            out.status.code() == Some(1),
            format!("exit {:?}: {err}", out.status.code()),
        )?;
        check(
            err.contains("ValidatingAdmissionPolicy") && err.contains("not installed"),
            err,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- least privilege (RBAC)

const SMALL_CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"gizmos.rbac.example.com"},
 "spec":{"group":"rbac.example.com","scope":"Namespaced","names":{"kind":"Gizmo","plural":"gizmos"},
  "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object"}}}]}}"#;

/// The admin kubeconfig of the cluster, impersonating `user` (kubeconfig `as:`), so the
/// server's RBAC decides what crdguard may do.
fn impersonating_kubeconfig(ctx: &Ctx, user: &str) -> String {
    let text = std::fs::read_to_string(&ctx.cluster.kubeconfig).unwrap();
    let patched = text.replacen(
        "- name: crdguard-admin\n  user:\n",
        &format!("- name: crdguard-admin\n  user:\n    as: {user}\n"),
        1,
    );
    assert_ne!(text, patched, "kubeconfig layout changed");
    write_temp(&format!("{user}.kubeconfig"), &patched)
}

/// `crdguard ARGS --kubeconfig KUBECONFIG -o json` must exit 0.
fn succeeds_as(ctx: &Ctx, kubeconfig: &str, args: &[&str]) -> Result<(), Failed> {
    let mut full = args.to_vec();
    full.extend(["--kubeconfig", kubeconfig, "-o", "json"]);
    let out = ctx.crdguard(&full);
    check(
        out.status.code() == Some(0),
        format!(
            "{args:?} with the role: exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The cluster's unprivileged user (a client certificate, CN=crdguard-unprivileged, no group):
/// refused before the role is bound, then the role of `crdguard rbac` is enough for status,
/// plan, apply and a storage migration, and it grants no delete.
fn least_privilege(ctx: &Ctx) -> Result<(), Failed> {
    let user = "crdguard-unprivileged";
    let unprivileged = ctx.cluster.env("UNPRIVILEGED_KUBECONFIG");
    let file = write_temp("gizmo.json", SMALL_CRD);
    // Without the role: exit 3, and the 403 says what is missing.
    let out = ctx.crdguard(&["plan", &file, "--kubeconfig", &unprivileged]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    check(
        out.status.code() == Some(3),
        format!("exit {:?}: {err}", out.status.code()),
    )?;
    check(
        err.contains("403")
            && err.contains("customresourcedefinitions")
            && err.contains("crdguard rbac"),
        err,
    )?;
    let out = ctx.crdguard(&[
        "rbac",
        "--subject",
        &format!("User:{user}"),
        "--migrate-crd",
        "gizmos.rbac.example.com",
        "-o",
        "json",
    ]);
    check(
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )?;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    check(list["kind"] == "List", "rbac -o json is not a v1 List")?;
    let objects: Vec<Value> = serde_json::from_value(list["items"].clone()).unwrap();
    check(
        !String::from_utf8_lossy(&out.stdout).contains("delete"),
        "the role grants delete",
    )?;
    for (object, collection) in objects.iter().zip(["clusterroles", "clusterrolebindings"]) {
        // Already there on a re-run: fine.
        let _ = ctx.raw(
            "POST",
            &format!("/apis/rbac.authorization.k8s.io/v1/{collection}"),
            Some(object.clone()),
            "application/json",
        );
    }
    succeeds_as(ctx, &unprivileged, &["status"])?;
    succeeds_as(ctx, &unprivileged, &["plan", &file])?;
    // The cluster's identity reads the same whoever asks (SPEC §11): a plan saved with the
    // admin's credentials applies as the role's user (CI plans read-only, a deployer applies).
    let out = ctx.crdguard(&["plan", &file, "-o", "json"]);
    check(
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )?;
    let saved = write_temp("admin-plan.json", &String::from_utf8_lossy(&out.stdout));
    succeeds_as(ctx, &unprivileged, &["apply", "--plan", &saved])?;
    succeeds_as(ctx, &unprivileged, &["apply", &file])?;
    let crd_path =
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.rbac.example.com";
    check(ctx.get_opt(crd_path).is_some(), "not applied")?;
    // A storage migration: objects stored as v1, then v2 becomes the storage version.
    for i in 0..5 {
        ctx.create(
            "/apis/rbac.example.com/v1/namespaces/shop/gizmos",
            json!({ "apiVersion": "rbac.example.com/v1", "kind": "Gizmo",
                "metadata": { "name": format!("gizmo-{i}"), "namespace": "shop" } }),
        );
    }
    // v2 is served first, then made the storage version (a storage version the installed CRD
    // does not serve yet is a breaking change).
    let with_versions = |name: &str, storage_v2: bool| {
        let mut crd: Value = serde_json::from_str(SMALL_CRD).unwrap();
        let mut v1 = crd["spec"]["versions"][0].clone();
        let mut v2 = v1.clone();
        v1["storage"] = json!(!storage_v2);
        v2["name"] = json!("v2");
        v2["storage"] = json!(storage_v2);
        crd["spec"]["versions"] = json!([v1, v2]);
        write_temp(name, &crd.to_string())
    };
    succeeds_as(
        ctx,
        &unprivileged,
        &["apply", &with_versions("gizmo-v2-served.json", false)],
    )?;
    succeeds_as(
        ctx,
        &unprivileged,
        &["apply", &with_versions("gizmo-v2-stored.json", true)],
    )?;
    let stored = ctx.get(crd_path)["status"]["storedVersions"].clone();
    check(
        stored == json!(["v1", "v2"]),
        format!("storedVersions {stored}"),
    )?;
    succeeds_as(ctx, &unprivileged, &["migrate", "gizmos.rbac.example.com"])?;
    let stored = ctx.get(crd_path)["status"]["storedVersions"].clone();
    check(
        stored == json!(["v2"]),
        format!("storedVersions after migrate {stored}"),
    )?;
    check(
        ctx.count("/apis/rbac.example.com/v2/namespaces/shop/gizmos") == 5,
        "gizmos lost",
    )?;
    // Nothing more: the server refuses the role's user a delete.
    let client = client_for(&ctx.runtime, Path::new(&unprivileged));
    let request = http::Request::delete(crd_path).body(Vec::new()).unwrap();
    match ctx.runtime.block_on(client.request::<Value>(request)) {
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
        other => Err(format!("DELETE of a CRD as {user}: {other:?}").into()),
    }
}
