//! The schema keywords the analysis knows, and a small bit set of them.
//!
//! The walk visits every key of every schema node once and classifies it here, so that checks
//! run only for keywords whose value actually differs (most nodes of an upgrade are unchanged),
//! instead of looking up ~40 keywords on both sides of every node.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Type,
    Format,
    Enum,
    Default,
    Maximum,
    ExclusiveMaximum,
    Minimum,
    ExclusiveMinimum,
    MaxLength,
    MinLength,
    MaxItems,
    MinItems,
    MaxProperties,
    MinProperties,
    MultipleOf,
    UniqueItems,
    Pattern,
    Nullable,
    Required,
    PreserveUnknownFields,
    EmbeddedResource,
    IntOrString,
    ListType,
    ListMapKeys,
    MapType,
    Validations,
    Description,
    /// `title`, `example`, `externalDocs`: documentation only.
    Documentation,
    // Keywords holding sub-schemas: walked, not compared.
    Properties,
    Items,
    AdditionalProperties,
    PatternProperties,
    AllOf,
    AnyOf,
    OneOf,
    Not,
    /// Anything else (`$ref`, `dependencies`, vendor extensions…): compared for equality only.
    Unknown,
}

impl Keyword {
    pub(crate) fn of(key: &str) -> Keyword {
        match key {
            "type" => Keyword::Type,
            "format" => Keyword::Format,
            "enum" => Keyword::Enum,
            "default" => Keyword::Default,
            "maximum" => Keyword::Maximum,
            "exclusiveMaximum" => Keyword::ExclusiveMaximum,
            "minimum" => Keyword::Minimum,
            "exclusiveMinimum" => Keyword::ExclusiveMinimum,
            "maxLength" => Keyword::MaxLength,
            "minLength" => Keyword::MinLength,
            "maxItems" => Keyword::MaxItems,
            "minItems" => Keyword::MinItems,
            "maxProperties" => Keyword::MaxProperties,
            "minProperties" => Keyword::MinProperties,
            "multipleOf" => Keyword::MultipleOf,
            "uniqueItems" => Keyword::UniqueItems,
            "pattern" => Keyword::Pattern,
            "nullable" => Keyword::Nullable,
            "required" => Keyword::Required,
            "x-kubernetes-preserve-unknown-fields" => Keyword::PreserveUnknownFields,
            "x-kubernetes-embedded-resource" => Keyword::EmbeddedResource,
            "x-kubernetes-int-or-string" => Keyword::IntOrString,
            "x-kubernetes-list-type" => Keyword::ListType,
            "x-kubernetes-list-map-keys" => Keyword::ListMapKeys,
            "x-kubernetes-map-type" => Keyword::MapType,
            "x-kubernetes-validations" => Keyword::Validations,
            "description" => Keyword::Description,
            "title" | "example" | "externalDocs" => Keyword::Documentation,
            "properties" => Keyword::Properties,
            "items" => Keyword::Items,
            "additionalProperties" => Keyword::AdditionalProperties,
            "patternProperties" => Keyword::PatternProperties,
            "allOf" => Keyword::AllOf,
            "anyOf" => Keyword::AnyOf,
            "oneOf" => Keyword::OneOf,
            "not" => Keyword::Not,
            _ => Keyword::Unknown,
        }
    }

    /// Keywords whose values are sub-schemas, handled by the structural walk.
    pub(crate) fn is_structural(self) -> bool {
        matches!(
            self,
            Keyword::Properties
                | Keyword::Items
                | Keyword::AdditionalProperties
                | Keyword::PatternProperties
                | Keyword::AllOf
                | Keyword::AnyOf
                | Keyword::OneOf
                | Keyword::Not
        )
    }

    fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

/// A set of keywords (fits in one word: there are fewer than 64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeywordSet(u64);

impl KeywordSet {
    pub(crate) fn insert(&mut self, keyword: Keyword) {
        self.0 |= keyword.bit();
    }

    pub(crate) fn contains(self, keyword: Keyword) -> bool {
        self.0 & keyword.bit() != 0
    }

    pub(crate) fn any(self, keywords: &[Keyword]) -> bool {
        keywords.iter().any(|k| self.contains(*k))
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_collects() {
        assert_eq!(Keyword::of("x-kubernetes-list-type"), Keyword::ListType);
        assert_eq!(Keyword::of("$ref"), Keyword::Unknown);
        assert!(Keyword::of("items").is_structural());
        assert!(!Keyword::of("enum").is_structural());
        let mut set = KeywordSet::default();
        assert!(set.is_empty());
        set.insert(Keyword::Unknown);
        set.insert(Keyword::Type);
        assert!(set.contains(Keyword::Unknown));
        assert!(set.any(&[Keyword::Enum, Keyword::Type]));
        assert!(!set.contains(Keyword::Enum));
    }
}
