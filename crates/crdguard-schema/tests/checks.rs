//! One small hand-written pair per check: it fires in the breaking direction, and stays quiet
//! (or informational) in the allowed one.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use common::*;
use crdguard_schema::Severity::{Error, Info, Warning};
use crdguard_schema::{Check, diff_crds};
use serde_json::{Value, json};

const F: &str = ".spec.field";

// ---------------------------------------------------------------- fields and types

#[test]
fn field_removed_is_an_error_and_field_added_is_info() {
    let old = "{type: object, properties: {a: {type: string}, b: {type: string}}}";
    let new = "{type: object, properties: {a: {type: string}}}";
    let f = diff_spec(old, new);
    let removed = expect(&f, Check::FieldRemoved, Error, ".spec.b");
    assert!(removed.message.contains("\"b\""), "{}", removed.message);
    let f = diff_spec(new, old);
    expect(&f, Check::FieldAdded, Info, ".spec.b");
    no_worse_than(&f, Info);
}

#[test]
fn field_removed_under_preserve_unknown_fields_is_a_warning() {
    let f = diff_spec(
        "{type: object, properties: {a: {type: string}}}",
        "{type: object, x-kubernetes-preserve-unknown-fields: true}",
    );
    expect(&f, Check::FieldRemoved, Warning, ".spec.a");
}

#[test]
fn field_added_under_an_object_that_kept_unknown_fields_is_a_warning() {
    let f = diff_spec(
        "{type: object, x-kubernetes-preserve-unknown-fields: true}",
        "{type: object, x-kubernetes-preserve-unknown-fields: true, properties: {a: {type: integer}}}",
    );
    expect(&f, Check::FieldAdded, Warning, ".spec.a");
}

#[test]
fn type_change_is_an_error() {
    let f = diff_field("{type: string}", "{type: integer}");
    let found = expect(&f, Check::TypeChanged, Error, F);
    assert!(found.message.contains("\"string\"") && found.message.contains("\"integer\""));
    assert!(diff_field("{type: string}", "{type: string}").is_empty());
}

#[test]
fn int_or_string_change_is_an_error_reported_once() {
    let f = diff_field("{type: integer}", "{x-kubernetes-int-or-string: true}");
    expect(&f, Check::IntOrStringChanged, Error, F);
    absent(&f, Check::TypeChanged);
    let same = diff_field(
        "{x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}",
        "{x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}",
    );
    assert!(same.is_empty());
}

#[test]
fn embedded_resource_change_is_an_error() {
    let f = diff_field(
        "{type: object, x-kubernetes-preserve-unknown-fields: true}",
        "{type: object, x-kubernetes-preserve-unknown-fields: true, x-kubernetes-embedded-resource: true}",
    );
    expect(&f, Check::EmbeddedResourceChanged, Error, F);
    // false spelled out is the same as absent
    let f = diff_field(
        "{type: object}",
        "{type: object, x-kubernetes-embedded-resource: false}",
    );
    assert!(f.is_empty(), "{}", render(&f));
}

#[test]
fn format_change_is_a_warning_and_removal_info() {
    expect(
        &diff_field(
            "{type: string, format: date-time}",
            "{type: string, format: uri}",
        ),
        Check::FormatChanged,
        Warning,
        F,
    );
    expect(
        &diff_field("{type: string}", "{type: string, format: uri}"),
        Check::FormatChanged,
        Warning,
        F,
    );
    let f = diff_field("{type: string, format: uri}", "{type: string}");
    expect(&f, Check::FormatChanged, Info, F);
    no_worse_than(&f, Info);
}

#[test]
fn nullable_removed_is_an_error_and_added_is_info() {
    expect(
        &diff_field("{type: string, nullable: true}", "{type: string}"),
        Check::NullableRemoved,
        Error,
        F,
    );
    let f = diff_field("{type: string}", "{type: string, nullable: true}");
    expect(&f, Check::NullableAdded, Info, F);
    no_worse_than(&f, Info);
}

// ---------------------------------------------------------------- required

