//! Loading: text of one source → CRDs and other objects. Pure: the caller reads the bytes.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde_json::Value;

use crate::error::InputError;
use crate::model::{Crd, CrdVersion, FieldManager, Origin};
use crate::yaml::{self, Limits, ParseFailure};

const CRD_API_VERSION: &str = "apiextensions.k8s.io/v1";
const CRD_KIND: &str = "CustomResourceDefinition";

/// A document that is not a CRD (admission policies in snapshots, stray objects in charts).
#[derive(Debug, Clone)]
pub struct OtherObject {
    pub origin: Origin,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub object: Value,
}

impl OtherObject {
    pub fn describe(&self) -> String {
        let kind = if self.kind.is_empty() {
            "object without kind"
        } else {
            &self.kind
        };
        if self.name.is_empty() {
            kind.to_string()
        } else {
            format!("{kind} {}", self.name)
        }
    }
}

/// Everything read from one source.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub crds: Vec<Crd>,
    pub others: Vec<OtherObject>,
    /// Annotations of `List` documents (a `crdguard snapshot` records the server version there).
    pub list_annotations: BTreeMap<String, String>,
    /// How many `List` documents were read (an explicit empty List is an empty cluster).
    pub lists: usize,
}

impl Loaded {
    pub fn extend(&mut self, other: Loaded) {
        self.crds.extend(other.crds);
        self.others.extend(other.others);
        self.list_annotations.extend(other.list_annotations);
        self.lists += other.lists;
    }
}

/// Loads every document of `text` (YAML or JSON; multi-document streams; `v1 List`s).
/// Documents are parsed in parallel; the first error in document order is returned.
pub fn load_text(source: &str, text: &str, limits: Limits) -> Result<Loaded, InputError> {
    let docs = yaml::split_documents(text);
    let parsed: Vec<Result<Loaded, InputError>> = docs
        .par_iter()
        .map(|doc| {
            let value = yaml::parse_document(doc, limits).map_err(|failure| {
                let err = InputError::new(source, "").document(doc.index);
                match failure {
                    ParseFailure::TooLarge {
                        bytes,
                        limit,
                        item,
                        line,
                        json,
                    } => {
                        let what = match (item, json) {
                            (Some(_), _) => "List item",
                            (None, true) => "JSON document",
                            (None, false) => "document",
                        };
                        let raise = if json {
                            format!(
                                "JSON may be {} times CRDGUARD_MAX_DOCUMENT_BYTES; raise that",
                                yaml::JSON_LIMIT_FACTOR
                            )
                        } else {
                            "raise it with CRDGUARD_MAX_DOCUMENT_BYTES".to_string()
                        };
                        InputError {
                            message: format!(
                                "{what} is {bytes} bytes, more than the limit of {limit} bytes \
                                 ({raise})"
                            ),
                            item,
                            ..err
                        }
                        .line(line.or(Some(doc.line)))
                    }
                    ParseFailure::Syntax { message, line } => {
                        InputError { message, ..err }.line(line)
                    }
                }
            })?;
            let mut loaded = Loaded::default();
            if let Some(value) = value {
                load_value(source, doc.index, value, &mut loaded)?;
            }
            Ok(loaded)
        })
        .collect();
    let mut all = Loaded::default();
    for result in parsed {
        all.extend(result?);
    }
    Ok(all)
}

