//! Saved plans (SPEC §11): `plan -o json` against a live cluster holds every desired object
//! with its digest, the policy, the cluster's identity and a digest over all of them;
//! `apply --plan FILE` checks that the file is whole and unedited and made for this cluster,
//! then applies exactly its decisions, or refuses when the cluster moved on.
//!
//! The digests catch a plan edited by hand or cut short; they are not a signature (anyone who
//! recomputes them can forge a plan), which is what a pull request review and branch
//! protection are for.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crdguard_catalog::digest::sha256_of;
use crdguard_core::DesiredState;
use crdguard_core::plan::PLAN_API_VERSION;
use crdguard_core::plan::{DesiredObject, Plan, SavedPlan};
use crdguard_core::policy::Policy;

use crate::error::CommandError;

/// Adds what `apply --plan` needs to a live plan; snapshot plans are left as they are (they
/// name no cluster to apply to).
pub fn seal(plan: &mut Plan, desired: &DesiredState, policy: &Policy) -> Result<(), CommandError> {
    if plan.cluster.id.is_none() {
        return Ok(());
    }
    let mut objects: Vec<DesiredObject> = desired
        .crds
        .iter()
        .map(|crd| desired_object("CustomResourceDefinition", &crd.name, &crd.object))
        .chain(
            desired
                .companions
                .iter()
                .map(|o| desired_object(&o.kind, &o.name, &o.object)),
        )
        .collect();
    objects.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    let policy = serde_json::to_value(policy).map_err(|e| {
        CommandError::internal(format!("cannot record the policy in the plan: {e}"))
    })?;
    plan.saved = Some(SavedPlan {
        desired_objects: objects,
        policy,
        plan_digest: String::new(),
    });
    let value = serde_json::to_value(&*plan)
        .map_err(|e| CommandError::internal(format!("cannot write the plan: {e}")))?;
    let digest = plan_digest(&value);
    if let Some(saved) = plan.saved.as_mut() {
        saved.plan_digest = digest;
    }
    Ok(())
}

fn desired_object(kind: &str, name: &str, object: &Value) -> DesiredObject {
    DesiredObject {
        kind: kind.to_string(),
        name: name.to_string(),
        digest: sha256_of(object),
        object: object.clone(),
    }
}

/// The digest of what a saved plan decides: the cluster, the options, every item's action,
/// step and observed resourceVersion, every desired object's digest, and the policy.
fn plan_digest(plan: &Value) -> String {
    let items: Vec<Value> = plan["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            json!({
                "crd": i["crd"], "kind": i["kind"], "action": i["action"], "step": i["step"],
                "observedResourceVersion": i["observedResourceVersion"],
            })
        })
        .collect();
    let objects: Vec<Value> = plan["desiredObjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| json!({ "kind": o["kind"], "name": o["name"], "digest": o["digest"] }))
        .collect();
    sha256_of(&json!({
        "apiVersion": plan["apiVersion"],
        "cluster": plan["cluster"]["id"],
        "overrides": plan["overrides"],
        "items": items,
        "desiredObjects": objects,
        "policy": plan["policy"],
    }))
}

/// One item of a saved plan, as reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedItem {
    pub action: String,
    pub step: String,
    pub observed_resource_version: Option<String>,
}

/// A saved plan read back and verified.
pub struct Opened {
    pub cluster_id: String,
    pub desired: DesiredState,
    pub policy: Policy,
    pub take_ownership: bool,
    pub allow_breaking: bool,
    pub migrate: bool,
    /// `--release` of the plan: the Helm release whose CRDs it treated as the user's own.
    pub identity: crdguard_core::owner::Identity,
    /// By item name (`crd`).
    pub items: BTreeMap<String, SavedItem>,
}