#[test]
fn required_on_an_existing_object_is_an_error() {
    // An existing field becomes required.
    let f = diff_spec(
        "{type: object, properties: {a: {type: string}}}",
        "{type: object, required: [a], properties: {a: {type: string}}}",
    );
    let found = expect(&f, Check::RequiredFieldAdded, Error, ".spec.a");
    assert!(found.message.contains("now required"), "{}", found.message);
    // A new field that is required at once: one finding, not also field-added.
    let f = diff_spec(
        "{type: object, properties: {a: {type: string}}}",
        "{type: object, required: [b], properties: {a: {type: string}, b: {type: string}}}",
    );
    expect(&f, Check::RequiredFieldAdded, Error, ".spec.b");
    absent(&f, Check::FieldAdded);
}

#[test]
fn required_inside_a_new_optional_parent_is_fine() {
    let f = diff_spec(
        "{type: object, properties: {a: {type: string}}}",
        "{type: object, properties: {a: {type: string}, tls: {type: object, required: [mode], properties: {mode: {type: string}}}}}",
    );
    expect(&f, Check::FieldAdded, Info, ".spec.tls");
    no_worse_than(&f, Info);
}

#[test]
fn required_with_a_default_is_a_warning_and_dropping_required_is_info() {
    let f = diff_spec(
        "{type: object, properties: {a: {type: string, default: x}}}",
        "{type: object, required: [a], properties: {a: {type: string, default: x}}}",
    );
    expect(&f, Check::RequiredFieldAdded, Warning, ".spec.a");
    let f = diff_spec(
        "{type: object, required: [a], properties: {a: {type: string}}}",
        "{type: object, properties: {a: {type: string}}}",
    );
    expect(&f, Check::RequiredFieldRemoved, Info, ".spec.a");
    no_worse_than(&f, Info);
}

// ---------------------------------------------------------------- enum and default

#[test]
fn enum_value_removed_is_an_error_and_added_is_info() {
    let f = diff_field(
        "{type: string, enum: [Foo, Bar]}",
        "{type: string, enum: [Bar]}",
    );
    let found = expect(&f, Check::EnumValueRemoved, Error, F);
    assert_eq!(
        found.message,
        "enum value \"Foo\" removed (was [Foo, Bar], now [Bar])"
    );
    let f = diff_field(
        "{type: string, enum: [Bar]}",
        "{type: string, enum: [Foo, Bar]}",
    );
    expect(&f, Check::EnumValueAdded, Info, F);
    no_worse_than(&f, Info);
    // Reordering is no change.
    assert!(diff_field("{enum: [a, b]}", "{enum: [b, a]}").is_empty());
}

#[test]
fn enum_added_where_none_was_is_an_error_and_dropped_is_info() {
    expect(
        &diff_field("{type: string}", "{type: string, enum: [A]}"),
        Check::EnumAdded,
        Error,
        F,
    );
    let f = diff_field("{type: string, enum: [A]}", "{type: string}");
    expect(&f, Check::EnumRemoved, Info, F);
    no_worse_than(&f, Info);
}

#[test]
fn default_added_changed_or_removed_is_an_error() {
    expect(
        &diff_field("{type: integer}", "{type: integer, default: 1}"),
        Check::DefaultAdded,
        Error,
        F,
    );
    expect(
        &diff_field("{type: integer, default: 1}", "{type: integer, default: 2}"),
        Check::DefaultChanged,
        Error,
        F,
    );
    expect(
        &diff_field("{type: integer, default: 1}", "{type: integer}"),
        Check::DefaultRemoved,
        Error,
        F,
    );
    // Same value, different spelling: no change.
    assert!(diff_field("{type: number, default: 1}", "{type: number, default: 1.0}").is_empty());
    assert!(
        diff_field(
            "{type: object, default: {a: 1, b: 2}}",
            "{type: object, default: {b: 2, a: 1}}"
        )
        .is_empty()
    );
}

// ---------------------------------------------------------------- limits

