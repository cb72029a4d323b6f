//! The name of a finding's check, as a closed set: the schema comparison, the planner and the
//! policy agree on the names at compile time instead of by string comparison.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// What a finding is about. Serialized (JSON, YAML) as its stable kebab-case name, e.g.
/// `field-removed`: users filter on it and policies name it (`schemaChecks`), so a name never
/// changes once released. See the crate documentation for the severities.
///
/// Declared in name order, so the derived `Ord` sorts as the names do (output that is sorted
/// by check stays sorted the same way as when checks were strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    AdditionalPropertiesChanged,
    /// A ValidatingAdmissionPolicy that could not be evaluated: produced by the planner, not
    /// by the schema comparison.
    AdmissionUnknown,
    AllOfChanged,
    AnyOfChanged,
    ConversionChanged,
    /// Only from [`crate::diff_sets`]: a CRD only the new set has.
    CrdAdded,
    /// Only from [`crate::diff_sets`]: a CRD only the old set has.
    CrdRemoved,
    DefaultAdded,
    DefaultChanged,
    DefaultRemoved,
    DescriptionChanged,
    EmbeddedResourceChanged,
    EnumAdded,
    EnumRemoved,
    EnumValueAdded,
    EnumValueRemoved,
    FieldAdded,
    FieldRemoved,
    FormatChanged,
    IntOrStringChanged,
    ItemsChanged,
    KindChanged,
    ListMapKeysChanged,
    ListTypeChanged,
    MapTypeChanged,
    MaxItemsLoosened,
    MaxItemsTightened,
    MaxLengthLoosened,
    MaxLengthTightened,
    MaxPropertiesLoosened,
    MaxPropertiesTightened,
    MaximumLoosened,
    MaximumTightened,
    MinItemsLoosened,
    MinItemsTightened,
    MinLengthLoosened,
    MinLengthTightened,
    MinPropertiesLoosened,
    MinPropertiesTightened,
    MinimumLoosened,
    MinimumTightened,
    MultipleOfChanged,
    NotChanged,
    NullableAdded,
    NullableRemoved,
    OneOfChanged,
    PatternChanged,
    PreserveUnknownFieldsAdded,
    PreserveUnknownFieldsRemoved,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    ScopeChanged,
    ServedVersionRemoved,
    /// Two served versions of the desired CRD disagree (strategy `None`); the message names
    /// the inner check.
    ServedVersionsIncompatible,
    StorageVersionChanged,
    StoredVersionRemoved,
    SubresourceAdded,
    SubresourceChanged,
    SubresourceRemoved,
    TypeChanged,
    /// A keyword crdguard does not analyse, or a non-object schema, changed.
    UnhandledChange,
    UniqueItemsAdded,
    UniqueItemsRemoved,
    ValidationRuleAdded,
    ValidationRuleChanged,
    ValidationRuleRemoved,
    VersionAdded,
    VersionDeprecated,
    VersionRemoved,
}

