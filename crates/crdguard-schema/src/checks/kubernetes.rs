//! Kubernetes structural-schema extensions that change how the API server stores and merges
//! data: `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::Severity;
use crate::json::{flag, show_list_of, str_of, strings_of};
use crate::keyword::{Keyword, KeywordSet};
use crate::walk::Walker;

pub(crate) fn check(
    w: &mut Walker<'_>,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    changed: KeywordSet,
) {
    let preserve = "x-kubernetes-preserve-unknown-fields";
    if changed.contains(Keyword::PreserveUnknownFields) {
        match (flag(o, preserve), flag(n, preserve)) {
            (true, false) => w.report(
                Severity::Error,
                Check::PreserveUnknownFieldsRemoved,
                "x-kubernetes-preserve-unknown-fields removed: unknown fields are pruned from stored objects from now on",
            ),
            (false, true) => w.report(
                Severity::Info,
                Check::PreserveUnknownFieldsAdded,
                "x-kubernetes-preserve-unknown-fields added: unknown fields are kept from now on",
            ),
            _ => {}
        }
    }
    // Absent list type means `atomic`, absent map type means `granular` (Kubernetes defaults),
    // so spelling out the default is no change.
    if changed.contains(Keyword::ListType) {
        let (was, now) = (
            str_of(o, "x-kubernetes-list-type").unwrap_or("atomic"),
            str_of(n, "x-kubernetes-list-type").unwrap_or("atomic"),
        );
        if was != now {
            w.report(
                Severity::Error,
                Check::ListTypeChanged,
                format!("x-kubernetes-list-type changed from {was} to {now}"),
            );
        }
    }
    if changed.contains(Keyword::ListMapKeys) {
        let (was, now) = (
            strings_of(o, "x-kubernetes-list-map-keys"),
            strings_of(n, "x-kubernetes-list-map-keys"),
        );
        // Keys form a set: their order does not matter to the API server.
        let same_keys = was.len() == now.len() && was.iter().all(|k| now.contains(k));
        if !same_keys {
            w.report(
                Severity::Error,
                Check::ListMapKeysChanged,
                format!(
                    "x-kubernetes-list-map-keys changed from {} to {}",
                    show_list_of(was.iter().map(|s| s.to_string())),
                    show_list_of(now.iter().map(|s| s.to_string()))
                ),
            );
        }
    }
    if changed.contains(Keyword::MapType) {
        let (was, now) = (
            str_of(o, "x-kubernetes-map-type").unwrap_or("granular"),
            str_of(n, "x-kubernetes-map-type").unwrap_or("granular"),
        );
        if was != now {
            w.report(
                Severity::Error,
                Check::MapTypeChanged,
                format!("x-kubernetes-map-type changed from {was} to {now}"),
            );
        }
    }
}