#[test]
fn every_limit_tightened_is_an_error_and_loosened_is_info() {
    // (keyword, stricter, looser, checks)
    let cases = [
        (
            "maximum",
            5,
            10,
            (Check::MaximumTightened, Check::MaximumLoosened),
        ),
        (
            "minimum",
            10,
            5,
            (Check::MinimumTightened, Check::MinimumLoosened),
        ),
        (
            "maxLength",
            5,
            10,
            (Check::MaxLengthTightened, Check::MaxLengthLoosened),
        ),
        (
            "minLength",
            10,
            5,
            (Check::MinLengthTightened, Check::MinLengthLoosened),
        ),
        (
            "maxItems",
            5,
            10,
            (Check::MaxItemsTightened, Check::MaxItemsLoosened),
        ),
        (
            "minItems",
            10,
            5,
            (Check::MinItemsTightened, Check::MinItemsLoosened),
        ),
        (
            "maxProperties",
            5,
            10,
            (Check::MaxPropertiesTightened, Check::MaxPropertiesLoosened),
        ),
        (
            "minProperties",
            10,
            5,
            (Check::MinPropertiesTightened, Check::MinPropertiesLoosened),
        ),
    ];
    for (keyword, strict, loose, (tightened, loosened)) in cases {
        let strict_schema = format!("{{{keyword}: {strict}}}");
        let loose_schema = format!("{{{keyword}: {loose}}}");

        let f = diff_field(&loose_schema, &strict_schema);
        let found = expect(&f, tightened, Error, F);
        assert!(
            found.message.contains(&format!("from {loose} to {strict}")),
            "{}",
            found.message
        );
        // A limit where there was none is tightening.
        expect(&diff_field("{}", &strict_schema), tightened, Error, F);

        let f = diff_field(&strict_schema, &loose_schema);
        expect(&f, loosened, Info, F);
        no_worse_than(&f, Info);
        let f = diff_field(&strict_schema, "{}");
        expect(&f, loosened, Info, F);
        no_worse_than(&f, Info);
    }
}

#[test]
fn exclusive_bounds_count_as_tightening() {
    expect(
        &diff_field("{maximum: 10}", "{maximum: 10, exclusiveMaximum: true}"),
        Check::MaximumTightened,
        Error,
        F,
    );
    expect(
        &diff_field("{minimum: 0}", "{minimum: 0, exclusiveMinimum: true}"),
        Check::MinimumTightened,
        Error,
        F,
    );
    let f = diff_field("{minimum: 0, exclusiveMinimum: true}", "{minimum: 0}");
    expect(&f, Check::MinimumLoosened, Info, F);
    no_worse_than(&f, Info);
    // Same limit written as 10 and 10.0: nothing.
    assert!(diff_field("{maximum: 10}", "{maximum: 10.0}").is_empty());
}

#[test]
fn multiple_of_and_unique_items() {
    expect(
        &diff_field("{type: integer}", "{type: integer, multipleOf: 5}"),
        Check::MultipleOfChanged,
        Error,
        F,
    );
    expect(
        &diff_field("{multipleOf: 5}", "{multipleOf: 3}"),
        Check::MultipleOfChanged,
        Error,
        F,
    );
    let f = diff_field("{multipleOf: 10}", "{multipleOf: 5}");
    expect(&f, Check::MultipleOfChanged, Info, F);
    no_worse_than(&f, Info);

    let list = "{type: array, items: {type: string}}";
    let unique = "{type: array, uniqueItems: true, items: {type: string}}";
    expect(&diff_field(list, unique), Check::UniqueItemsAdded, Error, F);
    let f = diff_field(unique, list);
    expect(&f, Check::UniqueItemsRemoved, Info, F);
    no_worse_than(&f, Info);
}

#[test]
fn pattern_added_or_changed_is_an_error_and_removed_is_info() {
    expect(
        &diff_field("{type: string}", "{type: string, pattern: '^a'}"),
        Check::PatternChanged,
        Error,
        F,
    );
    expect(
        &diff_field(
            "{type: string, pattern: '^a'}",
            "{type: string, pattern: '^b'}",
        ),
        Check::PatternChanged,
        Error,
        F,
    );
    let f = diff_field("{type: string, pattern: '^a'}", "{type: string}");
    expect(&f, Check::PatternChanged, Info, F);
    no_worse_than(&f, Info);
}

// ---------------------------------------------------------------- Kubernetes extensions

#[test]
fn preserve_unknown_fields_removed_is_an_error_and_added_is_info() {
    let open = "{type: object, x-kubernetes-preserve-unknown-fields: true}";
    expect(
        &diff_field(open, "{type: object}"),
        Check::PreserveUnknownFieldsRemoved,
        Error,
        F,
    );
    let f = diff_field("{type: object}", open);
    expect(&f, Check::PreserveUnknownFieldsAdded, Info, F);
    no_worse_than(&f, Info);
}

