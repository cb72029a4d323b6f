//! Faults between crdguard and the real CRD server (SPEC §10): every fault of the proxy, for
//! Gateway API v1.6.1 experimental over an installed v1.5.1 standard with routes in use, and for
//! 200 upjet-aws CRDs over 50 installed ones. For each fault: no CRD deleted, no bundle version
//! lowered, no channel narrowed, no object lost; exit code and report say what happened; a
//! re-run without faults converges and the run after that is all `unchanged`.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use serde_json::Value;

use super::fault_proxy::{Fault, Record};
use super::{
    Ctx, GRPC_CRD_PATH, actions, all_actions, check, gateway, grpc_routes_stored_in_v1alpha2,
    grpc_specs, http_route, upjet_subset, write_temp,
};

/// What a fault must lead to.
#[derive(Clone, Copy)]
enum Expect {
    /// Retried or resumed: everything written, exit 0.
    Converges,
    /// One write refused for field ownership. It falls in the server-side dry run that precedes
    /// the first real write (SPEC §11), so: reported as a conflict, exit 1, nothing written.
    OneConflict,
    /// The server is gone: exit 3, nothing written.
    NothingWritten,
}

fn faults() -> Vec<(&'static str, Fault, Expect, &'static [&'static str])> {
    vec![
        (
            "reset after 512 bytes, every 4th response",
            Fault::ResetAfterBytes {
                every: 4,
                bytes: 512,
            },
            Expect::Converges,
            &[],
        ),
        (
            "6 s delay on every 10th response, past a 4 s --request-timeout",
            Fault::Delay {
                every: 10,
                delay: Duration::from_secs(6),
            },
            Expect::Converges,
            &["--request-timeout", "4s"],
        ),
        (
            "429 with Retry-After: 1 on every 5th request",
            Fault::TooManyRequests {
                every: 5,
                seconds: 1,
            },
            Expect::Converges,
            &[],
        ),
        (
            "500 on every 4th request",
            Fault::ServerError {
                every: 4,
                code: 500,
            },
            Expect::Converges,
            &[],
        ),
        (
            "503 on every 3rd request",
            Fault::ServerError {
                every: 3,
                code: 503,
            },
            Expect::Converges,
            &[],
        ),
        (
            "409 object modified on the 3rd write",
            Fault::ConflictOnWrite {
                nth: 3,
                field_manager: false,
            },
            Expect::Converges,
            &[],
        ),
        (
            "409 field-manager conflict on the 2nd write",
            Fault::ConflictOnWrite {
                nth: 2,
                field_manager: true,
            },
            Expect::OneConflict,
            &[],
        ),
        (
            "watch streams dropped after 300 ms",
            Fault::DropWatch {
                after: Duration::from_millis(300),
            },
            Expect::Converges,
            &[],
        ),
        (
            "every request 503 (server down)",
            Fault::Unavailable,
            Expect::NothingWritten,
            &[],
        ),
    ]
}

/// One workload: how to set the cluster up directly, and what to apply through the proxy.
struct Workload {
    setup: fn(&Ctx),
    args: Vec<String>,
    /// Collections of custom resources that must survive, with their object count.
    objects: Vec<(&'static str, usize)>,
    /// Whether the Established wait always needs a watch. With 13 CRDs the watcher's first list
    /// often finds them all Established already and never opens a watch, so there is nothing to
    /// drop; with 150 new CRDs there always is.
    watch_required: bool,
}

const ROUTES: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes";

fn gateway_workload() -> Workload {
    let policy = write_temp(
        "faults-experimental-policy.yaml",
        "apiVersion: crdguard.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  bundles:\n  - name: gateway-api\n    channel: experimental\n",
    );
    Workload {
        setup: |ctx| {
            let (code, _) = ctx.json(&["apply", &gateway("v1.5.1", "standard"), "-o", "json"]);
            assert_eq!(code, 0, "setup: v1.5.1 standard");
            // Its safe-upgrades policy refuses experimental over standard: removed as its
            // message says (the widening trial checks that the refusal is predicted).
            ctx.remove_safe_upgrades();
            for i in 0..10 {
                ctx.create(ROUTES, http_route(&format!("route-{i}")));
            }
        },
        args: vec![
            gateway("v1.6.1", "experimental"),
            "--policy".into(),
            policy,
            "--allow-breaking".into(),
        ],
        objects: vec![(ROUTES, 10)],
        watch_required: false,
    }
}

fn upjet_workload() -> Workload {
    Workload {
        setup: |ctx| {
            let (code, _) = ctx.json(&["apply", &upjet_subset(50), "-o", "json"]);
            assert_eq!(code, 0, "setup: 50 upjet CRDs");
        },
        args: vec![upjet_subset(200)],
        objects: vec![],
        watch_required: true,
    }
}

pub fn gateway_api_under_faults(ctx: &Ctx) -> Result<(), Failed> {
    run_matrix(ctx, &gateway_workload())
}

pub fn upjet_subset_under_faults(ctx: &Ctx) -> Result<(), Failed> {
    run_matrix(ctx, &upjet_workload())
}

/// What the invariants compare: per CRD, its bundle version and channel annotations.
type Facts = BTreeMap<String, (Option<String>, Option<String>)>;

fn facts(ctx: &Ctx) -> Facts {
    ctx.crds()
        .iter()
        .map(|c| {
            let annotation = |key: &str| {
                c["metadata"]["annotations"][key]
                    .as_str()
                    .map(str::to_string)
            };
            (
                c["metadata"]["name"].as_str().unwrap().to_string(),
                (
                    annotation("gateway.networking.k8s.io/bundle-version"),
                    annotation("gateway.networking.k8s.io/channel"),
                ),
            )
        })
        .collect()
}

fn semver(tag: &str) -> semver::Version {
    semver::Version::parse(tag.trim_start_matches('v')).unwrap()
}

/// No CRD deleted, no bundle version lowered, no channel narrowed, no object lost.
fn invariants(
    ctx: &Ctx,
    before: &Facts,
    objects: &[(&str, usize)],
    label: &str,
) -> Result<(), Failed> {
    let after = facts(ctx);
    for (name, (version, channel)) in before {
        let Some((now_version, now_channel)) = after.get(name) else {
            return Err(format!("{label}: CRD {name} was deleted").into());
        };
        if let (Some(v), Some(n)) = (version, now_version) {
            check(
                semver(n) >= semver(v),
                format!("{label}: {name} lowered from {v} to {n}"),
            )?;
        }
        check(
            !(channel.as_deref() == Some("experimental")
                && now_channel.as_deref() == Some("standard")),
            format!("{label}: {name} narrowed to standard"),
        )?;
    }
    for (collection, count) in objects {
        let now = ctx.count(collection);
        check(
            now == *count,
            format!("{label}: {now} objects in {collection}, expected {count}"),
        )?;
    }
    Ok(())
}

fn run_matrix(ctx: &Ctx, workload: &Workload) -> Result<(), Failed> {
    let proxy = ctx.proxy();
    let mut survived = Vec::new();
    // CRDGUARD_FAULTS=<text> runs only the faults whose label contains it (for debugging).
    let only = std::env::var("CRDGUARD_FAULTS").ok();
    let rounds: usize = std::env::var("CRDGUARD_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let selected = faults()
        .into_iter()
        .filter(|(label, ..)| only.as_deref().is_none_or(|o| label.contains(o)));
    let selected: Vec<_> = selected.collect();
    for (label, fault, expect, extra) in (0..rounds).flat_map(|_| selected.iter().cloned()) {
        ctx.reset();
        proxy.set(Fault::Pass);
        (workload.setup)(ctx);
        let before = facts(ctx);
        let versions_before = ctx.versions();
        let mut plan_args: Vec<String> = vec!["plan".into()];
        plan_args.extend(workload.args.iter().cloned());
        let plan: Value = serde_json::from_slice(&through_proxy(ctx, &plan_args).stdout).unwrap();
        let writes = actions(&plan)
            .iter()
            .filter(|(_, a, _)| a == "create" || a == "upgrade")
            .count();
        check(writes > 0, format!("{label}: the workload writes nothing"))?;

        proxy.set(fault.clone());
        let started = Instant::now();
        let mut args: Vec<String> = vec!["apply".into()];
        args.extend(workload.args.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = through_proxy(ctx, &args);
        let elapsed = started.elapsed();
        let log = proxy.log();
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let context = format!(
            "{label}: exit {code} after {elapsed:?}, {} requests, {} faults\nstderr: {stderr}\napply: {}",
            log.len(),
            proxy.injected(),
            report["apply"]
        );
        let watched = log.iter().any(|r| r.path.contains("watch="));
        let exercisable =
            workload.watch_required || watched || !matches!(fault, Fault::DropWatch { .. });
        check(
            !exercisable || proxy.injected() > 0,
            format!("no fault injected. {context}"),
        )?;
        invariants(ctx, &before, &workload.objects, label)?;
        match expect {
            Expect::Converges => {
                check(code == 0, format!("expected exit 0. {context}"))?;
                let applied = report["apply"]["applied"].as_array().unwrap().len();
                check(
                    applied == writes,
                    format!("applied {applied} of {writes}. {context}"),
                )?;
                check(
                    report["apply"]["notEstablished"]
                        .as_array()
                        .unwrap()
                        .is_empty(),
                    format!("not established. {context}"),
                )?;
            }
            Expect::OneConflict => {
                check(code == 1, format!("expected exit 1. {context}"))?;
                let conflicts = report["apply"]["conflicts"].as_array().unwrap();
                check(conflicts.len() == 1, format!("conflicts. {context}"))?;
                let name = conflicts[0]["crd"].as_str().unwrap();
                check(
                    actions(&report)
                        .iter()
                        .any(|(c, a, r)| c == name && a == "conflict" && r == "owned-by-other"),
                    format!("the conflict is not in the items. {context}"),
                )?;
                let applied = report["apply"]["applied"].as_array().unwrap().len();
                check(applied == 0, format!("applied {applied}. {context}"))?;
                check(
                    ctx.versions() == versions_before,
                    format!("something was written after the dry run was refused. {context}"),
                )?;
            }
            Expect::NothingWritten => {
                check(code == 3, format!("expected exit 3. {context}"))?;
                check(
                    stderr.contains("503") && stderr.lines().count() <= 5,
                    format!("the error does not say what happened. {context}"),
                )?;
                check(
                    ctx.versions() == versions_before,
                    format!("something was written. {context}"),
                )?;
                // Bounded: the first read is tried 5 times (backoff 0.2+0.4+0.8+1.6 s), no more.
                // Counted in requests, not seconds: a loaded machine must not fail this.
                check(log.len() <= 6, format!("retries not bounded. {context}"))?;
            }
        }
        if let Fault::TooManyRequests { seconds, .. } = fault {
            retry_after_honoured(&log, Duration::from_secs(seconds), &context)?;
        }
        if matches!(fault, Fault::DropWatch { .. }) && workload.watch_required {
            check(watched, format!("no watch was made. {context}"))?;
        }

        // A re-run without faults converges; the run after it writes nothing.
        proxy.set(Fault::Pass);
        let mut rerun: Vec<String> = vec!["apply".into()];
        rerun.extend(workload.args.iter().cloned());
        let out = through_proxy(ctx, &rerun);
        check(
            out.status.code() == Some(0),
            format!(
                "{label}: re-run exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ),
        )?;
        invariants(ctx, &before, &workload.objects, label)?;
        let mut replan: Vec<String> = vec!["plan".into()];
        replan.extend(workload.args.iter().cloned());
        let out = through_proxy(ctx, &replan);
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        check(
            out.status.code() == Some(0) && all_actions(&plan, "unchanged"),
            format!(
                "{label}: third run not a no-op: {}: {:?}",
                plan["summary"],
                plan["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|i| i["action"] != "unchanged")
                    .map(|i| format!("{} {} {}", i["crd"], i["action"], i["reasons"]))
                    .collect::<Vec<_>>()
            ),
        )?;
        survived.push(format!(
            "{label}: exit {code}, {} faults in {} requests, {elapsed:.1?}",
            log.iter().filter(|r| r.injected.is_some()).count(),
            log.len()
        ));
    }
    eprintln!("faults survived:\n  {}", survived.join("\n  "));
    Ok(())
}

/// After a 429, the retry of that request (the same request id, the next attempt) came no
/// sooner than Retry-After asked, counted from when the 429 left the proxy. Requests are paired
/// by crdguard's request id, never by method and path: several callers list the same path.
fn retry_after_honoured(log: &[Record], wait: Duration, context: &str) -> Result<(), Failed> {
    let mut checked = 0;
    for record in log.iter().filter(|r| r.injected.as_deref() == Some("429")) {
        let (Some(id), Some(attempt)) = (&record.request_id, record.attempt) else {
            return Err(format!(
                "{} {} carries no request id or attempt header. {context}",
                record.method, record.path
            )
            .into());
        };
        let retry = log
            .iter()
            .find(|r| r.request_id.as_ref() == Some(id) && r.attempt == Some(attempt + 1));
        let Some(retry) = retry else {
            // The process may have ended for another reason first; only a retry is judged.
            continue;
        };
        let gap = retry.at.duration_since(record.at);
        check(
            gap >= wait,
            format!(
                "{} {} (request {id}) retried after {gap:?}, Retry-After was {wait:?}. {context}",
                record.method, record.path
            ),
        )?;
        checked += 1;
    }
    check(checked > 0, format!("no retried 429. {context}"))
}

fn through_proxy(ctx: &Ctx, args: &[String]) -> Output {
    let mut full: Vec<String> = args.to_vec();
    full.extend([
        "--kubeconfig".to_string(),
        ctx.proxy_kubeconfig.clone(),
        "-o".into(),
        "json".into(),
    ]);
    Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args(&full)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

// ---------------------------------------------------------------- signals

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// SIGTERM in the middle of applying 400 upjet CRDs: the writes in flight finish, nothing new
/// starts, exit 1, the report accounts for every CRD (written or not sent) and matches the
/// cluster exactly; the same command then resumes and converges.
pub fn sigterm_during_apply(ctx: &Ctx) -> Result<(), Failed> {
    let source = upjet_subset(400);
    // Every request slowed by the proxy, so the apply is certainly still writing when the
    // signal comes (without it, a fast machine could finish all 400 first).
    ctx.proxy().set(Fault::Delay {
        every: 1,
        delay: Duration::from_millis(40),
    });
    let child = ctx.apply_in_background(&source, &ctx.proxy_kubeconfig, 40);
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            ctx.proxy().set(Fault::Pass);
            return Err(e);
        }
    };
    send_signal(child.id(), "TERM");
    let signalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stopped_after = signalled.elapsed();
    ctx.proxy().set(Fault::Pass);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    check(
        out.status.code() == Some(1),
        format!("exit {:?} after SIGTERM: {stderr}", out.status.code()),
    )?;
    check(
        // Writes in flight finish (each bounded by the request timeout, 30 s); none starts.
        stopped_after < Duration::from_secs(30),
        format!("took {stopped_after:?} to stop"),
    )?;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let apply = &report["apply"];
    let stopped = apply["stopped"].as_str().unwrap_or("");
    check(
        stopped.contains("interrupted by SIGTERM") && stopped.contains("run the same command"),
        format!("stop reason: {stopped}"),
    )?;
    let names = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = apply[key]
            .as_array()
            .map(|a| a.iter().map(|n| n.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let applied = names("applied");
    let not_sent = names("notSent");
    check(
        !not_sent.is_empty() && applied.len() + not_sent.len() == 400,
        format!(
            "{} applied + {} not sent, failed: {}",
            applied.len(),
            not_sent.len(),
            apply["failed"]
        ),
    )?;
    let mut in_cluster: Vec<String> = ctx
        .crds()
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    in_cluster.sort();
    check(
        in_cluster == applied,
        format!(
            "the report says {} written, the cluster has {}",
            applied.len(),
            in_cluster.len()
        ),
    )?;
    // The same command resumes: it writes exactly what was not sent.
    let (code, report) = ctx.json(&["apply", &source, "-o", "json"]);
    check(
        code == 0,
        format!("resume exit {code}: {}", report["apply"]),
    )?;
    let mut resumed: Vec<String> = report["apply"]["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    resumed.sort();
    check(
        resumed == not_sent,
        format!(
            "resume wrote {} CRDs, {} were not sent",
            resumed.len(),
            not_sent.len()
        ),
    )?;
    let (code, plan) = ctx.json(&["plan", &source, "-o", "json"]);
    check(
        code == 0 && all_actions(&plan, "unchanged"),
        format!("third run: {}", plan["summary"]),
    )?;
    Ok(())
}

/// SIGINT in the middle of a storage migration of 200 GRPCRoutes (slowed by the proxy): it stops
/// between two objects with exit 1 and storedVersions untouched; running it again finishes the
/// migration with every object intact.
pub fn sigint_during_migrate(ctx: &Ctx) -> Result<(), Failed> {
    const OBJECTS: usize = 200;
    grpc_routes_stored_in_v1alpha2(ctx, OBJECTS, |_, _| {})?;
    let crd = "grpcroutes.gateway.networking.k8s.io";
    let crd_path = GRPC_CRD_PATH;
    let specs = grpc_specs;
    let before = specs(ctx);
    check(
        before.len() == OBJECTS,
        "objects missing before the migration",
    )?;

    let proxy = ctx.proxy();
    proxy.set(Fault::Delay {
        every: 1,
        delay: Duration::from_millis(40),
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_crdguard"))
        .args(["migrate", crd, "--kubeconfig", &ctx.proxy_kubeconfig])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while proxy.log().iter().filter(|r| r.method == "PUT").count() < 40 {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("migrate made no progress".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    send_signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    proxy.set(Fault::Pass);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    check(
        out.status.code() == Some(1),
        format!("exit {:?} after SIGINT: {stderr}", out.status.code()),
    )?;
    check(
        stderr.contains("interrupted by SIGINT") && stderr.contains("run the same command again"),
        format!("stderr: {stderr}"),
    )?;
    let stored = ctx.get(crd_path)["status"]["storedVersions"].clone();
    check(
        stored == serde_json::json!(["v1alpha2", "v1"]),
        format!("storedVersions touched by an interrupted migration: {stored}"),
    )?;
    check(
        specs(ctx) == before,
        "objects changed or lost by the interruption",
    )?;

    let out = ctx.crdguard(&["migrate", crd, "-o", "json"]);
    check(
        out.status.code() == Some(0),
        format!(
            "resumed migrate exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check(
        report["objectsBefore"] == OBJECTS && report["objectsAfter"] == OBJECTS,
        format!("{report}"),
    )?;
    let stored = ctx.get(crd_path)["status"]["storedVersions"].clone();
    check(
        stored == serde_json::json!(["v1"]),
        format!("storedVersions after the resumed migration: {stored}"),
    )?;
    check(
        specs(ctx) == before,
        "objects changed or lost by the migration",
    )?;
    Ok(())
}
