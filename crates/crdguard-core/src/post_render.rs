//! The Helm post-renderer's job (SPEC §6): drop CustomResourceDefinition documents and known
//! bundles' companion objects (Gateway API's safe-upgrades policy and binding) from a
//! rendered manifest stream and leave every other byte as it was (comments, order, separators),
//! so CRDs never go through Helm (nor into its release Secret).

use serde_json::Value;

use crate::yaml::{self, Limits};

/// The stream without CRDs, and the names of the CRDs removed.
pub struct Filtered {
    pub text: String,
    pub removed: Vec<String>,
}

/// An object that the post-renderer keeps away from Helm, as found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManagedObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl ManagedObject {
    /// `Kind/name`, as plans and messages name objects.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The objects of `manifest` (a Helm release's stored manifest, say) that `remove_crds` would
/// drop. On upgrade Helm deletes every object of the previous manifest that the new one lacks,
/// and the new one never has these: they are what must be protected before Helm runs (SPEC §6).
/// Sorted, without duplicates.
pub fn managed_objects(manifest: &str) -> Vec<ManagedObject> {
    let mut objects: Vec<ManagedObject> = segments(manifest)
        .into_iter()
        .filter_map(|segment| parse_segment(segment).filter(removed_by_post_render))
        .map(|value| ManagedObject {
            api_version: text_at(&value, "/apiVersion"),
            kind: text_at(&value, "/kind"),
            name: text_at(&value, "/metadata/name"),
        })
        .collect();
    objects.sort();
    objects.dedup();
    objects
}

fn text_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

/// One segment parsed, or `None` when it is empty or does not parse.
fn parse_segment(segment: &str) -> Option<Value> {
    let body = segment
        .strip_prefix("---")
        .map(|rest| rest.split_once('\n').map_or("", |(_, b)| b))
        .unwrap_or(segment);
    let doc = yaml::RawDocument {
        index: 1,
        line: 1,
        text: body,
    };
    yaml::parse_document(&doc, Limits::default()).ok().flatten()
}

/// What the post-renderer drops: every CRD, whether a template, a subchart's template or a
/// hook rendered it (Helm 4 post-renders hooks too).
fn removed_by_post_render(value: &Value) -> bool {
    is_crd(value) || is_companion(value)
}