#[test]
fn list_type_and_keys_changes_are_errors_but_spelled_out_defaults_are_not() {
    let f = diff_field(
        "{type: array, x-kubernetes-list-type: set, items: {type: string}}",
        "{type: array, x-kubernetes-list-type: atomic, items: {type: string}}",
    );
    expect(&f, Check::ListTypeChanged, Error, F);
    assert!(
        diff_field(
            "{type: array, items: {type: string}}",
            "{type: array, x-kubernetes-list-type: atomic, items: {type: string}}"
        )
        .is_empty()
    );
    let map_list = |keys: &str| {
        format!(
            "{{type: array, x-kubernetes-list-type: map, x-kubernetes-list-map-keys: {keys}, \
             items: {{type: object, required: [name, port], properties: {{name: {{type: string}}, port: {{type: integer}}}}}}}}"
        )
    };
    expect(
        &diff_field(&map_list("[name]"), &map_list("[name, port]")),
        Check::ListMapKeysChanged,
        Error,
        F,
    );
    assert!(diff_field(&map_list("[name, port]"), &map_list("[port, name]")).is_empty());
}

#[test]
fn map_type_change_is_an_error() {
    expect(
        &diff_field(
            "{type: object, x-kubernetes-map-type: atomic}",
            "{type: object}",
        ),
        Check::MapTypeChanged,
        Error,
        F,
    );
    assert!(
        diff_field(
            "{type: object}",
            "{type: object, x-kubernetes-map-type: granular}"
        )
        .is_empty()
    );
}

// ---------------------------------------------------------------- additionalProperties

#[test]
fn additional_properties_narrowing_is_an_error_and_loosening_info() {
    let closed = "{type: object, additionalProperties: false}";
    let schema = "{type: object, additionalProperties: {type: string}}";
    let open = "{type: object, additionalProperties: true}";
    let check = Check::AdditionalPropertiesChanged;
    for (old, new) in [(closed, schema), (closed, open), (schema, open)] {
        let f = diff_field(old, new);
        expect(&f, check, Info, F);
        no_worse_than(&f, Info);
    }
    for (old, new) in [(schema, closed), (open, schema), (open, closed)] {
        expect(&diff_field(old, new), check, Error, F);
    }
    // Map values are walked: `.*`.
    let f = diff_field(
        schema,
        "{type: object, additionalProperties: {type: integer}}",
    );
    expect(&f, Check::TypeChanged, Error, ".spec.field.*");
    let f = diff_field(
        "{type: object, additionalProperties: {type: string}}",
        "{type: object, additionalProperties: {type: string, maxLength: 63}}",
    );
    expect(&f, Check::MaxLengthTightened, Error, ".spec.field.*");
}

// ---------------------------------------------------------------- CEL rules

#[test]
fn cel_rule_added_on_an_existing_field_is_a_warning() {
    let f = diff_field(
        "{type: integer}",
        "{type: integer, x-kubernetes-validations: [{rule: 'self > 0', message: positive}]}",
    );
    let found = expect(&f, Check::ValidationRuleAdded, Warning, F);
    assert!(found.message.contains("self > 0"), "{}", found.message);
}

#[test]
fn cel_rule_on_a_new_field_is_info() {
    let f = diff_spec(
        "{type: object, properties: {a: {type: string}}}",
        "{type: object, properties: {a: {type: string}, b: {type: object, properties: {c: {type: integer, x-kubernetes-validations: [{rule: 'self > 0'}]}}}}}",
    );
    expect(&f, Check::ValidationRuleAdded, Info, ".spec.b.c");
    no_worse_than(&f, Info);
}

#[test]
fn cel_rule_removed_is_info_and_changed_is_a_warning() {
    let with = "{type: integer, x-kubernetes-validations: [{rule: 'self > 0', message: positive}]}";
    let f = diff_field(with, "{type: integer}");
    expect(&f, Check::ValidationRuleRemoved, Info, F);
    no_worse_than(&f, Info);

    // Rule text changed, matched through its unchanged message.
    let f = diff_field(
        with,
        "{type: integer, x-kubernetes-validations: [{rule: 'self > 1', message: positive}]}",
    );
    let found = expect(&f, Check::ValidationRuleChanged, Warning, F);
    assert!(found.message.contains("self > 1"), "{}", found.message);
    absent(&f, Check::ValidationRuleAdded);

    // Only the message changed: info.
    let f = diff_field(
        with,
        "{type: integer, x-kubernetes-validations: [{rule: 'self > 0', message: 'must be positive'}]}",
    );
    expect(&f, Check::ValidationRuleChanged, Info, F);
    no_worse_than(&f, Info);

    // The same rules in another order: nothing.
    let two = |a: &str, b: &str| {
        format!("{{type: integer, x-kubernetes-validations: [{{rule: '{a}'}}, {{rule: '{b}'}}]}}")
    };
    assert!(diff_field(&two("self > 0", "self < 9"), &two("self < 9", "self > 0")).is_empty());
}