impl Check {
    /// Every check, in name order.
    pub const ALL: &[Check] = &[
        Check::AdditionalPropertiesChanged,
        Check::AdmissionUnknown,
        Check::AllOfChanged,
        Check::AnyOfChanged,
        Check::ConversionChanged,
        Check::CrdAdded,
        Check::CrdRemoved,
        Check::DefaultAdded,
        Check::DefaultChanged,
        Check::DefaultRemoved,
        Check::DescriptionChanged,
        Check::EmbeddedResourceChanged,
        Check::EnumAdded,
        Check::EnumRemoved,
        Check::EnumValueAdded,
        Check::EnumValueRemoved,
        Check::FieldAdded,
        Check::FieldRemoved,
        Check::FormatChanged,
        Check::IntOrStringChanged,
        Check::ItemsChanged,
        Check::KindChanged,
        Check::ListMapKeysChanged,
        Check::ListTypeChanged,
        Check::MapTypeChanged,
        Check::MaxItemsLoosened,
        Check::MaxItemsTightened,
        Check::MaxLengthLoosened,
        Check::MaxLengthTightened,
        Check::MaxPropertiesLoosened,
        Check::MaxPropertiesTightened,
        Check::MaximumLoosened,
        Check::MaximumTightened,
        Check::MinItemsLoosened,
        Check::MinItemsTightened,
        Check::MinLengthLoosened,
        Check::MinLengthTightened,
        Check::MinPropertiesLoosened,
        Check::MinPropertiesTightened,
        Check::MinimumLoosened,
        Check::MinimumTightened,
        Check::MultipleOfChanged,
        Check::NotChanged,
        Check::NullableAdded,
        Check::NullableRemoved,
        Check::OneOfChanged,
        Check::PatternChanged,
        Check::PreserveUnknownFieldsAdded,
        Check::PreserveUnknownFieldsRemoved,
        Check::RequiredFieldAdded,
        Check::RequiredFieldRemoved,
        Check::ScopeChanged,
        Check::ServedVersionRemoved,
        Check::ServedVersionsIncompatible,
        Check::StorageVersionChanged,
        Check::StoredVersionRemoved,
        Check::SubresourceAdded,
        Check::SubresourceChanged,
        Check::SubresourceRemoved,
        Check::TypeChanged,
        Check::UnhandledChange,
        Check::UniqueItemsAdded,
        Check::UniqueItemsRemoved,
        Check::ValidationRuleAdded,
        Check::ValidationRuleChanged,
        Check::ValidationRuleRemoved,
        Check::VersionAdded,
        Check::VersionDeprecated,
        Check::VersionRemoved,
    ];

    /// The stable name, as serialized and as policies write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Check::AdditionalPropertiesChanged => "additional-properties-changed",
            Check::AdmissionUnknown => "admission-unknown",
            Check::AllOfChanged => "all-of-changed",
            Check::AnyOfChanged => "any-of-changed",
            Check::ConversionChanged => "conversion-changed",
            Check::CrdAdded => "crd-added",
            Check::CrdRemoved => "crd-removed",
            Check::DefaultAdded => "default-added",
            Check::DefaultChanged => "default-changed",
            Check::DefaultRemoved => "default-removed",
            Check::DescriptionChanged => "description-changed",
            Check::EmbeddedResourceChanged => "embedded-resource-changed",
            Check::EnumAdded => "enum-added",
            Check::EnumRemoved => "enum-removed",
            Check::EnumValueAdded => "enum-value-added",
            Check::EnumValueRemoved => "enum-value-removed",
            Check::FieldAdded => "field-added",
            Check::FieldRemoved => "field-removed",
            Check::FormatChanged => "format-changed",
            Check::IntOrStringChanged => "int-or-string-changed",
            Check::ItemsChanged => "items-changed",
            Check::KindChanged => "kind-changed",
            Check::ListMapKeysChanged => "list-map-keys-changed",
            Check::ListTypeChanged => "list-type-changed",
            Check::MapTypeChanged => "map-type-changed",
            Check::MaxItemsLoosened => "max-items-loosened",
            Check::MaxItemsTightened => "max-items-tightened",
            Check::MaxLengthLoosened => "max-length-loosened",
            Check::MaxLengthTightened => "max-length-tightened",
            Check::MaxPropertiesLoosened => "max-properties-loosened",
            Check::MaxPropertiesTightened => "max-properties-tightened",
            Check::MaximumLoosened => "maximum-loosened",
            Check::MaximumTightened => "maximum-tightened",
            Check::MinItemsLoosened => "min-items-loosened",
            Check::MinItemsTightened => "min-items-tightened",
            Check::MinLengthLoosened => "min-length-loosened",
            Check::MinLengthTightened => "min-length-tightened",
            Check::MinPropertiesLoosened => "min-properties-loosened",
            Check::MinPropertiesTightened => "min-properties-tightened",
            Check::MinimumLoosened => "minimum-loosened",
            Check::MinimumTightened => "minimum-tightened",
            Check::MultipleOfChanged => "multiple-of-changed",
            Check::NotChanged => "not-changed",
            Check::NullableAdded => "nullable-added",
            Check::NullableRemoved => "nullable-removed",
            Check::OneOfChanged => "one-of-changed",
            Check::PatternChanged => "pattern-changed",
            Check::PreserveUnknownFieldsAdded => "preserve-unknown-fields-added",
            Check::PreserveUnknownFieldsRemoved => "preserve-unknown-fields-removed",
            Check::RequiredFieldAdded => "required-field-added",
            Check::RequiredFieldRemoved => "required-field-removed",
            Check::ScopeChanged => "scope-changed",
            Check::ServedVersionRemoved => "served-version-removed",
            Check::ServedVersionsIncompatible => "served-versions-incompatible",
            Check::StorageVersionChanged => "storage-version-changed",
            Check::StoredVersionRemoved => "stored-version-removed",
            Check::SubresourceAdded => "subresource-added",
            Check::SubresourceChanged => "subresource-changed",
            Check::SubresourceRemoved => "subresource-removed",
            Check::TypeChanged => "type-changed",
            Check::UnhandledChange => "unhandled-change",
            Check::UniqueItemsAdded => "unique-items-added",
            Check::UniqueItemsRemoved => "unique-items-removed",
            Check::ValidationRuleAdded => "validation-rule-added",
            Check::ValidationRuleChanged => "validation-rule-changed",
            Check::ValidationRuleRemoved => "validation-rule-removed",
            Check::VersionAdded => "version-added",
            Check::VersionDeprecated => "version-deprecated",
            Check::VersionRemoved => "version-removed",
        }
    }
}

