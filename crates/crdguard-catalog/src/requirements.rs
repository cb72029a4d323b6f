//! The oldest Kubernetes that accepts a set of CRDs, derived from what the CRDs use.
//!
//! Sources, in the order the floors rise:
//! - `apiextensions.k8s.io/v1` CRDs are served from Kubernetes 1.16 (crdguard refuses v1beta1).
//!   Gateway API v0.5–v0.7 use nothing newer (their validation is the admission webhook).
//! - CEL validation rules (`x-kubernetes-validations`) are beta and on by default from 1.25; from
//!   v0.8 the Gateway API CRDs carry them (corpus README; Gateway API v0.8.0 release blog: "Kubernetes
//!   1.25+: CEL validation is fully supported"; older servers reject or ignore the rules).
//! - CEL libraries are accepted in *new* expressions one minor after they were added, so that a
//!   rollback can still evaluate stored ones. Kubernetes documentation "Common Expression Language
//!   in Kubernetes", table "CEL options, language features, and libraries": quantity library and
//!   optional types 1.29+, IP address and CIDR libraries 1.31+, format library 1.32+, semver
//!   library 1.34+. Gateway API v1.5.0's release notes say the same of TLSRoute's `isIP` rule
//!   ("TLSRoute's CEL validation requires Kubernetes 1.31 or higher"), and v1.6's experimental
//!   channel adds `format.dns1123Label()` (1.32).
//!
//! Non-CRD objects are counted separately (`extras_minimum`): the `safe-upgrades`
//! ValidatingAdmissionPolicy of v1.5+ needs `admissionregistration.k8s.io/v1` policies, GA in
//! 1.30 (corpus README). Installing the CRDs alone does not need it, so it does not raise the
//! release's own minimum.

use crdguard_core::KubeVersion;
use serde_json::Value;

/// A Kubernetes floor and the reason for it, e.g. `1.31` because of `isIP` in TLSRoute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub kubernetes: KubeVersion,
    pub reason: String,
}

const CRD_V1: KubeVersion = KubeVersion::new(1, 16, 0);
const CEL_RULES: KubeVersion = KubeVersion::new(1, 25, 0);
const VALIDATING_ADMISSION_POLICY_V1: KubeVersion = KubeVersion::new(1, 30, 0);

/// CEL functions (called by name) and the Kubernetes version that accepts them in new rules.
const CEL_FUNCTIONS: [(&str, KubeVersion, &str); 8] = [
    (
        "isQuantity",
        KubeVersion::new(1, 29, 0),
        "CEL quantity library",
    ),
    (
        "quantity",
        KubeVersion::new(1, 29, 0),
        "CEL quantity library",
    ),
    ("isIP", KubeVersion::new(1, 31, 0), "CEL IP address library"),
    ("ip", KubeVersion::new(1, 31, 0), "CEL IP address library"),
    ("isCIDR", KubeVersion::new(1, 31, 0), "CEL CIDR library"),
    ("cidr", KubeVersion::new(1, 31, 0), "CEL CIDR library"),
    ("isSemver", KubeVersion::new(1, 34, 0), "CEL semver library"),
    ("semver", KubeVersion::new(1, 34, 0), "CEL semver library"),
];

/// CEL namespaces (`format.dns1123Label()`, `optional.of(x)`) and the version that accepts them.
const CEL_NAMESPACES: [(&str, KubeVersion, &str); 2] = [
    ("format", KubeVersion::new(1, 32, 0), "CEL format library"),
    ("optional", KubeVersion::new(1, 29, 0), "CEL optional types"),
];

/// The floor for one set of CRDs (one release and channel): the highest requirement of any CRD,
/// naming the first CRD (in the given order) that has it.
pub fn crds_minimum<'a>(crds: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Requirement {
    let mut best = Requirement {
        kubernetes: CRD_V1,
        reason: "apiextensions.k8s.io/v1 CustomResourceDefinitions".to_string(),
    };
    for (name, crd) in crds {
        let mut rules = Vec::new();
        collect_rules(crd.get("spec").unwrap_or(&Value::Null), &mut rules);
        if !rules.is_empty() && CEL_RULES > best.kubernetes {
            best = Requirement {
                kubernetes: CEL_RULES,
                reason: format!("CEL validation rules (x-kubernetes-validations) in {name}"),
            };
        }
        for rule in rules {
            if let Some((version, feature, token)) = rule_minimum(rule)
                && version > best.kubernetes
            {
                best = Requirement {
                    kubernetes: version,
                    reason: format!("{feature} ({token}) in {name}"),
                };
            }
        }
    }
    best
}

/// The floor for the release's non-CRD objects, if any needs more than the CRDs do.
pub fn extras_minimum<'a>(
    objects: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Requirement> {
    objects
        .into_iter()
        .find(|(api_version, kind)| {
            *api_version == "admissionregistration.k8s.io/v1"
                && kind.starts_with("ValidatingAdmissionPolicy")
        })
        .map(|(_, kind)| Requirement {
            kubernetes: VALIDATING_ADMISSION_POLICY_V1,
            reason: format!("admissionregistration.k8s.io/v1 {kind}"),
        })
}