// ---------------------------------------------------------------- composition and items

#[test]
fn composition_changes() {
    let any_of = |n: usize| {
        let branches = ["{type: integer}", "{type: string}", "{type: boolean}"][..n].join(", ");
        format!("{{anyOf: [{branches}]}}")
    };
    // anyOf: one more alternative is loosening, one fewer is an error.
    let f = diff_field(&any_of(2), &any_of(3));
    expect(&f, Check::AnyOfChanged, Info, F);
    no_worse_than(&f, Info);
    expect(
        &diff_field(&any_of(3), &any_of(2)),
        Check::AnyOfChanged,
        Error,
        F,
    );
    // allOf: one more constraint is an error.
    expect(
        &diff_field(
            "{allOf: [{minimum: 0}]}",
            "{allOf: [{minimum: 0}, {maximum: 9}]}",
        ),
        Check::AllOfChanged,
        Error,
        F,
    );
    let f = diff_field(
        "{allOf: [{minimum: 0}, {maximum: 9}]}",
        "{allOf: [{minimum: 0}]}",
    );
    no_worse_than(&f, Info);
    expect(
        &diff_field("{}", "{oneOf: [{required: [a]}, {required: [b]}]}"),
        Check::OneOfChanged,
        Error,
        F,
    );
    expect(
        &diff_field("{}", "{not: {required: [a]}}"),
        Check::NotChanged,
        Error,
        F,
    );
    expect(
        &diff_field("{not: {required: [a]}}", "{}"),
        Check::NotChanged,
        Info,
        F,
    );
    // Same-length lists are walked entry by entry, with the branch in the path.
    let f = diff_field(
        "{anyOf: [{type: integer}, {type: string, maxLength: 10}]}",
        "{anyOf: [{type: integer}, {type: string, maxLength: 5}]}",
    );
    expect(
        &f,
        Check::MaxLengthTightened,
        Error,
        ".spec.field(anyOf[1])",
    );
}

#[test]
fn items_are_walked_as_star_and_tuples_by_index() {
    let f = diff_spec(
        "{type: object, properties: {rules: {type: array, items: {type: object, properties: {backendRefs: {type: array, items: {type: object, properties: {port: {type: integer, maximum: 65535}}}}}}}}}",
        "{type: object, properties: {rules: {type: array, items: {type: object, properties: {backendRefs: {type: array, items: {type: object, properties: {port: {type: integer, maximum: 1024}}}}}}}}}",
    );
    expect(
        &f,
        Check::MaximumTightened,
        Error,
        ".spec.rules[*].backendRefs[*].port",
    );
    let f = diff_field(
        "{type: array, items: [{type: string}, {type: integer}]}",
        "{type: array, items: [{type: string}, {type: string}]}",
    );
    expect(&f, Check::TypeChanged, Error, ".spec.field[1]");
    expect(
        &diff_field("{type: array}", "{type: array, items: {type: string}}"),
        Check::ItemsChanged,
        Error,
        F,
    );
}

#[test]
fn pattern_properties_are_walked() {
    let f = diff_field(
        "{type: object, patternProperties: {'^x-': {type: string}}}",
        "{type: object, patternProperties: {'^x-': {type: integer}}}",
    );
    expect(
        &f,
        Check::TypeChanged,
        Error,
        ".spec.field(patternProperties[\"^x-\"])",
    );
}

// ---------------------------------------------------------------- documentation, unknown

#[test]
fn description_change_is_info() {
    let f = diff_field(
        "{type: string, description: old}",
        "{type: string, description: new}",
    );
    let found = expect(&f, Check::DescriptionChanged, Info, F);
    assert!(found.message.contains("\"old\"") && found.message.contains("\"new\""));
    no_worse_than(&f, Info);
}

#[test]
fn unknown_keyword_change_is_a_warning() {
    let f = diff_field("{type: string, x-vendor: 1}", "{type: string, x-vendor: 2}");
    expect(&f, Check::UnhandledChange, Warning, F);
}