fn load_value(
    source: &str,
    document: usize,
    value: Value,
    into: &mut Loaded,
) -> Result<(), InputError> {
    let origin = Origin {
        source: source.to_string(),
        document,
        item: None,
    };
    if !value.is_object() {
        return Err(InputError::at_origin(
            &origin,
            format!(
                "expected a Kubernetes object (a mapping), found {}",
                json_type(&value)
            ),
        ));
    }
    if is_list(&value) {
        let Value::Object(mut list) = value else {
            return Ok(());
        };
        into.lists += 1;
        if let Some(annotations) = list.get("metadata").and_then(|m| m.get("annotations")) {
            into.list_annotations
                .extend(string_map(annotations, &origin, "metadata.annotations")?);
        }
        let items = match list.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => {
                return Err(InputError::at_origin(
                    &origin,
                    format!("expected a list, found {}", json_type(&other)),
                )
                .field("items"));
            }
        };
        for (index, item) in items.into_iter().enumerate() {
            let origin = Origin {
                item: Some(index),
                ..origin.clone()
            };
            classify_object(origin, item, into)?;
        }
        return Ok(());
    }
    classify_object(origin, value, into)
}

fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || (k.ends_with("List") && value.get("items").is_some()))
}

fn classify_object(origin: Origin, value: Value, into: &mut Loaded) -> Result<(), InputError> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind == CRD_KIND && api_version.starts_with("apiextensions.k8s.io/") {
        if api_version != CRD_API_VERSION {
            return Err(InputError::at_origin(
                &origin,
                format!(
                    "{api_version} CustomResourceDefinitions are not supported (removed in \
                     Kubernetes 1.22); convert it to {CRD_API_VERSION}"
                ),
            )
            .field("apiVersion"));
        }
        into.crds.push(crd_from_value(origin, value)?);
    } else {
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        into.others.push(OtherObject {
            origin,
            api_version,
            kind,
            name,
            object: value,
        });
    }
    Ok(())
}

/// Validates a CRD object and extracts what crdguard reasons about. The checks are the ones that
/// make a CRD unusable (the API server would reject it), each naming the field.
pub fn crd_from_value(origin: Origin, object: Value) -> Result<Crd, InputError> {
    let err = |field: &str, message: String| InputError::at_origin(&origin, message).field(field);
    let text = |path: &str, field: &str| -> Result<String, InputError> {
        match object.pointer(path) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                Err(err(field, "required field is missing or empty".into()))
            }
            Some(other) => Err(err(
                field,
                format!("expected a string, found {}", json_type(other)),
            )),
        }
    };
    // A wrong type higher up must be named as such, not as a missing field below it.
    for (path, field) in [
        ("/metadata", "metadata"),
        ("/spec", "spec"),
        ("/spec/names", "spec.names"),
    ] {
        expect_mapping(object.pointer(path), &|message| err(field, message))?;
    }
    let name = text("/metadata/name", "metadata.name")?;
    let group = text("/spec/group", "spec.group")?;
    let kind = text("/spec/names/kind", "spec.names.kind")?;
    let plural = text("/spec/names/plural", "spec.names.plural")?;
    let scope = text("/spec/scope", "spec.scope")?;
    if scope != "Namespaced" && scope != "Cluster" {
        return Err(err(
            "spec.scope",
            format!("must be Namespaced or Cluster, found {scope:?}"),
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(err(
            "metadata.name",
            format!("{name:?} must be <spec.names.plural>.<spec.group> = \"{plural}.{group}\""),
        ));
    }
    let versions = parse_versions(&object, &err)?;
    let metadata = object.get("metadata");
    let labels = match metadata.and_then(|m| m.get("labels")) {
        Some(v) => string_map(v, &origin, "metadata.labels")?,
        None => BTreeMap::new(),
    };
    let annotations = match metadata.and_then(|m| m.get("annotations")) {
        Some(v) => string_map(v, &origin, "metadata.annotations")?,
        None => BTreeMap::new(),
    };
    // An empty list says nothing either: a served CRD always has at least one stored version,
    // and files generated by older controller-gen carry `status: {storedVersions: []}` (Gateway
    // API's own releases up to v0.6 do), so an install file given as a snapshot must not read
    // as "nothing stored".
    let stored_versions_known = matches!(
        object.pointer("/status/storedVersions"),
        Some(Value::Array(items)) if !items.is_empty()
    );
    let stored_versions = match object.pointer("/status/storedVersions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    err("status.storedVersions", "expected a list of strings".into())
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(err(
                "status.storedVersions",
                format!("expected a list, found {}", json_type(other)),
            ));
        }
    };
    let managed_fields = metadata
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(field_manager).collect())
        .unwrap_or_default();
    Ok(Crd {
        name,
        group,
        kind,
        plural,
        scope,
        versions,
        labels,
        annotations,
        stored_versions,
        stored_versions_known,
        managed_fields,
        origin,
        object,
    })
}