/// A known bundle's companion object (SPEC §1, §6): phase 1 owns it like the bundle's CRDs, so
/// Helm must neither create it nor, later, delete it.
fn is_companion(value: &Value) -> bool {
    let text = |key: &str| {
        value
            .pointer(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    crate::companion::bundle_of(text("/apiVersion"), text("/kind"), text("/metadata/name"))
        .is_some()
}

/// Removes CRD documents. A document that does not parse is kept as it is: judging it is
/// Helm's job, and the post-renderer must not hide it.
pub fn remove_crds(text: &str) -> Filtered {
    let mut out = String::with_capacity(text.len());
    let mut removed = Vec::new();
    for segment in segments(text) {
        match parse_segment(segment) {
            Some(value) if removed_by_post_render(&value) => {
                removed.push(text_at(&value, "/metadata/name"));
            }
            _ => out.push_str(segment),
        }
    }
    Filtered { text: out, removed }
}

fn is_crd(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

/// The templates (helm's `# Source:` paths, e.g. `chart/templates/crds.yaml`) that rendered at
/// least one document and only documents the post-renderer drops. Helm stores the chart itself
/// in the release Secret; phase 2 can run without these files and render the same manifest
/// (SPEC §6 v2, release size). Sorted.
pub fn managed_only_templates(rendered: &str) -> Vec<String> {
    let mut verdicts: std::collections::BTreeMap<&str, bool> = std::collections::BTreeMap::new();
    for segment in segments(rendered) {
        let Some(source) = segment
            .lines()
            .find_map(|line| line.strip_prefix("# Source: "))
            .map(str::trim)
        else {
            continue;
        };
        let removed = match parse_segment(segment) {
            Some(value) => removed_by_post_render(&value),
            // An empty document says nothing; one that does not parse keeps its template.
            None if segment_is_empty(segment) => continue,
            None => false,
        };
        let all = verdicts.entry(source).or_insert(true);
        *all &= removed;
    }
    verdicts
        .into_iter()
        .filter(|(_, all)| *all)
        .map(|(source, _)| source.to_string())
        .collect()
}

/// An object of a rendered chart that the post-renderer keeps: what helm itself creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptObject {
    pub api_version: String,
    pub kind: String,
    /// A Helm hook (`helm.sh/hook`): helm runs it around the install, and what it runs may
    /// create objects of its own.
    pub hook: bool,
}

/// Every object of a rendered chart that the post-renderer keeps (the items of a `List` one by
/// one): what helm itself creates in phase 2. `None` when a document does not parse, since then
/// no one can say what helm will create.
pub fn kept_objects(rendered: &str) -> Option<Vec<KeptObject>> {
    let mut kept = Vec::new();
    for segment in segments(rendered) {
        match parse_segment(segment) {
            Some(value) if removed_by_post_render(&value) => {}
            Some(value) => {
                let items: Vec<&Value> = match value.get("items").and_then(Value::as_array) {
                    Some(items) if text_at(&value, "/kind").ends_with("List") => {
                        items.iter().collect()
                    }
                    _ => vec![&value],
                };
                kept.extend(items.into_iter().map(|item| {
                    KeptObject {
                        api_version: text_at(item, "/apiVersion"),
                        kind: text_at(item, "/kind"),
                        hook: item
                            .pointer("/metadata/annotations/helm.sh~1hook")
                            .is_some(),
                    }
                }));
            }
            None if segment_is_empty(segment) => {}
            None => return None,
        }
    }
    Some(kept)
}

/// Whether a segment holds nothing but its marker, comments and blank lines.
fn segment_is_empty(segment: &str) -> bool {
    segment
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.starts_with("---"))
}

/// Helm's rendered output grouped by template: (`# Source:` path, the documents rendered from
/// it), in order. Documents before any `# Source:` comment have no path. A group is a run of
/// consecutive segments, so its documents are one slice of `text` (nothing is copied: a chart's
/// output is megabytes of CRDs).
pub fn by_template(text: &str) -> Vec<(Option<&str>, &str)> {
    let mut groups: Vec<(Option<&str>, std::ops::Range<usize>)> = Vec::new();
    let mut offset = 0;
    for segment in segments(text) {
        let source = segment
            .lines()
            .find_map(|line| line.strip_prefix("# Source: "))
            .map(str::trim);
        let range = offset..offset + segment.len();
        offset = range.end;
        match groups.last_mut() {
            Some((last, body)) if *last == source => body.end = range.end,
            _ => groups.push((source, range)),
        }
    }
    groups
        .into_iter()
        .map(|(source, range)| (source, &text[range]))
        .collect()
}

/// Splits a stream into raw segments, each starting at its `---` marker line (the first may
/// have none). Concatenating the segments gives back the input exactly.
fn segments(text: &str) -> Vec<&str> {
    let mut starts = vec![0usize];
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let marker = line.starts_with("---")
            && line[3..]
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r');
        if marker && offset > 0 {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(text.len());
    starts
        .windows(2)
        .map(|w| &text[w[0]..w[1]])
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_crds_and_keeps_the_rest_byte_for_byte() {
        let input = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\n---\n# Source: c/templates/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: xs.example.com\n---\n# Source: c/templates/b.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n";
        let filtered = remove_crds(input);
        assert_eq!(filtered.removed, vec!["xs.example.com"]);
        assert_eq!(
            filtered.text,
            "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\n---\n# Source: c/templates/b.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n"
        );
    }

    #[test]
    fn hook_crds_are_removed_too() {
        let input = "---\n# Source: c/templates/hook-crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: hooks.example.com\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n---\n# Source: c/templates/job.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: certgen\n  annotations:\n    helm.sh/hook: pre-install\n";
        let filtered = remove_crds(input);
        assert_eq!(filtered.removed, vec!["hooks.example.com"]);
        assert!(
            filtered.text.contains("kind: Job") && !filtered.text.contains("hooks.example.com")
        );
    }

    #[test]
    fn managed_objects_of_a_release_manifest_are_what_post_render_drops() {
        let manifest = "---\n# Source: c/charts/sub/templates/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: zs.example.com\n---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n---\n# Source: c/templates/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: as.example.com\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: as.example.com\n";
        let objects = managed_objects(manifest);
        let names: Vec<String> = objects.iter().map(ManagedObject::reference).collect();
        assert_eq!(
            names,
            [
                "CustomResourceDefinition/as.example.com",
                "CustomResourceDefinition/zs.example.com"
            ]
        );
        assert_eq!(remove_crds(manifest).removed.len(), 3);
        assert!(managed_objects("").is_empty());
    }

    #[test]
    fn kept_objects_are_what_helm_creates_and_unknown_when_a_document_does_not_parse() {
        let rendered = "---\n# Source: c/templates/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: xs.example.com\n---\n# Source: c/templates/vap.yaml\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: safe-upgrades.gateway.networking.k8s.io\n---\n# Source: c/templates/x.yaml\napiVersion: example.com/v1\nkind: X\nmetadata:\n  name: x\n---\n# Source: c/templates/empty.yaml\n# nothing\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: gateway.networking.k8s.io/v1\n  kind: GatewayClass\n  metadata: {name: eg}\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: setup\n  annotations: {helm.sh/hook: post-install}\n";
        let kept = kept_objects(rendered).unwrap();
        let shown: Vec<(&str, &str, bool)> = kept
            .iter()
            .map(|o| (o.api_version.as_str(), o.kind.as_str(), o.hook))
            .collect();
        assert_eq!(
            shown,
            [
                ("example.com/v1", "X", false),
                ("gateway.networking.k8s.io/v1", "GatewayClass", false),
                ("batch/v1", "Job", true),
            ]
        );
        let broken = format!("{rendered}---\nkind: [unclosed\n");
        assert_eq!(kept_objects(&broken), None);
    }

    #[test]
    fn rendered_output_is_grouped_by_template() {
        let input = "---\n# Source: c/charts/sub/templates/crds.yaml\nkind: A\n---\n# Source: c/charts/sub/templates/crds.yaml\nkind: B\n---\n# Source: c/templates/x.yaml\nkind: C\n";
        let groups = by_template(input);
        let paths: Vec<Option<&str>> = groups.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                Some("c/charts/sub/templates/crds.yaml"),
                Some("c/templates/x.yaml")
            ]
        );
        assert!(groups[0].1.contains("kind: A") && groups[0].1.contains("kind: B"));
        assert_eq!(groups.iter().map(|(_, t)| *t).collect::<String>(), input);
        assert_eq!(by_template("kind: D\n"), vec![(None, "kind: D\n")]);
    }

    #[test]
    fn segments_concatenate_to_the_input() {
        let input = "a: 1\n---\nb: 2\n--- # c\nc: 3\n...\n";
        assert_eq!(segments(input).concat(), input);
        assert_eq!(remove_crds(input).text, input);
    }

    #[test]
    fn templates_that_render_only_crds_are_named_mixed_ones_are_not() {
        let input = "---\n# Source: c/templates/crds.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: xs.example.com\n---\n# Source: c/templates/mixed.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: ys.example.com\n---\n# Source: c/templates/app.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# Source: c/templates/mixed.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n# Source: c/charts/sub/templates/crds.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: zs.example.com\n---\n# Source: c/templates/crds.yaml\n# an empty document\n";
        assert_eq!(
            managed_only_templates(input),
            ["c/charts/sub/templates/crds.yaml", "c/templates/crds.yaml"]
        );
    }
}