#[test]
fn odd_field_names_are_quoted_in_paths() {
    let f = diff_spec(
        "{type: object, properties: {'a.b/c': {type: string}}}",
        "{type: object, properties: {'a.b/c': {type: integer}}}",
    );
    expect(&f, Check::TypeChanged, Error, ".spec[\"a.b/c\"]");
}

// ---------------------------------------------------------------- CRD level

fn crd(versions: Value) -> Value {
    let mut crd = crd_with_schema(json!({"type": "object"}));
    crd["spec"]["versions"] = versions;
    crd
}

fn version(name: &str, served: bool, storage: bool) -> Value {
    json!({"name": name, "served": served, "storage": storage,
           "schema": {"openAPIV3Schema": {"type": "object"}}})
}

#[test]
fn scope_and_kind_changes_are_errors() {
    let old = crd_with_schema(json!({"type": "object"}));
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["names"]["kind"] = json!("Gadget");
    let f = diff_crds(&old, &new);
    let scope = expect(&f, Check::ScopeChanged, Error, ".");
    assert_eq!(scope.version, "");
    expect(&f, Check::KindChanged, Error, ".");
    assert!(diff_crds(&old, &old).is_empty());
}

#[test]
fn stored_version_removed_is_one_error_per_version() {
    let mut old = crd(json!([
        version("v1alpha1", true, false),
        version("v1", true, true)
    ]));
    old["status"] = json!({"storedVersions": ["v1alpha1", "v1"]});
    let new = crd(json!([version("v1", true, true)]));
    let f = diff_crds(&old, &new);
    let found = expect(&f, Check::StoredVersionRemoved, Error, ".");
    assert_eq!(found.version, "v1alpha1");
    absent(&f, Check::ServedVersionRemoved);

    // Not stored: only a warning that clients of v1alpha1 break.
    old["status"] = json!({"storedVersions": ["v1"]});
    let f = diff_crds(&old, &new);
    expect(&f, Check::ServedVersionRemoved, Warning, ".");
    no_worse_than(&f, Warning);
}

#[test]
fn without_status_the_storage_version_counts_as_stored() {
    let old = crd(json!([version("v1alpha1", true, true)]));
    let new = crd(json!([version("v1", true, true)]));
    let f = diff_crds(&old, &new);
    let found = expect(&f, Check::StoredVersionRemoved, Error, ".");
    assert!(
        found.message.contains("no status.storedVersions"),
        "{}",
        found.message
    );
}

#[test]
fn unserving_a_stored_version_is_an_error() {
    let mut old = crd(json!([
        version("v1alpha1", true, false),
        version("v1", true, true)
    ]));
    old["status"] = json!({"storedVersions": ["v1alpha1", "v1"]});
    let new = crd(json!([
        version("v1alpha1", false, false),
        version("v1", true, true)
    ]));
    let f = diff_crds(&old, &new);
    let found = expect(&f, Check::ServedVersionRemoved, Error, ".");
    assert_eq!(found.version, "v1alpha1");
}

#[test]
fn storage_version_moves() {
    // To a version the installed CRD lacks: error.
    let old = crd(json!([version("v1beta1", true, true)]));
    let new = crd(json!([
        version("v1beta1", true, false),
        version("v1", true, true)
    ]));
    let f = diff_crds(&old, &new);
    expect(&f, Check::StorageVersionChanged, Error, ".");
    expect(&f, Check::VersionAdded, Info, ".");
    // To a version it already serves: info.
    let old = crd(json!([
        version("v1beta1", true, true),
        version("v1", true, false)
    ]));
    let f = diff_crds(&old, &new);
    expect(&f, Check::StorageVersionChanged, Info, ".");
    no_worse_than(&f, Info);
}

#[test]
fn unserved_unstored_version_removed_is_info() {
    let mut old = crd(json!([
        version("v1alpha1", false, false),
        version("v1", true, true)
    ]));
    old["status"] = json!({"storedVersions": ["v1"]});
    let new = crd(json!([version("v1", true, true)]));
    let f = diff_crds(&old, &new);
    expect(&f, Check::VersionRemoved, Info, ".");
    no_worse_than(&f, Info);
}

