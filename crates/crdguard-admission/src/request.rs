//! The admission request a planned write would make: operation, objects, and the `request`
//! variable (kind, resource, name, user) Kubernetes hands to CEL.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::matching::Attributes;

const GROUP: &str = "apiextensions.k8s.io";
const VERSION: &str = "v1";
const RESOURCE: &str = "customresourcedefinitions";
const KIND: &str = "CustomResourceDefinition";

/// The admission operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One request on a CustomResourceDefinition, as the API server's admission sees it.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionRequest<'a> {
    pub operation: Operation,
    /// `""` for the main resource, `"status"` for the status subresource.
    pub subresource: &'a str,
    /// The object after the write (`None` on DELETE).
    pub object: Option<&'a Value>,
    /// The object before the write (`None` on CREATE).
    pub old_object: Option<&'a Value>,
}

impl<'a> AdmissionRequest<'a> {
    pub fn create(object: &'a Value) -> Self {
        AdmissionRequest {
            operation: Operation::Create,
            subresource: "",
            object: Some(object),
            old_object: None,
        }
    }

    pub fn update(old_object: &'a Value, object: &'a Value) -> Self {
        AdmissionRequest {
            operation: Operation::Update,
            subresource: "",
            object: Some(object),
            old_object: Some(old_object),
        }
    }

    pub fn delete(old_object: &'a Value) -> Self {
        AdmissionRequest {
            operation: Operation::Delete,
            subresource: "",
            object: None,
            old_object: Some(old_object),
        }
    }

    /// The same request against a subresource (`"status"`).
    pub fn on_subresource(self, subresource: &'a str) -> Self {
        AdmissionRequest {
            subresource,
            ..self
        }
    }

    /// `metadata.name` of the object (the old one on DELETE).
    pub fn name(&self) -> &'a str {
        self.object
            .or(self.old_object)
            .and_then(|o| o.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub(crate) fn attributes(&self) -> Attributes<'a> {
        Attributes {
            operation: self.operation.as_str(),
            group: GROUP,
            version: VERSION,
            resource: RESOURCE,
            subresource: self.subresource,
            name: self.name(),
            object: self.object,
            old_object: self.old_object,
        }
    }
}

/// Who crdguard writes as: the `request.userInfo` policies see, and the server-side-apply field
/// manager. Offline we cannot know the kubeconfig's user, so by default this is a service
/// account named after crdguard; set the real identity when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub field_manager: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            username: "system:serviceaccount:crdguard:crdguard".to_string(),
            uid: String::new(),
            groups: vec![
                "system:serviceaccounts".to_string(),
                "system:serviceaccounts:crdguard".to_string(),
                "system:authenticated".to_string(),
            ],
            field_manager: "crdguard".to_string(),
        }
    }
}

/// The `request` variable. Fields the API server leaves empty are present with empty values,
/// so `request.namespace == ''` evaluates instead of failing on a missing key.
pub(crate) fn request_value(request: &AdmissionRequest<'_>, identity: &Identity) -> Value {
    let kind = json!({ "group": GROUP, "version": VERSION, "kind": KIND });
    let resource = json!({ "group": GROUP, "version": VERSION, "resource": RESOURCE });
    // crdguard applies with server-side apply (a PATCH); deletes are not its doing but are
    // evaluated for the guard.
    let options = match request.operation {
        Operation::Delete => json!({ "apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions" }),
        _ => json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PatchOptions",
            "fieldManager": identity.field_manager,
        }),
    };
    json!({
        "uid": "00000000-0000-0000-0000-000000000000",
        "kind": kind,
        "resource": resource,
        "subResource": request.subresource,
        "requestKind": kind,
        "requestResource": resource,
        "requestSubResource": request.subresource,
        "name": request.name(),
        "namespace": "",
        "operation": request.operation.as_str(),
        "userInfo": {
            "username": identity.username,
            "uid": identity.uid,
            "groups": identity.groups,
            "extra": {},
        },
        "dryRun": false,
        "options": options,
    })
}

