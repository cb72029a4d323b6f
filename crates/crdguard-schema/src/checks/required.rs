//! `required`: a field that becomes required on an object that already existed.
//!
//! Only nodes present on both sides get here: an object that is itself new cannot hold stored
//! data, so whatever it requires is fine (the walk does not descend into new fields).

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::Severity;
use crate::json::strings_of;
use crate::walk::Walker;

pub(crate) fn check(w: &mut Walker<'_>, o: &Map<String, Value>, n: &Map<String, Value>) {
    let (was, now) = (strings_of(o, "required"), strings_of(n, "required"));
    let old_props = o.get("properties").and_then(Value::as_object);
    let new_props = n.get("properties").and_then(Value::as_object);
    for name in now.iter().filter(|name| !was.contains(name)) {
        let existed = old_props.is_some_and(|p| p.contains_key(*name));
        let defaulted = new_props
            .and_then(|p| p.get(*name))
            .and_then(Value::as_object)
            .is_some_and(|field| field.contains_key("default"));
        let what = if existed {
            format!("field {name:?} is now required")
        } else {
            format!("new field {name:?} is required")
        };
        if defaulted {
            // The API server fills defaults in before validating (and when reading from etcd),
            // so objects without the field still pass; a default is an explicit choice though.
            w.report_field(
                name,
                Severity::Warning,
                Check::RequiredFieldAdded,
                format!(
                    "{what}; it has a default, which the API server fills into objects that lack it"
                ),
            );
        } else {
            w.report_field(
                name,
                Severity::Error,
                Check::RequiredFieldAdded,
                format!("{what}; existing objects without it fail validation on their next update"),
            );
        }
    }
    for name in was.iter().filter(|name| !now.contains(name)) {
        w.report_field(
            name,
            Severity::Info,
            Check::RequiredFieldRemoved,
            format!("field {name:?} is no longer required"),
        );
    }
}