#[test]
fn subresources_conversion_and_deprecation() {
    let old = crd(json!([{"name": "v1", "served": true, "storage": true,
                          "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]));
    let mut new = crd(
        json!([{"name": "v1", "served": true, "storage": true, "deprecated": true,
                              "subresources": {"scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.replicas"}}}]),
    );
    new["spec"]["conversion"] = json!({"strategy": "Webhook"});
    let f = diff_crds(&old, &new);
    expect(&f, Check::SubresourceRemoved, Error, ".");
    expect(&f, Check::SubresourceChanged, Warning, ".");
    expect(&f, Check::ConversionChanged, Warning, ".");
    expect(&f, Check::VersionDeprecated, Info, ".");
    let f = diff_crds(&new, &old);
    expect(&f, Check::SubresourceAdded, Warning, ".");
}

#[test]
fn a_newer_served_version_newly_stricter_than_an_older_one_is_a_warning() {
    let schema = |max: u64| {
        json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"n": {"type": "integer", "maximum": max}}}}})
    };
    let two = |older_max: u64, newer_max: u64| {
        crd(json!([
            {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": schema(older_max)}},
            {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema(newer_max)}},
        ]))
    };
    // Installed: both versions identical. Desired: v1 tightens what v1beta1 still accepts.
    let f = diff_crds(&two(10, 10), &two(10, 5));
    let found = expect(&f, Check::ServedVersionsIncompatible, Warning, ".spec.n");
    assert_eq!(found.version, "v1");
    // Already incompatible before: not news.
    let f = diff_crds(&two(10, 5), &two(10, 5));
    assert!(f.is_empty(), "{}", render(&f));
    // With a conversion webhook the versions do not share objects as-is.
    let mut webhook = two(10, 5);
    webhook["spec"]["conversion"] = json!({"strategy": "Webhook"});
    let mut before = two(10, 10);
    before["spec"]["conversion"] = json!({"strategy": "Webhook"});
    absent(
        &diff_crds(&before, &webhook),
        Check::ServedVersionsIncompatible,
    );
}

// ---------------------------------------------------------------- sets

#[test]
fn set_diff_matches_by_name() {
    let mut a = crd_with_schema(json!({"type": "object"}));
    a["metadata"]["name"] = json!("as.example.com");
    let mut b = a.clone();
    b["metadata"]["name"] = json!("bs.example.com");
    let mut a2 = a.clone();
    a2["spec"]["scope"] = json!("Cluster");
    let mut c = a.clone();
    c["metadata"]["name"] = json!("cs.example.com");
    let not_a_crd = json!({"kind": "ConfigMap", "metadata": {"name": "x"}});

    let old = [c.clone(), a.clone(), b.clone(), not_a_crd.clone()];
    let new = [a2, c, not_a_crd];
    let diff = crdguard_schema::diff_sets(&old, &new);
    let names: Vec<&str> = diff.items.iter().map(|i| i.crd.as_str()).collect();
    assert_eq!(
        names,
        ["as.example.com", "bs.example.com", "cs.example.com"]
    );
    expect(&diff.items[0].findings, Check::ScopeChanged, Error, ".");
    expect(&diff.items[1].findings, Check::CrdRemoved, Error, ".");
    assert!(diff.items[2].findings.is_empty());
    assert_eq!(
        (diff.summary.error, diff.summary.warning, diff.summary.info),
        (2, 0, 0)
    );

    let added = crdguard_schema::diff_sets(&[], &old);
    assert_eq!(added.summary.info, 3);
    assert!(added.findings().all(|(_, f)| f.check == Check::CrdAdded));
    assert_eq!(added.counts_by_check(), [(Check::CrdAdded, Info, 3)]);
}

#[test]
fn findings_are_sorted_by_version_path_check() {
    let old = crd(json!([
        {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
            {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "string", "enum": ["x", "y"]}}}}},
        {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema":
            {"type": "object", "properties": {"a": {"type": "string"}}}}},
    ]));
    let new = crd(json!([
        {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
            {"type": "object", "properties": {"a": {"type": "integer", "enum": ["x"]}}}}},
        {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema":
            {"type": "object", "properties": {"a": {"type": "integer"}}}}},
    ]));
    let f = diff_crds(&old, &new);
    let keys: Vec<(&str, &str, &str)> = f
        .iter()
        .map(|f| (f.version.as_str(), f.path.as_str(), f.check.as_str()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(diff_crds(&old, &new), f, "deterministic");
    assert_eq!(keys[0], ("v1", ".a", "enum-value-removed"));
}