// `ALL` lists the variants in declaration order without gaps: a variant added to the enum but
// not to `ALL` shifts the discriminants after it and fails the build here. Only one added last
// would escape this, which keeping the enum in name order avoids.
const _: () = {
    let mut i = 0;
    while i < Check::ALL.len() {
        assert!(
            Check::ALL[i] as usize == i,
            "Check::ALL must list every variant in order"
        );
        i += 1;
    }
};

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no check, with the checks it most likely meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCheck {
    pub name: String,
    /// The closest checks, closest first; empty when none is close.
    pub closest: Vec<Check>,
}

/// Similarity (Jaro-Winkler) above which a check is suggested: the threshold of crdguard's
/// other "did you mean" suggestions, so all of them feel alike.
const SUGGEST_ABOVE: f64 = 0.8;
/// Checks within this much of the best are suggested with it: `max-length` is as close to
/// `max-length-loosened` as to `max-length-tightened`, and naming only one would be a guess.
const SUGGEST_WITHIN: f64 = 0.05;
const MAX_SUGGESTIONS: usize = 3;
/// Longer names are shown cut: the name comes from a policy file and may be of any length.
const MAX_SHOWN_CHARS: usize = 80;

const LONGEST_NAME: usize = {
    let (mut i, mut longest) = (0, 0);
    while i < Check::ALL.len() {
        let len = Check::ALL[i].as_str().len();
        if len > longest {
            longest = len;
        }
        i += 1;
    }
    longest
};

impl UnknownCheck {
    fn new(name: &str) -> Self {
        UnknownCheck {
            name: name.to_string(),
            closest: closest(name),
        }
    }
}

fn closest(name: &str) -> Vec<Check> {
    // A name far longer than every check is no typo of one, and scoring it against all of
    // them costs time in proportion to its length: a huge key in a policy stays cheap.
    if name.len() > 2 * LONGEST_NAME {
        return Vec::new();
    }
    // Case does not make a check (`Field-Removed` still means `field-removed`).
    let name = name.to_ascii_lowercase();
    let mut scored: Vec<(f64, Check)> = Check::ALL
        .iter()
        .map(|&check| (strsim::jaro_winkler(&name, check.as_str()), check))
        .filter(|(score, _)| *score > SUGGEST_ABOVE)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let Some(&(best, _)) = scored.first() else {
        return Vec::new();
    };
    scored
        .into_iter()
        .take_while(|(score, _)| *score >= best - SUGGEST_WITHIN)
        .take(MAX_SUGGESTIONS)
        .map(|(_, check)| check)
        .collect()
}

