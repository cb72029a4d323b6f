//! Value constraints that can only be tightened or loosened: numeric bounds (with their
//! `exclusive*` flags), length/item/property counts, `multipleOf`, `uniqueItems`, `pattern`.
//!
//! Tightening (a stricter limit, or a limit where there was none) is an error: stored objects
//! that met the old limit may fail validation on their next update. Loosening is information.

use serde_json::{Map, Value};

use crate::check::Check;
use crate::finding::Severity;
use crate::json::{flag, num_of, show_num, str_of};
use crate::keyword::{Keyword, KeywordSet};
use crate::walk::Walker;

/// Count limits: keyword, whether it is an upper bound, check names (tightened, loosened).
const COUNTS: [(Keyword, &str, bool, Check, Check); 6] = [
    (
        Keyword::MaxLength,
        "maxLength",
        true,
        Check::MaxLengthTightened,
        Check::MaxLengthLoosened,
    ),
    (
        Keyword::MinLength,
        "minLength",
        false,
        Check::MinLengthTightened,
        Check::MinLengthLoosened,
    ),
    (
        Keyword::MaxItems,
        "maxItems",
        true,
        Check::MaxItemsTightened,
        Check::MaxItemsLoosened,
    ),
    (
        Keyword::MinItems,
        "minItems",
        false,
        Check::MinItemsTightened,
        Check::MinItemsLoosened,
    ),
    (
        Keyword::MaxProperties,
        "maxProperties",
        true,
        Check::MaxPropertiesTightened,
        Check::MaxPropertiesLoosened,
    ),
    (
        Keyword::MinProperties,
        "minProperties",
        false,
        Check::MinPropertiesTightened,
        Check::MinPropertiesLoosened,
    ),
];

pub(crate) fn check(
    w: &mut Walker<'_>,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    changed: KeywordSet,
) {
    if changed.any(&[Keyword::Maximum, Keyword::ExclusiveMaximum]) {
        let (was, now) = (
            Bound::of(o, "maximum", "exclusiveMaximum"),
            Bound::of(n, "maximum", "exclusiveMaximum"),
        );
        compare(
            w,
            "maximum",
            true,
            was,
            now,
            (Check::MaximumTightened, Check::MaximumLoosened),
        );
    }
    if changed.any(&[Keyword::Minimum, Keyword::ExclusiveMinimum]) {
        let (was, now) = (
            Bound::of(o, "minimum", "exclusiveMinimum"),
            Bound::of(n, "minimum", "exclusiveMinimum"),
        );
        compare(
            w,
            "minimum",
            false,
            was,
            now,
            (Check::MinimumTightened, Check::MinimumLoosened),
        );
    }
    for (keyword, name, upper, tightened, loosened) in COUNTS {
        if changed.contains(keyword) {
            let was = num_of(o, name).map(Bound::inclusive);
            let now = num_of(n, name).map(Bound::inclusive);
            compare(w, name, upper, was, now, (tightened, loosened));
        }
    }
    if changed.contains(Keyword::MultipleOf) {
        multiple_of(w, num_of(o, "multipleOf"), num_of(n, "multipleOf"));
    }
    if changed.contains(Keyword::UniqueItems) {
        match (flag(o, "uniqueItems"), flag(n, "uniqueItems")) {
            (false, true) => w.report(
                Severity::Error,
                Check::UniqueItemsAdded,
                "uniqueItems added: lists with duplicate entries are rejected from now on",
            ),
            (true, false) => w.report(
                Severity::Info,
                Check::UniqueItemsRemoved,
                "uniqueItems removed: duplicate entries are accepted from now on",
            ),
            _ => {}
        }
    }
    if changed.contains(Keyword::Pattern) {
        pattern(w, str_of(o, "pattern"), str_of(n, "pattern"));
    }
}

/// A limit and whether the limit value itself is excluded.
#[derive(Debug, Clone, Copy)]
struct Bound {
    value: f64,
    exclusive: bool,
}