/// The object the API server would hold after crdguard server-side-applies `desired` over
/// `installed`: what a policy sees as `object` on the UPDATE.
///
/// - Labels and annotations of other field managers survive an apply; one that only crdguard's
///   own apply owned and that `desired` no longer has is removed (read from `managedFields`).
/// - Status, finalizers and server-set metadata are the installed ones: writes to the main
///   resource do not change status, and crdguard never sends the rest.
pub fn applied_object(installed: &Value, desired: &Value, field_manager: &str) -> Value {
    let mut object = desired.clone();
    let Some(obj) = object.as_object_mut() else {
        return object;
    };
    match installed.get("status") {
        Some(status) => obj.insert("status".to_string(), status.clone()),
        None => obj.remove("status"),
    };
    let Some(old_meta) = installed.get("metadata").and_then(Value::as_object) else {
        return object;
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return object;
    };
    for key in [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "finalizers",
        "managedFields",
    ] {
        if let Some(v) = old_meta.get(key) {
            meta.insert(key.to_string(), v.clone());
        }
    }
    for field in ["labels", "annotations"] {
        let Some(old) = old_meta.get(field).and_then(Value::as_object) else {
            continue;
        };
        let (ours, theirs) = owned_keys(installed, field, field_manager);
        let merged = meta
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(merged) = merged.as_object_mut() else {
            continue;
        };
        for (key, value) in old {
            let dropped_by_apply = ours.contains(key) && !theirs.contains(key);
            if !merged.contains_key(key) && !dropped_by_apply {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    object
}

/// Keys of `metadata.<field>` owned by `manager`'s apply, and by anyone else.
fn owned_keys(
    installed: &Value,
    field: &str,
    manager: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut ours = BTreeSet::new();
    let mut theirs = BTreeSet::new();
    let entries = installed
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for entry in entries {
        let keys = entry
            .get("fieldsV1")
            .and_then(|f| f.get("f:metadata"))
            .and_then(|m| m.get(format!("f:{field}")))
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(|k| k.strip_prefix("f:"))
            .map(str::to_string);
        let is_ours = entry.get("manager").and_then(Value::as_str) == Some(manager)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply");
        if is_ours {
            ours.extend(keys);
        } else {
            theirs.extend(keys);
        }
    }
    (ours, theirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_keeps_other_managers_annotations_and_drops_our_own() {
        let installed = json!({
            "metadata": {
                "name": "x.example.com", "uid": "u1",
                "annotations": {"kept": "1", "ours": "2", "shared": "3"},
                "managedFields": [
                    {"manager": "crdguard", "operation": "Apply",
                     "fieldsV1": {"f:metadata": {"f:annotations": {"f:ours": {}, "f:shared": {}}}}},
                    {"manager": "kubectl", "operation": "Update",
                     "fieldsV1": {"f:metadata": {"f:annotations": {"f:kept": {}, "f:shared": {}}}}}
                ]
            },
            "spec": {"group": "example.com"},
            "status": {"storedVersions": ["v1"]}
        });
        let desired = json!({"metadata": {"name": "x.example.com",
                             "annotations": {"new": "4"}}, "spec": {"group": "example.com"}});
        let applied = applied_object(&installed, &desired, "crdguard");
        assert_eq!(
            applied["metadata"]["annotations"],
            json!({"new": "4", "kept": "1", "shared": "3"})
        );
        assert_eq!(applied["metadata"]["uid"], "u1");
        assert_eq!(applied["status"]["storedVersions"], json!(["v1"]));
    }

    #[test]
    fn request_variable_names_the_crd() {
        let obj = json!({"metadata": {"name": "a.b"}});
        let v = request_value(&AdmissionRequest::create(&obj), &Identity::default());
        assert_eq!(v["name"], "a.b");
        assert_eq!(v["operation"], "CREATE");
        assert_eq!(v["resource"]["resource"], "customresourcedefinitions");
        assert_eq!(
            v["userInfo"]["username"],
            "system:serviceaccount:crdguard:crdguard"
        );
    }
}
