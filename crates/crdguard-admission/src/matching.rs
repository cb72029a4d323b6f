//! Which requests a policy (`spec.matchConstraints`) or a binding (`spec.matchResources`) covers,
//! following the API server's matcher (k8s.io/apiserver admission/plugin/policy/matching):
//! namespace selector, object selector, excluded rules, then resource rules.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The request as the matcher sees it.
#[derive(Debug, Clone)]
pub(crate) struct Attributes<'a> {
    pub(crate) operation: &'static str,
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) resource: &'static str,
    pub(crate) subresource: &'a str,
    pub(crate) name: &'a str,
    pub(crate) object: Option<&'a Value>,
    pub(crate) old_object: Option<&'a Value>,
}

/// `MatchResources` of admissionregistration.k8s.io/v1.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MatchResources {
    #[serde(default)]
    namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    object_selector: Option<LabelSelector>,
    #[serde(default)]
    resource_rules: Option<Vec<NamedRule>>,
    #[serde(default)]
    exclude_resource_rules: Option<Vec<NamedRule>>,
    /// `Equivalent` (the default) also matches the same resource under other versions or
    /// groups the server serves. CustomResourceDefinitions are served as
    /// `apiextensions.k8s.io/v1` only on every server that has admissionregistration v1
    /// (Kubernetes ≥ 1.30; v1beta1 went in 1.22), so for CRD writes it equals `Exact`.
    #[serde(default)]
    #[allow(dead_code)]
    match_policy: Option<String>,
}

/// `NamedRuleWithOperations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamedRule {
    #[serde(default)]
    resource_names: Option<Vec<String>>,
    #[serde(default)]
    operations: Option<Vec<String>>,
    #[serde(default)]
    api_groups: Option<Vec<String>>,
    #[serde(default)]
    api_versions: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
}

/// `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LabelSelector {
    #[serde(default)]
    match_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    match_expressions: Option<Vec<Requirement>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Requirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Option<Vec<String>>,
}

impl MatchResources {
    /// Whether the request is covered. `Err` when a selector cannot be understood (the API
    /// server would have rejected it; from a hand-edited snapshot we report it).
    pub(crate) fn matches(&self, attrs: &Attributes<'_>) -> Result<bool, String> {
        // CRDs are cluster-scoped, and a cluster-scoped object other than a Namespace is never
        // excluded by a namespace selector; the selector still has to be readable.
        if let Some(selector) = &self.namespace_selector {
            selector.validate()?;
        }
        if let Some(selector) = &self.object_selector
            && !selector.is_empty()
        {
            let either =
                labels_match(selector, attrs.object)? || labels_match(selector, attrs.old_object)?;
            if !either {
                return Ok(false);
            }
        }
        let excluded = self.exclude_resource_rules.as_deref().unwrap_or_default();
        if excluded.iter().any(|rule| rule.matches(attrs)) {
            return Ok(false);
        }
        // No resource rules constrain nothing: that is how a binding without `resourceRules`
        // covers everything its policy covers (the API server requires them on policies).
        Ok(match self.resource_rules.as_deref() {
            None | Some([]) => true,
            Some(rules) => rules.iter().any(|rule| rule.matches(attrs)),
        })
    }
}

/// An object selector matches an object's labels; a missing object (the old object of a
/// CREATE) never matches.
fn labels_match(selector: &LabelSelector, object: Option<&Value>) -> Result<bool, String> {
    match object {
        None | Some(Value::Null) => Ok(false),
        Some(object) => {
            let labels: BTreeMap<&str, &str> = object
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                        .collect()
                })
                .unwrap_or_default();
            selector.matches(&labels)
        }
    }
}

impl NamedRule {
    fn matches(&self, attrs: &Attributes<'_>) -> bool {
        let rule_matches = self.scope_matches()
            && any_or_star(&self.operations, attrs.operation)
            && any_or_star(&self.api_groups, attrs.group)
            && any_or_star(&self.api_versions, attrs.version)
            && self.resource_matches(attrs);
        // An empty name list matches every name.
        rule_matches
            && match self.resource_names.as_deref() {
                None | Some([]) => true,
                Some(names) => names.iter().any(|n| n == attrs.name),
            }
    }

    /// Every request we evaluate is for a cluster-scoped resource.
    fn scope_matches(&self) -> bool {
        matches!(self.scope.as_deref(), None | Some("*") | Some("Cluster"))
    }

    /// `res` matches the resource, `res/sub` the subresource; `*` and `*/*` as in the API
    /// server: `*` is every resource but no subresource, `x/*` is `x` and all its subresources.
    fn resource_matches(&self, attrs: &Attributes<'_>) -> bool {
        self.resources.iter().flatten().any(|entry| {
            let (res, sub) = entry.split_once('/').unwrap_or((entry.as_str(), ""));
            (res == "*" || res == attrs.resource) && (sub == "*" || sub == attrs.subresource)
        })
    }
}