impl Bound {
    fn inclusive(value: f64) -> Bound {
        Bound {
            value,
            exclusive: false,
        }
    }

    /// OpenAPI v3.0 (what Kubernetes uses) makes `exclusiveMaximum` a flag on `maximum`; a
    /// numeric `exclusiveMaximum` without `maximum` (JSON Schema draft 6+) is accepted too.
    fn of(map: &Map<String, Value>, limit: &str, exclusive: &str) -> Option<Bound> {
        match num_of(map, limit) {
            Some(value) => Some(Bound {
                value,
                exclusive: flag(map, exclusive),
            }),
            None => num_of(map, exclusive).map(|value| Bound {
                value,
                exclusive: true,
            }),
        }
    }

    fn describe(self) -> String {
        if self.exclusive {
            format!("{} (exclusive)", show_num(self.value))
        } else {
            show_num(self.value)
        }
    }

    /// Whether `self` admits fewer values than `other` (for an upper or a lower bound).
    fn stricter_than(self, other: Bound, upper: bool) -> bool {
        let tighter_value = if upper {
            self.value < other.value
        } else {
            self.value > other.value
        };
        tighter_value || (self.value == other.value && self.exclusive && !other.exclusive)
    }
}

fn compare(
    w: &mut Walker<'_>,
    name: &str,
    upper: bool,
    was: Option<Bound>,
    now: Option<Bound>,
    (tightened, loosened): (Check, Check),
) {
    match (was, now) {
        (None, Some(now)) => w.report(
            Severity::Error,
            tightened,
            format!("{name} {} added where there was none", now.describe()),
        ),
        (Some(was), None) => w.report(
            Severity::Info,
            loosened,
            format!("{name} {} removed", was.describe()),
        ),
        (Some(was), Some(now)) if now.stricter_than(was, upper) => w.report(
            Severity::Error,
            tightened,
            format!(
                "{name} tightened from {} to {}",
                was.describe(),
                now.describe()
            ),
        ),
        (Some(was), Some(now)) if was.stricter_than(now, upper) => w.report(
            Severity::Info,
            loosened,
            format!(
                "{name} loosened from {} to {}",
                was.describe(),
                now.describe()
            ),
        ),
        _ => {}
    }
}

fn multiple_of(w: &mut Walker<'_>, was: Option<f64>, now: Option<f64>) {
    let check = Check::MultipleOfChanged;
    match (was, now) {
        (None, Some(now)) => w.report(
            Severity::Error,
            check,
            format!("multipleOf {} added where there was none", show_num(now)),
        ),
        (Some(was), None) => w.report(
            Severity::Info,
            check,
            format!("multipleOf {} removed", show_num(was)),
        ),
        (Some(was), Some(now)) if was != now => {
            // Every multiple of `was` is still a multiple of `now` iff `now` divides `was`.
            let ratio = was / now;
            let loosened = now != 0.0 && ratio.is_finite() && (ratio - ratio.round()).abs() < 1e-9;
            let (severity, verb) = if loosened {
                (Severity::Info, "loosened")
            } else {
                (Severity::Error, "changed")
            };
            w.report(
                severity,
                check,
                format!(
                    "multipleOf {verb} from {} to {}",
                    show_num(was),
                    show_num(now)
                ),
            );
        }
        _ => {}
    }
}

/// Any new or different pattern may reject stored values (regexes cannot be compared for
/// inclusion in general); only removal is safe.
fn pattern(w: &mut Walker<'_>, was: Option<&str>, now: Option<&str>) {
    let check = Check::PatternChanged;
    match (was, now) {
        (None, Some(now)) => w.report(
            Severity::Error,
            check,
            format!("pattern {now:?} added where there was none"),
        ),
        (Some(was), None) => {
            w.report(Severity::Info, check, format!("pattern {was:?} removed"));
        }
        (Some(was), Some(now)) if was != now => w.report(
            Severity::Error,
            check,
            format!("pattern changed from {was:?} to {now:?}"),
        ),
        _ => {}
    }
}