/// Every `rule` of every `x-kubernetes-validations` entry below `node`.
fn collect_rules<'a>(node: &'a Value, rules: &mut Vec<&'a str>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "x-kubernetes-validations"
                    && let Value::Array(entries) = value
                {
                    rules.extend(
                        entries
                            .iter()
                            .filter_map(|e| e.get("rule").and_then(Value::as_str)),
                    );
                } else {
                    collect_rules(value, rules);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_rules(v, rules)),
        _ => {}
    }
}

/// The highest library requirement of one CEL rule: (version, feature, the token found).
fn rule_minimum(rule: &str) -> Option<(KubeVersion, &'static str, String)> {
    let mut best: Option<(KubeVersion, &'static str, String)> = None;
    let mut consider = |version: KubeVersion, feature: &'static str, token: String| {
        if best.as_ref().is_none_or(|(v, _, _)| version > *v) {
            best = Some((version, feature, token));
        }
    };
    for token in tokens(rule) {
        match token {
            Token::Ident {
                name,
                after_dot,
                next,
            } => {
                // A member call (`x.ip()`) is the same library as the free function (`ip(x)`);
                // a field access (`self.ip`) is not a call and does not count.
                if next == Some('(') {
                    for (function, version, feature) in CEL_FUNCTIONS {
                        if name == function {
                            consider(version, feature, format!("{name}()"));
                        }
                    }
                }
                if next == Some('.') && !after_dot {
                    for (namespace, version, feature) in CEL_NAMESPACES {
                        if name == namespace {
                            consider(version, feature, format!("{name}."));
                        }
                    }
                }
            }
            Token::OptionalSyntax => {
                consider(
                    KubeVersion::new(1, 29, 0),
                    "CEL optional types",
                    ".?".to_string(),
                );
            }
        }
    }
    best
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Ident {
        name: &'a str,
        /// Preceded by `.` (a member of something, not a free name).
        after_dot: bool,
        /// The next non-space character.
        next: Option<char>,
    },
    /// `.?field` or `[?index]`: optional field/index selection.
    OptionalSyntax,
}

/// Identifiers of a CEL expression outside string literals (so a regex such as
/// `'^ip(v4)?$'` inside a rule does not look like a call).
fn tokens(rule: &str) -> Vec<Token<'_>> {
    let bytes = rule.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut previous_significant: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\'' || b == b'"' {
            i = skip_string(bytes, i);
            previous_significant = Some(b'\'');
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let next = rule[i..].chars().find(|c| !c.is_whitespace());
            out.push(Token::Ident {
                name: &rule[start..i],
                after_dot: previous_significant == Some(b'.'),
                next,
            });
            previous_significant = Some(b'a');
            continue;
        }
        if (b == b'.' || b == b'[') && bytes.get(i + 1) == Some(&b'?') {
            out.push(Token::OptionalSyntax);
        }
        if !b.is_ascii_whitespace() {
            previous_significant = Some(b);
        }
        i += 1;
    }
    out
}

/// Index just past the string literal starting at `start` (single, double or triple quoted).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if !triple {
                return i + 1;
            }
            if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                return i + 3;
            }
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd_with_rule(rule: &str) -> Value {
        json!({ "spec": { "versions": [{ "schema": { "openAPIV3Schema": {
            "properties": { "a": { "x-kubernetes-validations": [{ "rule": rule, "message": "m" }] } }
        } } }] } })
    }

    fn minimum(rule: &str) -> Requirement {
        let crd = crd_with_rule(rule);
        crds_minimum([("foos.x.io", &crd)])
    }

    #[test]
    fn no_rules_needs_crd_v1_only() {
        let crd = json!({ "spec": { "versions": [] } });
        assert_eq!(crds_minimum([("a", &crd)]).kubernetes, CRD_V1);
    }

    #[test]
    fn plain_cel_needs_1_25() {
        let r = minimum("self.all(h, h.matches('^[a-z]+$')) && self.split('/').size() < 3");
        assert_eq!(r.kubernetes, KubeVersion::new(1, 25, 0));
        assert!(r.reason.contains("foos.x.io"), "{}", r.reason);
    }

    #[test]
    fn libraries_raise_the_floor() {
        assert_eq!(
            minimum("self.all(h, !isIP(h))").kubernetes,
            KubeVersion::new(1, 31, 0)
        );
        let r = minimum("size(self) == 0 || format.dns1123Label().validate(self)");
        assert_eq!(r.kubernetes, KubeVersion::new(1, 32, 0));
        assert!(r.reason.contains("format."), "{}", r.reason);
        assert_eq!(
            minimum("self.?spec.orValue(1) == 1").kubernetes,
            KubeVersion::new(1, 29, 0)
        );
    }

    #[test]
    fn lookalikes_do_not_count() {
        // Inside a string literal, a field named `ip`, a field named `format`.
        for rule in [
            "self.matches('^ip(v4)?$')",
            "self.ip == 'x'",
            "self.format.size() > 0",
            r#"self.x == "format.dns1123Label()""#,
        ] {
            assert_eq!(
                minimum(rule).kubernetes,
                KubeVersion::new(1, 25, 0),
                "{rule}"
            );
        }
    }

    #[test]
    fn admission_policy_needs_1_30() {
        let r = extras_minimum([
            ("v1", "Namespace"),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
            ),
        ])
        .unwrap();
        assert_eq!(r.kubernetes, KubeVersion::new(1, 30, 0));
        assert!(
            extras_minimum([(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration"
            )])
            .is_none()
        );
    }
}