impl fmt::Display for UnknownCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.name.chars().take(MAX_SHOWN_CHARS).collect();
        let cut = if shown.len() < self.name.len() {
            "…"
        } else {
            ""
        };
        write!(f, "unknown schema check {shown:?}{cut}")?;
        match self.closest.as_slice() {
            [] => f.write_str("; `crdguard diff` prints the check names of its findings"),
            [only] => write!(f, "; did you mean {:?}?", only.as_str()),
            [first @ .., last] => {
                let first: Vec<String> =
                    first.iter().map(|c| format!("{:?}", c.as_str())).collect();
                write!(
                    f,
                    "; did you mean {} or {:?}?",
                    first.join(", "),
                    last.as_str()
                )
            }
        }
    }
}

impl std::error::Error for UnknownCheck {}

impl FromStr for Check {
    type Err = UnknownCheck;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Check::ALL
            .iter()
            .copied()
            .find(|check| check.as_str() == name)
            .ok_or_else(|| UnknownCheck::new(name))
    }
}

/// Policies name checks (`schemaChecks`), and saved plans carry the policy: reading a name
/// parses it, so an unknown one is refused where it is read, with the closest checks named
/// (serde's derived error would list every check).
impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;

        impl Visitor<'_> for Name {
            type Value = Check;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a schema check name, e.g. field-removed")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Check, E> {
                name.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_round_trips_through_its_name_and_serde() {
        for &check in Check::ALL {
            let name = check.as_str();
            assert_eq!(name.parse::<Check>(), Ok(check));
            assert_eq!(check.to_string(), name);
            // The serialized name is the old string: JSON output stays byte-identical.
            assert_eq!(
                serde_json::to_value(check).expect("serializes"),
                serde_json::Value::String(name.to_string())
            );
            let back: Check = serde_json::from_value(serde_json::json!(name)).expect("reads");
            assert_eq!(back, check);
        }
    }

    #[test]
    fn checks_sort_as_their_names() {
        // Findings are sorted by check and `counts_by_check` ties by check: the order must be
        // the one the names had.
        for pair in Check::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
            assert!(
                pair[0].as_str() < pair[1].as_str(),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn an_unknown_name_suggests_the_closest_checks() {
        let err = "pattern-change".parse::<Check>().expect_err("typo");
        assert_eq!(err.closest.first(), Some(&Check::PatternChanged));
        assert!(
            err.to_string().starts_with(
                "unknown schema check \"pattern-change\"; did you mean \"pattern-changed\""
            ),
            "{err}"
        );
        let err = "max-length".parse::<Check>().expect_err("ambiguous");
        assert_eq!(
            err.to_string(),
            "unknown schema check \"max-length\"; did you mean \"max-length-loosened\" or \"max-length-tightened\"?"
        );
        assert_eq!(
            "Field-Removed".parse::<Check>().expect_err("case").closest,
            [Check::FieldRemoved]
        );
        let err = "zzz".parse::<Check>().expect_err("nothing close");
        assert!(err.closest.is_empty());
        assert!(
            err.to_string()
                .ends_with("prints the check names of its findings"),
            "{err}"
        );
        let huge = "x".repeat(1_000_000);
        let shown = huge.parse::<Check>().expect_err("huge").to_string();
        assert!(shown.len() < 200, "{}", shown.len());
    }

    #[test]
    fn reading_an_unknown_name_fails_with_the_suggestion() {
        let err = serde_json::from_value::<Check>(serde_json::json!("field-remove"))
            .expect_err("typo")
            .to_string();
        assert!(err.contains("did you mean \"field-removed\""), "{err}");
        assert!(serde_json::from_value::<Check>(serde_json::json!(5)).is_err());
    }
}