fn any_or_star(list: &Option<Vec<String>>, value: &str) -> bool {
    list.iter().flatten().any(|v| v == "*" || v == value)
}

impl LabelSelector {
    fn is_empty(&self) -> bool {
        self.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && self.match_expressions.as_ref().is_none_or(Vec::is_empty)
    }

    fn validate(&self) -> Result<(), String> {
        self.matches(&BTreeMap::new()).map(|_| ())
    }

    fn matches(&self, labels: &BTreeMap<&str, &str>) -> Result<bool, String> {
        let mut all = true;
        for (key, value) in self.match_labels.iter().flatten() {
            all &= labels.get(key.as_str()) == Some(&value.as_str());
        }
        for requirement in self.match_expressions.iter().flatten() {
            all &= requirement.matches(labels)?;
        }
        Ok(all)
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<&str, &str>) -> Result<bool, String> {
        let value = labels.get(self.key.as_str());
        let values = self.values.as_deref().unwrap_or_default();
        let listed = value.is_some_and(|v| values.iter().any(|x| x == v));
        match self.operator.as_str() {
            "In" => Ok(listed),
            "NotIn" => Ok(!listed),
            "Exists" => Ok(value.is_some()),
            "DoesNotExist" => Ok(value.is_none()),
            other => Err(format!(
                "label selector operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs<'a>(
        operation: &'static str,
        subresource: &'a str,
        object: Option<&'a Value>,
    ) -> Attributes<'a> {
        Attributes {
            operation,
            group: "apiextensions.k8s.io",
            version: "v1",
            resource: "customresourcedefinitions",
            subresource,
            name: "httproutes.gateway.networking.k8s.io",
            object,
            old_object: None,
        }
    }

    fn resources(v: Value) -> MatchResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resource_rules_follow_the_api_server() {
        let rule = |res: &str| {
            resources(json!({"resourceRules": [{
                "apiGroups": ["apiextensions.k8s.io"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": [res]}]}))
        };
        let main = attrs("UPDATE", "", None);
        let status = attrs("UPDATE", "status", None);
        for (res, on_main, on_status) in [
            ("*", true, false),
            ("*/*", true, true),
            ("customresourcedefinitions", true, false),
            ("customresourcedefinitions/*", true, true),
            ("customresourcedefinitions/status", false, true),
            ("*/status", false, true),
            ("deployments", false, false),
        ] {
            assert_eq!(rule(res).matches(&main), Ok(on_main), "{res} on main");
            assert_eq!(rule(res).matches(&status), Ok(on_status), "{res} on status");
        }
        assert_eq!(rule("*").matches(&attrs("DELETE", "", None)), Ok(false));
    }

    #[test]
    fn groups_versions_names_scope_and_exclusions() {
        let base = json!({"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"],
                          "resources": ["customresourcedefinitions"]});
        let a = attrs("CREATE", "", None);
        let with = |extra: Value| {
            let mut rule = base.clone();
            rule.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            resources(json!({ "resourceRules": [rule] }))
        };
        assert_eq!(with(json!({})).matches(&a), Ok(true));
        assert_eq!(with(json!({"apiGroups": ["apps"]})).matches(&a), Ok(false));
        assert_eq!(
            with(json!({"apiVersions": ["v1beta1"]})).matches(&a),
            Ok(false)
        );
        assert_eq!(with(json!({"scope": "Namespaced"})).matches(&a), Ok(false));
        assert_eq!(with(json!({"scope": "Cluster"})).matches(&a), Ok(true));
        assert_eq!(
            with(json!({"resourceNames": ["other.example.com"]})).matches(&a),
            Ok(false)
        );
        let excluded = resources(json!({"resourceRules": [base.clone()],
                                        "excludeResourceRules": [base]}));
        assert_eq!(excluded.matches(&a), Ok(false));
        // A binding without resource rules narrows nothing.
        assert_eq!(MatchResources::default().matches(&a), Ok(true));
    }

    #[test]
    fn object_selector_matches_old_or_new_labels() {
        let selector = resources(json!({"objectSelector": {
            "matchExpressions": [{"key": "team", "operator": "In", "values": ["net"]}]}}));
        let labelled = json!({"metadata": {"labels": {"team": "net"}}});
        let plain = json!({"metadata": {}});
        let mut a = attrs("UPDATE", "", Some(&plain));
        assert_eq!(selector.matches(&a), Ok(false));
        a.old_object = Some(&labelled);
        assert_eq!(selector.matches(&a), Ok(true));
        let bad = resources(json!({"objectSelector": {
            "matchExpressions": [{"key": "team", "operator": "Near"}]}}));
        assert!(bad.matches(&a).is_err());
        // Namespace selectors never exclude cluster-scoped objects.
        let ns = resources(json!({"namespaceSelector": {"matchLabels": {"a": "b"}}}));
        assert_eq!(ns.matches(&a), Ok(true));
    }
}
