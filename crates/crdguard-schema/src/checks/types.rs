//! What kind of value a field holds: `type`, `format`, `nullable`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::Severity;
use crate::json::{flag, show};
use crate::keyword::{Keyword, KeywordSet};
use crate::walk::Walker;

pub(crate) fn check(
    w: &mut Walker<'_>,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    changed: KeywordSet,
) {
    let int_or_string = "x-kubernetes-int-or-string";
    if changed.contains(Keyword::IntOrString) && flag(o, int_or_string) != flag(n, int_or_string) {
        // Clients decode such fields into a dedicated int-or-string type; switching in either
        // direction breaks them even where the set of accepted values grows.
        let (was, now) = (flag(o, int_or_string), flag(n, int_or_string));
        w.report(
            Severity::Error,
            Check::IntOrStringChanged,
            format!(
                "x-kubernetes-int-or-string changed from {was} to {now} (type was {}, now {})",
                describe(o.get("type")),
                describe(n.get("type"))
            ),
        );
    } else if changed.contains(Keyword::Type) {
        w.report(
            Severity::Error,
            Check::TypeChanged,
            format!(
                "type changed from {} to {}",
                describe(o.get("type")),
                describe(n.get("type"))
            ),
        );
    }

    if changed.contains(Keyword::Format) {
        let (was, now) = (o.get("format"), n.get("format"));
        let severity = if now.is_none() {
            Severity::Info
        } else {
            Severity::Warning
        };
        w.report(
            severity,
            Check::FormatChanged,
            format!("format changed from {} to {}", describe(was), describe(now)),
        );
    }

    if changed.contains(Keyword::Nullable) {
        match (flag(o, "nullable"), flag(n, "nullable")) {
            (true, false) => w.report(
                Severity::Error,
                Check::NullableRemoved,
                "nullable removed: null is no longer accepted (stored nulls fail validation on the next update)",
            ),
            (false, true) => w.report(
                Severity::Info,
                Check::NullableAdded,
                "nullable added: null is accepted from now on",
            ),
            _ => {}
        }
    }

    let embedded = "x-kubernetes-embedded-resource";
    if changed.contains(Keyword::EmbeddedResource) && flag(o, embedded) != flag(n, embedded) {
        // Embedded resources get apiVersion/kind/metadata validated and metadata pruned.
        w.report(
            Severity::Error,
            Check::EmbeddedResourceChanged,
            format!(
                "x-kubernetes-embedded-resource changed from {} to {}",
                flag(o, embedded),
                flag(n, embedded)
            ),
        );
    }
}

fn describe(value: Option<&Value>) -> String {
    value.map_or_else(|| "none".to_string(), show)
}