fn parse_versions(
    object: &Value,
    err: &dyn Fn(&str, String) -> InputError,
) -> Result<Vec<CrdVersion>, InputError> {
    let items = match object.pointer("/spec/versions") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(err(
                "spec.versions",
                "a CRD needs at least one version".into(),
            ));
        }
        Some(other) => {
            return Err(err(
                "spec.versions",
                format!("expected a list, found {}", json_type(other)),
            ));
        }
    };
    let mut versions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| format!("spec.versions[{i}].{name}");
        if !item.is_object() {
            return Err(err(
                &format!("spec.versions[{i}]"),
                format!("expected a mapping, found {}", json_type(item)),
            ));
        }
        expect_mapping(item.get("schema"), &|message| {
            err(&field("schema"), message)
        })?;
        expect_mapping(item.pointer("/schema/openAPIV3Schema"), &|message| {
            err(&field("schema.openAPIV3Schema"), message)
        })?;
        let name = match item.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(err(&field("name"), "required string is missing".into())),
        };
        let flag = |key: &str| -> Result<bool, InputError> {
            match item.get(key) {
                Some(Value::Bool(b)) => Ok(*b),
                None | Some(Value::Null) => Ok(false),
                Some(other) => Err(err(
                    &field(key),
                    format!("expected true or false, found {}", json_type(other)),
                )),
            }
        };
        let served = flag("served")?;
        let storage = flag("storage")?;
        if versions.iter().any(|v: &CrdVersion| v.name == name) {
            return Err(err(
                &field("name"),
                format!("version {name:?} is listed twice"),
            ));
        }
        versions.push(CrdVersion {
            name,
            served,
            storage,
        });
    }
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v.storage)
        .map(|v| v.name.as_str())
        .collect();
    match storage.len() {
        1 => Ok(versions),
        0 => Err(err(
            "spec.versions",
            "no version is marked storage: true (exactly one must be)".into(),
        )),
        _ => Err(err(
            "spec.versions",
            format!(
                "{} versions are marked storage: true ({}); exactly one must be",
                storage.len(),
                storage.join(", ")
            ),
        )),
    }
}

/// A field that may be absent or null, but when present must be a mapping.
fn expect_mapping(
    value: Option<&Value>,
    err: &dyn Fn(String) -> InputError,
) -> Result<(), InputError> {
    match value {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(err(format!(
            "expected a mapping, found {}",
            json_type(other)
        ))),
    }
}

/// One `metadata.managedFields` entry, for CRDs and other objects alike.
pub(crate) fn field_manager(entry: &Value) -> Option<FieldManager> {
    let manager = entry.get("manager")?.as_str()?.to_string();
    let operation = entry
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let subresource = entry.get("subresource").and_then(Value::as_str);
    let owns_spec = subresource.is_none()
        && entry
            .get("fieldsV1")
            .and_then(|f| f.get("f:spec"))
            .is_some();
    Some(FieldManager {
        manager,
        operation,
        owns_spec,
    })
}

fn string_map(
    value: &Value,
    origin: &Origin,
    field: &str,
) -> Result<BTreeMap<String, String>, InputError> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(InputError::at_origin(
                    origin,
                    format!(
                        "expected a string value, found {} (quote it)",
                        json_type(other)
                    ),
                )
                .field(format!("{field}.{k}"))),
            })
            .collect(),
        other => Err(InputError::at_origin(
            origin,
            format!("expected a mapping, found {}", json_type(other)),
        )
        .field(field)),
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