/// Reads and verifies a saved plan: exit 2 for anything but a whole, unedited live plan of
/// this crdguard's format.
pub fn open(path: &Path) -> Result<Opened, CommandError> {
    let shown = path.display();
    let bad = |message: String| CommandError::usage(format!("{shown}: {message}"));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let plan: Value = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a saved plan: not valid JSON ({e}); save one with `crdguard plan ... -o json > plan.json`"
        ))
    })?;
    let field = |pointer: &str| plan.pointer(pointer).and_then(Value::as_str);
    if field("/kind") != Some("Plan") {
        return Err(bad(format!(
            "field `kind`: expected \"Plan\", found {}",
            plan.get("kind")
                .map_or("nothing".to_string(), Value::to_string)
        )));
    }
    match field("/apiVersion") {
        Some(PLAN_API_VERSION) => {}
        other => {
            return Err(bad(format!(
                "field `apiVersion`: this crdguard reads {PLAN_API_VERSION} plans, found {}",
                other.unwrap_or("nothing")
            )));
        }
    }
    let Some(cluster_id) = field("/cluster/id") else {
        return Err(bad(
            "field `cluster.id` is missing: only a plan made against a live cluster can be applied \
             (a snapshot names no cluster)"
                .into(),
        ));
    };
    let Some(recorded) = field("/planDigest") else {
        return Err(bad("field `planDigest` is missing: not a saved plan".into()));
    };
    if plan_digest(&plan) != recorded {
        return Err(bad(
            "field `planDigest` does not match the plan's items, objects and policy: it was \
             edited after it was saved; plan again"
                .into(),
        ));
    }
    let objects: Vec<DesiredObject> = serde_json::from_value(plan["desiredObjects"].clone())
        .map_err(|e| bad(format!("field `desiredObjects`: {e}")))?;
    let mut stream = String::new();
    for (index, object) in objects.iter().enumerate() {
        if sha256_of(&object.object) != object.digest {
            return Err(bad(format!(
                "desiredObjects[{index}] ({} {}): its content does not match its digest: it was \
                 edited after the plan was saved; plan again",
                object.kind, object.name
            )));
        }
        stream.push_str("---\n");
        stream.push_str(&serde_json::to_string(&object.object).unwrap_or_default());
        stream.push('\n');
    }
    let options = crate::session::input_options();
    let source = format!("{shown} (desiredObjects)");
    let loaded = crdguard_core::load::load_text(&source, &stream, options.parse)?;
    let desired = DesiredState::from_loaded(loaded)?;
    let policy: Policy = serde_json::from_value(plan["policy"].clone())
        .map_err(|e| bad(format!("field `policy`: {e}")))?;
    let flag = |name: &str| plan["overrides"][name].as_bool().unwrap_or(false);
    let mut items = BTreeMap::new();
    for (index, item) in plan["items"].as_array().into_iter().flatten().enumerate() {
        let text = |key: &str| {
            item[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("items[{index}]: field `{key}` is missing")))
        };
        items.insert(
            text("crd")?,
            SavedItem {
                action: text("action")?,
                step: text("step")?,
                observed_resource_version: item["observedResourceVersion"]
                    .as_str()
                    .map(str::to_string),
            },
        );
    }
    Ok(Opened {
        cluster_id: cluster_id.to_string(),
        desired,
        policy,
        take_ownership: flag("takeOwnership"),
        allow_breaking: flag("allowBreaking"),
        migrate: flag("migrate"),
        identity: crdguard_core::owner::Identity {
            helm_release: plan["overrides"]["release"]["name"].as_str().map(|name| {
                let namespace = plan["overrides"]["release"]["namespace"]
                    .as_str()
                    .unwrap_or("default");
                (name.to_string(), namespace.to_string())
            }),
        },
        items,
    })
}

/// How the plan made now differs from the saved one, by item: an object that changed,
/// appeared or disappeared since (its resourceVersion), or a decision that is not the same.
pub fn differences(saved: &BTreeMap<String, SavedItem>, now: &Plan) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for item in &now.items {
        let Some(was) = saved.get(&item.crd) else {
            found.push((item.crd.clone(), "not in the saved plan".to_string()));
            continue;
        };
        if was.observed_resource_version != item.observed_resource_version {
            let describe = |v: &Option<String>| match v {
                Some(v) => format!("resourceVersion {v}"),
                None => "absent".to_string(),
            };
            found.push((
                item.crd.clone(),
                format!(
                    "changed since the plan was saved: {} then, {} now",
                    describe(&was.observed_resource_version),
                    describe(&item.observed_resource_version)
                ),
            ));
            continue;
        }
        let action = item.action.as_str();
        let step = serde_json::to_value(&item.step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if was.action != action || was.step != step {
            found.push((
                item.crd.clone(),
                format!(
                    "decided differently now: {} ({}) in the saved plan, {action} ({step}) now",
                    was.action, was.step
                ),
            ));
        }
    }
    for name in saved.keys() {
        if !now.items.iter().any(|i| &i.crd == name) {
            found.push((
                name.clone(),
                "in the saved plan, not in the plan made now".into(),
            ));
        }
    }
    found
}
